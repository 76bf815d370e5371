/* Public parameter metadata (method.h): names, docs, types, bounds, per-method
 * defaults, which method reads which key, choice names; checked against
 * spt_method_config_set/get and the methods' ops tables. */
#include <math.h>
#include <string.h>

#include "sparsity/method.h"
#include "test_support.h"

static void test_names_and_docs(void **state) {
    (void)state;
    assert_int_equal(spt_method_param_count(), SPT_MP_COUNT_);
    for (int k = 0; k < SPT_MP_COUNT_; k++) {
        const char *name = spt_method_param_name(k), *doc = spt_method_param_doc(k);
        assert_non_null(name);
        assert_non_null(doc);
        assert_true(strlen(name) > 0 && strlen(doc) > 0);
        assert_null(strchr(doc, '\n'));
        int key = -1;
        assert_status(spt_method_param_from_name(name, &key), SPT_OK);
        assert_int_equal(key, k);
        for (int j = 0; j < k; j++) assert_string_not_equal(name, spt_method_param_name(j));
    }
    assert_string_equal(spt_method_param_name(SPT_MP_SPARSITY), "sparsity");
    assert_string_equal(spt_method_param_name(SPT_MP_GLOBAL), "global");
    assert_null(spt_method_param_name(-1));
    assert_null(spt_method_param_name(SPT_MP_COUNT_));
    assert_null(spt_method_param_doc(SPT_MP_COUNT_));
    int key = 7;
    assert_status(spt_method_param_from_name("Sparsity", &key), SPT_ERR_INVALID);
    assert_status(spt_method_param_from_name("", &key), SPT_ERR_INVALID);
    assert_int_equal(key, 7); /* unchanged on failure */
    assert_status(spt_method_param_from_name(NULL, &key), SPT_ERR_NULL);
    assert_status(spt_method_param_from_name("sparsity", NULL), SPT_ERR_NULL);
}

static void test_types(void **state) {
    (void)state;
    int t = -1;
    assert_status(spt_method_param_type(SPT_MP_SPARSITY, &t), SPT_OK);
    assert_int_equal(t, SPT_PARAM_REAL);
    assert_status(spt_method_param_type(SPT_MP_DELTA_T, &t), SPT_OK);
    assert_int_equal(t, SPT_PARAM_INTEGER);
    assert_status(spt_method_param_type(SPT_MP_GLOBAL, &t), SPT_OK);
    assert_int_equal(t, SPT_PARAM_BOOLEAN);
    assert_status(spt_method_param_type(SPT_MP_DISTRIBUTION, &t), SPT_OK);
    assert_int_equal(t, SPT_PARAM_CHOICE);
    assert_status(spt_method_param_type(SPT_MP_DROP_SCHEDULE, &t), SPT_OK);
    assert_int_equal(t, SPT_PARAM_CHOICE);
    for (int k = 0; k < SPT_MP_COUNT_; k++) {
        assert_status(spt_method_param_type(k, &t), SPT_OK);
        assert_in_range(t, SPT_PARAM_REAL, SPT_PARAM_CHOICE);
        double lo, hi;
        int flags;
        assert_status(spt_method_param_bounds(k, &lo, &hi, &flags), SPT_OK);
        if (t == SPT_PARAM_BOOLEAN) assert_true(lo == 0 && hi == 1 && flags == 0);
        if (t == SPT_PARAM_CHOICE) assert_true(lo == 0 && flags == 0);
    }
    t = 42;
    assert_status(spt_method_param_type(SPT_MP_COUNT_, &t), SPT_ERR_INVALID);
    assert_status(spt_method_param_type(-1, &t), SPT_ERR_INVALID);
    assert_int_equal(t, 42);
    assert_status(spt_method_param_type(SPT_MP_SPARSITY, NULL), SPT_ERR_NULL);
}

static int accepts(spt_method_config *c, int key, double v) { return spt_method_config_set(c, key, v) == SPT_OK; }

static void test_bounds_agree_with_set(void **state) {
    (void)state;
    spt_method_config *c = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &c), SPT_OK);
    for (int k = 0; k < SPT_MP_COUNT_; k++) {
        double lo, hi;
        int flags, type;
        assert_status(spt_method_param_bounds(k, &lo, &hi, &flags), SPT_OK);
        assert_status(spt_method_param_type(k, &type), SPT_OK);
        assert_true(lo < hi);
        assert_true((flags & ~(SPT_PARAM_LO_OPEN | SPT_PARAM_HI_OPEN)) == 0);
        bool lo_open = flags & SPT_PARAM_LO_OPEN, hi_open = flags & SPT_PARAM_HI_OPEN;
        bool whole = type != SPT_PARAM_REAL;
        /* the bounds themselves */
        assert_int_equal(accepts(c, k, lo), !lo_open);
        assert_int_equal(accepts(c, k, hi), !hi_open);
        /* just outside */
        assert_false(accepts(c, k, nextafter(lo, -INFINITY)));
        assert_false(accepts(c, k, nextafter(hi, INFINITY)));
        assert_false(accepts(c, k, NAN));
        assert_false(accepts(c, k, -INFINITY));
        assert_false(accepts(c, k, INFINITY));
        if (whole) {
            assert_false(accepts(c, k, lo - 1));
            if (hi + 1 > hi) assert_false(accepts(c, k, hi + 1)); /* (2^53 + 1 rounds to 2^53) */
            assert_false(accepts(c, k, lo + 0.5));
            assert_true(accepts(c, k, lo + 1));
        } else {
            /* just inside an open bound */
            assert_true(accepts(c, k, nextafter(lo, INFINITY)));
            assert_true(accepts(c, k, nextafter(hi, -INFINITY)));
            assert_true(accepts(c, k, 0.5 * (lo + hi)));
        }
    }
    spt_method_config_destroy(c);
    /* documented values of a few keys */
    double lo, hi;
    int flags;
    assert_status(spt_method_param_bounds(SPT_MP_SPARSITY, &lo, &hi, &flags), SPT_OK);
    assert_true(lo == 0 && hi == 1 && flags == SPT_PARAM_HI_OPEN);
    assert_status(spt_method_param_bounds(SPT_MP_LOTTERY_RATE, &lo, &hi, &flags), SPT_OK);
    assert_true(lo == 0 && hi == 1 && flags == (SPT_PARAM_LO_OPEN | SPT_PARAM_HI_OPEN));
    assert_status(spt_method_param_bounds(SPT_MP_T_END, &lo, NULL, NULL), SPT_OK); /* NULL outputs skipped */
    assert_true(lo == -1);
    lo = 5;
    assert_status(spt_method_param_bounds(SPT_MP_COUNT_, &lo, &hi, &flags), SPT_ERR_INVALID);
    assert_status(spt_method_param_bounds(-1, NULL, NULL, NULL), SPT_ERR_INVALID);
    assert_true(lo == 5);
}

static void test_defaults_agree_with_config(void **state) {
    (void)state;
    int n = spt_method_count();
    spt_user_method *u = NULL;
    assert_status(spt_user_method_create("u", &u), SPT_OK);
    for (int m = 0; m < n; m++) {
        spt_method_config *c = NULL;
        int is_user = -1;
        assert_status(spt_method_is_user(m, &is_user), SPT_OK);
        assert_int_equal(is_user, m == SPT_METHOD_USER);
        if (is_user) assert_status(spt_method_config_create_user(u, &c), SPT_OK);
        else assert_status(spt_method_config_create(m, &c), SPT_OK);
        for (int k = 0; k < SPT_MP_COUNT_; k++) {
            double want, got = NAN;
            assert_status(spt_method_config_get(c, k, &want), SPT_OK);
            assert_status(spt_method_param_default(m, k, &got), SPT_OK);
            assert_true(got == want);
        }
        spt_method_config_destroy(c);
    }
    spt_user_method_destroy(u);
    int is_user;
    assert_status(spt_method_is_user(spt_method_count(), &is_user), SPT_ERR_INVALID);
    assert_status(spt_method_is_user(SPT_METHOD_RIGL, NULL), SPT_ERR_NULL);
    double v = 0;
    assert_status(spt_method_param_default(SPT_METHOD_SNIP, SPT_MP_GLOBAL, &v), SPT_OK);
    assert_true(v == 1);
    assert_status(spt_method_param_default(SPT_METHOD_GMP, SPT_MP_GLOBAL, &v), SPT_OK);
    assert_true(v == 0);
    assert_status(spt_method_param_default(SPT_METHOD_DENSE, SPT_MP_SPARSITY, &v), SPT_OK);
    assert_true(v == 0);
    v = 3;
    assert_status(spt_method_param_default(n, SPT_MP_SPARSITY, &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_default(-1, SPT_MP_SPARSITY, &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_default(SPT_METHOD_RIGL, SPT_MP_COUNT_, &v), SPT_ERR_INVALID);
    assert_true(v == 3);
    assert_status(spt_method_param_default(SPT_METHOD_RIGL, SPT_MP_SPARSITY, NULL), SPT_ERR_NULL);
}

static void test_uses_param_agrees_with_ops(void **state) {
    (void)state;
    int n = spt_method_count();
    for (int m = 0; m < n; m++) {
        const spti_method_ops *ops = spti_method_find(m);
        assert_non_null(ops);
        for (int k = 0; k < SPT_MP_COUNT_; k++) {
            int want = 0, got = -1;
            for (const int *p = ops->keys; p && *p >= 0; p++) want |= *p == k;
            assert_status(spt_method_uses_param(m, k, &got), SPT_OK);
            assert_int_equal(got, want);
        }
    }
    int u = -1;
    assert_status(spt_method_uses_param(SPT_METHOD_RIGL, SPT_MP_DELTA_T, &u), SPT_OK);
    assert_int_equal(u, 1);
    assert_status(spt_method_uses_param(SPT_METHOD_RIGL, SPT_MP_PRUNE_FREQ, &u), SPT_OK);
    assert_int_equal(u, 0);
    assert_status(spt_method_uses_param(SPT_METHOD_SNFS, SPT_MP_SNFS_MOMENTUM, &u), SPT_OK);
    assert_int_equal(u, 1);
    assert_status(spt_method_uses_param(SPT_METHOD_DENSE, SPT_MP_SPARSITY, &u), SPT_OK);
    assert_int_equal(u, 0);
    u = 9;
    assert_status(spt_method_uses_param(n, SPT_MP_SPARSITY, &u), SPT_ERR_INVALID);
    assert_status(spt_method_uses_param(SPT_METHOD_RIGL, -1, &u), SPT_ERR_INVALID);
    assert_int_equal(u, 9);
    assert_status(spt_method_uses_param(SPT_METHOD_RIGL, SPT_MP_SPARSITY, NULL), SPT_ERR_NULL);
}

static void test_choices(void **state) {
    (void)state;
    for (int k = 0; k < SPT_MP_COUNT_; k++) {
        int type;
        double lo, hi;
        assert_status(spt_method_param_type(k, &type), SPT_OK);
        assert_status(spt_method_param_bounds(k, &lo, &hi, NULL), SPT_OK);
        if (type != SPT_PARAM_CHOICE) {
            assert_null(spt_method_param_choice_name(k, 0));
            int v = 4;
            assert_status(spt_method_param_choice_from_name(k, "uniform", &v), SPT_ERR_INVALID);
            assert_int_equal(v, 4);
            continue;
        }
        /* every value in the domain has a name, and only those */
        for (int v = (int)lo; v <= (int)hi; v++) {
            const char *name = spt_method_param_choice_name(k, v);
            assert_non_null(name);
            int back = -1;
            assert_status(spt_method_param_choice_from_name(k, name, &back), SPT_OK);
            assert_int_equal(back, v);
        }
        assert_null(spt_method_param_choice_name(k, (int)lo - 1));
        assert_null(spt_method_param_choice_name(k, (int)hi + 1));
    }
    const char *dist[] = {"uniform", "er", "erk"};
    const int dist_v[] = {SPT_DISTRIBUTION_UNIFORM, SPT_DISTRIBUTION_ERDOS_RENYI, SPT_DISTRIBUTION_ERK};
    for (int i = 0; i < 3; i++)
        assert_string_equal(spt_method_param_choice_name(SPT_MP_DISTRIBUTION, dist_v[i]), dist[i]);
    const char *sched[] = {"cosine", "linear", "constant"};
    const int sched_v[] = {SPT_DROP_COSINE, SPT_DROP_LINEAR, SPT_DROP_CONSTANT};
    for (int i = 0; i < 3; i++)
        assert_string_equal(spt_method_param_choice_name(SPT_MP_DROP_SCHEDULE, sched_v[i]), sched[i]);
    int v = -1;
    assert_status(spt_method_param_choice_from_name(SPT_MP_DISTRIBUTION, "erdos_renyi", &v), SPT_OK); /* alias */
    assert_int_equal(v, SPT_DISTRIBUTION_ERDOS_RENYI);
    v = 8;
    assert_status(spt_method_param_choice_from_name(SPT_MP_DISTRIBUTION, "gaussian", &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_choice_from_name(SPT_MP_DISTRIBUTION, "ERK", &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_choice_from_name(SPT_MP_DROP_SCHEDULE, "erk", &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_choice_from_name(SPT_MP_COUNT_, "erk", &v), SPT_ERR_INVALID);
    assert_status(spt_method_param_choice_from_name(-1, "erk", &v), SPT_ERR_INVALID);
    assert_int_equal(v, 8);
    assert_status(spt_method_param_choice_from_name(SPT_MP_DISTRIBUTION, NULL, &v), SPT_ERR_NULL);
    assert_status(spt_method_param_choice_from_name(SPT_MP_DISTRIBUTION, "erk", NULL), SPT_ERR_NULL);
    assert_null(spt_method_param_choice_name(-1, 0));
    assert_null(spt_method_param_choice_name(SPT_MP_COUNT_, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_docs),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_bounds_agree_with_set),
        cmocka_unit_test(test_defaults_agree_with_config),
        cmocka_unit_test(test_uses_param_agrees_with_ops),
        cmocka_unit_test(test_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
