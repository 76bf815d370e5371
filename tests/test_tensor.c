/* Dense tensors and masked matrices (public API). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "test_support.h"

static void test_tensor_create_and_shape(void **state) {
    (void)state;
    const int64_t shapes[4][4] = {{7, 0, 0, 0}, {3, 5, 0, 0}, {2, 3, 4, 0}, {2, 3, 4, 5}};
    for (int nd = 1; nd <= 4; nd++) {
        spt_tensor *t = NULL;
        assert_status(spt_tensor_create(nd, shapes[nd - 1], &t), SPT_OK);
        assert_int_equal(spt_tensor_ndim(t), nd);
        int64_t numel = 1;
        for (int i = 0; i < nd; i++) {
            assert_int_equal(spt_tensor_dim(t, i), shapes[nd - 1][i]);
            numel *= shapes[nd - 1][i];
        }
        assert_int_equal(spt_tensor_dim(t, nd), -1);
        assert_int_equal(spt_tensor_dim(t, -1), -1);
        assert_int_equal(spt_tensor_numel(t), numel);
        float *d = spt_tensor_data(t);
        assert_non_null(d);
        for (int64_t i = 0; i < numel; i++) assert_true(d[i] == 0.0f);
        d[numel - 1] = 3.5f; /* writable, whole extent */
        spt_tensor_destroy(t);
    }
    spt_tensor_destroy(NULL);
    assert_int_equal(spt_tensor_ndim(NULL), -1);
    assert_int_equal(spt_tensor_dim(NULL, 0), -1);
    assert_int_equal(spt_tensor_numel(NULL), -1);
    assert_null(spt_tensor_data(NULL));
}

static void test_tensor_invalid(void **state) {
    (void)state;
    spt_tensor *t = (spt_tensor *)&t; /* must be reset to NULL on failure */
    const int64_t ok[2] = {2, 2};
    assert_status(spt_tensor_create(2, ok, NULL), SPT_ERR_NULL);
    assert_status(spt_tensor_create(2, NULL, &t), SPT_ERR_NULL);
    assert_null(t);
    t = (spt_tensor *)&t;
    assert_status(spt_tensor_create(0, ok, &t), SPT_ERR_SIZE);
    assert_null(t);
    assert_status(spt_tensor_create(5, ok, &t), SPT_ERR_SIZE);
    assert_status(spt_tensor_create(-1, ok, &t), SPT_ERR_SIZE);
    const int64_t zero[2] = {3, 0}, neg[2] = {-3, 4};
    assert_status(spt_tensor_create(2, zero, &t), SPT_ERR_SIZE);
    assert_status(spt_tensor_create(2, neg, &t), SPT_ERR_SIZE);
    const int64_t huge[3] = {1LL << 31, 1LL << 31, 1LL << 31};
    assert_status(spt_tensor_create(3, huge, &t), SPT_ERR_SIZE);
    const int64_t bytes[2] = {1LL << 31, 1LL << 31}; /* 2^62 floats: the bytes overflow */
    assert_status(spt_tensor_create(2, bytes, &t), SPT_ERR_SIZE);
    const int64_t max[1] = {INT64_MAX};
    assert_status(spt_tensor_create(1, max, &t), SPT_ERR_SIZE);
    assert_null(t);
}

static void test_tensor_copy(void **state) {
    (void)state;
    const int64_t shape[3] = {2, 3, 5};
    spt_tensor *t;
    assert_status(spt_tensor_create(3, shape, &t), SPT_OK);
    float src[30], dst[31];
    for (int i = 0; i < 30; i++) src[i] = (float)i * 0.5f - 3.0f;
    assert_status(spt_tensor_copy_from(t, src, 29), SPT_ERR_SIZE);
    assert_status(spt_tensor_copy_from(t, src, 31), SPT_ERR_SIZE);
    assert_true(spt_tensor_data(t)[0] == 0.0f); /* unchanged on failure */
    assert_status(spt_tensor_copy_from(t, src, 30), SPT_OK);
    assert_memory_equal(spt_tensor_data(t), src, sizeof src);
    /* The tensor keeps no pointer to src. */
    src[0] = 100.0f;
    assert_true(spt_tensor_data(t)[0] == -3.0f);
    dst[30] = 42.0f;
    assert_status(spt_tensor_copy_to(t, dst, 29), SPT_ERR_SIZE);
    assert_status(spt_tensor_copy_to(t, dst, 31), SPT_OK);
    assert_true(dst[0] == -3.0f && dst[29] == 11.5f && dst[30] == 42.0f);
    assert_status(spt_tensor_copy_to(t, dst, 30), SPT_OK);
    assert_status(spt_tensor_copy_from(NULL, src, 30), SPT_ERR_NULL);
    assert_status(spt_tensor_copy_from(t, NULL, 30), SPT_ERR_NULL);
    assert_status(spt_tensor_copy_to(NULL, dst, 30), SPT_ERR_NULL);
    assert_status(spt_tensor_copy_to(t, NULL, 30), SPT_ERR_NULL);
    spt_tensor_destroy(t);
}

static void test_tensor_nomem(void **state) {
    (void)state;
    const int64_t shape[2] = {4, 9};
    spt_test_alloc_install();
    for (long i = 0;; i++) {
        spt_test_alloc_fail_at(i);
        spt_tensor *t = (spt_tensor *)&t;
        int rc = spt_tensor_create(2, shape, &t);
        if (rc == SPT_OK) {
            assert_true(i >= 2); /* the handle and its data */
            spt_tensor_destroy(t);
            break;
        }
        assert_int_equal(rc, SPT_ERR_NOMEM);
        assert_null(t);
        assert_int_equal(spt_test_alloc_live(), 0);
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

static void test_masked_create(void **state) {
    (void)state;
    enum { R = 5, C = 7 };
    float v[R * C];
    uint8_t mk[R * C];
    int64_t want_nnz = 0;
    for (int i = 0; i < R * C; i++) {
        v[i] = (float)(i + 1) * (i % 2 ? -1.0f : 1.0f);
        mk[i] = (uint8_t)(i % 3 == 0);
        want_nnz += mk[i];
    }
    v[3] = 0.0f; /* an active entry whose value is 0 */
    spt_masked *m;
    assert_status(spt_masked_create(R, C, v, mk, &m), SPT_OK);
    assert_int_equal(spt_masked_rows(m), R);
    assert_int_equal(spt_masked_cols(m), C);
    assert_int_equal(spt_masked_nnz(m), want_nnz);
    assert_memory_equal(spt_masked_mask(m), mk, sizeof mk);
    const float *mv = spt_masked_values(m);
    for (int i = 0; i < R * C; i++) assert_true(mv[i] == (mk[i] ? v[i] : 0.0f));
    float dense[R * C + 1];
    dense[R * C] = 9.0f;
    assert_status(spt_masked_to_dense(m, dense, R * C - 1), SPT_ERR_SIZE);
    assert_status(spt_masked_to_dense(m, dense, R * C + 1), SPT_OK);
    assert_memory_equal(dense, mv, sizeof(float) * R * C);
    assert_true(dense[R * C] == 9.0f);
    assert_status(spt_masked_to_dense(NULL, dense, R * C), SPT_ERR_NULL);
    assert_status(spt_masked_to_dense(m, NULL, R * C), SPT_ERR_NULL);
    spt_masked_destroy(m);

    /* All-zero mask, and an empty shape. */
    memset(mk, 0, sizeof mk);
    assert_status(spt_masked_create(R, C, v, mk, &m), SPT_OK);
    assert_int_equal(spt_masked_nnz(m), 0);
    for (int i = 0; i < R * C; i++) assert_true(spt_masked_values(m)[i] == 0.0f);
    spt_masked_destroy(m);
    assert_status(spt_masked_create(0, C, v, mk, &m), SPT_OK);
    assert_int_equal(spt_masked_rows(m), 0);
    assert_int_equal(spt_masked_nnz(m), 0);
    spt_masked_destroy(m);

    spt_masked_destroy(NULL);
    assert_int_equal(spt_masked_rows(NULL), -1);
    assert_int_equal(spt_masked_cols(NULL), -1);
    assert_int_equal(spt_masked_nnz(NULL), -1);
    assert_null(spt_masked_values(NULL));
    assert_null(spt_masked_mask(NULL));
}

static void test_masked_invalid(void **state) {
    (void)state;
    float v[6] = {1, 2, 3, 4, 5, 6};
    uint8_t mk[6] = {1, 0, 1, 0, 1, 0};
    spt_masked *m = (spt_masked *)&m;
    assert_status(spt_masked_create(2, 3, v, mk, NULL), SPT_ERR_NULL);
    assert_status(spt_masked_create(2, 3, NULL, mk, &m), SPT_ERR_NULL);
    assert_null(m);
    assert_status(spt_masked_create(2, 3, v, NULL, &m), SPT_ERR_NULL);
    assert_status(spt_masked_create(-2, 3, v, mk, &m), SPT_ERR_SIZE);
    assert_status(spt_masked_create(2, -3, v, mk, &m), SPT_ERR_SIZE);
    assert_status(spt_masked_create(INT64_MAX, 2, v, mk, &m), SPT_ERR_SIZE);
    assert_status(spt_masked_create(1LL << 31, 1LL << 31, v, mk, &m), SPT_ERR_SIZE);
    mk[4] = 2;
    assert_status(spt_masked_create(2, 3, v, mk, &m), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "mask[4]"));
    assert_null(m);
}

static void test_masked_nomem(void **state) {
    (void)state;
    float v[12] = {0};
    uint8_t mk[12] = {1, 1, 0, 1};
    spt_test_alloc_install();
    for (long i = 0;; i++) {
        spt_test_alloc_fail_at(i);
        spt_masked *m = (spt_masked *)&m;
        int rc = spt_masked_create(3, 4, v, mk, &m);
        if (rc == SPT_OK) {
            assert_int_equal(spt_masked_nnz(m), 3);
            spt_masked_destroy(m);
            break;
        }
        assert_int_equal(rc, SPT_ERR_NOMEM);
        assert_null(m);
        assert_int_equal(spt_test_alloc_live(), 0);
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_create_and_shape), cmocka_unit_test(test_tensor_invalid),
        cmocka_unit_test(test_tensor_copy),             cmocka_unit_test(test_tensor_nomem),
        cmocka_unit_test(test_masked_create),           cmocka_unit_test(test_masked_invalid),
        cmocka_unit_test(test_masked_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
