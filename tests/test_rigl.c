/* RigL: drop the k smallest |w|, grow the k largest |dense_grad| among the
 * positions not kept, skip the optimizer on update steps; checked against a
 * naive reference on small layers driven through the hooks, and through a
 * real linear layer's backward, which streams the gradient into the growth
 * collector (same choices as the full dense_grad path, ties included).
 * Also the shared drop selection (spti_drop_smallest). */
#include "nn/layers.h"
#include "kernels/grow_collector.h"
#include "test_dst_util.h"

enum { ROWS = 12, COLS = 25, CELLS = ROWS * COLS };

/* The naive reference of one update: before -> expected after. */
static void check_update(const dst_snap *before, const dst_snap *after, const float *score, int64_t k) {
    int64_t cells = before->cells, n_act = 0;
    float *key = malloc((size_t)cells * sizeof(float));
    int64_t *idx = malloc((size_t)cells * sizeof(int64_t));
    uint8_t *dropped = calloc((size_t)cells, 1), *grown = calloc((size_t)cells, 1);
    /* Drop: the k active entries of smallest |w| (inactive keyed above all). */
    for (int64_t i = 0; i < cells; i++) {
        key[i] = before->active[i] ? fabsf(before->w[i]) : INFINITY;
        n_act += before->active[i];
    }
    dst_argsort(key, idx, cells);
    for (int64_t j = 0; j < k; j++) {
        assert_true(before->active[idx[j]]);
        if (j == k - 1 && k < n_act) assert_true(key[idx[j]] < key[idx[j + 1]]); /* no tie decides */
        dropped[idx[j]] = 1;
    }
    /* Grow: the k largest |score| among the positions not kept. */
    for (int64_t i = 0; i < cells; i++) key[i] = before->active[i] && !dropped[i] ? INFINITY : -fabsf(score[i]);
    dst_argsort(key, idx, cells);
    for (int64_t j = 0; j < k; j++) {
        if (j == k - 1) assert_true(key[idx[j]] < key[idx[j + 1]]);
        grown[idx[j]] = 1;
    }
    for (int64_t i = 0; i < cells; i++) {
        bool want = (before->active[i] && !dropped[i]) || grown[i];
        assert_int_equal(after->active[i], want);
        if (!want) continue;
        if (before->active[i]) { /* kept, or dropped and grown again: carried */
            assert_true(after->w[i] == before->w[i]);
            assert_true(after->s0[i] == before->s0[i] && after->s1[i] == before->s1[i]);
        } else { /* new: exactly zero, slots zero */
            assert_true(after->w[i] == 0.0f && after->s0[i] == 0.0f && after->s1[i] == 0.0f);
        }
    }
    free(key);
    free(idx);
    free(dropped);
    free(grown);
}

static spti_method *make_rigl(spti_param **w, int n, const double *dens, double seed, int schedule, double t_end) {
    spt_method_config *c = dst_config(SPT_METHOD_RIGL, dens, n, seed);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 10), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DROP_SCHEDULE, schedule), SPT_OK);
    if (t_end >= 0) assert_int_equal(spt_method_config_set(c, SPT_MP_T_END, t_end), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, n, 400, &m), SPT_OK);
    spt_method_config_destroy(c);
    assert_string_equal(m->ops->name, "rigl");
    return m;
}

/* One training step through the hooks; the dense gradient is drawn from
 * grad_seed when the method asks for it (copied to grad_copy[l]). Returns skip. */
static bool run_step(spti_method *m, int64_t t, uint64_t grad_seed, float **grad_copy) {
    assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!p->request.dense_grad) continue;
        dst_fill_dense_grad(p, grad_seed + (uint64_t)l);
        if (grad_copy) memcpy(grad_copy[l], p->result.dense_grad, (size_t)(p->rows * p->cols) * sizeof(float));
    }
    bool skip = false;
    assert_int_equal(m->ops->after_backward(m, t, &skip), SPT_OK);
    assert_int_equal(m->ops->after_step(m, t), SPT_OK);
    return skip;
}

static void test_rigl_many_steps(void **state) {
    /* Layer 0 kept dense (dense_first), layers 1 and 2 sparse. */
    spti_param *w[3] = {dst_weight("a", 6, 7, 1), dst_weight("b", ROWS, COLS, 2), dst_weight("c", 9, 20, 3)};
    spt_method_config *c = dst_config(SPT_METHOD_RIGL, NULL, 0, 5);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DENSE_FIRST, 1), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSITY, 0.7), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 10), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 3, 400, &m), SPT_OK); /* T_end = 0.75 * 400 = 300 */
    spt_method_config_destroy(c);
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    int64_t nnz[3];
    for (int l = 1; l < 3; l++) {
        assert_int_equal(w[l]->kind, SPTI_PARAM_SPARSE);
        dst_fill_slots(w[l]);
        nnz[l] = w[l]->n;
    }
    float *grads[3];
    for (int l = 0; l < 3; l++) grads[l] = malloc((size_t)(w[l]->rows * w[l]->cols) * sizeof(float));
    int64_t updates = 0, changed = 0;
    for (int64_t t = 0; t < 340; t++) {
        dst_snap before[3], after[3];
        for (int l = 0; l < 3; l++) before[l] = dst_snapshot(w[l]);
        bool skip = run_step(m, t, 1000 + 7 * (uint64_t)t, grads);
        int upd = 0;
        assert_int_equal(spt_drop_is_update_step(10, 300, t, &upd), SPT_OK);
        assert_int_equal(skip, upd != 0);
        assert_false(w[0]->request.dense_grad);
        for (int l = 0; l < 3; l++) {
            after[l] = dst_snapshot(w[l]);
            assert_false(w[l]->request.dense_grad);
            assert_null(w[l]->result.dense_grad); /* freed after the update, never made otherwise */
            if (l > 0) {
                assert_int_equal(w[l]->n, nnz[l]);
                assert_int_equal(spti_csr_validate(w[l]->csr), SPT_OK);
            }
            if (upd && l > 0) {
                double f;
                assert_int_equal(spt_drop_fraction(SPT_DROP_COSINE, 0.3, 300, t, &f), SPT_OK);
                int64_t k = (int64_t)floor(f * (double)nnz[l]);
                changed += k > 0 && l == 1; /* layer 1 is the larger: k > 0 whenever layer 2's is */
                check_update(&before[l], &after[l], grads[l], k);
            } else {
                assert_true(dst_snap_equal(&before[l], &after[l])); /* nothing changes */
            }
            dst_snap_free(&before[l]);
            dst_snap_free(&after[l]);
        }
        updates += upd;
        /* A stand-in optimizer step, so that grown weights leave 0 and
         * magnitudes stay distinct. */
        spti_rng orng;
        spti_rng_seed(&orng, 31 + (uint64_t)t);
        for (int l = 0; l < 3 && !skip; l++)
            for (int64_t i = 0; i < w[l]->n; i++) w[l]->value[i] -= 0.01f * (spti_rng_uniform(&orng) - 0.5f);
    }
    assert_int_equal(updates, 29); /* 10, 20, ..., 290 */
    assert_true(changed >= 25);
    assert_int_equal(m->topology_updates, changed);
    for (int l = 0; l < 3; l++) {
        free(grads[l]);
        spti_param_destroy(w[l]);
    }
    spti_method_destroy(m);
}

static void test_rigl_regrow_keeps_value(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 4);
    double d = 0.2;
    spti_method *m = make_rigl(&w, 1, &d, 1, SPT_DROP_CONSTANT, 1000);
    assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
    dst_fill_slots(w);
    assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
    assert_true(w->request.dense_grad);
    dst_fill_dense_grad(w, 77);
    /* The active weight of smallest |w| is dropped; give it the largest gradient. */
    int64_t pos[CELLS], n = spti_param_active_positions(w, pos), lo = 0;
    for (int64_t j = 1; j < n; j++)
        if (fabsf(w->value[j]) < fabsf(w->value[lo])) lo = j;
    w->result.dense_grad[pos[lo]] = 100.0f;
    float grad[CELLS];
    memcpy(grad, w->result.dense_grad, sizeof grad);
    dst_snap before = dst_snapshot(w);
    bool skip = false;
    assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
    assert_true(skip);
    dst_snap after = dst_snapshot(w);
    check_update(&before, &after, grad, (int64_t)floor(0.3 * (double)n));
    assert_true(after.active[pos[lo]]);
    assert_true(after.w[pos[lo]] == before.w[pos[lo]] && after.w[pos[lo]] != 0.0f);
    assert_true(after.s0[pos[lo]] == before.s0[pos[lo]] && after.s1[pos[lo]] == before.s1[pos[lo]]);
    dst_snap_free(&before);
    dst_snap_free(&after);
    spti_param_destroy(w);
    spti_method_destroy(m);
}

static void test_rigl_schedule(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 5);
    double d = 0.5;
    spti_method *m = make_rigl(&w, 1, &d, 1, SPT_DROP_COSINE, -1); /* T_end = 300 */
    for (int64_t t = 0; t < 500; t += 7) {
        double f;
        assert_int_equal(spt_drop_fraction(SPT_DROP_COSINE, 0.3, 300, t, &f), SPT_OK);
        assert_int_equal(spti_dst_drop_count(m, t, 150), (int64_t)floor(f * 150.0));
        if (t >= 300) {
            assert_int_equal(spti_dst_drop_count(m, t, 150), 0);
            assert_false(spti_dst_is_update(m, t));
        }
    }
    assert_true(spti_dst_is_update(m, 290));
    assert_false(spti_dst_is_update(m, 0));
    assert_false(spti_dst_is_update(m, 295));
    spti_param_destroy(w);
    spti_method_destroy(m);
}

/* Equal magnitudes everywhere: only the seeded tie-break decides. */
static void test_rigl_ties(void **state) {
    int64_t pat[3][CELLS];
    int64_t npat[3];
    double seeds[3] = {3, 3, 4};
    for (int r = 0; r < 3; r++) {
        spti_param *w = dst_weight("w", ROWS, COLS, 6);
        double d = 0.3;
        spti_method *m = make_rigl(&w, 1, &d, seeds[r], SPT_DROP_CONSTANT, 1000);
        assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
        for (int64_t i = 0; i < w->n; i++) w->value[i] = (i & 1) ? 0.5f : -0.5f;
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        dst_fill_dense_grad(w, 1);
        for (int64_t i = 0; i < CELLS; i++) w->result.dense_grad[i] = 1.0f;
        bool skip;
        assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
        npat[r] = spti_param_active_positions(w, pat[r]);
        spti_param_destroy(w);
        spti_method_destroy(m);
    }
    assert_int_equal(npat[0], npat[1]);
    assert_memory_equal(pat[0], pat[1], (size_t)npat[0] * sizeof(int64_t));
    assert_true(npat[0] != npat[2] || memcmp(pat[0], pat[2], (size_t)npat[0] * sizeof(int64_t)) != 0);
}

static void test_rigl_save_load(void **state) {
    spti_param *wa = dst_weight("w", ROWS, COLS, 8);
    double d = 0.25;
    spti_method *a = make_rigl(&wa, 1, &d, 1, SPT_DROP_COSINE, 200);
    assert_int_equal(a->ops->init(a, &wa, 1, NULL), SPT_OK);
    dst_fill_slots(wa);
    for (int64_t t = 0; t < 25; t++) run_step(a, t, 500 + (uint64_t)t, NULL);
    int64_t len = 0;
    assert_int_equal(a->ops->save(a, NULL, 0, &len), SPT_OK);
    uint8_t *buf = malloc((size_t)len);
    assert_status(a->ops->save(a, buf, len - 1, &len), SPT_ERR_SIZE);
    assert_int_equal(a->ops->save(a, buf, len, &len), SPT_OK);

    spti_param *wb = dst_clone(wa);
    spti_method *b = make_rigl(&wb, 1, &d, 99, SPT_DROP_COSINE, 200); /* another seed: load must restore it */
    /* Broken states are refused and change nothing. */
    uint8_t *bad = malloc((size_t)len);
    memcpy(bad, buf, (size_t)len);
    bad[0] = 'X';
    assert_status(b->ops->load(b, bad, len), SPT_ERR_FORMAT);
    memcpy(bad, buf, (size_t)len);
    bad[4] = 2;
    assert_status(b->ops->load(b, bad, len), SPT_ERR_VERSION);
    memcpy(bad, buf, (size_t)len);
    bad[8] = SPT_METHOD_SET;
    assert_status(b->ops->load(b, bad, len), SPT_ERR_FORMAT);
    assert_status(b->ops->load(b, buf, len - 1), SPT_ERR_FORMAT);
    assert_status(b->ops->load(b, NULL, len), SPT_ERR_NULL);
    free(bad);
    assert_int_equal(b->ops->load(b, buf, len), SPT_OK);
    assert_int_equal(b->topology_updates, a->topology_updates);
    for (int64_t t = 25; t < 120; t++) {
        assert_int_equal(run_step(a, t, 900 + (uint64_t)t, NULL), run_step(b, t, 900 + (uint64_t)t, NULL));
        dst_snap sa = dst_snapshot(wa), sb = dst_snapshot(wb);
        assert_true(dst_snap_equal(&sa, &sb));
        dst_snap_free(&sa);
        dst_snap_free(&sb);
    }
    free(buf);
    spti_param_destroy(wa);
    spti_param_destroy(wb);
    spti_method_destroy(a);
    spti_method_destroy(b);
}

static void test_rigl_missing_dense_grad(void **state) {
    spti_param *w = dst_weight("w", ROWS, COLS, 9);
    double d = 0.2;
    spti_method *m = make_rigl(&w, 1, &d, 1, SPT_DROP_CONSTANT, 1000);
    assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
    bool skip;
    assert_status(m->ops->after_backward(m, 10, &skip), SPT_ERR_STATE); /* no begin_step: no dense_grad */
    assert_status(m->ops->after_backward(m, 10, NULL), SPT_ERR_NULL);
    spti_param_destroy(w);
    spti_method_destroy(m);
}

static void test_rigl_nomem(void **state) {
    for (long fail = 0;; fail++) {
        spt_test_alloc_install();
        spti_param *w = dst_weight("w", ROWS, COLS, 10);
        double d = 0.2;
        spti_method *m = make_rigl(&w, 1, &d, 1, SPT_DROP_CONSTANT, 1000);
        assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
        dst_fill_slots(w);
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        dst_fill_dense_grad(w, 3);
        dst_snap before = dst_snapshot(w);
        spt_test_alloc_fail_at(fail);
        bool skip;
        int rc = m->ops->after_backward(m, 10, &skip);
        spt_test_alloc_fail_at(-1);
        dst_snap after = dst_snapshot(w);
        if (rc != SPT_OK) {
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_true(dst_snap_equal(&before, &after)); /* one layer: unchanged */
        }
        dst_snap_free(&before);
        dst_snap_free(&after);
        spti_param_destroy(w);
        spti_method_destroy(m);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
        if (rc == SPT_OK) break;
    }
    /* Creation and init. */
    for (long fail = 0;; fail++) {
        spt_test_alloc_install();
        spti_param *w = dst_weight("w", ROWS, COLS, 10);
        double d = 0.2;
        spt_method_config *c = dst_config(SPT_METHOD_RIGL, &d, 1, 1);
        spti_method *m = NULL;
        spt_test_alloc_fail_at(fail);
        int rc = spti_method_create(c, &w, 1, 100, &m);
        if (rc == SPT_OK) rc = m->ops->init(m, &w, 1, NULL);
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK) assert_int_equal(rc, SPT_ERR_NOMEM);
        spti_method_destroy(m);
        spt_method_config_destroy(c);
        spti_param_destroy(w);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
        if (rc == SPT_OK) break;
    }
}

/* The drop selection against a sort, with many equal-bucket values. */
static void test_drop_by_magnitude(void **state) {
    enum { N = 3000 };
    float v[N];
    int64_t idx[N], ref[N];
    spti_rng rng;
    spti_rng_seed(&rng, 12);
    for (int i = 0; i < N; i++) v[i] = (spti_rng_uniform(&rng) - 0.5f) * (i % 3 ? 1.0f : 1e-3f);
    int64_t ks[] = {0, 1, 17, 1000, N - 1, N};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int64_t k = ks[t];
        assert_int_equal(spti_drop_smallest(v, true, N, k, 5, idx), SPT_OK);
        float key[N];
        for (int i = 0; i < N; i++) key[i] = fabsf(v[i]);
        dst_argsort(key, ref, N);
        bool chosen[N] = {false};
        for (int64_t j = 0; j < k; j++) {
            if (j > 0) assert_true(idx[j] > idx[j - 1]);
            chosen[ref[j]] = true;
        }
        for (int64_t j = 0; j < k; j++) assert_true(chosen[idx[j]]);
    }
    assert_status(spti_drop_smallest(v, true, N, N + 1, 5, idx), SPT_ERR_SIZE);
    assert_status(spti_drop_smallest(v, true, N, -1, 5, idx), SPT_ERR_SIZE);
}

/* A layer large enough for growth's sampled threshold (>= 1024 cells); the
 * second round gives the kept weights the largest gradients, so the first
 * gather comes up short and the threshold is lowered. */
static void test_rigl_large_layer(void **state) {
    for (int round = 0; round < 2; round++) {
        spti_param *w = dst_weight("w", 64, 96, 21 + (uint64_t)round);
        double d = 0.3;
        spti_method *m = make_rigl(&w, 1, &d, 2, SPT_DROP_CONSTANT, 1000);
        assert_int_equal(m->ops->init(m, &w, 1, NULL), SPT_OK);
        dst_fill_slots(w);
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        assert_true(w->request.dense_grad);
        dst_fill_dense_grad(w, 40 + (uint64_t)round);
        if (round == 1) {
            int64_t *pos = malloc((size_t)w->n * sizeof(int64_t));
            int64_t n = spti_param_active_positions(w, pos);
            float *mag = malloc((size_t)n * sizeof(float));
            int64_t *ord = malloc((size_t)n * sizeof(int64_t));
            for (int64_t j = 0; j < n; j++) mag[j] = fabsf(w->value[j]);
            dst_argsort(mag, ord, n);
            for (int64_t j = n / 2; j < n; j++) w->result.dense_grad[pos[ord[j]]] += 100.0f; /* kept: above the median */
            free(mag);
            free(ord);
            free(pos);
        }
        float *grad = malloc((size_t)(w->rows * w->cols) * sizeof(float));
        memcpy(grad, w->result.dense_grad, (size_t)(w->rows * w->cols) * sizeof(float));
        dst_snap before = dst_snapshot(w);
        bool skip = false;
        assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
        assert_true(skip);
        dst_snap after = dst_snapshot(w);
        check_update(&before, &after, grad, (int64_t)floor(0.3 * (double)dst_count_active(&before)));
        dst_snap_free(&before);
        dst_snap_free(&after);
        free(grad);
        spti_param_destroy(w);
        spti_method_destroy(m);
    }
}

/* The threshold selection with heavy ties: every key above the threshold,
 * the right number of tied ones, reproducible, and the seed matters. */
static void test_select_largest_ties(void **state) {
    enum { N = 5000 };
    static float key[N];
    static int64_t a[N], b[N], c[N];
    for (int i = 0; i < N; i++) key[i] = (float)(i % 7) - 2.0f; /* values -2 .. 4, ~714 each */
    int64_t ks[] = {0, 1, 500, 714, 715, 2000, N - 1, N};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int64_t k = ks[t];
        assert_int_equal(spti_select_largest(key, N, k, 9, a), SPT_OK);
        assert_int_equal(spti_select_largest(key, N, k, 9, b), SPT_OK);
        assert_int_equal(spti_select_largest(key, N, k, 10, c), SPT_OK);
        if (k > 0) assert_memory_equal(a, b, (size_t)k * sizeof(int64_t));
        float key_sorted[N];
        for (int i = 0; i < N; i++) key_sorted[i] = -key[i];
        int64_t ref[N];
        dst_argsort(key_sorted, ref, N);
        float v = k > 0 ? key[ref[k - 1]] : INFINITY; /* the k-th largest value */
        int64_t n_gt = 0;
        for (int i = 0; i < N; i++) n_gt += key[i] > v;
        int64_t got_gt = 0;
        for (int64_t j = 0; j < k; j++) {
            if (j > 0) assert_true(a[j] > a[j - 1]);
            assert_true(key[a[j]] >= v);
            got_gt += key[a[j]] > v;
        }
        assert_int_equal(got_gt, n_gt);
        if (k == 500 || k == 2000) assert_true(memcmp(a, c, (size_t)k * sizeof(int64_t)) != 0);
    }
    assert_status(spti_select_largest(key, N, N + 1, 1, a), SPT_ERR_SIZE);
    assert_status(spti_select_largest(key, N, -1, 1, a), SPT_ERR_SIZE);
    float x[5] = {3.0f, 1.0f, 3.0f, 2.0f, 3.0f};
    assert_true(spti_nth_largest(x, 5, 3) == 2.0f);
}

/* A linear layer out x in whose weight has the values of dst_weight, made
 * SPARSE by a RigL method (density d, seed); x[in x N], dy[out x N]. */
static spti_layer *rigl_linear(int64_t in, int64_t out, double d, double seed, uint64_t wseed, spti_method **m) {
    spti_layer *L = NULL;
    assert_int_equal(spti_linear_create("fc", in, out, true, &L), SPT_OK);
    spti_param *w = L->params[0], *src = dst_weight("w", out, in, wseed);
    assert_int_equal(spti_param_materialize(w), SPT_OK); /* born without storage */
    memcpy(w->value, src->value, (size_t)(out * in) * sizeof(float));
    spti_param_destroy(src);
    *m = make_rigl(&L->params[0], 1, &d, seed, SPT_DROP_CONSTANT, 1000);
    assert_int_equal((*m)->ops->init(*m, &L->params[0], 1, NULL), SPT_OK);
    assert_int_equal(w->kind, SPTI_PARAM_SPARSE);
    dst_fill_slots(w);
    return L;
}

static void fill(float *v, int64_t n, uint64_t seed, bool ints) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        v[i] = ints ? (float)spti_rng_below(&rng, 3) - 1.0f : spti_rng_uniform(&rng) * 2.0f - 1.0f;
}

/* The full path: backward with want_dense_grad only; returns a copy of
 * dense_grad (checked against a naive dY . X^T) and leaves none behind. */
static float *full_dense_grad(spti_layer *L, const float *x, const float *dy, int64_t N) {
    spti_param *w = L->params[0];
    const int64_t rows = w->rows, cols = w->cols;
    w->request.dense_grad = true;
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    float *g = malloc((size_t)(rows * cols) * sizeof(float));
    memcpy(g, w->result.dense_grad, (size_t)(rows * cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r += 7)
        for (int64_t c = 0; c < cols; c += 5) {
            double ref = 0.0;
            for (int64_t e = 0; e < N; e++) ref += (double)dy[r * N + e] * (double)x[c * N + e];
            assert_true(fabs(ref - (double)g[r * cols + c]) <= 1e-4 * (1.0 + fabs(ref)));
        }
    w->request.dense_grad = false;
    spti_free(w->result.dense_grad);
    w->result.dense_grad = NULL;
    memset(w->grad, 0, (size_t)w->n * sizeof(float));
    memset(L->params[1]->grad, 0, (size_t)L->params[1]->n * sizeof(float));
    return g;
}

/* One RigL update through the layer's streaming backward at step 10. */
static void streamed_update(spti_method *m, spti_layer *L, const float *x, const float *dy, int64_t N) {
    spti_param *w = L->params[0];
    assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
    assert_true(w->request.dense_grad && w->request.grow_k > 0);
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    assert_null(w->result.dense_grad); /* streamed: no rows x cols buffer */
    assert_non_null(w->result.grow);
    assert_true(w->result.grow->filled);
    assert_int_equal(w->result.grow->nonfinite, -1);
    bool skip = false;
    assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
    assert_true(skip);
    assert_null(w->result.grow);
    assert_int_equal(w->request.grow_k, 0);
}

/* Small layer: the streamed update against the naive reference, and the
 * gradient of the active entries equal to the full path's. */
static void test_rigl_streamed_linear(void **state) {
    enum { IN = COLS, OUT = ROWS, N = 7 };
    spti_method *m = NULL;
    spti_layer *L = rigl_linear(IN, OUT, 0.3, 3, 50, &m);
    spti_param *w = L->params[0];
    float x[IN * N], dy[OUT * N];
    fill(x, IN * N, 1, false);
    fill(dy, OUT * N, 2, false);
    float *g = full_dense_grad(L, x, dy, N);
    int64_t pos[CELLS], n = spti_param_active_positions(w, pos);
    dst_snap before = dst_snapshot(w);
    assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    for (int64_t j = 0; j < n; j++) assert_true(w->grad[j] == g[pos[j]]); /* same products */
    bool skip = false;
    assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
    dst_snap after = dst_snapshot(w);
    check_update(&before, &after, g, (int64_t)floor(0.3 * (double)n));
    /* A non-finite input shows in the collector (the trainer refuses the step). */
    x[3 * N + 2] = NAN;
    assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    assert_true(w->result.grow->filled && w->result.grow->nonfinite >= 0 && w->result.grow->nonfinite % IN == 3);
    dst_snap_free(&before);
    dst_snap_free(&after);
    free(g);
    spti_layer_destroy(L);
    spti_method_destroy(m);
}

/* Large enough for several row blocks (streamed out of order) and buffer
 * compactions; integer inputs make most gradient values tie. The streamed
 * update equals the full dense_grad path's exactly, on 1, 2 and 3 threads
 * (with the OpenMP OpenBLAS, one lane per thread). Case 0 streams from a
 * sampled starting threshold, case 1 without one (large k). Case 2 makes the rows
 * the sampled starting threshold looks at (grow_collector.c: evenly spaced)
 * far larger than the rest, so the guess is too high and the collector
 * must stream again without it. */
static void test_rigl_streamed_equals_full(void **state) {
    enum { IN = 4096, OUT = 600, N = 8 };
    const int threads_before = spt_get_num_threads();
    for (int round = 0; round < 9; round++) {
        const int kind = round % 3;
        assert_int_equal(spt_set_num_threads(1 + round / 3), SPT_OK);
        float *x = malloc((size_t)IN * N * sizeof(float)), *dy = malloc((size_t)OUT * N * sizeof(float));
        fill(x, IN * N, 11 + (uint64_t)kind, kind == 0);
        fill(dy, OUT * N, 12 + (uint64_t)kind, kind == 0);
        if (kind < 2) {
            for (int64_t i = 300 * N; i < 520 * N; i++) dy[i] *= 3.0f; /* a later block streams first */
        } else {
            const int64_t S = 65536 / IN; /* the sample's rows */
            for (int64_t r = 0; r < OUT; r++)
                for (int64_t e = 0; e < N; e++) dy[r * N + e] *= 1e-3f;
            for (int64_t i = 0; i < S; i++)
                for (int64_t e = 0; e < N; e++) dy[((2 * i + 1) * OUT / (2 * S)) * N + e] *= 1e6f;
        }
        const double density = kind == 1 ? 0.2 : 0.05; /* 0.2: k too large for a starting guess */
        spti_method *ma = NULL, *mb = NULL;
        spti_layer *La = rigl_linear(IN, OUT, density, 7, 60, &ma), *Lb = rigl_linear(IN, OUT, density, 7, 60, &mb);
        assert_true(spti_grad_block_rows(IN) < OUT / 2);
        /* a: the full path (the hooks with dense_grad filled by backward). */
        float *g = full_dense_grad(La, x, dy, N);
        assert_int_equal(ma->ops->begin_step(ma, 10), SPT_OK);
        La->params[0]->request.grow_k = 0;
        assert_int_equal(La->ops->backward(La, x, NULL, dy, NULL, N), SPT_OK);
        assert_memory_equal(La->params[0]->result.dense_grad, g, (size_t)IN * OUT * sizeof(float));
        bool skip = false;
        assert_int_equal(ma->ops->after_backward(ma, 10, &skip), SPT_OK);
        /* b: streamed. */
        streamed_update(mb, Lb, x, dy, N);
        dst_snap sa = dst_snapshot(La->params[0]), sb = dst_snapshot(Lb->params[0]);
        assert_true(dst_snap_equal(&sa, &sb));
        dst_snap_free(&sa);
        dst_snap_free(&sb);
        free(g);
        free(x);
        free(dy);
        spti_layer_destroy(La);
        spti_layer_destroy(Lb);
        spti_method_destroy(ma);
        spti_method_destroy(mb);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

/* The collector over a scratch kept from call to call (a model's
 * SPTI_SCRATCH_STREAM): weights of other shapes (the scratch grows, then
 * serves smaller ones), stale bytes left in it, a NaN and an inf in the
 * operands, ties, 1-3 threads: the same candidates, active gradient and
 * first non-finite position as with a buffer of the call's own, and no
 * lane left pointing into the scratch. */
static void test_rigl_stream_scratch_reuse(void **state) {
    enum { SHAPES = 4 };
    const int64_t rows[SHAPES] = {600, 2000, 700, 64}, cols[SHAPES] = {4096, 300, 3000, 64};
    const int64_t ns[SHAPES] = {8, 16, 8, 4}, ks[SHAPES] = {60, 500, 100, 10};
    const double dens[SHAPES] = {0.05, 0.1, 0.05, 0.2};
    spt_csr *m[SHAPES];
    float *dy[SHAPES], *X[SHAPES];
    spti_rng rng;
    spti_rng_seed(&rng, 77);
    for (int s = 0; s < SHAPES; s++) {
        const int64_t R = rows[s], C = cols[s];
        int64_t *rp = calloc((size_t)R + 1, sizeof(int64_t));
        int32_t *ci = malloc((size_t)(R * C) * sizeof(int32_t));
        int64_t nnz = 0;
        for (int64_t r = 0; r < R; r++) {
            for (int64_t c = 0; c < C; c++)
                if (spti_rng_uniform(&rng) < dens[s]) ci[nnz++] = (int32_t)c;
            rp[r + 1] = nnz;
        }
        float *v = calloc((size_t)nnz + 1, sizeof(float));
        assert_int_equal(spt_csr_create(R, C, nnz, rp, ci, v, &m[s]), SPT_OK);
        free(rp);
        free(ci);
        free(v);
        dy[s] = malloc((size_t)(R * ns[s]) * sizeof(float));
        X[s] = malloc((size_t)(C * ns[s]) * sizeof(float));
        fill(dy[s], R * ns[s], 90 + (uint64_t)s, s == 0); /* shape 0: integers, many ties */
        fill(X[s], C * ns[s], 95 + (uint64_t)s, s == 0);
    }
    dy[2][5 * ns[2] + 1] = NAN;
    X[2][3 * ns[2] + 2] = INFINITY;
    const int threads_before = spt_get_num_threads();
    spti_scratch sc = {NULL, 0};
    for (int t = 1; t <= 3; t++) {
        assert_int_equal(spt_set_num_threads(t), SPT_OK);
        for (int i = 0; i < 2 * SHAPES; i++) {
            const int s = i < SHAPES ? i : 2 * SHAPES - 1 - i; /* up, then down again */
            if (sc.p) memset(sc.p, 0xff, (size_t)sc.cap);
            spti_grow_collector *a = NULL, *b = NULL;
            assert_int_equal(spti_grow_collect(&a, m[s], ks[s], dy[s], X[s], ns[s], 1, true, NULL, &sc), SPT_OK);
            assert_int_equal(spti_grow_collect(&b, m[s], ks[s], dy[s], X[s], ns[s], 1, true, NULL, NULL), SPT_OK);
            assert_int_equal(a->n, b->n);
            assert_int_equal(a->nonfinite, b->nonfinite);
            assert_true(s == 2 ? a->nonfinite >= 0 : a->nonfinite == -1);
            assert_memory_equal(a->key, b->key, (size_t)a->n * sizeof(float));
            assert_memory_equal(a->pos, b->pos, (size_t)a->n * sizeof(int64_t));
            assert_memory_equal(a->active, b->active, (size_t)m[s]->nnz * sizeof(float));
            for (int l = 0; l < a->n_lanes; l++) {
                assert_null(a->lane[l].block);
                assert_null(a->lane[l].hist);
                assert_null(a->lane[l].kept);
                assert_null(a->lane[l].idx);
            }
            spti_grow_collector_destroy(a);
            spti_grow_collector_destroy(b);
        }
    }
    assert_true(sc.cap >= 600 * 4096 / 4); /* it grew for the largest shape and kept that */
    spti_free(sc.p);
    for (int s = 0; s < SHAPES; s++) {
        spt_csr_destroy(m[s]);
        free(dy[s]);
        free(X[s]);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

/* Out of memory inside the streaming backward: an error, no gradient
 * changed, nothing leaked. */
static void test_rigl_streamed_nomem(void **state) {
    enum { IN = COLS, OUT = ROWS, N = 5 };
    float x[IN * N], dy[OUT * N];
    fill(x, IN * N, 3, false);
    fill(dy, OUT * N, 4, false);
    for (long fail = 0;; fail++) {
        spt_test_alloc_install();
        spti_method *m = NULL;
        spti_layer *L = rigl_linear(IN, OUT, 0.3, 3, 51, &m);
        spti_param *w = L->params[0];
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        spt_test_alloc_fail_at(fail);
        int rc = L->ops->backward(L, x, NULL, dy, NULL, N);
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK) {
            assert_int_equal(rc, SPT_ERR_NOMEM);
            for (int64_t j = 0; j < w->n; j++) assert_true(w->grad[j] == 0.0f);
            for (int64_t j = 0; j < OUT; j++) assert_true(L->params[1]->grad[j] == 0.0f);
        }
        spti_layer_destroy(L);
        spti_method_destroy(m);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
        if (rc == SPT_OK) break;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rigl_many_steps),  cmocka_unit_test(test_rigl_regrow_keeps_value),
        cmocka_unit_test(test_rigl_schedule),    cmocka_unit_test(test_rigl_ties),
        cmocka_unit_test(test_rigl_save_load),   cmocka_unit_test(test_rigl_missing_dense_grad),
        cmocka_unit_test(test_rigl_nomem),       cmocka_unit_test(test_drop_by_magnitude),
        cmocka_unit_test(test_rigl_large_layer), cmocka_unit_test(test_select_largest_ties),
        cmocka_unit_test(test_rigl_streamed_linear), cmocka_unit_test(test_rigl_streamed_equals_full),
        cmocka_unit_test(test_rigl_streamed_nomem), cmocka_unit_test(test_rigl_stream_scratch_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
