/* Status codes, error messages, version, threads, allocator, sizes, RNG. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "test_support.h"

static void test_status_strings(void **state) {
    (void)state;
    for (int s = SPT_OK; s <= SPT_ERR_INTERNAL; s++) {
        assert_non_null(spt_status_string(s));
        assert_true(strlen(spt_status_string(s)) > 0);
        for (int t = SPT_OK; t < s; t++) assert_string_not_equal(spt_status_string(s), spt_status_string(t));
    }
    assert_string_equal(spt_status_string(-5), "unknown status code");
    assert_string_equal(spt_status_string(1000), "unknown status code");
    /* The values are ABI: pinned. */
    assert_int_equal(SPT_ERR_NULL, 1);
    assert_int_equal(SPT_ERR_NONFINITE, 9);
    assert_int_equal(SPT_ERR_INTERNAL, 12);
}

static void test_last_error(void **state) {
    (void)state;
    spt_clear_error();
    assert_string_equal(spt_last_error(), "");
    assert_int_equal(spt_set_num_threads(-1), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "spt_set_num_threads"));
    spt_clear_error();
    assert_string_equal(spt_last_error(), "");
}

static void test_version(void **state) {
    (void)state;
    assert_string_equal(spt_version_string(), SPT_VERSION_STRING);
    assert_int_equal(spt_version_number(), SPT_VERSION_NUMBER);
    assert_int_equal(SPT_VERSION_NUMBER, SPT_VERSION_MAJOR * 10000 + SPT_VERSION_MINOR * 100 + SPT_VERSION_PATCH);
}

static void test_threads(void **state) {
    (void)state;
    int before = spt_get_num_threads();
    assert_true(before >= 1);
    assert_int_equal(spt_set_num_threads(1), SPT_OK);
    assert_int_equal(spt_get_num_threads(), 1);
    assert_int_equal(spt_set_num_threads(0), SPT_OK);
    assert_true(spt_get_num_threads() >= 1);
    /* Above the documented maximum: refused with the range, the count unchanged
     * (100000 used to crash inside the OpenMP runtime). */
    assert_int_equal(spt_set_num_threads(SPT_MAX_THREADS), SPT_OK);
    assert_int_equal(spt_get_num_threads(), SPT_MAX_THREADS);
    assert_int_equal(spt_set_num_threads(3), SPT_OK);
    assert_int_equal(spt_set_num_threads(SPT_MAX_THREADS + 1), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "1025"));
    assert_non_null(strstr(spt_last_error(), "[0, 1024]"));
    assert_int_equal(spt_set_num_threads(100000), SPT_ERR_INVALID);
    assert_int_equal(spt_set_num_threads(INT_MAX), SPT_ERR_INVALID);
    assert_int_equal(spt_get_num_threads(), 3);
    assert_int_equal(spt_set_num_threads(before), SPT_OK);
}

static void test_simd(void **state) {
    (void)state;
    const char *name = spt_simd_name();
    assert_true(!strcmp(name, "avx512") || !strcmp(name, "avx2") || !strcmp(name, "generic"));
    assert_int_equal(spt_set_simd_level(3), SPT_ERR_INVALID);
    assert_int_equal(spt_set_simd_level(0), SPT_OK);
    assert_string_equal(spt_simd_name(), "generic");
    assert_int_equal(spt_set_simd_level(2), SPT_OK);
    assert_string_equal(spt_simd_name(), name);
}

static void test_sizes(void **state) {
    (void)state;
    int64_t out;
    assert_true(spti_mul_i64(3, 4, &out) && out == 12);
    assert_false(spti_mul_i64(INT64_MAX / 2 + 1, 2, &out));
    assert_false(spti_mul_i64(-1, 2, &out));
    assert_true(spti_add_i64(INT64_MAX - 1, 1, &out) && out == INT64_MAX);
    assert_false(spti_add_i64(INT64_MAX, 1, &out));
    int64_t dims[3] = {1 << 22, 1 << 22, 1 << 22}; /* 2^66 elements */
    assert_false(spti_count_elems(dims, 3, sizeof(float), &out));
    int64_t bytes_overflow[2] = {1LL << 31, 1LL << 31}; /* 2^62 elements: the bytes overflow */
    assert_false(spti_count_elems(bytes_overflow, 2, sizeof(float), &out));
    int64_t ok[2] = {7, 9};
    assert_true(spti_count_elems(ok, 2, sizeof(float), &out) && out == 63);
}

static void dummy_free(void *p, void *user) {
    (void)p;
    (void)user;
}

static void test_allocator(void **state) {
    (void)state;
    spt_test_alloc_install();
    float *p = spti_alloc(10, sizeof(float));
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_int_equal(spt_test_alloc_live(), 1);
    spti_free(p);
    spti_free(NULL);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_fail_at(0);
    assert_null(spti_alloc(10, sizeof(float)));
    assert_null(spti_alloc(INT64_MAX / 2, sizeof(float)));
    assert_null(spti_alloc(-1, sizeof(float)));
    assert_int_equal(spt_set_allocator(NULL, dummy_free, NULL), SPT_ERR_INVALID);
    spt_test_alloc_uninstall();
}

/* spti_scratch_reserve: grows only; from 2 MiB on (default allocator)
 * whole aligned 2 MiB stretches, writable to the end of its capacity; a
 * failure keeps the old buffer; a user allocator gets 64-byte alignment. */
static void test_scratch(void **state) {
    (void)state;
    spti_scratch s = {NULL, 0};
    assert_int_equal(spti_scratch_reserve(&s, 1000, "test"), SPT_OK);
    assert_non_null(s.p);
    assert_true(s.cap >= 1000);
    assert_int_equal((uintptr_t)s.p % 64, 0);
    void *small = s.p;
    assert_int_equal(spti_scratch_reserve(&s, 500, "test"), SPT_OK);
    assert_ptr_equal(s.p, small); /* no shrink, no new buffer */
    const int64_t big = ((int64_t)5 << 20) + 3;
    assert_int_equal(spti_scratch_reserve(&s, big, "test"), SPT_OK);
    assert_int_equal((uintptr_t)s.p % ((uintptr_t)2 << 20), 0);
    assert_int_equal(s.cap, (int64_t)6 << 20);
    memset(s.p, 0x5a, (size_t)s.cap); /* ASan: the whole capacity is ours */
    assert_int_equal(spti_scratch_reserve(&s, -1, "test"), SPT_ERR_SIZE);
    assert_int_equal(spti_scratch_reserve(&s, INT64_MAX, "test"), SPT_ERR_NOMEM);
    assert_int_equal(s.cap, (int64_t)6 << 20); /* failure: the old buffer stays */
    assert_non_null(s.p);
    memset(s.p, 0, (size_t)s.cap);
    spti_free(s.p);

    spt_test_alloc_install();
    spti_scratch u = {NULL, 0};
    assert_int_equal(spti_scratch_reserve(&u, (int64_t)3 << 20, "test"), SPT_OK);
    assert_int_equal((uintptr_t)u.p % 64, 0);
    assert_int_equal(u.cap, (int64_t)3 << 20); /* not rounded: a user allocator's memory */
    assert_int_equal(spt_test_alloc_live(), 1);
    spt_test_alloc_fail_at(0);
    void *before = u.p;
    assert_int_equal(spti_scratch_reserve(&u, (int64_t)4 << 20, "test"), SPT_ERR_NOMEM);
    assert_int_equal(u.cap, (int64_t)3 << 20);
    assert_ptr_equal(u.p, before);
    spti_free(u.p);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

/* The bulk keep mask of dropout is exactly n calls of spti_rng_uniform >= p
 * (same bytes, same final state), also at rates on the 2^-24 grid where
 * the float test and the integer test could disagree by one. */
static void test_rng_keep_mask(void **state) {
    (void)state;
    const float rates[] = {0.0f, 0.3f, 0.5f, 0.9f, 1.0f / 16777216.0f, 3.0f / 16777216.0f, 0.99999994f, 0.1f};
    enum { N = 5000 };
    uint8_t mask[N];
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        spti_rng a, b;
        spti_rng_seed(&a, 7 + r);
        spti_rng_seed(&b, 7 + r);
        spti_rng_keep_mask(&a, rates[r], N, mask);
        int64_t kept = 0;
        for (int i = 0; i < N; i++) {
            assert_int_equal(mask[i], spti_rng_uniform(&b) >= rates[r]);
            kept += mask[i];
        }
        assert_memory_equal(a.s, b.s, sizeof a.s);
        if (rates[r] == 0.3f) assert_true(kept > 0.65 * N && kept < 0.75 * N);
    }
    /* Values on the grid: uniform == p exactly is kept (>=). */
    spti_rng c, d;
    spti_rng_seed(&c, 99);
    spti_rng_seed(&d, 99);
    const float u0 = spti_rng_uniform(&d);
    spti_rng_keep_mask(&c, u0, 1, mask);
    assert_int_equal(mask[0], 1);
}

static void test_rng(void **state) {
    (void)state;
    spti_rng a, b;
    spti_rng_seed(&a, 42);
    spti_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(spti_rng_u64(&a) == spti_rng_u64(&b));
    spti_rng_seed(&b, 43);
    assert_true(spti_rng_u64(&a) != spti_rng_u64(&b));
    double sum = 0, sq = 0;
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        float u = spti_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        float z = spti_rng_normal(&a);
        sum += z;
        sq += (double)z * z;
        counts[spti_rng_below(&a, 7)]++;
    }
    assert_true(sum / 70000 < 0.03 && sum / 70000 > -0.03);
    assert_true(sq / 70000 > 0.95 && sq / 70000 < 1.05);
    for (int i = 0; i < 7; i++) assert_true(counts[i] > 9400 && counts[i] < 10600);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings), cmocka_unit_test(test_last_error), cmocka_unit_test(test_version),
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_simd),       cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_allocator),      cmocka_unit_test(test_scratch),      cmocka_unit_test(test_rng), cmocka_unit_test(test_rng_keep_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
