/* GraSP: the forward-difference Hessian-gradient product against the
 * analytic one on a quadratic loss built through a test grad source
 * (several batches, each with its own Hessian, revisited through reset),
 * the weights restored bit for bit, the kept set = the lowest -w * Hg,
 * checkpoint and failures. */
#include "test_prune_util.h"

enum { NB = 3, D = 20 + 12 };

/* L_b(w) = 1/2 w^T A_b w + c_b^T w over the concatenated weights. */
typedef struct quad_source {
    spti_param **w;
    int n;
    double A[NB][D][D], c[NB][D];
    int calls, resets;
    bool use_reset;
} quad_source;

static void flat(const quad_source *s, double *x) {
    int64_t k = 0;
    for (int l = 0; l < s->n; l++)
        for (int64_t i = 0; i < s->w[l]->n; i++) x[k++] = s->w[l]->value[i];
}

static int quad_compute(void *ctx, float *loss) {
    quad_source *s = ctx;
    int b = s->use_reset ? s->calls : 0;
    if (b >= NB) return spti_fail(SPT_ERR_STATE, "quad source: no batch %d", b);
    s->calls++;
    double x[D];
    flat(s, x);
    int64_t k = 0;
    for (int l = 0; l < s->n; l++)
        for (int64_t i = 0; i < s->w[l]->n; i++, k++) {
            double g = s->c[b][k];
            for (int j = 0; j < D; j++) g += s->A[b][k][j] * x[j];
            s->w[l]->grad[i] = (float)g;
        }
    if (loss) *loss = 0.0f;
    return SPT_OK;
}

static int quad_reset(void *ctx) {
    quad_source *s = ctx;
    s->calls = 0;
    s->resets++;
    return SPT_OK;
}

static void quad_init(quad_source *s, spti_param **w, int n, uint64_t seed, bool use_reset) {
    memset(s, 0, sizeof *s);
    s->w = w;
    s->n = n;
    s->use_reset = use_reset;
    spti_rng r;
    spti_rng_seed(&r, seed);
    for (int b = 0; b < NB; b++) {
        for (int i = 0; i < D; i++) {
            s->c[b][i] = spti_rng_normal(&r);
            for (int j = 0; j <= i; j++) s->A[b][i][j] = s->A[b][j][i] = spti_rng_normal(&r) / 4.0;
        }
    }
}

/* Analytic g = sum_b (A_b w + c_b) and Hg = sum_b A_b g over `nb` batches. */
static void analytic(const quad_source *s, int nb, double *g, double *hg) {
    double x[D];
    flat(s, x);
    for (int i = 0; i < D; i++) {
        g[i] = 0.0;
        for (int b = 0; b < nb; b++) {
            g[i] += s->c[b][i];
            for (int j = 0; j < D; j++) g[i] += s->A[b][i][j] * x[j];
        }
    }
    for (int i = 0; i < D; i++) {
        hg[i] = 0.0;
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < D; j++) hg[i] += s->A[b][i][j] * g[j];
    }
}

static void check_hg(int nb, bool use_reset) {
    spti_param *w[2] = {pr_weight("a", 4, 5, 1.0f, 1), pr_weight("b", 3, 4, 1.0f, 2)};
    quad_source *s = malloc(sizeof *s);
    quad_init(s, w, 2, 99, use_reset);
    double g_true[D], hg_true[D];
    analytic(s, nb, g_true, hg_true);
    pr_snap before[2] = {pr_take(w[0]), pr_take(w[1])};
    float **g = spti_prune_buffers(w, 2), **hg = spti_prune_buffers(w, 2);
    spti_grad_source gs = {quad_compute, s, use_reset ? quad_reset : NULL};
    assert_int_equal(spti_grasp_hg(w, 2, &gs, nb, g, hg), SPT_OK);
    assert_int_equal(s->resets, use_reset ? 1 : 0);
    double max_hg = 0.0, max_err = 0.0, max_gerr = 0.0;
    for (int i = 0; i < D; i++) max_hg = fmax(max_hg, fabs(hg_true[i]));
    int64_t k = 0;
    for (int l = 0; l < 2; l++)
        for (int64_t i = 0; i < w[l]->n; i++, k++) {
            max_err = fmax(max_err, fabs(hg[l][i] - hg_true[k]));
            max_gerr = fmax(max_gerr, fabs(g[l][i] - g_true[k]) / (1.0 + fabs(g_true[k])));
        }
    assert_true(max_gerr < 1e-5);
    assert_true(max_err < 1e-3 * max_hg);
    for (int l = 0; l < 2; l++) { /* restored bit for bit */
        pr_snap now = pr_take(w[l]);
        assert_memory_equal(now.w, before[l].w, (size_t)now.cells * sizeof(float));
        pr_free(&now);
        pr_free(&before[l]);
    }
    spti_prune_buffers_free(g, 2);
    spti_prune_buffers_free(hg, 2);
    free(s);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_hg_three_batches_reset(void **state) {
    (void)state;
    check_hg(NB, true);
}

static void test_hg_stationary_source(void **state) {
    (void)state;
    check_hg(1, false);
}

/* The method keeps the (1 - S) lowest GraSP scores -w * Hg. */
static void check_grasp(int global) {
    spti_param *w[2] = {pr_weight("a", 4, 5, 1.0f, 3), pr_weight("b", 3, 4, 1.0f, 4)};
    quad_source *s = malloc(sizeof *s);
    quad_init(s, w, 2, 7, true);
    double g_true[D], hg_true[D];
    analytic(s, 2, g_true, hg_true);
    pr_snap orig[2] = {pr_take(w[0]), pr_take(w[1])};
    spt_method_config *c = pr_config(SPT_METHOD_GRASP, 0.6, SPT_DISTRIBUTION_UNIFORM, global);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SCORE_BATCHES, 2), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 2, 100, &m), SPT_OK);
    assert_string_equal(m->ops->name, "grasp");
    spti_grad_source gs = {quad_compute, s, quad_reset};
    assert_int_equal(m->ops->init(m, w, 2, &gs), SPT_OK);
    double key0[20], key1[12], *key[2] = {key0, key1};
    int64_t k = 0;
    for (int l = 0; l < 2; l++)
        for (int64_t i = 0; i < w[l]->rows * w[l]->cols; i++, k++) key[l][i] = -(-orig[l].w[i] * hg_true[k]);
    int64_t kl[2] = {8, llround(0.4 * 12)}, kg[1] = {llround(0.4 * 32)};
    pr_check_top(w, 2, key, NULL, global, global ? kg : kl);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(w[l]->kind, SPTI_PARAM_SPARSE);
        pr_snap now = pr_take(w[l]);
        for (int64_t i = 0; i < now.cells; i++) assert_true(now.w[i] == (now.active[i] ? orig[l].w[i] : 0.0f));
        pr_free(&now);
        pr_free(&orig[l]);
    }
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    free(s);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_grasp_global(void **state) {
    (void)state;
    check_grasp(1);
}

static void test_grasp_layerwise(void **state) {
    (void)state;
    check_grasp(0);
}

/* A failing second pass leaves the weights as they were and DENSE; a
 * zero gradient gives Hg = 0. */
static void test_failures(void **state) {
    (void)state;
    spti_param *w[2] = {pr_weight("a", 4, 5, 1.0f, 5), pr_weight("b", 3, 4, 1.0f, 6)};
    quad_source *s = malloc(sizeof *s);
    quad_init(s, w, 2, 8, true);
    pr_snap orig = pr_take(w[0]);
    spt_method_config *c = pr_config(SPT_METHOD_GRASP, 0.5, SPT_DISTRIBUTION_UNIFORM, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SCORE_BATCHES, 2), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_grasp.create(&spti_method_grasp, c, w, 2, 100, &m), SPT_OK);
    spti_grad_source no_reset = {quad_compute, s, NULL};
    s->use_reset = true; /* batches 0, 1, then batch 2 and "3" (missing) without the reset */
    assert_status(m->ops->init(m, w, 2, &no_reset), SPT_ERR_STATE);
    pr_snap now = pr_take(w[0]);
    assert_memory_equal(now.w, orig.w, (size_t)orig.cells * sizeof(float));
    assert_int_equal(w[0]->kind, SPTI_PARAM_DENSE);
    pr_free(&now);
    assert_status(m->ops->init(m, w, 2, NULL), SPT_ERR_NULL);
    /* zero gradient: w = 0 and c = 0 */
    memset(s->c, 0, sizeof s->c);
    float **g = spti_prune_buffers(w, 2), **hg = spti_prune_buffers(w, 2);
    for (int l = 0; l < 2; l++) memset(w[l]->value, 0, (size_t)w[l]->n * sizeof(float));
    s->calls = 0;
    spti_grad_source gs = {quad_compute, s, quad_reset};
    hg[0][0] = 5.0f;
    assert_int_equal(spti_grasp_hg(w, 2, &gs, 1, g, hg), SPT_OK);
    for (int l = 0; l < 2; l++)
        for (int64_t i = 0; i < w[l]->n; i++) assert_true(hg[l][i] == 0.0f);
    spti_prune_buffers_free(g, 2);
    spti_prune_buffers_free(hg, 2);
    pr_free(&orig);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    free(s);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

static void test_nomem(void **state) {
    (void)state;
    bool ok = false;
    quad_source *s = malloc(sizeof *s);
    for (long fail = 0; !ok; fail++) {
        spt_test_alloc_install();
        spti_param *w[2] = {pr_weight("a", 4, 5, 1.0f, 51), pr_weight("b", 3, 4, 1.0f, 52)};
        quad_init(s, w, 2, 9, true);
        spt_method_config *c = pr_config(SPT_METHOD_GRASP, 0.5, SPT_DISTRIBUTION_ERK, 1);
        spti_grad_source gs = {quad_compute, s, quad_reset};
        spti_method *m = NULL;
        spt_test_alloc_fail_at(fail);
        int rc = spti_method_grasp.create(&spti_method_grasp, c, w, 2, 10, &m);
        if (rc == SPT_OK) rc = m->ops->init(m, w, 2, &gs);
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
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hg_three_batches_reset), cmocka_unit_test(test_hg_stationary_source),
        cmocka_unit_test(test_grasp_global),           cmocka_unit_test(test_grasp_layerwise),
        cmocka_unit_test(test_failures),               cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
