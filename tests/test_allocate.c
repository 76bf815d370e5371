/* Sparsity allocation: uniform, Erdos-Renyi, ERK and custom densities
 * against values worked out by hand, kept-dense layers, saturation,
 * integer counts, and invalid input. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "sparsity/sparsity_math.h"
#include "test_support.h"

#define TOL 1e-12

/* cmocka only compares floats; the densities need doubles. */
static void near(double got, double want, double tol, const char *file, int line) {
    if (fabs(got - want) <= tol) return;
    print_error("%s:%d: got %.17g, want %.17g (tolerance %g)\n", file, line, got, want, tol);
    _fail(file, line);
}
#define assert_near(got, want, tol) near((got), (want), (tol), __FILE__, __LINE__)

/* 3-layer MLP (out x in): A 10x20 (200), B 10x10 (100), C 5x10 (50); total 350.
 * ER scores (n_in+n_out)/(n_in*n_out): A 0.15, B 0.2, C 0.3; score*size = 30, 20, 15.
 * The unused dims of linear layers hold junk: they must be ignored. */
static const int32_t mlp_ndim[3] = {2, 2, 2};
static const int64_t mlp_shape[12] = {10, 20, -7, 0, 10, 10, 99, -1, 5, 10, 0, 0};

/* Small conv net: conv1 4x3x3x3 (108), conv2 8x4x3x3 (288), fc 10x32 (320); total 716.
 * ERK scores sum/prod: 13/108, 18/288, 42/320; score*size = 13, 18, 42 (sum 73).
 * ER scores (out+in)/(out*in): 7/12, 12/32, 42/320; score*size = 63, 108, 42 (sum 213). */
static const int32_t cnn_ndim[3] = {4, 4, 2};
static const int64_t cnn_shape[12] = {4, 3, 3, 3, 8, 4, 3, 3, 10, 32, 0, 0};

static void alloc_ok(int dist, double s, const int32_t *ndim, const int64_t *shape, int64_t n, const uint8_t *keep,
                     double *density, int64_t *nnz, double *achieved) {
    assert_status(spt_sparsity_allocate(dist, s, n, ndim, shape, keep, density, nnz, achieved), SPT_OK);
}

static void assert_vec(const double *got, const double *want, int n) {
    for (int i = 0; i < n; i++) assert_near(got[i], want[i], TOL);
}

static void assert_nnz(const int64_t *got, const int64_t *want, int n) {
    for (int i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
}

static void test_uniform(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    alloc_ok(SPT_DISTRIBUTION_UNIFORM, 0.8, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){0.2, 0.2, 0.2}, 3);
    assert_nnz(k, (int64_t[]){40, 20, 10}, 3);
    assert_near(a, 0.8, TOL);

    /* Keep C dense: 70 nonzeros in all, C takes 50, A and B share 20 over
     * 300 weights -> density 1/15: 13.33 -> 13 and 6.67 -> 7. */
    const uint8_t keep_c[3] = {0, 0, 1};
    alloc_ok(SPT_DISTRIBUTION_UNIFORM, 0.8, mlp_ndim, mlp_shape, 3, keep_c, d, k, &a);
    assert_vec(d, (double[]){1.0 / 15, 1.0 / 15, 1.0}, 3);
    assert_nnz(k, (int64_t[]){13, 7, 50}, 3);
    assert_near(a, 0.8, TOL);

    /* S = 0: everything dense. */
    alloc_ok(SPT_DISTRIBUTION_UNIFORM, 0.0, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_nnz(k, (int64_t[]){200, 100, 50}, 3);
    assert_near(a, 0.0, TOL);

    /* Extreme sparsity: every layer still keeps one weight. */
    alloc_ok(SPT_DISTRIBUTION_UNIFORM, 0.999, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_nnz(k, (int64_t[]){1, 1, 1}, 3);
    assert_near(a, 1.0 - 3.0 / 350, TOL);
}

static void test_erdos_renyi_mlp(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    /* S = 0.8: 70 nonzeros, eps = 70/65, no saturation.
     * nnz = eps*(n_in+n_out): 32.3 -> 32, 21.5 -> 22, 16.2 -> 16. */
    alloc_ok(SPT_DISTRIBUTION_ERDOS_RENYI, 0.8, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){0.15 * 70 / 65, 0.2 * 70 / 65, 0.3 * 70 / 65}, 3);
    assert_nnz(k, (int64_t[]){32, 22, 16}, 3);
    assert_near(a, 0.8, TOL);

    /* ERK is ER on linear layers. */
    double d2[3];
    int64_t k2[3];
    alloc_ok(SPT_DISTRIBUTION_ERK, 0.8, mlp_ndim, mlp_shape, 3, NULL, d2, k2, NULL);
    assert_vec(d2, d, 3);
    assert_nnz(k2, k, 3);
}

static void test_erdos_renyi_one_saturation(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    /* S = 0.3: 245 nonzeros. eps = 245/65 gives C 1.13 > 1 -> C dense (50);
     * 195 left over A, B (score*size 50): eps = 3.9 -> A 0.585, B 0.78. */
    alloc_ok(SPT_DISTRIBUTION_ERDOS_RENYI, 0.3, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){0.585, 0.78, 1.0}, 3);
    assert_nnz(k, (int64_t[]){117, 78, 50}, 3);
    assert_near(a, 0.3, TOL);
}

static void test_erdos_renyi_two_saturations(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    /* S = 0.1: 315 nonzeros. Round 1: eps = 315/65 = 4.85: C 1.45 > 1 while
     * B is 0.97 < 1 -> only C dense. Round 2: 265 over A, B: eps = 5.3: B
     * 1.06 > 1 -> B dense. Round 3: 165 over A: eps = 5.5, A 0.825. */
    alloc_ok(SPT_DISTRIBUTION_ERDOS_RENYI, 0.1, mlp_ndim, mlp_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){0.825, 1.0, 1.0}, 3);
    assert_nnz(k, (int64_t[]){165, 100, 50}, 3);
    assert_near(a, 0.1, TOL);
}

static void test_saturation_ties(void **state) {
    (void)state;
    /* Two identical 2x2 layers (score 1) and a 10x10 (score 0.2); total 108.
     * S = 0.5: 54 nonzeros, eps = 54/28 -> both 2x2 saturate; 46 left for the
     * 10x10 (score*size 20): eps = 2.3 -> density 0.46. */
    const int32_t ndim[3] = {2, 2, 2};
    const int64_t shape[12] = {2, 2, 0, 0, 10, 10, 0, 0, 2, 2, 0, 0};
    double d[3], a;
    int64_t k[3];
    alloc_ok(SPT_DISTRIBUTION_ERDOS_RENYI, 0.5, ndim, shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){1.0, 0.46, 1.0}, 3);
    assert_nnz(k, (int64_t[]){4, 46, 4}, 3);
    assert_near(a, 0.5, TOL);
}

static void test_erk_conv(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    /* S = 0.9: 71.6 nonzeros, eps = 71.6/73; nnz = eps*(sum of dims):
     * 12.75 -> 13, 17.65 -> 18, 41.19 -> 41 (72 placed). */
    double eps = 71.6 / 73;
    alloc_ok(SPT_DISTRIBUTION_ERK, 0.9, cnn_ndim, cnn_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){eps * 13 / 108, eps * 18 / 288, eps * 42 / 320}, 3);
    assert_nnz(k, (int64_t[]){13, 18, 41}, 3);
    assert_near(a, 1.0 - 72.0 / 716, TOL);
    assert_true(fabs(a - 0.9) <= 3.0 / 716);

    /* S = 0.2: 572.8 nonzeros, eps = 572.8/73: fc 1.03 > 1 -> fc dense (320);
     * 252.8 over conv1, conv2 (13 + 18 = 31): eps = 252.8/31, conv1 0.98. */
    eps = 252.8 / 31;
    alloc_ok(SPT_DISTRIBUTION_ERK, 0.2, cnn_ndim, cnn_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){eps * 13 / 108, eps * 18 / 288, 1.0}, 3);
    assert_true(d[0] < 1.0);
    assert_nnz(k, (int64_t[]){106, 147, 320}, 3);
    assert_near(a, 1.0 - 573.0 / 716, TOL);

    /* ER on the same net ignores kernel sizes: score*size 63, 108, 42 (213).
     * S = 0.9: eps = 71.6/213; 21.18 -> 21, 36.30 -> 36, 14.12 -> 14. */
    eps = 71.6 / 213;
    alloc_ok(SPT_DISTRIBUTION_ERDOS_RENYI, 0.9, cnn_ndim, cnn_shape, 3, NULL, d, k, &a);
    assert_vec(d, (double[]){eps * 7 / 12, eps * 12 / 32, eps * 42 / 320}, 3);
    assert_nnz(k, (int64_t[]){21, 36, 14}, 3);
    assert_near(a, 1.0 - 71.0 / 716, TOL);
}

static void test_erk_kept_dense(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    const uint8_t keep_first[3] = {1, 0, 0};
    /* S = 0.5: 358 nonzeros, conv1 takes 108, 250 over conv2 and fc
     * (18 + 42 = 60): eps = 250/60 -> 75 and 175 nonzeros. */
    double eps = 250.0 / 60;
    alloc_ok(SPT_DISTRIBUTION_ERK, 0.5, cnn_ndim, cnn_shape, 3, keep_first, d, k, &a);
    assert_vec(d, (double[]){1.0, eps / 16, eps * 42 / 320}, 3);
    assert_nnz(k, (int64_t[]){108, 75, 175}, 3);
    assert_near(a, 0.5, TOL);

    /* S = 0.9 needs 71.6 nonzeros but conv1 alone holds 108: unreachable. */
    double sentinel_d[3] = {-5, -5, -5};
    int64_t sentinel_k[3] = {-5, -5, -5};
    double sentinel_a = -5;
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.9, 3, cnn_ndim, cnn_shape, keep_first, sentinel_d,
                                        sentinel_k, &sentinel_a),
                  SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "cannot exceed"));
    for (int i = 0; i < 3; i++) assert_true(sentinel_d[i] == -5 && sentinel_k[i] == -5);
    assert_true(sentinel_a == -5);
}

static void test_all_kept(void **state) {
    (void)state;
    const uint8_t all[3] = {1, 1, 1};
    double d[3], a;
    int64_t k[3];
    for (int dist = SPT_DISTRIBUTION_UNIFORM; dist <= SPT_DISTRIBUTION_ERK; dist++) {
        alloc_ok(dist, 0.0, mlp_ndim, mlp_shape, 3, all, d, k, &a);
        assert_vec(d, (double[]){1, 1, 1}, 3);
        assert_nnz(k, (int64_t[]){200, 100, 50}, 3);
        assert_near(a, 0.0, TOL);
        /* Within half a weight of reachable: accepted. */
        alloc_ok(dist, 0.001, mlp_ndim, mlp_shape, 3, all, d, k, &a);
        assert_near(a, 0.0, TOL);
        assert_status(spt_sparsity_allocate(dist, 0.1, 3, mlp_ndim, mlp_shape, all, d, k, &a), SPT_ERR_INVALID);
    }
    /* Kept layers that use up the budget exactly leave one weight to the rest. */
    const uint8_t keep_a[3] = {1, 0, 0};
    alloc_ok(SPT_DISTRIBUTION_ERK, 1.0 - 200.0 / 350, mlp_ndim, mlp_shape, 3, keep_a, d, k, &a);
    assert_nnz(k, (int64_t[]){200, 1, 1}, 3);
}

static void test_custom(void **state) {
    (void)state;
    int64_t k[3];
    double a;
    assert_status(spt_sparsity_allocate_custom(3, mlp_ndim, mlp_shape, (double[]){0.5, 0.25, 1.0}, k, &a), SPT_OK);
    assert_nnz(k, (int64_t[]){100, 25, 50}, 3);
    assert_near(a, 0.5, TOL);
    /* 0.001 * 50 rounds to 0: clamped to 1. 0.333 * 100 = 33.3 -> 33. */
    assert_status(spt_sparsity_allocate_custom(3, mlp_ndim, mlp_shape, (double[]){1.0, 0.333, 0.001}, k, NULL),
                  SPT_OK);
    assert_nnz(k, (int64_t[]){200, 33, 1}, 3);
    const double bad[4] = {0.0, 1.5, -0.1, NAN};
    for (int i = 0; i < 4; i++) {
        double dens[3] = {0.5, 0.5, 0.5};
        dens[i % 3] = bad[i];
        assert_status(spt_sparsity_allocate_custom(3, mlp_ndim, mlp_shape, dens, k, &a), SPT_ERR_INVALID);
    }
    assert_status(spt_sparsity_allocate_custom(3, mlp_ndim, mlp_shape, NULL, k, &a), SPT_ERR_NULL);
    assert_status(spt_sparsity_allocate_custom(3, mlp_ndim, mlp_shape, (double[]){1, 1, 1}, NULL, &a), SPT_ERR_NULL);
}

/* The SET paper's epsilon: density_l = min(1, eps * score_l), no budget. */
static void test_epsilon(void **state) {
    (void)state;
    const int32_t ndim[3] = {2, 2, 2};
    const int64_t shape[12] = {1000, 784, 0, 0, 1000, 1000, 0, 0, 10, 1000, 0, 0};
    double d[3], achieved;
    int64_t nnz[3];
    assert_int_equal(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERDOS_RENYI, 20.0, 3, ndim, shape, NULL, d, nnz,
                                                   &achieved),
                     SPT_OK);
    assert_true(fabs(d[0] - 20.0 * 1784.0 / 784000.0) < 1e-12);
    assert_int_equal(nnz[0], 35680); /* about eps * (n_in + n_out) */
    assert_int_equal(nnz[1], 40000);
    assert_true(d[2] == 1.0 && nnz[2] == 10000); /* 20 * 1010 / 10000 > 1: dense */
    assert_true(fabs(achieved - (1.0 - 85680.0 / 1794000.0)) < 1e-12);
    /* ERK equals ER on linear layers; a kept layer is dense. */
    const uint8_t keep[3] = {1, 0, 0};
    double e[3];
    int64_t ennz[3];
    assert_int_equal(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERK, 20.0, 3, ndim, shape, keep, e, ennz, NULL),
                     SPT_OK);
    assert_true(e[0] == 1.0 && ennz[0] == 784000 && ennz[1] == 40000);
    assert_status(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_UNIFORM, 20.0, 3, ndim, shape, NULL, d, nnz, NULL),
                  SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERK, 0.0, 3, ndim, shape, NULL, d, nnz, NULL),
                  SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERK, NAN, 3, ndim, shape, NULL, d, nnz, NULL),
                  SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERK, 1.0, 3, ndim, shape, NULL, NULL, nnz, NULL),
                  SPT_ERR_NULL);
}

static void test_invalid(void **state) {
    (void)state;
    double d[3], a;
    int64_t k[3];
    const double bad_s[4] = {1.0, -0.01, NAN, INFINITY};
    for (int i = 0; i < 4; i++)
        assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, bad_s[i], 3, mlp_ndim, mlp_shape, NULL, d, k, &a),
                      SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate(3, 0.5, 3, mlp_ndim, mlp_shape, NULL, d, k, &a), SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate(-1, 0.5, 3, mlp_ndim, mlp_shape, NULL, d, k, &a), SPT_ERR_INVALID);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 0, mlp_ndim, mlp_shape, NULL, d, k, &a),
                  SPT_ERR_SIZE);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, -3, mlp_ndim, mlp_shape, NULL, d, k, &a),
                  SPT_ERR_SIZE);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 3, NULL, mlp_shape, NULL, d, k, &a), SPT_ERR_NULL);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 3, mlp_ndim, NULL, NULL, d, k, &a), SPT_ERR_NULL);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 3, mlp_ndim, mlp_shape, NULL, NULL, k, &a),
                  SPT_ERR_NULL);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 3, mlp_ndim, mlp_shape, NULL, d, NULL, &a),
                  SPT_ERR_NULL);

    const int32_t ndim3[1] = {3};
    const int64_t one[4] = {2, 2, 2, 2};
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 1, ndim3, one, NULL, d, k, &a), SPT_ERR_INVALID);
    const int32_t conv[1] = {4};
    const int64_t zero_dim[4] = {2, 2, 0, 3};
    const int64_t neg_dim[4] = {2, -2, 3, 3};
    const int64_t huge[4] = {1LL << 32, 1LL << 32, 1, 1};
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 1, conv, zero_dim, NULL, d, k, &a), SPT_ERR_SIZE);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 1, conv, neg_dim, NULL, d, k, &a), SPT_ERR_SIZE);
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.5, 1, conv, huge, NULL, d, k, &a), SPT_ERR_SIZE);
    /* Each layer fits, their total does not. */
    const int32_t lin2[2] = {2, 2};
    const int64_t big2[8] = {1LL << 31, 1LL << 31, 0, 0, 1LL << 31, 1LL << 31, 0, 0};
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_UNIFORM, 0.5, 2, lin2, big2, NULL, d, k, &a), SPT_ERR_SIZE);
    assert_non_null(strstr(spt_last_error(), "spt_sparsity_allocate"));
}

/* Random networks: the real densities spend exactly the budget, stay in
 * (0, 1], follow the scores among unsaturated layers, and the integer counts
 * miss the target by at most one weight per layer. */
static void test_random_networks(void **state) {
    (void)state;
    spti_rng rng;
    spti_rng_seed(&rng, 7);
    enum { L = 6 };
    for (int trial = 0; trial < 300; trial++) {
        int32_t ndim[L];
        int64_t shape[4 * L];
        uint8_t keep[L];
        int64_t total = 0, kept = 0;
        for (int l = 0; l < L; l++) {
            ndim[l] = spti_rng_below(&rng, 2) ? 4 : 2;
            for (int j = 0; j < 4; j++) shape[4 * l + j] = 1 + (int64_t)spti_rng_below(&rng, j < 2 ? 40 : 5);
            keep[l] = spti_rng_below(&rng, 5) == 0;
            int64_t size = spti_layer_size(ndim, shape, l);
            total += size;
            if (keep[l]) kept += size;
        }
        double s_max = 1.0 - (double)kept / (double)total;
        double s = (double)spti_rng_uniform(&rng) * s_max * 0.999;
        int dist = (int)spti_rng_below(&rng, 3);
        double d[L], a;
        int64_t k[L];
        alloc_ok(dist, s, ndim, shape, L, keep, d, k, &a);
        double placed = 0.0;
        int free_layers = 0;
        double ratio = -1.0; /* density / score, common to unsaturated free layers */
        for (int l = 0; l < L; l++) {
            int64_t size = spti_layer_size(ndim, shape, l);
            assert_true(d[l] >= 0.0 && d[l] <= 1.0);
            assert_true(k[l] >= 1 && k[l] <= size);
            placed += d[l] * (double)size;
            if (keep[l]) {
                assert_true(d[l] == 1.0 && k[l] == size);
                continue;
            }
            free_layers++;
            if (dist == SPT_DISTRIBUTION_UNIFORM || d[l] >= 1.0) continue;
            double r = d[l] / spti_erdos_renyi_score(ndim, shape, l, dist == SPT_DISTRIBUTION_ERK);
            if (ratio < 0) ratio = r;
            assert_near(r, ratio, 1e-9 * ratio);
        }
        if (free_layers > 0) assert_near(placed, (1.0 - s) * (double)total, 1e-9 * (double)total);
        assert_true(fabs(a - s) <= (double)free_layers / (double)total + 1e-12);
        /* A saturated layer's score is at least every unsaturated one's. */
        if (dist != SPT_DISTRIBUTION_UNIFORM)
            for (int l = 0; l < L; l++)
                for (int m = 0; m < L; m++)
                    if (!keep[l] && !keep[m] && d[l] >= 1.0 && d[m] < 1.0)
                        assert_true(spti_erdos_renyi_score(ndim, shape, l, dist == SPT_DISTRIBUTION_ERK) >=
                                    spti_erdos_renyi_score(ndim, shape, m, dist == SPT_DISTRIBUTION_ERK));
    }
}

static void test_allocates_nothing(void **state) {
    (void)state;
    double d[3];
    int64_t k[3];
    spt_test_alloc_install();
    alloc_ok(SPT_DISTRIBUTION_ERK, 0.1, mlp_ndim, mlp_shape, 3, NULL, d, k, NULL);
    assert_int_equal(spt_test_alloc_count(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_erdos_renyi_mlp),
        cmocka_unit_test(test_erdos_renyi_one_saturation),
        cmocka_unit_test(test_erdos_renyi_two_saturations),
        cmocka_unit_test(test_saturation_ties),
        cmocka_unit_test(test_erk_conv),
        cmocka_unit_test(test_erk_kept_dense),
        cmocka_unit_test(test_all_kept),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_epsilon),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_random_networks),
        cmocka_unit_test(test_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
