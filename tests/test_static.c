/* Static sparse training: the initial topology never changes and every
 * hook is a no-op; its state saves and loads. */
#include "test_dst_util.h"

static void test_static_never_changes(void **state) {
    spti_param *w[2] = {dst_weight("a", 8, 12, 1), dst_weight("b", 5, 8, 2)};
    double d[2] = {0.25, 0.5};
    spt_method_config *c = dst_config(SPT_METHOD_STATIC, d, 2, 3);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 1), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 2, 50, &m), SPT_OK);
    spt_method_config_destroy(c);
    assert_string_equal(m->ops->name, "static");
    assert_null(m->ops->end_round);
    assert_int_equal(m->ops->init(m, w, 2, NULL), SPT_OK);
    assert_int_equal(w[0]->n, 24);
    assert_int_equal(w[1]->n, 20);
    for (int l = 0; l < 2; l++) dst_fill_slots(w[l]);
    for (int64_t t = 0; t < 50; t++) {
        dst_snap before[2];
        for (int l = 0; l < 2; l++) before[l] = dst_snapshot(w[l]);
        assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
        bool skip = true;
        assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
        assert_false(skip);
        assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        for (int l = 0; l < 2; l++) {
            assert_false(w[l]->request.dense_grad);
            dst_snap after = dst_snapshot(w[l]);
            assert_true(dst_snap_equal(&before[l], &after));
            dst_snap_free(&before[l]);
            dst_snap_free(&after);
        }
    }
    assert_int_equal(m->topology_updates, 0);
    int64_t len;
    assert_int_equal(m->ops->save(m, NULL, 0, &len), SPT_OK);
    assert_int_equal(len, 80 + 2 * 24);
    uint8_t buf[128];
    assert_int_equal(m->ops->save(m, buf, len, &len), SPT_OK);
    assert_int_equal(m->ops->load(m, buf, len), SPT_OK);
    buf[12] = 3; /* layer count */
    assert_status(m->ops->load(m, buf, len), SPT_ERR_FORMAT);
    for (int l = 0; l < 2; l++) spti_param_destroy(w[l]);
    spti_method_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_never_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
