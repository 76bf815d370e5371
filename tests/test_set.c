/* SET: drop the k smallest |w|, grow k uniformly random positions among
 * those not kept (new weights and slots exactly 0), in after_step, without
 * skipping the optimizer. */
#include "test_dst_util.h"

enum { ROWS = 10, COLS = 10, CELLS = ROWS * COLS };

static spti_method *make_set(spti_param **w, double density, double seed) {
    spt_method_config *c = dst_config(SPT_METHOD_SET, &density, 1, seed);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 5), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DROP_SCHEDULE, SPT_DROP_CONSTANT), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_T_END, 1000), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 1, 100, &m), SPT_OK);
    spt_method_config_destroy(c);
    assert_string_equal(m->ops->name, "set");
    assert_int_equal(m->ops->init(m, w, 1, NULL), SPT_OK);
    return m;
}

static void test_set_update(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 1);
    spti_method *m = make_set(&w, 0.2, 1);
    dst_fill_slots(w);
    const int64_t nnz = w->n, k = (int64_t)floor(0.3 * (double)nnz);
    int64_t updates = 0;
    for (int64_t t = 0; t < 60; t++) {
        assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
        assert_false(w->request.dense_grad); /* SET never needs a dense gradient */
        bool skip = true;
        dst_snap before = dst_snapshot(w);
        assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
        assert_false(skip); /* the optimizer always steps */
        dst_snap mid = dst_snapshot(w);
        assert_true(dst_snap_equal(&before, &mid));
        assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        dst_snap after = dst_snapshot(w);
        assert_int_equal(w->n, nnz);
        assert_int_equal(spti_csr_validate(w->csr), SPT_OK);
        if (t > 0 && t % 5 == 0) {
            updates++;
            /* Dropped: exactly the k smallest |w| of the active ones. */
            float key[CELLS];
            int64_t idx[CELLS];
            for (int i = 0; i < CELLS; i++) key[i] = before.active[i] ? fabsf(before.w[i]) : INFINITY;
            dst_argsort(key, idx, CELLS);
            uint8_t dropped[CELLS] = {0};
            for (int64_t j = 0; j < k; j++) dropped[idx[j]] = 1;
            int64_t grown = 0;
            for (int i = 0; i < CELLS; i++) {
                if (before.active[i] && !dropped[i]) { /* kept: carried */
                    assert_true(after.active[i]);
                    assert_true(after.w[i] == before.w[i] && after.s0[i] == before.s0[i]);
                } else if (after.active[i]) { /* grown at a non-kept position */
                    grown++;
                    if (before.active[i]) assert_true(after.w[i] == before.w[i] && after.s1[i] == before.s1[i]);
                    else assert_true(after.w[i] == 0.0f && after.s0[i] == 0.0f && after.s1[i] == 0.0f);
                }
            }
            assert_int_equal(grown, k);
        } else {
            assert_true(dst_snap_equal(&before, &after));
        }
        dst_snap_free(&before);
        dst_snap_free(&mid);
        dst_snap_free(&after);
        /* Stand-in optimizer step: distinct magnitudes, grown weights leave 0. */
        for (int64_t i = 0; i < w->n; i++) w->value[i] += 0.001f * (float)((i * 7919 + t * 31) % 101 + 1);
    }
    assert_int_equal(updates, 11);
    assert_int_equal(m->topology_updates, 11);
    spti_param_destroy(w);
    spti_method_destroy(m);
}

/* Growth is uniform over the non-kept positions: over many draws every
 * candidate is chosen about k / candidates of the time, kept ones never. */
static void test_set_uniform(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 2);
    spti_method *m = make_set(&w, 0.2, 2);
    const int64_t nnz = w->n, k = 6, trials = 4000;
    int64_t drop[6], pos[CELLS], newp[CELLS];
    assert_int_equal(spti_drop_smallest(w->value, true, nnz, k, 9, drop), SPT_OK);
    int64_t n_act = spti_param_active_positions(w, pos);
    uint8_t kept[CELLS] = {0};
    for (int64_t j = 0, d = 0; j < n_act; j++) {
        if (d < k && drop[d] == j) d++;
        else kept[pos[j]] = 1;
    }
    long count[CELLS] = {0};
    for (int64_t t = 0; t < trials; t++) {
        spti_rng rng;
        spti_rng_seed(&rng, 100 + (uint64_t)t);
        assert_int_equal(spti_drop_grow_positions(w, k, NULL, NULL, NULL, NULL, &rng, 9, newp), SPT_OK);
        for (int64_t j = 0; j < nnz; j++) count[newp[j]]++;
    }
    const int64_t cand = CELLS - (nnz - k);
    const double expect = (double)trials * (double)k / (double)cand; /* about 279, sd about 16 */
    for (int i = 0; i < CELLS; i++) {
        if (kept[i]) assert_int_equal(count[i], trials);
        else assert_true(fabs((double)count[i] - expect) < 0.3 * expect);
    }
    spti_param_destroy(w);
    spti_method_destroy(m);
}

static void step_set(spti_method *m, spti_param *w, int64_t t) {
    bool skip;
    assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
    assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
    for (int64_t i = 0; i < w->n; i++) w->value[i] += 0.001f * (float)((i * 7919 + t * 31) % 101 + 1);
    assert_int_equal(m->ops->after_step(m, t), SPT_OK);
}

static void assert_same(const spti_param *a, const spti_param *b) {
    dst_snap sa = dst_snapshot(a), sb = dst_snapshot(b);
    assert_true(dst_snap_equal(&sa, &sb));
    dst_snap_free(&sa);
    dst_snap_free(&sb);
}

/* Same seed, same run; a loaded state continues exactly like the original. */
static void test_set_deterministic_and_save_load(void **state) {
    spti_param *wa = dst_weight("w", ROWS, COLS, 3), *wc = dst_weight("w", ROWS, COLS, 3);
    spti_method *a = make_set(&wa, 0.3, 7), *c = make_set(&wc, 0.3, 7);
    for (int64_t t = 0; t < 13; t++) {
        step_set(a, wa, t);
        step_set(c, wc, t);
        assert_same(wa, wc);
    }
    int64_t len;
    assert_int_equal(a->ops->save(a, NULL, 0, &len), SPT_OK);
    uint8_t *buf = malloc((size_t)len);
    assert_int_equal(a->ops->save(a, buf, len, &len), SPT_OK);
    spti_param *wb = dst_clone(wa);
    double d = 0.3;
    spt_method_config *cfg = dst_config(SPT_METHOD_SET, &d, 1, 8); /* another seed */
    assert_int_equal(spt_method_config_set(cfg, SPT_MP_DELTA_T, 5), SPT_OK);
    assert_int_equal(spt_method_config_set(cfg, SPT_MP_DROP_SCHEDULE, SPT_DROP_CONSTANT), SPT_OK);
    assert_int_equal(spt_method_config_set(cfg, SPT_MP_T_END, 1000), SPT_OK);
    spti_method *b = NULL;
    assert_int_equal(spti_method_create(cfg, &wb, 1, 100, &b), SPT_OK);
    spt_method_config_destroy(cfg);
    assert_int_equal(b->ops->load(b, buf, len), SPT_OK);
    free(buf);
    for (int64_t t = 13; t < 60; t++) {
        step_set(a, wa, t);
        step_set(b, wb, t);
        assert_same(wa, wb);
    }
    assert_int_equal(a->topology_updates, b->topology_updates);
    spti_param_destroy(wa);
    spti_param_destroy(wb);
    spti_param_destroy(wc);
    spti_method_destroy(a);
    spti_method_destroy(b);
    spti_method_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_update),
        cmocka_unit_test(test_set_uniform),
        cmocka_unit_test(test_set_deterministic_and_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
