/* SynFlow: the scores |w dR/dw| / R against a brute-force R on a chain of
 * linear layers (R is linear in each |w|, so a unit difference is the
 * exact derivative), exact targets globally and per layer, no layer
 * collapse where global magnitude pruning would empty a layer, values and
 * signs kept, conv + flatten chains, a residual block with a projection
 * shortcut, invalid uses. */
#include "test_prune_util.h"

/* R = 1^T |W_L| ... |W_1| 1 over a chain of 2-D weights, in double. */
static double brute_r(spti_param *const *w, int n, int layer, int64_t at, double bump) {
    double *x = malloc((size_t)w[0]->cols * sizeof(double));
    for (int64_t j = 0; j < w[0]->cols; j++) x[j] = 1.0;
    for (int l = 0; l < n; l++) {
        double *y = calloc((size_t)w[l]->rows, sizeof(double));
        for (int64_t o = 0; o < w[l]->rows; o++)
            for (int64_t j = 0; j < w[l]->cols; j++) {
                int64_t i = o * w[l]->cols + j;
                y[o] += (fabs((double)w[l]->value[i]) + (l == layer && i == at ? bump : 0.0)) * x[j];
            }
        free(x);
        x = y;
    }
    double r = 0.0;
    for (int64_t o = 0; o < w[n - 1]->rows; o++) r += x[o];
    free(x);
    return r;
}

static void test_scores_brute_force(void **state) {
    (void)state;
    spti_param *w[3] = {pr_weight("a", 6, 5, 1.0f, 1), pr_weight("b", 7, 6, 1.0f, 2), pr_weight("c", 3, 7, 1.0f, 3)};
    uint8_t *active[3];
    float **score = spti_prune_buffers(w, 3);
    for (int l = 0; l < 3; l++) {
        active[l] = malloc((size_t)w[l]->n);
        for (int64_t i = 0; i < w[l]->n; i++) active[l][i] = (i % 5) != 2; /* some pruned: count as 0 */
    }
    assert_int_equal(spti_synflow_scores(w, 3, active, score), SPT_OK);
    /* brute force over the masked weights */
    float *keep[3];
    for (int l = 0; l < 3; l++) {
        keep[l] = malloc((size_t)w[l]->n * sizeof(float));
        memcpy(keep[l], w[l]->value, (size_t)w[l]->n * sizeof(float));
        for (int64_t i = 0; i < w[l]->n; i++)
            if (!active[l][i]) w[l]->value[i] = 0.0f;
    }
    double R = brute_r(w, 3, -1, 0, 0.0);
    for (int l = 0; l < 3; l++) {
        double sum = 0.0;
        for (int64_t i = 0; i < w[l]->n; i++) {
            double d = brute_r(w, 3, l, i, 1.0) - R; /* exact: R is linear in |w_i| */
            double want = active[l][i] ? fabs((double)w[l]->value[i]) * d / R : 0.0;
            assert_true(fabs(score[l][i] - want) <= 1e-5 * (1e-3 + want));
            sum += score[l][i];
        }
        assert_true(fabs(sum - 1.0) < 1e-5); /* conservation: each layer's scores sum to R */
    }
    for (int l = 0; l < 3; l++) {
        memcpy(w[l]->value, keep[l], (size_t)w[l]->n * sizeof(float));
        free(keep[l]);
        free(active[l]);
    }
    spti_prune_buffers_free(score, 3);
    for (int l = 0; l < 3; l++) spti_param_destroy(w[l]);
}

/* A conv (4 x 2 x 3 x 3) flattened (4 channels x 4 positions) into a
 * linear layer 5 x 16: each channel's flow is repeated over its positions. */
static void test_conv_flatten(void **state) {
    (void)state;
    spti_param *w[2] = {NULL, pr_weight("fc", 5, 16, 1.0f, 5)};
    assert_int_equal(spti_param_create("conv", 4, (int64_t[]){4, 2, 3, 3}, true, &w[0]), SPT_OK);
    spti_rng r;
    spti_rng_seed(&r, 6);
    for (int64_t i = 0; i < w[0]->n; i++) w[0]->value[i] = spti_rng_normal(&r);
    uint8_t *active[2] = {malloc(72), malloc(80)};
    memset(active[0], 1, 72);
    memset(active[1], 1, 80);
    float **score = spti_prune_buffers(w, 2);
    assert_int_equal(spti_synflow_scores(w, 2, active, score), SPT_OK);
    double ch[4] = {0}, a[4] = {0}, R = 0.0;
    for (int64_t o = 0; o < 4; o++)
        for (int64_t j = 0; j < 18; j++) ch[o] += fabs((double)w[0]->value[o * 18 + j]);
    for (int64_t o = 0; o < 5; o++)
        for (int64_t f = 0; f < 16; f++) {
            R += fabs((double)w[1]->value[o * 16 + f]) * ch[f / 4];
            a[f / 4] += fabs((double)w[1]->value[o * 16 + f]);
        }
    for (int64_t o = 0; o < 5; o++)
        for (int64_t f = 0; f < 16; f++) {
            double want = fabs((double)w[1]->value[o * 16 + f]) * ch[f / 4] / R;
            assert_true(fabs(score[1][o * 16 + f] - want) <= 1e-5 * want + 1e-9);
        }
    for (int64_t o = 0; o < 4; o++)
        for (int64_t j = 0; j < 18; j++) {
            double want = fabs((double)w[0]->value[o * 18 + j]) * a[o] / R; /* input flow 1 */
            assert_true(fabs(score[0][o * 18 + j] - want) <= 1e-5 * want + 1e-9);
        }
    spti_prune_buffers_free(score, 2);
    free(active[0]);
    free(active[1]);
    spti_param_destroy(w[0]);
    spti_param_destroy(w[1]);
}

/* Layer 1 has tiny weights: one global magnitude threshold would remove
 * all of it; SynFlow keeps the network connected, every layer with a real
 * share, and reaches the target exactly. */
static void test_no_layer_collapse(void **state) {
    (void)state;
    spti_param *w[3] = {pr_weight("a", 64, 8, 1.0f, 7), pr_weight("b", 64, 64, 0.001f, 8),
                        pr_weight("c", 4, 64, 1.0f, 9)};
    pr_snap orig[3];
    for (int l = 0; l < 3; l++) orig[l] = pr_take(w[l]);
    const int64_t total = 512 + 4096 + 256, keep = llround(0.05 * (double)total);
    /* global magnitude: the top `keep` |w| hold no weight of layer b */
    {
        double *mag = malloc((size_t)(512 + 256) * sizeof(double)), max_b = 0.0;
        for (int64_t i = 0; i < 512; i++) mag[i] = fabs((double)orig[0].w[i]);
        for (int64_t i = 0; i < 256; i++) mag[512 + i] = fabs((double)orig[2].w[i]);
        for (int64_t i = 0; i < 4096; i++) max_b = fmax(max_b, fabs((double)orig[1].w[i]));
        int64_t above = 0;
        for (int64_t i = 0; i < 768; i++) above += mag[i] > max_b;
        assert_true(above >= keep);
        free(mag);
    }
    spt_method_config *c = pr_config(SPT_METHOD_SYNFLOW, 0.95, SPT_DISTRIBUTION_ERK, 1);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SYNFLOW_ITERS, 20), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_create(c, w, 3, 100, &m), SPT_OK);
    assert_string_equal(m->ops->name, "synflow");
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK); /* data-free */
    int64_t got = 0;
    for (int l = 0; l < 3; l++) {
        pr_snap s = pr_take(w[l]);
        got += s.nnz;
        assert_true(s.nnz >= 8); /* far from collapse (the floor is 1) */
        assert_int_equal(w[l]->kind, SPTI_PARAM_SPARSE);
        for (int64_t i = 0; i < s.cells; i++) assert_true(s.w[i] == (s.active[i] ? orig[l].w[i] : 0.0f));
        pr_free(&s);
        pr_free(&orig[l]);
    }
    assert_int_equal(got, keep);
    assert_status(m->ops->init(m, w, 3, NULL), SPT_ERR_STATE);
    spti_method_destroy(m);
    spt_method_config_destroy(c);
    for (int l = 0; l < 3; l++) spti_param_destroy(w[l]);
}

/* Layer-wise with one iteration: exact allocator counts, the survivors
 * being the top scores of the dense network. */
static void test_layerwise_targets(void **state) {
    (void)state;
    spti_param *w[3] = {pr_weight("a", 16, 10, 1.0f, 11), pr_weight("b", 16, 16, 1.0f, 12),
                        pr_weight("c", 4, 16, 1.0f, 13)};
    spt_method_config *c = pr_config(SPT_METHOD_SYNFLOW, 0.7, SPT_DISTRIBUTION_UNIFORM, 0);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SYNFLOW_ITERS, 1), SPT_OK);
    spti_method *m = NULL;
    assert_int_equal(spti_method_synflow.create(&spti_method_synflow, c, w, 3, 10, &m), SPT_OK);
    /* one iteration: the top scores of the dense network */
    uint8_t *active[3];
    float **score = spti_prune_buffers(w, 3);
    double *key[3];
    for (int l = 0; l < 3; l++) {
        active[l] = malloc((size_t)w[l]->n);
        memset(active[l], 1, (size_t)w[l]->n);
    }
    assert_int_equal(spti_synflow_scores(w, 3, active, score), SPT_OK);
    for (int l = 0; l < 3; l++) {
        key[l] = malloc((size_t)w[l]->n * sizeof(double));
        for (int64_t i = 0; i < w[l]->n; i++) key[l][i] = score[l][i];
    }
    assert_int_equal(m->ops->init(m, w, 3, NULL), SPT_OK);
    int64_t k[3] = {llround(0.3 * 160), llround(0.3 * 256), llround(0.3 * 64)};
    pr_check_top(w, 3, key, NULL, false, k);
    for (int l = 0; l < 3; l++) {
        assert_int_equal(pr_active(w[l]), k[l]);
        free(key[l]);
        free(active[l]);
    }
    spti_prune_buffers_free(score, 3);
    /* checkpoint round trip */
    int64_t len;
    uint8_t buf[48], buf2[48];
    assert_status(m->ops->save(m, buf, 48, &len), SPT_OK);
    spti_method *m2 = NULL;
    assert_int_equal(spti_method_synflow.create(&spti_method_synflow, c, w, 3, 10, &m2), SPT_OK);
    assert_status(m2->ops->load(m2, buf, len), SPT_OK);
    assert_status(m2->ops->save(m2, buf2, 48, &len), SPT_OK);
    assert_memory_equal(buf, buf2, 48);
    spti_method_destroy(m);
    spti_method_destroy(m2);
    spt_method_config_destroy(c);
    for (int l = 0; l < 3; l++) spti_param_destroy(w[l]);
}

/* Per-channel flow of a 4-D conv or 2-D linear weight: out[o] = sum over
 * (i, k) of |W[o, i, k]| in[i], entry `at` of it bumped by `bump`. */
static void conv_flow(const spti_param *p, const double *in, int64_t at, double bump, double *out) {
    int64_t cin = p->ndim == 4 ? p->shape[1] : p->cols, kk = p->cols / cin;
    for (int64_t o = 0; o < p->rows; o++) {
        out[o] = 0.0;
        for (int64_t j = 0; j < p->cols; j++) {
            int64_t i = o * p->cols + j;
            out[o] += (fabs((double)p->value[i]) + (i == at ? bump : 0.0)) * in[j / kk];
        }
    }
}

/* R of stem -> [conv1 -> conv2] + shortcut -> fc (a residual block with a
 * projection shortcut, summed before fc), weight `layer` entry `at` bumped. */
static double brute_block(spti_param *const *w, int layer, int64_t at, double bump) {
    double ones[3] = {1.0, 1.0, 1.0}, stem[4], h1[6], h2[6], sc[6], out[5], r = 0.0;
    conv_flow(w[0], ones, layer == 0 ? at : -1, bump, stem);
    conv_flow(w[1], stem, layer == 1 ? at : -1, bump, h1);
    conv_flow(w[2], h1, layer == 2 ? at : -1, bump, h2);
    conv_flow(w[3], stem, layer == 3 ? at : -1, bump, sc);
    for (int c = 0; c < 6; c++) h2[c] += sc[c];
    conv_flow(w[4], h2, layer == 4 ? at : -1, bump, out);
    for (int o = 0; o < 5; o++) r += out[o];
    return r;
}

/* A residual block with a projection shortcut in model order (stem, conv1,
 * conv2, shortcut, fc): the shortcut reads the block's input and is added
 * to conv2's output, fc reads the sum; scores against the brute-force R,
 * fc's scores sum to 1 (every path ends there), and the two branches
 * share the flow: conv2 + shortcut = conv1 + shortcut = 1. */
static void test_projection_block(void **state) {
    (void)state;
    const int64_t shapes[5][4] = {{4, 3, 3, 3}, {6, 4, 3, 3}, {6, 6, 3, 3}, {6, 4, 1, 1}, {5, 6, 0, 0}};
    spti_param *w[5];
    uint8_t *active[5];
    spti_rng r;
    spti_rng_seed(&r, 21);
    for (int l = 0; l < 5; l++) {
        assert_int_equal(spti_param_create("w", l == 4 ? 2 : 4, shapes[l], true, &w[l]), SPT_OK);
        active[l] = malloc((size_t)w[l]->n);
        for (int64_t i = 0; i < w[l]->n; i++) {
            w[l]->value[i] = spti_rng_normal(&r);
            active[l][i] = 1;
        }
    }
    float **score = spti_prune_buffers(w, 5);
    assert_int_equal(spti_synflow_scores(w, 5, active, score), SPT_OK);
    const double R = brute_block(w, -1, 0, 0.0);
    double sum[5] = {0};
    for (int l = 0; l < 5; l++)
        for (int64_t i = 0; i < w[l]->n; i++) {
            double want = fabs((double)w[l]->value[i]) * (brute_block(w, l, i, 1.0) - R) / R;
            assert_true(fabs(score[l][i] - want) <= 1e-5 * want + 1e-9);
            sum[l] += score[l][i];
        }
    assert_true(fabs(sum[4] - 1.0) < 1e-5);
    assert_true(fabs(sum[0] - 1.0) < 1e-5);
    assert_true(fabs(sum[2] + sum[3] - 1.0) < 1e-5);
    assert_true(fabs(sum[1] + sum[3] - 1.0) < 1e-5);
    assert_true(sum[3] > 0.0 && sum[3] < 1.0);
    spti_prune_buffers_free(score, 5);
    for (int l = 0; l < 5; l++) {
        free(active[l]);
        spti_param_destroy(w[l]);
    }
}

static void test_invalid_and_nomem(void **state) {
    (void)state;
    spti_param *bias = NULL;
    assert_int_equal(spti_param_create("bias", 1, (int64_t[]){5}, false, &bias), SPT_OK);
    spt_method_config *c = pr_config(SPT_METHOD_SYNFLOW, 0.5, SPT_DISTRIBUTION_ERK, 1);
    spti_method *m = NULL;
    assert_status(spti_method_synflow.create(&spti_method_synflow, c, &bias, 1, 10, &m), SPT_ERR_INVALID);
    assert_null(m);
    assert_status(spti_method_synflow.create(&spti_method_synflow, c, NULL, 1, 10, &m), SPT_ERR_NULL);
    assert_status(spti_method_synflow.create(&spti_method_synflow, c, &bias, 0, 10, &m), SPT_ERR_SIZE);
    spti_param_destroy(bias);
    spt_method_config_destroy(c);
    bool ok = false;
    for (long fail = 0; !ok; fail++) {
        spt_test_alloc_install();
        spti_param *w[2] = {pr_weight("a", 8, 10, 1.0f, 51), pr_weight("b", 6, 8, 1.0f, 52)};
        c = pr_config(SPT_METHOD_SYNFLOW, 0.5, SPT_DISTRIBUTION_ERK, fail % 2);
        assert_int_equal(spt_method_config_set(c, SPT_MP_SYNFLOW_ITERS, 3), SPT_OK);
        m = NULL;
        spt_test_alloc_fail_at(fail);
        int rc = spti_method_synflow.create(&spti_method_synflow, c, w, 2, 10, &m);
        if (rc == SPT_OK) rc = m->ops->init(m, w, 2, NULL);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_brute_force), cmocka_unit_test(test_conv_flatten),
        cmocka_unit_test(test_no_layer_collapse),  cmocka_unit_test(test_layerwise_targets),
        cmocka_unit_test(test_projection_block), cmocka_unit_test(test_invalid_and_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
