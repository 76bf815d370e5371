/* SNFS: a dense gradient every step, smoothed into a dense momentum M; on
 * update steps drop the k smallest |w| and grow the k largest |M| among the
 * positions not kept; the momentum is part of the checkpoint. */
#include "test_dst_util.h"

enum { ROWS = 9, COLS = 16, CELLS = ROWS * COLS };

static spti_method *make_snfs(spti_param **w, double seed, bool init) {
    double d = 0.25;
    spt_method_config *c = dst_config(SPT_METHOD_SNFS, &d, 1, seed);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 4), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SNFS_MOMENTUM, 0.8), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_T_END, 1000), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 1, 100, &m), SPT_OK);
    spt_method_config_destroy(c);
    assert_string_equal(m->ops->name, "snfs");
    if (init) assert_int_equal(m->ops->init(m, w, 1, NULL), SPT_OK);
    return m;
}

/* One step; the reference momentum ref[] follows M = 0.8 M + 0.2 g in double. */
static void step(spti_method *m, spti_param *w, int64_t t, double *ref) {
    assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
    assert_true(w->request.dense_grad); /* every step */
    dst_fill_dense_grad(w, 40 + (uint64_t)t);
    if (ref)
        for (int i = 0; i < CELLS; i++) ref[i] = 0.8 * ref[i] + 0.2 * (double)w->result.dense_grad[i];
    bool skip = true;
    assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
    assert_false(skip);
    for (int64_t i = 0; i < w->n; i++) w->value[i] += 0.001f * (float)((i * 7919 + t * 31) % 101 + 1);
    assert_int_equal(m->ops->after_step(m, t), SPT_OK);
}

static void test_snfs_grows_by_momentum(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 1);
    spti_method *m = make_snfs(&w, 1, true);
    dst_fill_slots(w);
    double ref[CELLS] = {0};
    const int64_t nnz = w->n;
    spti_dst *st = m->state;
    for (int64_t t = 0; t < 30; t++) {
        /* Replay the step by hand up to the topology update to know `before`. */
        assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
        dst_fill_dense_grad(w, 40 + (uint64_t)t);
        for (int i = 0; i < CELLS; i++) ref[i] = 0.8 * ref[i] + 0.2 * (double)w->result.dense_grad[i];
        bool skip = true;
        assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
        assert_false(skip);
        for (int i = 0; i < CELLS; i++) assert_true(fabs(st->momentum[0][i] - ref[i]) < 1e-5);
        for (int64_t i = 0; i < w->n; i++) w->value[i] += 0.001f * (float)((i * 7919 + t * 31) % 101 + 1);
        dst_snap before = dst_snapshot(w);
        assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        dst_snap after = dst_snapshot(w);
        assert_int_equal(w->n, nnz);
        if (t > 0 && t % 4 == 0) {
            double f;
            assert_int_equal(spt_drop_fraction(SPT_DROP_COSINE, 0.3, 1000, t, &f), SPT_OK);
            int64_t k = (int64_t)floor(f * (double)nnz);
            float key[CELLS];
            int64_t idx[CELLS];
            uint8_t dropped[CELLS] = {0}, grown[CELLS] = {0};
            for (int i = 0; i < CELLS; i++) key[i] = before.active[i] ? fabsf(before.w[i]) : INFINITY;
            dst_argsort(key, idx, CELLS);
            for (int64_t j = 0; j < k; j++) dropped[idx[j]] = 1;
            for (int i = 0; i < CELLS; i++)
                key[i] = before.active[i] && !dropped[i] ? INFINITY : -fabsf(st->momentum[0][i]);
            dst_argsort(key, idx, CELLS);
            for (int64_t j = 0; j < k; j++) grown[idx[j]] = 1;
            for (int i = 0; i < CELLS; i++) {
                assert_int_equal(after.active[i], (before.active[i] && !dropped[i]) || grown[i]);
                if (after.active[i] && !before.active[i]) assert_true(after.w[i] == 0.0f && after.s0[i] == 0.0f);
                if (after.active[i] && before.active[i]) assert_true(after.w[i] == before.w[i]);
            }
        } else {
            assert_true(dst_snap_equal(&before, &after));
        }
        dst_snap_free(&before);
        dst_snap_free(&after);
    }
    assert_int_equal(m->topology_updates, 7);
    spti_param_destroy(w);
    spti_method_destroy(m);
}

static void test_snfs_save_load(void **state) {
    spti_param *wa = dst_weight("w", ROWS, COLS, 2);
    spti_method *a = make_snfs(&wa, 3, true);
    for (int64_t t = 0; t < 10; t++) step(a, wa, t, NULL);
    int64_t len;
    assert_int_equal(a->ops->save(a, NULL, 0, &len), SPT_OK);
    assert_int_equal(len, 80 + 24 + CELLS * 4); /* header, one layer, its momentum */
    uint8_t *buf = malloc((size_t)len);
    assert_int_equal(a->ops->save(a, buf, len, &len), SPT_OK);
    spti_param *wb = dst_clone(wa);
    spti_method *b = make_snfs(&wb, 4, false);
    assert_int_equal(b->ops->load(b, buf, len), SPT_OK);
    spti_dst *sa = a->state, *sb = b->state;
    assert_memory_equal(sa->momentum[0], sb->momentum[0], CELLS * sizeof(float));
    for (int64_t t = 10; t < 40; t++) {
        step(a, wa, t, NULL);
        step(b, wb, t, NULL);
        dst_snap x = dst_snapshot(wa), y = dst_snapshot(wb);
        assert_true(dst_snap_equal(&x, &y));
        dst_snap_free(&x);
        dst_snap_free(&y);
    }
    /* The state of another method is refused. */
    buf[8] = SPT_METHOD_RIGL;
    assert_status(b->ops->load(b, buf, len), SPT_ERR_FORMAT);
    free(buf);
    spti_param_destroy(wa);
    spti_param_destroy(wb);
    spti_method_destroy(a);
    spti_method_destroy(b);
}

static void test_snfs_nomem(void **state) {
    for (long fail = 0;; fail++) {
        spt_test_alloc_install();
        spti_param *w = dst_weight("w", ROWS, COLS, 5);
        spti_method *m = make_snfs(&w, 1, true);
        for (int64_t t = 0; t < 4; t++) step(m, w, t, NULL);
        assert_int_equal(m->ops->begin_step(m, 4), SPT_OK);
        bool skip;
        assert_int_equal(m->ops->after_backward(m, 4, &skip), SPT_OK);
        dst_snap before = dst_snapshot(w);
        spt_test_alloc_fail_at(fail);
        int rc = m->ops->after_step(m, 4);
        spt_test_alloc_fail_at(-1);
        dst_snap after = dst_snapshot(w);
        if (rc != SPT_OK) {
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_true(dst_snap_equal(&before, &after));
        }
        dst_snap_free(&before);
        dst_snap_free(&after);
        spti_param_destroy(w);
        spti_method_destroy(m);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
        if (rc == SPT_OK) break;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snfs_grows_by_momentum),
        cmocka_unit_test(test_snfs_save_load),
        cmocka_unit_test(test_snfs_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
