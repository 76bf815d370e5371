/* SNIP: keeps the largest |g * w| with g summed over the score batches
 * (hand-made gradients from a test source), globally (the default) or per
 * layer; every pruned layer SPARSE with its values; failures of the source
 * leave the weights unchanged; checkpoint; invalid uses; NOMEM. */
#include "test_prune_util.h"

#include "train/trainer.h"

/* Batch b writes grads[b][l] into weight l's grad. */
typedef struct test_source {
    spti_param **w;
    int n;
    float **grads[3];
    int calls, fail_at;
} test_source;

static int test_compute(void *ctx, float *loss) {
    test_source *s = ctx;
    if (s->calls == s->fail_at) return spti_fail(SPT_ERR_IO, "test source: batch unavailable");
    int b = s->calls++ % 3;
    for (int l = 0; l < s->n; l++) memcpy(s->w[l]->grad, s->grads[b][l], (size_t)s->w[l]->n * sizeof(float));
    if (loss) *loss = 1.0f;
    return SPT_OK;
}

static void source_init(test_source *s, spti_param **w, int n) {
    memset(s, 0, sizeof *s);
    s->w = w;
    s->n = n;
    s->fail_at = -1;
    spti_rng r;
    spti_rng_seed(&r, 77);
    for (int b = 0; b < 3; b++) {
        s->grads[b] = malloc((size_t)n * sizeof(float *));
        for (int l = 0; l < n; l++) {
            s->grads[b][l] = malloc((size_t)w[l]->n * sizeof(float));
            for (int64_t i = 0; i < w[l]->n; i++) s->grads[b][l][i] = spti_rng_normal(&r);
        }
    }
}

static void source_free(test_source *s) {
    for (int b = 0; b < 3; b++) {
        for (int l = 0; l < s->n; l++) free(s->grads[b][l]);
        free(s->grads[b]);
    }
}

static void check_snip(int global, int batches) {
    spti_param *w[3] = {pr_weight("a", 12, 20, 1.0f, 1), pr_weight("b", 16, 12, 0.5f, 2),
                        pr_weight("c", 4, 16, 2.0f, 3)};
    pr_snap orig[3];
    for (int l = 0; l < 3; l++) orig[l] = pr_take(w[l]);
    spt_method_config *c = pr_config(SPT_METHOD_SNIP, 0.8, SPT_DISTRIBUTION_ERK, global);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SCORE_BATCHES, batches), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_string_equal(m->ops->name, "snip");
    test_source src;
    source_init(&src, w, 3);
    spti_grad_source gs = {test_compute, &src, NULL};
    assert_int_equal(m->ops->init(m, w, 3, &gs), SPT_OK);
    assert_int_equal(src.calls, batches);
    assert_int_equal(m->topology_updates, 1);
    double *key[3];
    for (int l = 0; l < 3; l++) {
        key[l] = malloc((size_t)orig[l].cells * sizeof(double));
        for (int64_t i = 0; i < orig[l].cells; i++) {
            double g = 0.0;
            for (int b = 0; b < batches; b++) g += src.grads[b][l][i];
            key[l][i] = fabs(g * orig[l].w[i]);
        }
    }
    int32_t ndim[3] = {2, 2, 2};
    int64_t shape[12] = {12, 20, 0, 0, 16, 12, 0, 0, 4, 16, 0, 0}, nnz[3];
    double dens[3];
    assert_int_equal(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.8, 3, ndim, shape, NULL, dens, nnz, NULL), SPT_OK);
    int64_t kg[1] = {llround(0.2 * (240 + 192 + 64))};
    pr_check_top(w, 3, key, NULL, global, global ? kg : nnz);
    int64_t total = 0;
    for (int l = 0; l < 3; l++) {
        pr_snap s = pr_take(w[l]);
        total += s.nnz;
        if (!global) assert_int_equal(s.nnz, nnz[l]);
        if (s.nnz < s.cells) assert_int_equal(w[l]->kind, SPTI_PARAM_SPARSE);
        for (int64_t i = 0; i < s.cells; i++) assert_true(s.w[i] == (s.active[i] ? orig[l].w[i] : 0.0f));
        pr_free(&s);
        pr_free(&orig[l]);
        free(key[l]);
    }
    if (global) assert_int_equal(total, kg[0]);
    assert_status(m->ops->init(m, w, 3, &gs), SPT_ERR_STATE); /* pruned already */
    source_free(&src);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    for (int l = 0; l < 3; l++) spti_param_destroy(w[l]);
}

static void test_global_one_batch(void **state) {
    (void)state;
    check_snip(1, 1);
}

static void test_layerwise_three_batches(void **state) {
    (void)state;
    check_snip(0, 3);
}

static void test_default_is_global(void **state) {
    (void)state;
    spt_method_config *c = NULL;
    double v = 0;
    assert_int_equal(spt_method_config_create(SPT_METHOD_SNIP, &c), SPT_OK);
    assert_int_equal(spt_method_config_get(c, SPT_MP_GLOBAL, &v), SPT_OK);
    assert_true(v == 1.0);
    spt_method_config_destroy(c);
}

static void test_failures(void **state) {
    (void)state;
    spti_param *w[2] = {pr_weight("a", 6, 8, 1.0f, 4), pr_weight("b", 5, 6, 1.0f, 5)};
    pr_snap orig = pr_take(w[0]);
    spt_method_config *c = pr_config(SPT_METHOD_SNIP, 0.5, SPT_DISTRIBUTION_UNIFORM, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SCORE_BATCHES, 2), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_snip.create(&spti_method_snip, c, w, 2, 10, &m), SPT_OK);
    test_source src;
    source_init(&src, w, 2);
    spti_grad_source gs = {test_compute, &src, NULL};
    assert_status(m->ops->init(m, w, 2, NULL), SPT_ERR_NULL);
    assert_status(m->ops->init(m, w, 1, &gs), SPT_ERR_SIZE);
    src.fail_at = 1;
    assert_status(m->ops->init(m, w, 2, &gs), SPT_ERR_IO);
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    pr_snap now = pr_take(w[0]);
    assert_memory_equal(now.w, orig.w, (size_t)orig.cells * sizeof(float));
    pr_free(&now);
    /* non-finite gradient */
    src.fail_at = -1;
    src.calls = 0;
    src.grads[0][1][3] = NAN;
    assert_status(m->ops->init(m, w, 2, &gs), SPT_ERR_NONFINITE);
    src.grads[0][1][3] = 1.0f;
    src.calls = 0;
    /* checkpoint before and after pruning */
    int64_t len = 0;
    uint8_t buf[64], buf2[64];
    assert_status(m->ops->save(m, NULL, 0, &len), SPT_OK);
    assert_int_equal(len, 48);
    assert_int_equal(m->ops->init(m, w, 2, &gs), SPT_OK);
    assert_status(m->ops->save(m, buf, 47, &len), SPT_ERR_SIZE);
    assert_status(m->ops->save(m, buf, 64, &len), SPT_OK);
    spti_method *m2 = NULL, *g2 = NULL;
    assert_int_equal(spti_method_snip.create(&spti_method_snip, c, w, 2, 10, &m2), SPT_OK);
    assert_status(m2->ops->load(m2, buf, len), SPT_OK);
    assert_status(m2->ops->save(m2, buf2, 64, &len), SPT_OK);
    assert_memory_equal(buf, buf2, 48);
    assert_status(m2->ops->init(m2, w, 2, &gs), SPT_ERR_STATE); /* loaded as done */
    assert_int_equal(spti_method_grasp.create(&spti_method_grasp, c, w, 2, 10, &g2), SPT_OK);
    assert_status(g2->ops->load(g2, buf, len), SPT_ERR_FORMAT); /* another method's state */
    assert_status(m2->ops->load(m2, buf, len - 1), SPT_ERR_FORMAT);
    /* weights already sparse */
    spti_method *m3 = NULL;
    assert_int_equal(spti_method_snip.create(&spti_method_snip, c, w, 2, 10, &m3), SPT_OK);
    assert_status(m3->ops->init(m3, w, 2, &gs), SPT_ERR_STATE);
    spti_method_destroy(m);
    spti_method_destroy(m2);
    spti_method_destroy(m3);
    spti_method_destroy(g2);
    source_free(&src);
    pr_free(&orig);
    spt_method_config_destroy(c);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_nomem(void **state) {
    (void)state;
    bool ok = false;
    for (long fail = 0; !ok; fail++) {
        spt_test_alloc_install();
        spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 51), pr_weight("b", 6, 8, 1.0f, 52)};
        spt_method_config *c = pr_config(SPT_METHOD_SNIP, 0.5, SPT_DISTRIBUTION_ERK, fail % 2);
        test_source src;
        source_init(&src, w, 2);
        spti_grad_source gs = {test_compute, &src, NULL};
        spti_method *m = NULL;
        spt_test_alloc_fail_at(fail);
        int rc = spti_method_snip.create(&spti_method_snip, c, w, 2, 10, &m);
        if (rc == SPT_OK) rc = m->ops->init(m, w, 2, &gs);
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK) assert_int_equal(rc, SPT_ERR_NOMEM);
        ok = rc == SPT_OK;
        source_free(&src);
        spti_method_destroy(m);
        spt_method_config_destroy(c);
        spti_param_destroy(w[0]);
        spti_param_destroy(w[1]);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
    }
}

/* End to end for the three prune-at-init methods: scored on the first
 * step's batch (spt_trainer_step) or on a batcher (spt_trainer_prepare,
 * two batches, GraSP revisiting them through the source's reset): the
 * exact global target, a reproducible mask, and training still learns. */
static void run_pai(int method, bool with_batcher, int64_t *mask_out, int64_t *nnz_out) {
    spt_method_config *c = pr_config(method, 0.9, SPT_DISTRIBUTION_ERK, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SCORE_BATCHES, 2), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SYNFLOW_ITERS, 10), SPT_OK);
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t = pr_trainer(c, 40, &model, &opt);
    spti_rng r;
    spti_rng_seed(&r, 12);
    spt_dataset *ds = NULL;
    spt_batcher *b = NULL;
    if (with_batcher) {
        float *img = malloc(96 * PR_F * sizeof(float)), xb[PR_F * PR_BATCH];
        int32_t lab[96], yb[PR_BATCH];
        for (int part = 0; part < 3; part++) { /* example-major copy of three batches */
            pr_batch(&r, xb, yb);
            for (int i = 0; i < PR_BATCH; i++) {
                lab[part * PR_BATCH + i] = yb[i];
                for (int f = 0; f < PR_F; f++) img[(part * PR_BATCH + i) * PR_F + f] = xb[f * PR_BATCH + i];
            }
        }
        assert_status(spt_dataset_from_float(img, lab, 96, PR_F, 1, 1, PR_K, &ds), SPT_OK);
        assert_status(spt_batcher_create(ds, PR_BATCH, SPT_BATCH_SHUFFLE, 5, &b), SPT_OK);
        free(img);
        int64_t e0, p0, e1, p1;
        uint64_t s0, s1;
        assert_status(spt_batcher_get_state(b, &e0, &p0, &s0), SPT_OK);
        assert_status(spt_trainer_prepare(t, b), SPT_OK);
        assert_status(spt_batcher_get_state(b, &e1, &p1, &s1), SPT_OK);
        assert_true(e0 == e1 && p0 == p1 && s0 == s1);
    }
    double first, last, sp;
    int64_t nnz, dense;
    pr_run(t, &r, 40, &first, &last);
    assert_true(last < first);
    assert_status(spt_trainer_sparsity(t, &sp, &nnz, &dense), SPT_OK);
    assert_int_equal(nnz, llround(0.1 * PR_DENSE_WEIGHTS));
    spti_trainer *ti = (spti_trainer *)t;
    int64_t k = 0;
    for (int l = 0; l < ti->n_weights; l++) {
        assert_int_equal(ti->weights[l]->kind, SPTI_PARAM_SPARSE);
        k += spti_param_active_positions(ti->weights[l], mask_out + k);
    }
    *nnz_out = k;
    spt_trainer_destroy(t);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    spt_optimizer_destroy(opt);
    spt_model_destroy(model);
    spt_method_config_destroy(c);
}

static void test_trainer_end_to_end(void **state) {
    (void)state;
    static int64_t a[PR_DENSE_WEIGHTS], b[PR_DENSE_WEIGHTS];
    const int methods[3] = {SPT_METHOD_SNIP, SPT_METHOD_GRASP, SPT_METHOD_SYNFLOW};
    for (int i = 0; i < 3; i++)
        for (int wb = 0; wb < 2; wb++) {
            int64_t na, nb;
            run_pai(methods[i], wb, a, &na);
            run_pai(methods[i], wb, b, &nb);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, (size_t)na * sizeof(int64_t));
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_one_batch),
        cmocka_unit_test(test_layerwise_three_batches),
        cmocka_unit_test(test_default_is_global),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_trainer_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
