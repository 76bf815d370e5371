/* Copy-out of a layer's weight: spt_model_layer_weight_csr / _dense over the
 * three forms a weight can take (dense, masked, sparse). */
#include <math.h>
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

/* A new model's weights are born without storage (param.h): sparsifying
 * one draws its init at the active entries alone, N(0, 2 / fan_in) in
 * storage order from the weight's own stream (the same bytes for the same
 * seed, whatever happens to the other weights), and the public getters
 * give a weight its dense storage and init before reading it. */
static void test_born_unallocated(void **state) {
    (void)state;
    const int64_t widths[3] = {400, 300, 3};
    spt_model *a, *b, *c;
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &a), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &b), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &c), SPT_OK);
    for (int64_t i = 0; i < a->n_params; i++)
        assert_true(a->params[i]->is_weight ? spti_param_unallocated(a->params[i]) && a->params[i]->init_pending
                                            : a->params[i]->value != NULL);
    assert_int_equal(spti_model_materialize(a), SPT_OK);
    spti_param *pb = b->params[0], *pc = c->params[0];
    enum { K = 30000 };
    int64_t *pos = malloc(K * sizeof *pos);
    for (int64_t k = 0; k < K; k++) pos[k] = 4 * k + (k % 3); /* sorted, distinct, < 120000 */
    assert_int_equal(spti_param_sparsify(pb, pos, K), SPT_OK);
    assert_int_equal(spti_param_sparsify(pc, pos, K), SPT_OK);
    assert_false(pb->init_pending);
    assert_int_equal(pb->kind, SPTI_PARAM_SPARSE);
    assert_memory_equal(pb->value, pc->value, K * sizeof(float));
    double sum = 0, sq = 0;
    for (int64_t k = 0; k < K; k++) {
        sum += pb->value[k];
        sq += (double)pb->value[k] * pb->value[k];
    }
    const double var = 2.0 / 400.0, mean = sum / K, v = sq / K - mean * mean;
    assert_true(fabs(mean) < 4.0 * sqrt(var / K)); /* 4 sigma */
    assert_true(fabs(v / var - 1.0) < 0.05);       /* K = 30000: sd of v / var is ~0.008 */
    /* The other weights draw from their own streams: as in a. */
    assert_int_equal(spti_model_materialize(b), SPT_OK);
    for (int64_t i = 1; i < a->n_params; i++)
        assert_memory_equal(b->params[i]->value, a->params[i]->value, (size_t)a->params[i]->n * sizeof(float));
    /* The getter writes the dense init first: the same values as a's. */
    spt_model *d;
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &d), SPT_OK);
    float *dense = malloc(120000 * sizeof(float));
    assert_int_equal(spt_model_layer_weight_dense(d, 0, dense, 120000), SPT_OK);
    assert_memory_equal(dense, a->params[0]->value, 120000 * sizeof(float));
    free(dense);
    free(pos);
    spt_model_destroy(a);
    spt_model_destroy(b);
    spt_model_destroy(c);
    spt_model_destroy(d);
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
    assert_int_equal(spti_model_materialize(m), SPT_OK);
    const spti_param *p = m->params[0];
    uint8_t *all = malloc((size_t)nnz);
    memset(all, 1, (size_t)nnz);
    check_csr(m, 0, p->value, all, rows, cols);
    free(all);
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_born_unallocated),    cmocka_unit_test(test_dense_weight),
        cmocka_unit_test(test_masked_and_sparse_weight), cmocka_unit_test(test_skipped_buffers),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_resnet_conv_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
