/* Gradual magnitude pruning: the cubic schedule at every pruning step,
 * exact final counts, smallest magnitudes pruned, global vs layer-wise,
 * MASKED -> SPARSE with values preserved, checkpoint, invalid configs and
 * out-of-memory paths. Driven through the hooks with fixed weights. */
#include "test_prune_util.h"

#include "train/trainer.h"

static spti_method *make_gmp(spt_method_config *c, spti_param **w, int n, int64_t total) {
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, n, total, &m), SPT_OK);
    assert_string_equal(m->ops->name, "gmp");
    assert_int_equal(m->ops->init(m, w, n, NULL), SPT_OK);
    return m;
}

static spt_method_config *gmp_config(double S, int dist, int global, double start, double end, double freq) {
    spt_method_config *c = pr_config(SPT_METHOD_GMP, S, dist, global);
    assert_int_equal(spt_method_config_set(c, SPT_MP_PRUNE_START, start), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_PRUNE_END, end), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_PRUNE_FREQ, freq), SPT_OK);
    return c;
}

/* Layer-wise (uniform and ERK): at every pruning step each layer holds
 * round((1 - s_l(t)) size) weights, the largest |w| of the original ones
 * (weights never move here), with their values; MASKED while density >
 * 0.3, SPARSE after; exactly the allocator's counts at the end. */
static void check_layerwise(int dist, double s_init) {
    spti_param *w[3] = {pr_weight("a", 20, 30, 1.0f, 1), pr_weight("b", 10, 20, 1.0f, 2),
                        pr_weight("c", 5, 10, 1.0f, 3)};
    pr_snap orig[3];
    for (int l = 0; l < 3; l++) orig[l] = pr_take(w[l]);
    spt_method_config *c = gmp_config(0.8, dist, 0, 10, 50, 10);
    assert_int_equal(spt_method_config_set(c, SPT_MP_INITIAL_SPARSITY, s_init), SPT_OK);
    spti_method *m = make_gmp(c, w, 3, 100);
    int32_t ndim[3] = {2, 2, 2};
    int64_t shape[12] = {20, 30, 0, 0, 10, 20, 0, 0, 5, 10, 0, 0}, nnz_f[3];
    double dens[3];
    assert_int_equal(spt_sparsity_allocate(dist, 0.8, 3, ndim, shape, NULL, dens, nnz_f, NULL), SPT_OK);
    int64_t prev[3] = {600, 200, 50}, events = 0;
    for (int64_t t = 0; t < 100; t++) {
        int64_t updates = m->topology_updates;
        assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        int is_prune;
        assert_int_equal(spt_gmp_is_prune_step(10, 4, 10, t, &is_prune), SPT_OK);
        bool changed = false;
        for (int l = 0; l < 3; l++) {
            int64_t size = w[l]->rows * w[l]->cols, got = pr_active(w[l]);
            if (!is_prune) {
                assert_int_equal(got, prev[l]);
                continue;
            }
            double s_f = 1.0 - (double)nnz_f[l] / (double)size, s;
            double s_i = s_init < s_f ? s_init : s_f;
            assert_int_equal(spt_gmp_sparsity(s_i, s_f, 10, 4, 10, t, &s), SPT_OK);
            int64_t want = t == 50 ? nnz_f[l] : (int64_t)llround((1.0 - s) * (double)size);
            if (want > prev[l]) want = prev[l];
            if (want < nnz_f[l]) want = nnz_f[l];
            assert_int_equal(got, want);
            changed |= got != prev[l];
            prev[l] = got;
            /* form: MASKED while dense enough, SPARSE from density <= 0.3 or at the end */
            if (got < size) {
                bool sparse = t == 50 || (double)got <= 0.3 * (double)size || w[l]->kind == SPTI_PARAM_SPARSE;
                assert_int_equal(w[l]->kind, sparse ? SPTI_PARAM_SPARSE : SPTI_PARAM_MASKED);
            }
        }
        if (is_prune) {
            events++;
            /* kept = the largest magnitudes; values preserved */
            double *key[3];
            for (int l = 0; l < 3; l++) {
                key[l] = malloc((size_t)orig[l].cells * sizeof(double));
                for (int64_t i = 0; i < orig[l].cells; i++) key[l][i] = fabs((double)orig[l].w[i]);
            }
            pr_check_top(w, 3, key, NULL, false, prev);
            for (int l = 0; l < 3; l++) {
                pr_snap s = pr_take(w[l]);
                for (int64_t i = 0; i < s.cells; i++) assert_true(s.w[i] == (s.active[i] ? orig[l].w[i] : 0.0f));
                pr_free(&s);
                free(key[l]);
            }
        }
        assert_int_equal(m->topology_updates, updates + (changed ? 1 : 0));
    }
    assert_int_equal(events, 5);
    for (int l = 0; l < 3; l++) {
        assert_int_equal(pr_active(w[l]), nnz_f[l]);
        if (nnz_f[l] < w[l]->rows * w[l]->cols) assert_int_equal(w[l]->kind, SPTI_PARAM_SPARSE);
    }
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    for (int l = 0; l < 3; l++) {
        pr_free(&orig[l]);
        spti_param_destroy(w[l]);
    }
}

static void test_layerwise_uniform(void **state) {
    (void)state;
    check_layerwise(SPT_DISTRIBUTION_UNIFORM, 0.0);
}

static void test_layerwise_erk_initial(void **state) {
    (void)state;
    check_layerwise(SPT_DISTRIBUTION_ERK, 0.25);
}

/* Global: one magnitude threshold over all layers; a layer of small
 * weights loses more than the uniform share; the overall count is exact. */
static void test_global_vs_layerwise(void **state) {
    (void)state;
    int64_t kept_b[2];
    for (int global = 0; global < 2; global++) {
        spti_param *w[2] = {pr_weight("a", 16, 24, 1.0f, 7), pr_weight("b", 16, 24, 0.3f, 8)};
        pr_snap orig[2] = {pr_take(w[0]), pr_take(w[1])};
        spt_method_config *c = gmp_config(0.75, SPT_DISTRIBUTION_UNIFORM, global, 0, 30, 10);
        spti_method *m = make_gmp(c, w, 2, 40);
        for (int64_t t = 0; t < 40; t++) assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        int64_t total = pr_active(w[0]) + pr_active(w[1]);
        assert_int_equal(total, 192); /* 0.25 * 768 */
        double *key[2];
        for (int l = 0; l < 2; l++) {
            key[l] = malloc((size_t)orig[l].cells * sizeof(double));
            for (int64_t i = 0; i < orig[l].cells; i++) key[l][i] = fabs((double)orig[l].w[i]);
        }
        int64_t k_layer[2] = {96, 96}, k_global[1] = {192};
        pr_check_top(w, 2, key, NULL, global, global ? k_global : k_layer);
        kept_b[global] = pr_active(w[1]);
        for (int l = 0; l < 2; l++) {
            free(key[l]);
            pr_free(&orig[l]);
        }
        spti_method_destroy(m);
        spt_method_config_destroy(c);
        spti_param_destroy(w[0]);
        spti_param_destroy(w[1]);
    }
    assert_int_equal(kept_b[0], 96);
    assert_true(kept_b[1] < 40); /* the small-weight layer loses most of its weights */
}

/* Weights that train between pruning steps: pruned entries stay pruned
 * (held at 0 by the optimizer contract) and later steps rank the current
 * values. Default window: 10% .. 75% of the run, every 100 steps. */
static void test_defaults_and_training(void **state) {
    (void)state;
    spti_param *w[1] = {pr_weight("a", 30, 40, 1.0f, 11)};
    spt_method_config *c = pr_config(SPT_METHOD_GMP, 0.9, SPT_DISTRIBUTION_UNIFORM, 0);
    spti_method *m = make_gmp(c, w, 1, 1000); /* t0 = 100, end = 750: prune at 100 .. 700 */
    spti_rng r;
    spti_rng_seed(&r, 5);
    int64_t first_change = -1, last_change = -1, prev = 1200;
    for (int64_t t = 0; t < 1000; t++) {
        /* "training": move the active entries (MASKED keeps the rest at 0) */
        if (w[0]->kind != SPTI_PARAM_SPARSE)
            for (int64_t i = 0; i < w[0]->n; i++)
                if (w[0]->kind == SPTI_PARAM_DENSE || w[0]->mask[i]) w[0]->value[i] += 0.01f * spti_rng_normal(&r);
        pr_snap before = pr_take(w[0]);
        assert_int_equal(m->ops->after_step(m, t), SPT_OK);
        pr_snap after = pr_take(w[0]);
        if (after.nnz != prev) {
            if (first_change < 0) first_change = t;
            last_change = t;
            /* the survivors are the largest current magnitudes among the active */
            float min_kept = INFINITY, max_dropped = 0.0f;
            for (int64_t i = 0; i < after.cells; i++) {
                assert_true(!after.active[i] || before.active[i]); /* never regrows */
                if (after.active[i]) min_kept = fminf(min_kept, fabsf(before.w[i]));
                else if (before.active[i]) max_dropped = fmaxf(max_dropped, fabsf(before.w[i]));
            }
            assert_true(min_kept >= max_dropped);
            prev = after.nnz;
        }
        pr_free(&before);
        pr_free(&after);
    }
    assert_int_equal(first_change, 200); /* s(100) = s_i = 0: nothing to prune at t0 */
    assert_int_equal(last_change, 700);
    assert_int_equal(pr_active(w[0]), 120);
    assert_int_equal(w[0]->kind, SPTI_PARAM_SPARSE);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
}

/* Kept-dense layers stay DENSE; the global pool pays for them. */
static void test_dense_first_global(void **state) {
    (void)state;
    spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 21), pr_weight("b", 20, 20, 1.0f, 22)};
    spt_method_config *c = gmp_config(0.5, SPT_DISTRIBUTION_ERK, 1, 0, 10, 5);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DENSE_FIRST, 1), SPT_OK);
    spti_method *m = make_gmp(c, w, 2, 20);
    for (int64_t t = 0; t < 20; t++) assert_int_equal(m->ops->after_step(m, t), SPT_OK);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    assert_int_equal(pr_active(w[1]), 240 - 80); /* round(0.5 * 480) - 80 */
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_save_load(void **state) {
    (void)state;
    spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 31), pr_weight("b", 6, 8, 1.0f, 32)};
    spt_method_config *c = gmp_config(0.6, SPT_DISTRIBUTION_UNIFORM, 0, 2, 12, 2);
    spti_method *m = make_gmp(c, w, 2, 20), *m2 = make_gmp(c, w, 2, 20);
    for (int64_t t = 0; t < 7; t++) assert_int_equal(m->ops->after_step(m, t), SPT_OK);
    int64_t len = 0, len2 = 0;
    assert_status(m->ops->save(m, NULL, 0, &len), SPT_OK);
    uint8_t *buf = malloc((size_t)len), *buf2 = malloc((size_t)len);
    assert_status(m->ops->save(m, buf, len - 1, &len2), SPT_ERR_SIZE);
    assert_status(m->ops->save(m, buf, len, &len2), SPT_OK);
    assert_int_equal(len2, len);
    assert_status(m2->ops->load(m2, buf, len), SPT_OK);
    assert_status(m2->ops->save(m2, buf2, len, &len2), SPT_OK);
    assert_memory_equal(buf, buf2, (size_t)len);
    assert_int_equal(m2->topology_updates, m->topology_updates);
    assert_status(m2->ops->load(m2, buf, len - 1), SPT_ERR_FORMAT);
    assert_status(m2->ops->load(m2, NULL, len), SPT_ERR_NULL);
    buf[0] ^= 1;
    assert_status(m2->ops->load(m2, buf, len), SPT_ERR_FORMAT);
    buf[0] ^= 1;
    buf[4] = 99;
    assert_status(m2->ops->load(m2, buf, len), SPT_ERR_VERSION);
    free(buf);
    free(buf2);
    spti_method_destroy(m);
    spti_method_destroy(m2);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_invalid(void **state) {
    (void)state;
    spti_param *w[1] = {pr_weight("a", 8, 10, 1.0f, 41)};
    spti_method *m = (spti_method *)1;
    spt_method_config *c = gmp_config(0.5, SPT_DISTRIBUTION_UNIFORM, 0, 10, 5, 1);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, 100, &m), SPT_ERR_INVALID); /* end before start */
    assert_null(m);
    spt_method_config_destroy(c);
    c = gmp_config(0.5, SPT_DISTRIBUTION_UNIFORM, 0, 10, 100, 1);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, 100, &m), SPT_ERR_INVALID); /* ends after the run */
    spt_method_config_destroy(c);
    c = pr_config(SPT_METHOD_GMP, 0.5, SPT_DISTRIBUTION_UNIFORM, 0);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, 0, &m), SPT_ERR_INVALID); /* default window, no run length */
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, -1, &m), SPT_ERR_SIZE);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 0, 100, &m), SPT_ERR_SIZE);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, NULL, 1, 100, &m), SPT_ERR_NULL);
    assert_status(spti_method_gmp.create(&spti_method_gmp, NULL, w, 1, 100, &m), SPT_ERR_NULL);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, 100, NULL), SPT_ERR_NULL);
    spti_param *bias = NULL;
    assert_int_equal(spti_param_create("bias", 1, (int64_t[]){5}, false, &bias), SPT_OK);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, &bias, 1, 100, &m), SPT_ERR_INVALID);
    /* a window shorter than one interval: pruned at its start and its end */
    spt_method_config_destroy(c);
    c = gmp_config(0.5, SPT_DISTRIBUTION_UNIFORM, 0, 10, 15, 100);
    assert_status(spti_method_gmp.create(&spti_method_gmp, c, w, 1, 100, &m), SPT_OK);
    for (int64_t t = 0; t < 15; t++) assert_int_equal(m->ops->after_step(m, t), SPT_OK);
    assert_int_equal(pr_active(w[0]), 80);
    assert_int_equal(m->ops->after_step(m, 15), SPT_OK);
    assert_int_equal(pr_active(w[0]), 40);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    spti_param_destroy(bias);
    spti_param_destroy(w[0]);
}

/* Every allocation failure of create and of a pruning step reports
 * NOMEM and leaks nothing. */
static void test_nomem(void **state) {
    (void)state;
    for (int phase = 0; phase < 2; phase++) {
        bool ok = false;
        for (long fail = 0; !ok; fail++) {
            spt_test_alloc_install();
            spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 51), pr_weight("b", 6, 8, 1.0f, 52)};
            spt_method_config *c = gmp_config(0.6, SPT_DISTRIBUTION_ERK, phase, 0, 4, 2);
            spti_method *m = NULL;
            if (phase == 1) assert_int_equal(spti_method_gmp.create(&spti_method_gmp, c, w, 2, 10, &m), SPT_OK);
            spt_test_alloc_fail_at(fail);
            int rc = SPT_OK;
            if (phase == 0) rc = spti_method_gmp.create(&spti_method_gmp, c, w, 2, 10, &m);
            for (int64_t t = 0; t < 5 && rc == SPT_OK && phase == 1; t++) rc = m->ops->after_step(m, t);
            spt_test_alloc_fail_at(-1);
            if (rc != SPT_OK) assert_int_equal(rc, SPT_ERR_NOMEM);
            ok = rc == SPT_OK;
            spti_method_destroy(m);
            spt_method_config_destroy(c);
            spti_param_destroy(w[0]);
            spti_param_destroy(w[1]);
            assert_int_equal(spt_test_alloc_live(), 0);
            spt_test_alloc_uninstall();
        }
    }
}

/* End to end: GMP through the trainer reaches the exact target by its last
 * pruning step, with every layer SPARSE, and keeps learning. */
static void test_trainer_end_to_end(void **state) {
    (void)state;
    spt_method_config *c = gmp_config(0.9, SPT_DISTRIBUTION_ERK, 0, 5, 45, 5);
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t = pr_trainer(c, 60, &model, &opt);
    spti_rng r;
    spti_rng_seed(&r, 2);
    double first, last, sp;
    int64_t nnz, dense;
    pr_run(t, &r, 60, &first, &last);
    assert_true(last < first);
    assert_status(spt_trainer_sparsity(t, &sp, &nnz, &dense), SPT_OK);
    int32_t ndim[3] = {2, 2, 2};
    int64_t shape[12] = {PR_H, PR_F, 0, 0, PR_H, PR_H, 0, 0, PR_K, PR_H, 0, 0}, want[3];
    double dens[3];
    assert_int_equal(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.9, 3, ndim, shape, NULL, dens, want, NULL), SPT_OK);
    assert_int_equal(dense, PR_DENSE_WEIGHTS);
    assert_int_equal(nnz, want[0] + want[1] + want[2]);
    spti_trainer *ti = (spti_trainer *)t;
    for (int l = 0; l < ti->n_weights; l++) assert_int_equal(ti->weights[l]->kind, SPTI_PARAM_SPARSE);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(opt);
    spt_model_destroy(model);
    spt_method_config_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layerwise_uniform),
        cmocka_unit_test(test_layerwise_erk_initial),
        cmocka_unit_test(test_global_vs_layerwise),
        cmocka_unit_test(test_defaults_and_training),
        cmocka_unit_test(test_dense_first_global),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_trainer_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
