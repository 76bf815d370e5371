/* Method configuration: defaults, domains, names, custom densities. */
#include <math.h>
#include <string.h>

#include "sparsity/method_config.h"
#include "test_support.h"

static void test_defaults(void **state) {
    (void)state;
    spt_method_config *c = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &c), SPT_OK);
    double v;
    int m;
    assert_status(spt_method_config_method(c, &m), SPT_OK);
    assert_int_equal(m, SPT_METHOD_RIGL);
    assert_status(spt_method_config_get(c, SPT_MP_DELTA_T, &v), SPT_OK);
    assert_true(v == 100);
    assert_status(spt_method_config_get(c, SPT_MP_ALPHA, &v), SPT_OK);
    assert_true(v == 0.3);
    assert_status(spt_method_config_get(c, SPT_MP_T_END_FRACTION, &v), SPT_OK);
    assert_true(v == 0.75);
    assert_status(spt_method_config_get(c, SPT_MP_DISTRIBUTION, &v), SPT_OK);
    assert_true(v == SPT_DISTRIBUTION_ERK);
    spt_method_config_destroy(c);
    assert_status(spt_method_config_create(SPT_METHOD_DENSE, &c), SPT_OK);
    assert_status(spt_method_config_get(c, SPT_MP_SPARSITY, &v), SPT_OK);
    assert_true(v == 0.0);
    spt_method_config_destroy(c);
    spt_method_config_destroy(NULL);
}

static void test_domains(void **state) {
    (void)state;
    spt_method_config *c = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_SET, &c), SPT_OK);
    assert_status(spt_method_config_set(c, SPT_MP_SPARSITY, 1.0), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_SPARSITY, -0.1), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_SPARSITY, NAN), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_DELTA_T, 0), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_DELTA_T, 2.5), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_ALPHA, 1.5), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_T_END, -2), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_LOTTERY_RATE, 0), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_DISTRIBUTION, 3), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, SPT_MP_COUNT_, 1), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(c, -1, 1), SPT_ERR_INVALID);
    double v;
    assert_status(spt_method_config_get(c, SPT_MP_SPARSITY, &v), SPT_OK);
    assert_true(v == 0.9); /* unchanged by the failures */
    assert_status(spt_method_config_set(c, SPT_MP_SPARSITY, 0.95), SPT_OK);
    assert_status(spt_method_config_get(c, SPT_MP_SPARSITY, &v), SPT_OK);
    assert_true(v == 0.95);
    assert_status(spt_method_config_set(c, SPT_MP_T_END, 5000), SPT_OK);
    assert_status(spt_method_config_set(NULL, SPT_MP_T_END, 5000), SPT_ERR_NULL);
    assert_status(spt_method_config_get(c, SPT_MP_T_END, NULL), SPT_ERR_NULL);
    spt_method_config_destroy(c);
    assert_status(spt_method_config_create(spt_method_count(), &c), SPT_ERR_INVALID);
    assert_null(c);
    /* A user method needs its criteria: spt_method_config_create_user. */
    assert_status(spt_method_config_create(SPT_METHOD_USER, &c), SPT_ERR_INVALID);
    assert_null(c);
    assert_status(spt_method_config_create(SPT_METHOD_SET, NULL), SPT_ERR_NULL);
}

static void test_names(void **state) {
    (void)state;
    assert_int_equal(spt_method_count(), SPT_METHOD_USER + 1);
    for (int m = SPT_METHOD_DENSE; m < spt_method_count(); m++) {
        int back = -1;
        assert_non_null(spt_method_name(m));
        assert_status(spt_method_from_name(spt_method_name(m), &back), SPT_OK);
        assert_int_equal(back, m);
    }
    assert_null(spt_method_name(spt_method_count()));
    assert_null(spt_method_name(-1));
    int m;
    assert_status(spt_method_from_name("rigl2", &m), SPT_ERR_INVALID);
    assert_string_equal(spt_method_name(SPT_METHOD_RIGL), "rigl");
}

static void test_densities(void **state) {
    (void)state;
    spt_test_alloc_install();
    spt_method_config *c = NULL, *d = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &c), SPT_OK);
    double good[3] = {0.5, 1.0, 0.01}, bad[2] = {0.5, 0.0};
    assert_status(spt_method_config_set_densities(c, bad, 2), SPT_ERR_INVALID);
    assert_null(c->densities);
    assert_status(spt_method_config_set_densities(c, good, -1), SPT_ERR_SIZE);
    assert_status(spt_method_config_set_densities(c, NULL, 3), SPT_ERR_NULL);
    spt_test_alloc_fail_at(0);
    assert_status(spt_method_config_set_densities(c, good, 3), SPT_ERR_NOMEM);
    assert_status(spt_method_config_set_densities(c, good, 3), SPT_OK);
    assert_int_equal(c->n_densities, 3);
    assert_true(c->densities[2] == 0.01);
    assert_status(spti_method_config_clone(c, &d), SPT_OK);
    assert_true(d->densities != c->densities && d->densities[1] == 1.0);
    spt_method_config_destroy(d);
    assert_status(spt_method_config_set_densities(c, NULL, 0), SPT_OK);
    assert_null(c->densities);
    spt_method_config_destroy(c);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_densities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
