/* Copy-out of a layer's weight: spt_model_layer_weight_csr / _dense over the
 * three forms a weight can take (dense, masked, sparse). */
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "test_support.h"

/* An MLP 5 -> 4 -> 3; leaf 0 is fc1 (4 x 5), leaf 1 relu, leaf 3 fc2 (3 x 4). */
static spt_model *small_mlp(void) {
    const int64_t widths[3] = {5, 4, 3};
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 3, 7, &m), SPT_OK);
    spti_model_materialize(m); /* the tests below copy p->value directly */
    return m;
}

/* A new model's weight inits are pending (param.h): sparsifying a weight
 * writes exactly the dense init's values at its active entries, later
 * weights draw as if every draw had been made, and the public getters
 * write a pending init before reading it. */
static void test_pending_init(void **state) {
    (void)state;
    const int64_t widths[3] = {50, 40, 3};
    spt_model *a, *b, *c;
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &a), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &b), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &c), SPT_OK);
    spti_model_materialize(a);
    spti_param *pa = a->params[0], *pb = b->params[0];
    assert_true(pb->init_pending && !pa->init_pending);
    const int64_t pos[6] = {0, 7, 49, 50, 1000, 1999};
    assert_int_equal(spti_param_sparsify(pb, pos, 6), SPT_OK);
    assert_false(pb->init_pending);
    for (int k = 0; k < 6; k++) assert_true(pb->value[k] == pa->value[pos[k]]);
    spti_model_materialize(b);
    for (int64_t i = 2; i < a->n_params; i++)
        assert_memory_equal(b->params[i]->value, a->params[i]->value, (size_t)a->params[i]->n * sizeof(float));
    float *dense = malloc(2000 * sizeof(float));
    assert_int_equal(spt_model_layer_weight_dense(c, 0, dense, 2000), SPT_OK);
    assert_memory_equal(dense, pa->value, 2000 * sizeof(float));
    free(dense);
    spt_model_destroy(a);
    spt_model_destroy(b);
    spt_model_destroy(c);
}

/* Check that the CSR copy of leaf i holds exactly the entries `active` of
 * the dense reference ref (rows x cols), row by row, columns increasing. */
static void check_csr(spt_model *m, int64_t i, const float *ref, const uint8_t *active, int64_t rows,
                      int64_t cols) {
    int64_t r_, c_, nnz;
    assert_int_equal(spt_model_layer_weight(m, i, &r_, &c_, &nnz, NULL), SPT_OK);
    assert_int_equal(r_, rows);
    assert_int_equal(c_, cols);
    int64_t *rp = malloc((size_t)(rows + 1) * sizeof(int64_t));
    int32_t *ci = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t));
    float *v = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(float));
    assert_int_equal(spt_model_layer_weight_csr(m, i, rp, rows + 1, ci, v, nnz), SPT_OK);
    assert_int_equal(spt_csr_check(rows, cols, nnz, rp, ci), SPT_OK);
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        assert_int_equal(rp[r], k);
        for (int64_t c = 0; c < cols; c++) {
            if (!active[r * cols + c]) continue;
            assert_int_equal(ci[k], c);
            assert_true(v[k] == ref[r * cols + c]);
            k++;
        }
    }
    assert_int_equal(k, nnz);
    assert_int_equal(rp[rows], nnz);

    float *dense = malloc((size_t)(rows * cols) * sizeof(float));
    assert_int_equal(spt_model_layer_weight_dense(m, i, dense, rows * cols), SPT_OK);
    for (int64_t j = 0; j < rows * cols; j++) assert_true(dense[j] == (active[j] ? ref[j] : 0.0f));
    free(dense);
    free(rp);
    free(ci);
    free(v);
}

static void test_dense_weight(void **state) {
    (void)state;
    spt_model *m = small_mlp();
    const spti_param *p = m->params[0];
    float ref[20];
    uint8_t all[20];
    memcpy(ref, p->value, sizeof ref);
    memset(all, 1, sizeof all);
    check_csr(m, 0, ref, all, 4, 5);
    spt_model_destroy(m);
}

static void test_masked_and_sparse_weight(void **state) {
    (void)state;
    spt_model *m = small_mlp();
    spti_param *p = m->params[0];
    float ref[20];
    memcpy(ref, p->value, sizeof ref);
    /* Active: row 0 empty, row 1 {0, 4}, row 2 {2}, row 3 all. */
    const int64_t pos[8] = {5, 9, 12, 15, 16, 17, 18, 19};
    uint8_t active[20] = {0};
    for (int j = 0; j < 8; j++) active[pos[j]] = 1;

    assert_int_equal(spti_param_mask(p, pos, 8), SPT_OK);
    assert_int_equal(p->kind, SPTI_PARAM_MASKED);
    check_csr(m, 0, ref, active, 4, 5);

    assert_int_equal(spti_param_sparsify(p, pos, 8), SPT_OK);
    assert_int_equal(p->kind, SPTI_PARAM_SPARSE);
    check_csr(m, 0, ref, active, 4, 5);
    spt_model_destroy(m);
}

static void test_skipped_buffers(void **state) {
    (void)state;
    spt_model *m = small_mlp();
    int64_t rp[4];
    /* Only row_ptr, and a too short one. */
    assert_status(spt_model_layer_weight_csr(m, 3, rp, 3, NULL, NULL, 0), SPT_ERR_SIZE);
    int64_t rp4[4] = {-1, -1, -1, -1};
    assert_int_equal(spt_model_layer_weight_csr(m, 3, rp4, 4, NULL, NULL, 0), SPT_OK);
    assert_true(rp4[0] == 0 && rp4[1] == 4 && rp4[2] == 8 && rp4[3] == 12);
    /* Everything skipped: a size query that always succeeds. */
    assert_int_equal(spt_model_layer_weight_csr(m, 3, NULL, 0, NULL, NULL, 0), SPT_OK);
    spt_model_destroy(m);
}

static void test_invalid(void **state) {
    (void)state;
    spt_model *m = small_mlp();
    int64_t rp[5];
    int32_t ci[20];
    float v[20];
    assert_status(spt_model_layer_weight_csr(NULL, 0, rp, 5, ci, v, 20), SPT_ERR_NULL);
    assert_status(spt_model_layer_weight_csr(m, -1, rp, 5, ci, v, 20), SPT_ERR_INVALID);
    assert_status(spt_model_layer_weight_csr(m, 5, rp, 5, ci, v, 20), SPT_ERR_INVALID);
    assert_status(spt_model_layer_weight_csr(m, 1, rp, 5, ci, v, 20), SPT_ERR_INVALID); /* relu */
    assert_non_null(strstr(spt_last_error(), "no weight"));

    /* Too short buffers: SPT_ERR_SIZE and nothing written. */
    for (int j = 0; j < 5; j++) rp[j] = -7;
    for (int j = 0; j < 20; j++) v[j] = -7.0f;
    assert_status(spt_model_layer_weight_csr(m, 0, rp, 4, ci, v, 20), SPT_ERR_SIZE);
    assert_status(spt_model_layer_weight_csr(m, 0, rp, 5, ci, v, 19), SPT_ERR_SIZE);
    assert_status(spt_model_layer_weight_csr(m, 0, NULL, 0, NULL, v, 19), SPT_ERR_SIZE);
    for (int j = 0; j < 5; j++) assert_true(rp[j] == -7);
    for (int j = 0; j < 20; j++) assert_true(v[j] == -7.0f);

    float d[20];
    assert_status(spt_model_layer_weight_dense(NULL, 0, d, 20), SPT_ERR_NULL);
    assert_status(spt_model_layer_weight_dense(m, 0, NULL, 20), SPT_ERR_NULL);
    assert_status(spt_model_layer_weight_dense(m, 0, d, 19), SPT_ERR_SIZE);
    assert_status(spt_model_layer_weight_dense(m, 2, d, 20), SPT_ERR_INVALID); /* dropout */
    assert_status(spt_model_layer_weight_dense(m, 9, d, 20), SPT_ERR_INVALID);
    spt_model_destroy(m);
}

static void test_resnet_conv_weight(void **state) {
    (void)state;
    spt_model *m;
    assert_int_equal(spt_model_create_resnet(2, 4, 4, 1, 1, 3, 5, &m), SPT_OK);
    int64_t rows, cols, nnz;
    assert_int_equal(spt_model_layer_weight(m, 0, &rows, &cols, &nnz, NULL), SPT_OK); /* conv1 */
    assert_int_equal(rows, 16);
    assert_int_equal(cols, 2 * 3 * 3);
    const spti_param *p = m->params[0];
    uint8_t *all = malloc((size_t)nnz);
    memset(all, 1, (size_t)nnz);
    check_csr(m, 0, p->value, all, rows, cols);
    free(all);
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_init),    cmocka_unit_test(test_dense_weight),
        cmocka_unit_test(test_masked_and_sparse_weight), cmocka_unit_test(test_skipped_buffers),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_resnet_conv_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
