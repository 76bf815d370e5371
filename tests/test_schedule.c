/* Schedules: RigL drop fraction and update steps, GMP cubic ramp and
 * pruning steps, lottery-ticket rounds. Values at hand-computed points. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test_support.h"

static void near(double got, double want, double tol, const char *file, int line) {
    if (fabs(got - want) <= tol) return;
    print_error("%s:%d: got %.17g, want %.17g (tolerance %g)\n", file, line, got, want, tol);
    _fail(file, line);
}
#define assert_near(got, want, tol) near((got), (want), (tol), __FILE__, __LINE__)

static double drop(int schedule, double alpha, int64_t t_end, int64_t t) {
    double f = -1.0;
    assert_status(spt_drop_fraction(schedule, alpha, t_end, t, &f), SPT_OK);
    return f;
}

static void test_drop_cosine(void **state) {
    (void)state;
    assert_near(drop(SPT_DROP_COSINE, 0.3, 1000, 0), 0.3, 1e-15);
    assert_near(drop(SPT_DROP_COSINE, 0.3, 1000, 500), 0.15, 1e-15);
    assert_near(drop(SPT_DROP_COSINE, 0.3, 1000, 250), 0.15 * (1.0 + sqrt(0.5)), 1e-15);
    assert_near(drop(SPT_DROP_COSINE, 0.3, 1000, 750), 0.15 * (1.0 - sqrt(0.5)), 1e-15);
    double last = drop(SPT_DROP_COSINE, 0.3, 1000, 999);
    assert_true(last > 0.0 && last < 1e-5);
    assert_true(drop(SPT_DROP_COSINE, 0.3, 1000, 1000) == 0.0);
    assert_true(drop(SPT_DROP_COSINE, 0.3, 1000, 5000) == 0.0);
    /* Non-increasing over the whole run. */
    double prev = 1.0;
    for (int64_t t = 0; t <= 1100; t += 7) {
        double f = drop(SPT_DROP_COSINE, 0.5, 1000, t);
        assert_true(f <= prev && f >= 0.0);
        prev = f;
    }
}

static void test_drop_linear_constant(void **state) {
    (void)state;
    assert_near(drop(SPT_DROP_LINEAR, 0.3, 1000, 0), 0.3, 1e-15);
    assert_near(drop(SPT_DROP_LINEAR, 0.3, 1000, 250), 0.225, 1e-15);
    assert_near(drop(SPT_DROP_LINEAR, 0.3, 1000, 500), 0.15, 1e-15);
    assert_true(drop(SPT_DROP_LINEAR, 0.3, 1000, 1000) == 0.0);
    assert_true(drop(SPT_DROP_LINEAR, 0.3, 1000, 1001) == 0.0);
    assert_true(drop(SPT_DROP_CONSTANT, 0.3, 1000, 0) == 0.3);
    assert_true(drop(SPT_DROP_CONSTANT, 0.3, 1000, 999) == 0.3);
    assert_true(drop(SPT_DROP_CONSTANT, 0.3, 1000, 1000) == 0.0);
    /* t_end == 0: no updates at all. */
    assert_true(drop(SPT_DROP_CONSTANT, 0.3, 0, 0) == 0.0);
    assert_true(drop(SPT_DROP_COSINE, 1.0, 0, 3) == 0.0);
    assert_true(drop(SPT_DROP_LINEAR, 0.0, 10, 3) == 0.0);
}

static void test_drop_invalid(void **state) {
    (void)state;
    double f = 42.0;
    assert_status(spt_drop_fraction(3, 0.3, 100, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(-1, 0.3, 100, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, -0.1, 100, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, 1.1, 100, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, NAN, 100, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, 0.3, -1, 0, &f), SPT_ERR_INVALID);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, 0.3, 100, -1, &f), SPT_ERR_INVALID);
    assert_true(f == 42.0);
    assert_status(spt_drop_fraction(SPT_DROP_COSINE, 0.3, 100, 0, NULL), SPT_ERR_NULL);
    assert_non_null(strstr(spt_last_error(), "spt_drop_fraction"));
}

static int update(int64_t delta_t, int64_t t_end, int64_t t) {
    int u = -1;
    assert_status(spt_drop_is_update_step(delta_t, t_end, t, &u), SPT_OK);
    return u;
}

static void test_update_steps(void **state) {
    (void)state;
    assert_int_equal(update(100, 1000, 0), 0);
    assert_int_equal(update(100, 1000, 1), 0);
    assert_int_equal(update(100, 1000, 100), 1);
    assert_int_equal(update(100, 1000, 150), 0);
    assert_int_equal(update(100, 1000, 900), 1);
    assert_int_equal(update(100, 1000, 999), 0);
    assert_int_equal(update(100, 1000, 1000), 0);
    assert_int_equal(update(100, 1000, 1100), 0);
    assert_int_equal(update(1, 3, 1), 1);
    assert_int_equal(update(1, 3, 2), 1);
    assert_int_equal(update(1, 3, 3), 0);
    int count = 0;
    for (int64_t t = 0; t < 2000; t++) count += update(100, 1000, t);
    assert_int_equal(count, 9);
    int u = 7;
    assert_status(spt_drop_is_update_step(0, 1000, 100, &u), SPT_ERR_INVALID);
    assert_status(spt_drop_is_update_step(100, -1, 100, &u), SPT_ERR_INVALID);
    assert_status(spt_drop_is_update_step(100, 1000, -100, &u), SPT_ERR_INVALID);
    assert_int_equal(u, 7);
    assert_status(spt_drop_is_update_step(100, 1000, 100, NULL), SPT_ERR_NULL);
}

static double gmp(double s_i, double s_f, int64_t t0, int64_t n, int64_t dt, int64_t t) {
    double s = -1.0;
    assert_status(spt_gmp_sparsity(s_i, s_f, t0, n, dt, t, &s), SPT_OK);
    return s;
}

static void test_gmp(void **state) {
    (void)state;
    /* t0 = 100, n = 10, delta_t = 10: ramp over [100, 200]. */
    assert_true(gmp(0.0, 0.8, 100, 10, 10, 0) == 0.0);
    assert_true(gmp(0.0, 0.8, 100, 10, 10, 99) == 0.0);
    assert_true(gmp(0.0, 0.8, 100, 10, 10, 100) == 0.0);
    assert_near(gmp(0.0, 0.8, 100, 10, 10, 110), 0.8 - 0.8 * 0.729, 1e-15);
    assert_near(gmp(0.0, 0.8, 100, 10, 10, 150), 0.7, 1e-15);
    assert_near(gmp(0.0, 0.8, 100, 10, 10, 200), 0.8, 1e-15);
    assert_near(gmp(0.0, 0.8, 100, 10, 10, 10000), 0.8, 1e-15);
    /* Non-zero start: midpoint 0.8 + (0.5 - 0.8) / 8. */
    assert_near(gmp(0.5, 0.8, 100, 10, 10, 50), 0.5, 1e-15);
    assert_near(gmp(0.5, 0.8, 100, 10, 10, 150), 0.7625, 1e-15);
    assert_near(gmp(0.5, 0.8, 0, 4, 25, 100), 0.8, 1e-15);
    /* Monotone from s_i to s_f. */
    double prev = 0.0;
    for (int64_t t = 0; t < 300; t += 3) {
        double s = gmp(0.0, 0.9, 100, 10, 10, t);
        assert_true(s >= prev && s <= 0.9);
        prev = s;
    }
}

static void test_gmp_prune_steps(void **state) {
    (void)state;
    int p;
    const int64_t yes[] = {100, 110, 150, 200};
    const int64_t no[] = {0, 90, 99, 105, 199, 210, 1000};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_status(spt_gmp_is_prune_step(100, 10, 10, yes[i], &p), SPT_OK);
        assert_int_equal(p, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_status(spt_gmp_is_prune_step(100, 10, 10, no[i], &p), SPT_OK);
        assert_int_equal(p, 0);
    }
    int count = 0;
    for (int64_t t = 0; t < 500; t++) {
        assert_status(spt_gmp_is_prune_step(100, 10, 10, t, &p), SPT_OK);
        count += p;
    }
    assert_int_equal(count, 11);
}

static void test_gmp_invalid(void **state) {
    (void)state;
    double s = 42.0;
    int p = 42;
    assert_status(spt_gmp_sparsity(-0.1, 0.8, 100, 10, 10, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 1.0, 100, 10, 10, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, NAN, 100, 10, 10, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 0.8, -1, 10, 10, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 0.8, 100, 0, 10, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 0.8, 100, 10, 0, 0, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 0.8, 100, 10, 10, -5, &s), SPT_ERR_INVALID);
    assert_status(spt_gmp_sparsity(0.0, 0.8, 100, INT64_MAX / 2, 4, 0, &s), SPT_ERR_SIZE);
    assert_status(spt_gmp_sparsity(0.0, 0.8, INT64_MAX - 5, 1, 10, 0, &s), SPT_ERR_SIZE);
    assert_true(s == 42.0);
    assert_status(spt_gmp_sparsity(0.0, 0.8, 100, 10, 10, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_gmp_is_prune_step(100, 0, 10, 0, &p), SPT_ERR_INVALID);
    assert_status(spt_gmp_is_prune_step(100, 10, 10, -1, &p), SPT_ERR_INVALID);
    assert_status(spt_gmp_is_prune_step(100, INT64_MAX, 2, 0, &p), SPT_ERR_SIZE);
    assert_int_equal(p, 42);
    assert_status(spt_gmp_is_prune_step(100, 10, 10, 0, NULL), SPT_ERR_NULL);
}

static void test_lottery(void **state) {
    (void)state;
    double s = -1.0;
    const double want[] = {0.0, 0.2, 0.36, 0.488};
    for (int r = 0; r < 4; r++) {
        assert_status(spt_lottery_sparsity(0.2, r, &s), SPT_OK);
        assert_near(s, want[r], 1e-15);
    }
    /* 20% per round: 10 rounds leave 0.8^10 = 10.7% of the weights. */
    assert_status(spt_lottery_sparsity(0.2, 10, &s), SPT_OK);
    assert_near(s, 1.0 - 0.1073741824, 1e-12);
    assert_status(spt_lottery_sparsity(0.0, 5, &s), SPT_OK);
    assert_true(s == 0.0);
    s = 42.0;
    assert_status(spt_lottery_sparsity(1.0, 1, &s), SPT_ERR_INVALID);
    assert_status(spt_lottery_sparsity(-0.2, 1, &s), SPT_ERR_INVALID);
    assert_status(spt_lottery_sparsity(0.2, -1, &s), SPT_ERR_INVALID);
    assert_true(s == 42.0);
    assert_status(spt_lottery_sparsity(0.2, 1, NULL), SPT_ERR_NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_cosine),  cmocka_unit_test(test_drop_linear_constant),
        cmocka_unit_test(test_drop_invalid), cmocka_unit_test(test_update_steps),
        cmocka_unit_test(test_gmp),          cmocka_unit_test(test_gmp_prune_steps),
        cmocka_unit_test(test_gmp_invalid),  cmocka_unit_test(test_lottery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
