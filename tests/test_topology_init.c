/* Initial topology of the dynamic methods (per-layer nnz from the
 * allocator, seeded uniform placement, kept-dense layers, sparse-aware
 * re-initialisation) and the method factory. */
#include "test_dst_util.h"

/* Three weights: linear 20x30, conv 8x4x3x3, linear 10x20. */
static void make_weights(spti_param **w, uint64_t seed) {
    w[0] = dst_weight("fc0", 20, 30, seed);
    spti_param *conv = NULL;
    int64_t shape[4] = {8, 4, 3, 3};
    assert_int_equal(spti_param_create("conv", 4, shape, true, &conv), SPT_OK);
    for (int64_t i = 0; i < conv->n; i++) conv->value[i] = 0.5f + (float)i;
    w[1] = conv;
    w[2] = dst_weight("fc2", 10, 20, seed + 1);
}

static void free_weights(spti_param **w, int n) {
    for (int l = 0; l < n; l++) spti_param_destroy(w[l]);
}

static spti_method *build(int method, spti_param **w, spt_method_config *c) {
    spti_method *m = NULL;
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSITY, 0.8), SPT_OK);
    (void)method;
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    return m;
}

static void test_nnz_matches_allocator(void **state) {
    int dists[3] = {SPT_DISTRIBUTION_UNIFORM, SPT_DISTRIBUTION_ERDOS_RENYI, SPT_DISTRIBUTION_ERK};
    for (int di = 0; di < 3; di++) {
        spti_param *w[3];
        make_weights(w, 1);
        float orig[3][600];
        for (int l = 0; l < 3; l++) memcpy(orig[l], w[l]->value, (size_t)w[l]->n * sizeof(float));
        spt_method_config *c = dst_config(SPT_METHOD_RIGL, NULL, 0, 1);
        assert_int_equal(spt_method_config_set(c, SPT_MP_DISTRIBUTION, dists[di]), SPT_OK);
        assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSE_INIT, 0), SPT_OK); /* keep the given values */
        spti_method *m = build(SPT_METHOD_RIGL, w, c);
        int32_t ndim[3] = {2, 4, 2};
        int64_t shape[12] = {20, 30, 0, 0, 8, 4, 3, 3, 10, 20, 0, 0}, nnz[3];
        double dens[3];
        assert_int_equal(spt_sparsity_allocate(dists[di], 0.8, 3, ndim, shape, NULL, dens, nnz, NULL), SPT_OK);
        for (int l = 0; l < 3; l++) {
            int64_t pos[600], n = spti_param_active_positions(w[l], pos);
            assert_int_equal(n, nnz[l]);
            assert_int_equal(w[l]->kind, nnz[l] == w[l]->rows * w[l]->cols ? SPTI_PARAM_DENSE : SPTI_PARAM_SPARSE);
            for (int64_t j = 0; j < n; j++) assert_true(w[l]->value[j] == orig[l][pos[j]]); /* values kept */
        }
        spti_method_destroy(m);
        spt_method_config_destroy(c);
        free_weights(w, 3);
    }
}

static void masks(double seed, int64_t pos[3][600], int64_t n[3]) {
    spti_param *w[3];
    make_weights(w, 1);
    spt_method_config *c = dst_config(SPT_METHOD_STATIC, NULL, 0, seed);
    spti_method *m = build(SPT_METHOD_STATIC, w, c);
    for (int l = 0; l < 3; l++) n[l] = spti_param_active_positions(w[l], pos[l]);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    free_weights(w, 3);
}

static void test_seeded_masks(void **state) {
    static int64_t a[3][600], b[3][600], d[3][600];
    int64_t na[3], nb[3], nd[3];
    masks(11, a, na);
    masks(11, b, nb);
    masks(12, d, nd);
    bool differ = false;
    for (int l = 0; l < 3; l++) {
        assert_int_equal(na[l], nb[l]);
        assert_memory_equal(a[l], b[l], (size_t)na[l] * sizeof(int64_t));
        assert_int_equal(na[l], nd[l]);
        differ |= memcmp(a[l], d[l], (size_t)na[l] * sizeof(int64_t)) != 0;
    }
    assert_true(differ);
}

static void test_dense_first_last_and_custom(void **state) {
    spti_param *w[3];
    make_weights(w, 2);
    spt_method_config *c = dst_config(SPT_METHOD_SET, NULL, 0, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DENSE_FIRST, 1), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DENSE_LAST, 1), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSITY, 0.2), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    assert_int_equal(w[2]->kind, SPTI_PARAM_DENSE);
    assert_int_equal(w[1]->kind, SPTI_PARAM_SPARSE);
    /* Budget: 0.8 * 1088 = 870.4 nonzeros, 800 in the kept layers. */
    assert_int_equal(w[1]->n, 70);
    spti_method_destroy(m);
    /* Unreachable with both ends dense. */
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSITY, 0.9), SPT_OK);
    assert_status(spti_method_create(c, w, 3, 100, &m), SPT_ERR_INVALID);
    assert_null(m);
    spt_method_config_destroy(c);
    free_weights(w, 3);

    /* The SET paper's epsilon: no budget, each layer min(1, eps * score);
     * 20x30 at eps 2: 2 * 50 / 600 -> 100 nonzeros; conv 8x4x3x3 (ERK score
     * 18 / 288) -> 36 of 288; 10x20: 2 * 30 / 200 -> 60. */
    make_weights(w, 2);
    c = dst_config(SPT_METHOD_SET, NULL, 0, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_EPSILON, 2.0), SPT_OK);
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    assert_int_equal(w[0]->n, 100);
    assert_int_equal(w[1]->n, 36);
    assert_int_equal(w[2]->n, 60);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    free_weights(w, 3);

    /* Explicit densities; dense_first still wins over them. */
    make_weights(w, 3);
    double d[3] = {0.1, 0.5, 1.0};
    c = dst_config(SPT_METHOD_RIGL, d, 3, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DENSE_FIRST, 1), SPT_OK);
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    assert_int_equal(w[1]->n, 144);
    assert_int_equal(w[2]->kind, SPTI_PARAM_DENSE);
    spti_method_destroy(m);
    /* Densities count differs from the number of weights. */
    assert_status(spti_method_create(c, w, 2, 100, &m), SPT_ERR_SIZE);
    assert_non_null(strstr(spt_last_error(), "densities"));
    spt_method_config_destroy(c);
    free_weights(w, 3);
}

/* Sparse init: each kept weight ~ N(0, 2 / nonzeros of its row). */
static void test_sparse_init(void **state) {
    spti_param *w = dst_weight("big", 200, 400, 4);
    double d = 0.05;
    spt_method_config *c = dst_config(SPT_METHOD_STATIC, &d, 1, 2);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSE_INIT, 1), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, &w, 1, 100, &m), SPT_OK);
    assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
    const spt_csr *a = w->csr;
    double sum = 0, sum2 = 0;
    for (int64_t r = 0; r < a->rows; r++) {
        int64_t fan = a->row_ptr[r + 1] - a->row_ptr[r];
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++) {
            double z = w->value[k] / sqrt(2.0 / (double)fan);
            sum += z;
            sum2 += z * z;
        }
    }
    double n = (double)a->nnz, mean = sum / n, var = sum2 / n - mean * mean;
    assert_int_equal(a->nnz, 4000);
    assert_true(fabs(mean) < 0.06 && fabs(var - 1.0) < 0.1);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w);
}

static void test_sample_bits(void **state) {
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    int64_t ns[] = {1, 63, 64, 65, 1000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int64_t n = ns[i];
        int64_t ks[] = {0, 1, n / 3, n / 2, n / 2 + 1, n - 1, n};
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            int64_t k = ks[j] < 0 ? 0 : ks[j];
            uint64_t bits[16];
            memset(bits, 0xab, sizeof bits);
            spti_sample_bits(&rng, n, k, bits);
            int64_t count = 0;
            for (int64_t w = 0; w < (n + 63) / 64; w++) count += __builtin_popcountll(bits[w]);
            assert_int_equal(count, k);
            if (n & 63) assert_true((bits[(n - 1) / 64] >> (n & 63)) == 0);
        }
    }
}

static void test_factory(void **state) {
    spti_param *w[3];
    make_weights(w, 5);
    spti_method *m = (spti_method *)1;
    const char *names[] = {"dense", "static", "set", "snfs", "rigl", "gmp", "lottery", "snip", "grasp", "synflow"};
    for (int i = 0; i < 10; i++) {
        int id;
        assert_int_equal(spt_method_from_name(names[i], &id), SPT_OK);
        spt_method_config *c = dst_config(id, NULL, 0, 1);
        int rc = spti_method_create(c, w, 3, 100, &m);
        if (id == SPT_METHOD_DENSE) {
            assert_int_equal(rc, SPT_OK);
            assert_null(m);
        } else if (id <= SPT_METHOD_RIGL) {
            assert_int_equal(rc, SPT_OK);
            assert_string_equal(m->ops->name, names[i]);
            assert_int_equal(m->n_weights, 3);
            assert_ptr_equal(m->weights, w);
        } else if (rc != SPT_OK) { /* written separately: may not be in this build yet */
            assert_int_equal(rc, SPT_ERR_UNSUPPORTED);
            assert_non_null(strstr(spt_last_error(), names[i]));
        }
        spti_method_destroy(m);
        m = NULL;
        spt_method_config_destroy(c);
    }
    spt_method_config *c = dst_config(SPT_METHOD_RIGL, NULL, 0, 1);
    assert_status(spti_method_create(NULL, w, 3, 100, &m), SPT_ERR_NULL);
    assert_status(spti_method_create(c, w, 3, 100, NULL), SPT_ERR_NULL);
    assert_status(spti_method_create(c, NULL, 3, 100, &m), SPT_ERR_NULL);
    assert_status(spti_method_create(c, w, 3, -1, &m), SPT_ERR_SIZE);
    assert_status(spti_method_create(c, w, 0, 100, &m), SPT_ERR_SIZE);
    assert_status(spti_method_create(c, w, -2, 100, &m), SPT_ERR_SIZE);
    spti_param *bias = NULL;
    int64_t n1 = 7;
    assert_int_equal(spti_param_create("bias", 1, &n1, false, &bias), SPT_OK);
    spti_param *with_bias[2] = {w[0], bias};
    assert_status(spti_method_create(c, with_bias, 2, 100, &m), SPT_ERR_INVALID);
    assert_null(m);
    spti_param_destroy(bias);
    c->method = 42;
    assert_status(spti_method_create(c, w, 3, 100, &m), SPT_ERR_INVALID);
    spt_method_config_destroy(c);
    spti_method_destroy(NULL);
    free_weights(w, 3);
}

static void test_init_wrong_count(void **state) {
    spti_param *w[3];
    make_weights(w, 6);
    spt_method_config *c = dst_config(SPT_METHOD_STATIC, NULL, 0, 1);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_status(m->ops->init(m, w, 2, NULL), SPT_ERR_SIZE);
    assert_status(m->ops->init(m, NULL, 3, NULL), SPT_ERR_NULL);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    free_weights(w, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nnz_matches_allocator), cmocka_unit_test(test_seeded_masks),
        cmocka_unit_test(test_dense_first_last_and_custom), cmocka_unit_test(test_sparse_init),
        cmocka_unit_test(test_sample_bits), cmocka_unit_test(test_factory),
        cmocka_unit_test(test_init_wrong_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
