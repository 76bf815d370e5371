/* Exact top-k / bottom-k: against a sort-based reference, ties, NaN, edge
 * sizes, determinism of the seeded tie-break, invalid inputs, NOMEM. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test_support.h"

/* Reference: the k-th largest value by sorting a copy (NaN as -inf - 1
 * step: below everything), then checking the selection against it. */
static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return (x < y) - (x > y);
}

/* score[idx[i]] for the chosen set is exactly the multiset of the k best. */
static void check_selection(const float *score, int64_t n, int64_t k, const int64_t *idx, int bottom) {
    float *s = malloc((size_t)(n + 1) * sizeof(float)), *chosen = malloc((size_t)(k + 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) s[i] = bottom ? -score[i] : score[i];
    qsort(s, (size_t)n, sizeof(float), cmp_desc);
    for (int64_t i = 0; i < k; i++) {
        assert_true(idx[i] >= 0 && idx[i] < n);
        if (i > 0) assert_true(idx[i] > idx[i - 1]); /* ascending, distinct */
        chosen[i] = bottom ? -score[idx[i]] : score[idx[i]];
    }
    qsort(chosen, (size_t)k, sizeof(float), cmp_desc);
    for (int64_t i = 0; i < k; i++) {
        if (isnan(s[i]))
            assert_true(isnan(chosen[i]));
        else
            assert_true(chosen[i] == s[i]);
    }
    free(s);
    free(chosen);
}

static void test_distinct_vs_sort(void **state) {
    (void)state;
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    const int64_t sizes[] = {1, 2, 7, 100, 1000, 20000};
    for (int si = 0; si < 6; si++) {
        int64_t n = sizes[si];
        float *score = malloc((size_t)n * sizeof(float));
        int64_t *idx = malloc((size_t)n * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) score[i] = spti_rng_normal(&rng);
        const int64_t ks[] = {0, 1, n / 3, n / 2, n - 1, n};
        for (int ki = 0; ki < 6; ki++) {
            int64_t k = ks[ki];
            assert_int_equal(spti_topk(score, n, k, 5, idx), SPT_OK);
            check_selection(score, n, k, idx, 0);
            assert_int_equal(spti_bottomk(score, n, k, 5, idx), SPT_OK);
            check_selection(score, n, k, idx, 1);
        }
        free(score);
        free(idx);
    }
}

/* Sorted and reverse-sorted inputs (bad cases for naive pivots). */
static void test_sorted_inputs(void **state) {
    (void)state;
    const int64_t n = 50000;
    float *score = malloc(n * sizeof(float));
    int64_t *idx = malloc(n * sizeof(int64_t));
    for (int dir = 0; dir < 2; dir++) {
        for (int64_t i = 0; i < n; i++) score[i] = dir ? (float)(n - i) : (float)i;
        assert_int_equal(spti_topk(score, n, 1234, 9, idx), SPT_OK);
        for (int64_t i = 0; i < 1234; i++) assert_int_equal(idx[i], dir ? i : n - 1234 + i);
    }
    free(score);
    free(idx);
}

static void test_ties_seeded(void **state) {
    (void)state;
    const int64_t n = 4000, k = 1000;
    float *score = malloc(n * sizeof(float));
    int64_t *a = malloc(k * sizeof(int64_t)), *b = malloc(k * sizeof(int64_t)), *c = malloc(k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) score[i] = (float)(i % 4); /* 1000 of each value */
    /* top-1000 = all the 3s: no choice to make. */
    assert_int_equal(spti_topk(score, n, k, 1, a), SPT_OK);
    for (int64_t i = 0; i < k; i++) assert_int_equal(a[i], 4 * i + 3);
    /* top-1500: the 3s and 500 of the 1000 tied 2s, chosen by the seed. */
    int64_t *big = malloc(1500 * sizeof(int64_t)), *big2 = malloc(1500 * sizeof(int64_t));
    assert_int_equal(spti_topk(score, n, 1500, 1, big), SPT_OK);
    check_selection(score, n, 1500, big, 0);
    assert_int_equal(spti_topk(score, n, 1500, 1, big2), SPT_OK);
    assert_memory_equal(big, big2, 1500 * sizeof(int64_t)); /* same seed, same choice */
    assert_int_equal(spti_topk(score, n, 1500, 2, big2), SPT_OK);
    check_selection(score, n, 1500, big2, 0);
    assert_memory_not_equal(big, big2, 1500 * sizeof(int64_t)); /* another seed, other tied picks */
    /* The seeded choice is not simply the lowest indices. */
    int64_t twos_low = 0;
    for (int64_t i = 0; i < 1500; i++) twos_low += score[big[i]] == 2.0f && big[i] < n / 2;
    assert_true(twos_low > 150 && twos_low < 350);
    /* All equal. */
    for (int64_t i = 0; i < n; i++) score[i] = 0.5f;
    assert_int_equal(spti_bottomk(score, n, k, 3, b), SPT_OK);
    check_selection(score, n, k, b, 1);
    assert_int_equal(spti_bottomk(score, n, k, 3, c), SPT_OK);
    assert_memory_equal(b, c, k * sizeof(int64_t));
    /* -0 and +0 tie. */
    for (int64_t i = 0; i < n; i++) score[i] = i % 2 ? -0.0f : 0.0f;
    assert_int_equal(spti_topk(score, n, k, 4, a), SPT_OK);
    int64_t neg = 0;
    for (int64_t i = 0; i < k; i++) neg += a[i] % 2;
    assert_true(neg > 400 && neg < 600);
    free(score), free(a), free(b), free(c), free(big), free(big2);
}

static void test_nan_lowest(void **state) {
    (void)state;
    const float score[] = {NAN, 1.0f, -INFINITY, NAN, -5.0f, INFINITY};
    int64_t idx[6];
    assert_int_equal(spti_topk(score, 6, 4, 0, idx), SPT_OK);
    const int64_t top4[] = {1, 2, 4, 5};
    assert_memory_equal(idx, top4, sizeof top4);
    assert_int_equal(spti_bottomk(score, 6, 4, 0, idx), SPT_OK);
    const int64_t bot4[] = {1, 2, 4, 5};
    assert_memory_equal(idx, bot4, sizeof bot4);
    assert_int_equal(spti_topk(score, 6, 5, 0, idx), SPT_OK); /* one NaN needed */
    assert_true(idx[0] == 0 || idx[0] == 1);
    assert_int_equal(spti_bottomk(score, 6, 1, 0, idx), SPT_OK);
    assert_int_equal(idx[0], 2);
}

static void test_edges(void **state) {
    (void)state;
    const float one = 3.0f;
    int64_t idx[4] = {-1, -1, -1, -1};
    assert_int_equal(spti_topk(&one, 1, 1, 0, idx), SPT_OK);
    assert_int_equal(idx[0], 0);
    assert_int_equal(spti_topk(&one, 1, 0, 0, idx + 1), SPT_OK);
    assert_int_equal(idx[1], -1);
    const float s[] = {2, 1, 4, 3};
    assert_int_equal(spti_bottomk(s, 4, 4, 0, idx), SPT_OK);
    for (int i = 0; i < 4; i++) assert_int_equal(idx[i], i);
    assert_int_equal(spt_topk(NULL, 0, 0, 0, NULL), SPT_OK);
}

static void test_invalid_and_nomem(void **state) {
    (void)state;
    const float s[] = {2, 1, 4, 3};
    int64_t idx[4];
    assert_status(spti_topk(s, 4, 5, 0, idx), SPT_ERR_SIZE);
    assert_status(spti_topk(s, 4, -1, 0, idx), SPT_ERR_SIZE);
    assert_status(spt_topk(s, -1, 0, 0, idx), SPT_ERR_SIZE);
    assert_status(spt_topk(s, 4, 5, 0, idx), SPT_ERR_SIZE);
    assert_status(spt_bottomk(s, 4, -1, 0, idx), SPT_ERR_SIZE);
    assert_status(spt_topk(NULL, 4, 2, 0, idx), SPT_ERR_NULL);
    assert_status(spt_bottomk(s, 4, 2, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_topk(s, INT64_MAX, 2, 0, idx), SPT_ERR_SIZE);
    assert_int_equal(spt_topk(s, 4, 2, 0, idx), SPT_OK);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 3);
    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spt_bottomk(s, 4, 2, 0, idx), SPT_ERR_NOMEM);
    assert_int_equal(spt_test_alloc_live(), 0);
    assert_int_equal(spt_bottomk(s, 4, 2, 0, idx), SPT_OK);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_vs_sort), cmocka_unit_test(test_sorted_inputs),
        cmocka_unit_test(test_ties_seeded),      cmocka_unit_test(test_nan_lowest),
        cmocka_unit_test(test_edges),            cmocka_unit_test(test_invalid_and_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
