/* FLOP accounting: forward FLOPs of a small conv net, per-method training
 * FLOPs, schedule and GMP averages, all against hand-computed values. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "test_support.h"

static void near(double got, double want, double tol, const char *file, int line) {
    if (fabs(got - want) <= tol) return;
    print_error("%s:%d: got %.17g, want %.17g (tolerance %g)\n", file, line, got, want, tol);
    _fail(file, line);
}
#define assert_near(got, want, tol) near((got), (want), (tol), __FILE__, __LINE__)

/* conv1 4x3x3x3 on an 8x8 output, conv2 8x4x3x3 on 4x4, fc 10x32.
 * Dense forward (2 FLOPs per multiply-add): 2*108*64 = 13824,
 * 2*288*16 = 9216, 2*320 = 640; f_D = 23680.
 * With nnz {54, 72, 32}: 6912 + 2304 + 64; f_S = 9280. */
static const int32_t ndim[3] = {4, 4, 2};
static const int64_t shape[12] = {4, 3, 3, 3, 8, 4, 3, 3, 10, 32, 0, 0};
static const int64_t out_hw[3] = {64, 16, 1};
static const int64_t nnz[3] = {54, 72, 32};
#define F_D 23680.0
#define F_S 9280.0

static void test_forward(void **state) {
    (void)state;
    double f = -1;
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, NULL, &f), SPT_OK);
    assert_true(f == F_D);
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, nnz, &f), SPT_OK);
    assert_near(f, F_S, 1e-9);
    /* out_hw NULL: every layer applied once. 2*(108 + 288 + 320). */
    assert_status(spt_flops_forward(3, ndim, shape, NULL, NULL, &f), SPT_OK);
    assert_true(f == 1432.0);
    /* All-zero layers cost nothing. */
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, (int64_t[]){0, 0, 0}, &f), SPT_OK);
    assert_true(f == 0.0);
}

static void test_forward_invalid(void **state) {
    (void)state;
    double f = 42;
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, (int64_t[]){109, 1, 1}, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, (int64_t[]){1, -1, 1}, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_forward(3, ndim, shape, (int64_t[]){64, 0, 1}, NULL, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_forward(0, ndim, shape, out_hw, NULL, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_forward(3, (int32_t[]){4, 1, 2}, shape, out_hw, NULL, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_forward(3, NULL, shape, out_hw, NULL, &f), SPT_ERR_NULL);
    assert_true(f == 42);
    assert_status(spt_flops_forward(3, ndim, shape, out_hw, NULL, NULL), SPT_ERR_NULL);
}

static double train(int method, int64_t delta_t) {
    double f = -1;
    assert_status(spt_flops_train(method, F_D, F_S, delta_t, &f), SPT_OK);
    return f;
}

static void test_train(void **state) {
    (void)state;
    assert_true(train(SPT_METHOD_DENSE, 0) == 71040.0);
    assert_true(train(SPT_METHOD_STATIC, 0) == 27840.0);
    assert_true(train(SPT_METHOD_SET, 0) == 27840.0);
    assert_true(train(SPT_METHOD_SNIP, 0) == 27840.0);
    assert_true(train(SPT_METHOD_GRASP, 0) == 27840.0);
    assert_true(train(SPT_METHOD_SYNFLOW, 0) == 27840.0);
    assert_true(train(SPT_METHOD_SNFS, 0) == 42240.0);
    /* (3*9280*100 + 2*9280 + 23680) / 101 = 2826240 / 101. */
    assert_near(train(SPT_METHOD_RIGL, 100), 2826240.0 / 101.0, 1e-9);
    /* delta_t = 1: the average of a sparse step and a dense-gradient step. */
    assert_near(train(SPT_METHOD_RIGL, 1), (27840.0 + 42240.0) / 2, 1e-9);
    /* RigL tends to static training as updates get rarer. */
    assert_true(train(SPT_METHOD_RIGL, 1000000) - 27840.0 < 0.02);
    /* The paper's ratios: with f_S = f_D / 10 and delta_t = 100, RigL costs
     * (30 + 0.2 + 1) / 101 / 3 of dense training. */
    double f;
    assert_status(spt_flops_train(SPT_METHOD_RIGL, 1.0, 0.1, 100, &f), SPT_OK);
    assert_near(f / 3.0, 31.2 / 101 / 3, 1e-15);
}

static void test_train_invalid(void **state) {
    (void)state;
    double f = 42;
    assert_status(spt_flops_train(SPT_METHOD_GMP, F_D, F_S, 100, &f), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "spt_flops_train_schedule"));
    assert_status(spt_flops_train(SPT_METHOD_LOTTERY, F_D, F_S, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(spt_method_count(), F_D, F_S, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(-1, F_D, F_S, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(SPT_METHOD_RIGL, F_D, F_S, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(SPT_METHOD_STATIC, F_S, F_D, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(SPT_METHOD_STATIC, F_D, -1.0, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(SPT_METHOD_STATIC, INFINITY, F_S, 100, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train(SPT_METHOD_STATIC, F_D, NAN, 100, &f), SPT_ERR_INVALID);
    assert_true(f == 42);
    assert_status(spt_flops_train(SPT_METHOD_STATIC, F_D, F_S, 100, NULL), SPT_ERR_NULL);
}

static void test_schedule_average(void **state) {
    (void)state;
    /* Dense row: 3*23680 = 71040. Row {0.5, 0.25, 0.1}: 3*(6912 + 2304 + 64) = 27840. */
    const double rows[6] = {1, 1, 1, 0.5, 0.25, 0.1};
    double f = -1;
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, 2, rows, &f), SPT_OK);
    assert_near(f, (71040.0 + 27840.0) / 2, 1e-9);
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, 1, rows + 3, &f), SPT_OK);
    assert_near(f, 27840.0, 1e-9);
    f = 42;
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, 0, rows, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, 2, (double[]){1, 1, 1, 1, 1.5, 1}, &f),
                  SPT_ERR_INVALID);
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, INT64_MAX / 2, rows, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, 2, NULL, &f), SPT_ERR_NULL);
    assert_true(f == 42);
}

static void test_gmp_hand(void **state) {
    (void)state;
    /* One 10x10 linear layer (dense step 3*200 = 600), dense start, final
     * density 0.2, prunes at t = 2, 4, 6 (t0 = 2, n = 2, delta_t = 2), ten
     * steps. Steps 0-3 dense (the prune at t0 keeps s_initial = 0): 600 each;
     * steps 4-5 at s = 0.8 - 0.8/8 = 0.7: 180 each; steps 6-9 at 0.8: 120.
     * Mean (4*600 + 2*180 + 4*120) / 10 = 324. */
    const int32_t lin[1] = {2};
    const int64_t sq[4] = {10, 10, 0, 0};
    const double final_d[1] = {0.2};
    double f = -1;
    assert_status(spt_flops_train_gmp(1, lin, sq, NULL, NULL, final_d, 2, 2, 2, 10, &f), SPT_OK);
    assert_near(f, 324.0, 1e-9);
    /* Stopped before pruning starts: dense. */
    assert_status(spt_flops_train_gmp(1, lin, sq, NULL, NULL, final_d, 2, 2, 2, 2, &f), SPT_OK);
    assert_near(f, 600.0, 1e-9);
    /* Stopped mid-ramp: steps 0-3 at 600, step 4 at 180. */
    assert_status(spt_flops_train_gmp(1, lin, sq, NULL, NULL, final_d, 2, 2, 2, 5, &f), SPT_OK);
    assert_near(f, (4 * 600.0 + 180.0) / 5, 1e-9);
    /* Start at density 0.5: steps 0-3 at 300, 4-5 at s = 0.8 - 0.3/8 (0.2375
     * density: 142.5), 6-9 at 120. */
    assert_status(spt_flops_train_gmp(1, lin, sq, NULL, (double[]){0.5}, final_d, 2, 2, 2, 10, &f), SPT_OK);
    assert_near(f, (4 * 300.0 + 2 * 142.5 + 4 * 120.0) / 10, 1e-9);
}

/* GMP average against an independent step-by-step simulation through the
 * public schedule functions and spt_flops_train_schedule. */
static void test_gmp_simulated(void **state) {
    (void)state;
    const double init_d[3] = {1.0, 0.9, 1.0};
    const double final_d[3] = {0.5, 0.1, 0.3};
    const int64_t cases[][4] = {{5, 4, 3, 40}, {0, 1, 1, 7}, {10, 3, 5, 12}, {3, 6, 1, 6}, {20, 2, 2, 10}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t t0 = cases[c][0], n = cases[c][1], dt = cases[c][2], steps = cases[c][3];
        double table[3 * 64];
        double current[3];
        memcpy(current, init_d, sizeof current);
        for (int64_t t = 0; t < steps; t++) {
            int prune;
            assert_status(spt_gmp_is_prune_step(t0, n, dt, t, &prune), SPT_OK);
            for (int l = 0; l < 3 && prune; l++) {
                double s;
                assert_status(spt_gmp_sparsity(1.0 - init_d[l], 1.0 - final_d[l], t0, n, dt, t, &s), SPT_OK);
                current[l] = 1.0 - s;
            }
            memcpy(table + 3 * t, current, sizeof current);
        }
        double want, got;
        assert_status(spt_flops_train_schedule(3, ndim, shape, out_hw, steps, table, &want), SPT_OK);
        assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, init_d, final_d, t0, n, dt, steps, &got), SPT_OK);
        assert_near(got, want, 1e-9 * want);
    }
}

static void test_gmp_invalid(void **state) {
    (void)state;
    const double fd[3] = {0.5, 0.5, 0.5};
    double f = 42;
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, (double[]){0.5, 0.0, 0.5}, 0, 2, 2, 10, &f),
                  SPT_ERR_INVALID);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, (double[]){1, 1, 1.01}, fd, 0, 2, 2, 10, &f),
                  SPT_ERR_INVALID);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, fd, 0, 0, 2, 10, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, fd, 0, 2, 0, 10, &f), SPT_ERR_INVALID);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, fd, 0, 2, 2, 0, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, fd, 0, INT64_MAX, 2, 10, &f), SPT_ERR_SIZE);
    assert_status(spt_flops_train_gmp(3, ndim, shape, out_hw, NULL, NULL, 0, 2, 2, 10, &f), SPT_ERR_NULL);
    assert_true(f == 42);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),          cmocka_unit_test(test_forward_invalid),
        cmocka_unit_test(test_train),            cmocka_unit_test(test_train_invalid),
        cmocka_unit_test(test_schedule_average), cmocka_unit_test(test_gmp_hand),
        cmocka_unit_test(test_gmp_simulated),    cmocka_unit_test(test_gmp_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
