/* Learning-rate schedules at known points (warm-up boundaries, milestones,
 * cosine end points), the domains of their settings, and purity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim.h"
#include "test_support.h"

static const double PI = 3.14159265358979323846;

static spt_lr_schedule *make(int kind, double base, double warmup, double start) {
    spt_lr_schedule *s;
    assert_status(spt_lr_schedule_create(kind, &s), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, base), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, warmup), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_START_FACTOR, start), SPT_OK);
    return s;
}

static double at(const spt_lr_schedule *s, int64_t t) {
    double lr = -1.0;
    assert_status(spt_lr_schedule_at(s, t, &lr), SPT_OK);
    return lr;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) <= 1e-12 * (1.0 + fabs(b)))

static void test_pinned_values(void **state) {
    (void)state;
    assert_int_equal(SPT_LR_CONSTANT, 0);
    assert_int_equal(SPT_LR_STEP, 1);
    assert_int_equal(SPT_LR_COSINE, 2);
    assert_int_equal(SPT_LR_BASE, 0);
    assert_int_equal(SPT_LR_WARMUP_STEPS, 1);
    assert_int_equal(SPT_LR_WARMUP_START_FACTOR, 2);
    assert_int_equal(SPT_LR_GAMMA, 3);
    assert_int_equal(SPT_LR_TOTAL_STEPS, 4);
    assert_int_equal(SPT_LR_FLOOR_FACTOR, 5);
}

static void test_constant(void **state) {
    (void)state;
    spt_lr_schedule *s = make(SPT_LR_CONSTANT, 0.2, 0, 0);
    assert_near(at(s, 0), 0.2);
    assert_near(at(s, 123456789), 0.2);
    spt_lr_schedule_destroy(s);

    /* warm-up from 0 over 10 steps: 0, 0.02, ..., reaching 0.2 at t = 10 */
    s = make(SPT_LR_CONSTANT, 0.2, 10, 0);
    assert_true(at(s, 0) == 0.0);
    assert_near(at(s, 1), 0.02);
    assert_near(at(s, 5), 0.1);
    assert_near(at(s, 9), 0.18);
    assert_near(at(s, 10), 0.2);
    assert_near(at(s, 11), 0.2);
    spt_lr_schedule_destroy(s);

    /* warm-up from a start factor 0.1: base * (0.1 + 0.9 * t / W) */
    s = make(SPT_LR_CONSTANT, 0.2, 4, 0.1);
    assert_near(at(s, 0), 0.02);
    assert_near(at(s, 2), 0.2 * (0.1 + 0.9 * 0.5));
    assert_near(at(s, 3), 0.2 * (0.1 + 0.9 * 0.75));
    assert_near(at(s, 4), 0.2);
    spt_lr_schedule_destroy(s);

    /* start factor 1 means no ramp at all */
    s = make(SPT_LR_CONSTANT, 0.3, 7, 1.0);
    for (int64_t t = 0; t < 10; t++) assert_near(at(s, t), 0.3);
    spt_lr_schedule_destroy(s);
}

static void test_step(void **state) {
    (void)state;
    spt_lr_schedule *s = make(SPT_LR_STEP, 0.1, 0, 0);
    /* no milestones: constant */
    assert_near(at(s, 0), 0.1);
    assert_near(at(s, 1000), 0.1);
    const int64_t ms[2] = {30, 60};
    assert_status(spt_lr_schedule_set_milestones(s, ms, 2), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_GAMMA, 0.5), SPT_OK);
    assert_near(at(s, 0), 0.1);
    assert_near(at(s, 29), 0.1);
    assert_near(at(s, 30), 0.05);
    assert_near(at(s, 59), 0.05);
    assert_near(at(s, 60), 0.025);
    assert_near(at(s, 1000000), 0.025);

    /* with a warm-up of 10 from factor 0.2: the milestones stay absolute */
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 10), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_START_FACTOR, 0.2), SPT_OK);
    assert_near(at(s, 0), 0.02);
    assert_near(at(s, 5), 0.1 * (0.2 + 0.8 * 0.5));
    assert_near(at(s, 10), 0.1);
    assert_near(at(s, 30), 0.05);
    assert_near(at(s, 60), 0.025);

    /* a milestone inside the warm-up applies once the warm-up is over */
    const int64_t early[3] = {0, 5, 20};
    assert_status(spt_lr_schedule_set_milestones(s, early, 3), SPT_OK);
    assert_near(at(s, 9), 0.1 * (0.2 + 0.8 * 0.9));
    assert_near(at(s, 10), 0.1 * 0.25);
    assert_near(at(s, 20), 0.1 * 0.125);

    int64_t got[3] = {-1, -1, -1}, n = -1;
    assert_status(spt_lr_schedule_get_milestones(s, got, 3, &n), SPT_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(got, early, sizeof early);
    memset(got, 0xFF, sizeof got);
    assert_status(spt_lr_schedule_get_milestones(s, got, 2, &n), SPT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(got[1], 5);
    assert_int_equal(got[2], -1); /* beyond cap: untouched */
    assert_status(spt_lr_schedule_get_milestones(s, NULL, 0, &n), SPT_OK);
    assert_int_equal(n, 3);
    /* clearing */
    assert_status(spt_lr_schedule_set_milestones(s, NULL, 0), SPT_OK);
    assert_status(spt_lr_schedule_get_milestones(s, NULL, 0, &n), SPT_OK);
    assert_int_equal(n, 0);
    assert_near(at(s, 100), 0.1);
    spt_lr_schedule_destroy(s);
}

static void test_cosine(void **state) {
    (void)state;
    spt_lr_schedule *s = make(SPT_LR_COSINE, 0.4, 0, 0);
    double lr;
    assert_status(spt_lr_schedule_at(s, 0, &lr), SPT_ERR_STATE); /* total steps unset */
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_TOTAL_STEPS, 100), SPT_OK);
    assert_near(at(s, 0), 0.4);
    assert_near(at(s, 50), 0.2);
    assert_near(at(s, 25), 0.4 * 0.5 * (1 + cos(PI * 0.25)));
    assert_true(at(s, 100) == 0.0);
    assert_true(at(s, 5000) == 0.0);
    assert_true(at(s, 99) > 0.0);

    /* floor 0.1 and a warm-up of 20 from 0: cosine runs over [20, 100] */
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_FLOOR_FACTOR, 0.1), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 20), SPT_OK);
    assert_true(at(s, 0) == 0.0);
    assert_near(at(s, 10), 0.2);
    assert_near(at(s, 20), 0.4);
    assert_near(at(s, 60), 0.4 * (0.1 + 0.9 * 0.5));
    assert_near(at(s, 40), 0.4 * (0.1 + 0.9 * 0.5 * (1 + cos(PI * 0.25))));
    assert_near(at(s, 100), 0.04);
    assert_near(at(s, 1000000), 0.04);
    /* non-increasing after the warm-up, never below the floor */
    for (int64_t t = 20; t < 110; t++) {
        assert_true(at(s, t + 1) <= at(s, t));
        assert_true(at(s, t) >= 0.04 - 1e-15);
    }
    /* warm-up as long as the run: no room for the decay */
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 100), SPT_OK);
    assert_status(spt_lr_schedule_at(s, 5, &lr), SPT_ERR_STATE);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 99), SPT_OK);
    assert_near(at(s, 99), 0.4);
    assert_near(at(s, 100), 0.04);
    spt_lr_schedule_destroy(s);
}

static void test_pure(void **state) {
    (void)state;
    /* lr(t) depends on t only: any evaluation order gives the same values */
    spt_lr_schedule *s = make(SPT_LR_COSINE, 0.1, 7, 0.05);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_TOTAL_STEPS, 50), SPT_OK);
    double fwd[60];
    for (int64_t t = 0; t < 60; t++) fwd[t] = at(s, t);
    for (int64_t t = 59; t >= 0; t--) assert_true(at(s, t) == fwd[t]);
    spt_lr_schedule_destroy(s);
}

typedef struct domain_case {
    int kind, key;
    double value;
    int status;
} domain_case;

static void test_domains(void **state) {
    (void)state;
    const int C = SPT_LR_CONSTANT, S = SPT_LR_STEP, K = SPT_LR_COSINE, OK = SPT_OK, BAD = SPT_ERR_INVALID;
    const domain_case cases[] = {
        {C, SPT_LR_BASE, 1e-3, OK},
        {C, SPT_LR_BASE, 0.0, BAD},
        {S, SPT_LR_BASE, -0.1, BAD},
        {K, SPT_LR_BASE, INFINITY, BAD},
        {K, SPT_LR_BASE, NAN, BAD},
        {C, SPT_LR_WARMUP_STEPS, 0, OK},
        {S, SPT_LR_WARMUP_STEPS, 500, OK},
        {C, SPT_LR_WARMUP_STEPS, -1, BAD},
        {C, SPT_LR_WARMUP_STEPS, 2.5, BAD},
        {C, SPT_LR_WARMUP_STEPS, NAN, BAD},
        {C, SPT_LR_WARMUP_STEPS, 1e300, BAD},
        {C, SPT_LR_WARMUP_START_FACTOR, 0.0, OK},
        {C, SPT_LR_WARMUP_START_FACTOR, 1.0, OK},
        {K, SPT_LR_WARMUP_START_FACTOR, 1.01, BAD},
        {K, SPT_LR_WARMUP_START_FACTOR, -0.01, BAD},
        {S, SPT_LR_GAMMA, 0.5, OK},
        {S, SPT_LR_GAMMA, 0.0, BAD},
        {S, SPT_LR_GAMMA, INFINITY, BAD},
        {C, SPT_LR_GAMMA, 0.5, BAD},
        {K, SPT_LR_GAMMA, 0.5, BAD},
        {K, SPT_LR_TOTAL_STEPS, 1, OK},
        {K, SPT_LR_TOTAL_STEPS, 0, BAD},
        {K, SPT_LR_TOTAL_STEPS, 10.5, BAD},
        {S, SPT_LR_TOTAL_STEPS, 10, BAD},
        {K, SPT_LR_FLOOR_FACTOR, 0.0, OK},
        {K, SPT_LR_FLOOR_FACTOR, 1.0, OK},
        {K, SPT_LR_FLOOR_FACTOR, 2.0, BAD},
        {K, SPT_LR_FLOOR_FACTOR, NAN, BAD},
        {C, SPT_LR_FLOOR_FACTOR, 0.1, BAD},
        {C, -1, 0.1, BAD},
        {K, 6, 0.1, BAD},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spt_lr_schedule *s;
        assert_status(spt_lr_schedule_create(cases[c].kind, &s), SPT_OK);
        double before = -7.0, after = -7.0;
        int get_rc = spt_lr_schedule_get_param(s, cases[c].key, &before);
        assert_status(spt_lr_schedule_set_param(s, cases[c].key, cases[c].value), cases[c].status);
        if (cases[c].status == SPT_OK) {
            assert_status(spt_lr_schedule_get_param(s, cases[c].key, &after), SPT_OK);
            assert_true(after == cases[c].value);
        } else if (get_rc == SPT_OK) {
            assert_status(spt_lr_schedule_get_param(s, cases[c].key, &after), SPT_OK);
            assert_true(after == before);
        } else {
            assert_int_equal(get_rc, SPT_ERR_INVALID);
        }
        spt_lr_schedule_destroy(s);
    }
}

static void test_invalid_calls(void **state) {
    (void)state;
    spt_lr_schedule *s = (spt_lr_schedule *)&s;
    assert_status(spt_lr_schedule_create(3, &s), SPT_ERR_INVALID);
    assert_null(s);
    assert_status(spt_lr_schedule_create(SPT_LR_STEP, NULL), SPT_ERR_NULL);
    spt_lr_schedule_destroy(NULL);
    assert_status(spt_lr_schedule_create(SPT_LR_STEP, &s), SPT_OK);
    double lr, v;
    int kind;
    int64_t n;
    assert_status(spt_lr_schedule_at(s, -1, &lr), SPT_ERR_INVALID);
    assert_status(spt_lr_schedule_at(NULL, 0, &lr), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_at(s, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_set_param(NULL, SPT_LR_BASE, 0.1), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_param(NULL, SPT_LR_BASE, &v), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_param(s, SPT_LR_BASE, NULL), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_kind(s, &kind), SPT_OK);
    assert_int_equal(kind, SPT_LR_STEP);
    assert_status(spt_lr_schedule_get_kind(NULL, &kind), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_kind(s, NULL), SPT_ERR_NULL);

    /* milestones: kept unchanged by every failure */
    const int64_t good[3] = {10, 20, 40};
    assert_status(spt_lr_schedule_set_milestones(s, good, 3), SPT_OK);
    const int64_t unsorted[3] = {10, 40, 20}, dup[2] = {5, 5}, neg[2] = {-1, 3};
    assert_status(spt_lr_schedule_set_milestones(s, unsorted, 3), SPT_ERR_INVALID);
    assert_status(spt_lr_schedule_set_milestones(s, dup, 2), SPT_ERR_INVALID);
    assert_status(spt_lr_schedule_set_milestones(s, neg, 2), SPT_ERR_INVALID);
    assert_status(spt_lr_schedule_set_milestones(s, NULL, 2), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_set_milestones(s, good, -1), SPT_ERR_SIZE);
    assert_status(spt_lr_schedule_set_milestones(s, good, 1025), SPT_ERR_SIZE);
    assert_status(spt_lr_schedule_set_milestones(NULL, good, 3), SPT_ERR_NULL);
    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spt_lr_schedule_set_milestones(s, good, 2), SPT_ERR_NOMEM);
    spt_test_alloc_uninstall();
    int64_t got[4];
    assert_status(spt_lr_schedule_get_milestones(s, got, 4, &n), SPT_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(got, good, sizeof good);
    assert_status(spt_lr_schedule_get_milestones(s, got, -1, &n), SPT_ERR_SIZE);
    assert_status(spt_lr_schedule_get_milestones(s, NULL, 2, &n), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_milestones(s, got, 4, NULL), SPT_ERR_NULL);
    assert_status(spt_lr_schedule_get_milestones(NULL, got, 4, &n), SPT_ERR_NULL);
    /* 1024 milestones are accepted */
    int64_t *many = malloc(1024 * sizeof *many);
    assert_non_null(many);
    for (int64_t i = 0; i < 1024; i++) many[i] = 3 * i + 1;
    assert_status(spt_lr_schedule_set_milestones(s, many, 1024), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_GAMMA, 0.99), SPT_OK);
    assert_near(at(s, 3 * 500 + 1), 0.1 * pow(0.99, 501));
    free(many);
    spt_lr_schedule_destroy(s);

    /* milestones only for STEP */
    assert_status(spt_lr_schedule_create(SPT_LR_COSINE, &s), SPT_OK);
    assert_status(spt_lr_schedule_set_milestones(s, good, 3), SPT_ERR_INVALID);
    assert_status(spt_lr_schedule_get_milestones(s, got, 4, &n), SPT_ERR_INVALID);
    spt_lr_schedule_destroy(s);

    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spt_lr_schedule_create(SPT_LR_CONSTANT, &s), SPT_ERR_NOMEM);
    assert_null(s);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_values), cmocka_unit_test(test_constant), cmocka_unit_test(test_step),
        cmocka_unit_test(test_cosine),        cmocka_unit_test(test_pure),     cmocka_unit_test(test_domains),
        cmocka_unit_test(test_invalid_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
