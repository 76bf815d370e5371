/* The public model API (sparsetrain/model.h): argument checks over the
 * internal container (model.h). */
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "model.h"

/* Prefix the builder's message with the public function's name. */
static int prefix_error(const char *func, int rc) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", spt_last_error());
    return spti_fail(rc, "%s: %s", func, msg);
}

int spt_model_create_mlp(const int64_t *widths, int n_widths, uint64_t seed, spt_model **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(widths);
    int rc = spti_model_create_mlp(widths, n_widths, seed, out);
    return rc == SPT_OK ? rc : prefix_error(__func__, rc);
}

int spt_model_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                            int64_t classes, uint64_t seed, spt_model **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    int rc = spti_model_create_resnet(in_c, in_h, in_w, blocks_per_stage, width_mult, classes, seed, out);
    return rc == SPT_OK ? rc : prefix_error(__func__, rc);
}

int spt_net_create_mlp(const int64_t *widths, int n_widths, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(widths);
    int rc = spti_net_mlp(widths, n_widths, out);
    return rc == SPT_OK ? rc : prefix_error(__func__, rc);
}

int spt_net_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                          int64_t classes, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    int rc = spti_net_resnet(in_c, in_h, in_w, blocks_per_stage, width_mult, classes, out);
    return rc == SPT_OK ? rc : prefix_error(__func__, rc);
}

void spt_model_destroy(spt_model *m) { spti_model_destroy(m); }

int spt_model_forward(spt_model *m, const float *x, int64_t n, float *logits) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(x);
    SPTI_CHECK_NULL(logits);
    const float *z;
    SPTI_TRY(spti_model_forward(m, x, n, false, &z));
    memcpy(logits, z, (size_t)(m->classes * n) * sizeof(float));
    return SPT_OK;
}

int spt_model_predict(spt_model *m, const float *x, int64_t n, int32_t *pred) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(x);
    SPTI_CHECK_NULL(pred);
    const float *z;
    SPTI_TRY(spti_model_forward(m, x, n, false, &z));
    for (int64_t i = 0; i < n; i++) {
        int64_t arg = 0;
        for (int64_t k = 1; k < m->classes; k++)
            if (z[k * n + i] > z[arg * n + i]) arg = k;
        pred[i] = (int32_t)arg;
    }
    return SPT_OK;
}

int spt_model_evaluate(spt_model *m, const float *x, const int32_t *labels, int64_t n, double *loss,
                       int64_t *correct) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(x);
    SPTI_CHECK_NULL(labels);
    if (n < 1) return spti_fail(SPT_ERR_SIZE, "%s: batch size %lld must be >= 1", __func__, (long long)n);
    return spti_model_eval_batch(m, x, labels, n, loss, correct);
}

/* Shared check of the layout converters; *total = n*c*h*w. */
static int layout_args(const char *func, const float *src, const float *dst, int64_t n, int64_t c, int64_t h,
                       int64_t w, int64_t *total) {
    if (!src) return spti_fail(SPT_ERR_NULL, "%s: src is NULL", func);
    if (!dst) return spti_fail(SPT_ERR_NULL, "%s: dst is NULL", func);
    int64_t dims[4] = {n, c, h, w};
    if (n < 1 || c < 1 || h < 1 || w < 1 || !spti_count_elems(dims, 4, sizeof(float), total))
        return spti_fail(SPT_ERR_SIZE, "%s: sizes %lld x %lld x %lld x %lld must be >= 1 and not overflow", func,
                         (long long)n, (long long)c, (long long)h, (long long)w);
    return SPT_OK;
}

int spt_layout_nchw_to_chwn(const float *src, int64_t n, int64_t c, int64_t h, int64_t w, float *dst) {
    int64_t total;
    SPTI_TRY(layout_args(__func__, src, dst, n, c, h, w, &total));
    const int64_t f = total / n; /* features per example */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < f; j++) dst[j * n + i] = src[i * f + j];
    return SPT_OK;
}

int spt_layout_chwn_to_nchw(const float *src, int64_t n, int64_t c, int64_t h, int64_t w, float *dst) {
    int64_t total;
    SPTI_TRY(layout_args(__func__, src, dst, n, c, h, w, &total));
    const int64_t f = total / n;
    for (int64_t j = 0; j < f; j++)
        for (int64_t i = 0; i < n; i++) dst[i * f + j] = src[j * n + i];
    return SPT_OK;
}

int spt_model_input_shape(const spt_model *m, int64_t *c, int64_t *h, int64_t *w) {
    SPTI_CHECK_NULL(m);
    if (c) *c = m->in_shape.c;
    if (h) *h = m->in_shape.h;
    if (w) *w = m->in_shape.w;
    return SPT_OK;
}

int spt_model_num_classes(const spt_model *m, int64_t *classes) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(classes);
    *classes = m->classes;
    return SPT_OK;
}

int spt_model_num_layers(const spt_model *m, int64_t *n) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(n);
    *n = m->n_leaves;
    return SPT_OK;
}

static int leaf_index(const char *func, const spt_model *m, int64_t i) {
    if (i < 0 || i >= m->n_leaves)
        return spti_fail(SPT_ERR_INVALID, "%s: layer index %lld outside [0, %d)", func, (long long)i, m->n_leaves);
    return SPT_OK;
}

int spt_model_layer_info(const spt_model *m, int64_t i, const char **name, const char **kind) {
    SPTI_CHECK_NULL(m);
    SPTI_TRY(leaf_index(__func__, m, i));
    if (name) *name = m->leaves[i]->name;
    if (kind) *kind = m->leaves[i]->ops->kind;
    return SPT_OK;
}

int spt_model_layer_weight(const spt_model *m, int64_t i, int64_t *rows, int64_t *cols, int64_t *nnz,
                           double *density) {
    SPTI_CHECK_NULL(m);
    SPTI_TRY(leaf_index(__func__, m, i));
    const spti_layer *L = m->leaves[i];
    const spti_param *p = (L->n_params > 0 && L->params[0]->is_weight) ? L->params[0] : NULL;
    int64_t r = p ? p->rows : 0, c = p ? p->cols : 0, k = p ? spti_param_active_positions(p, NULL) : 0;
    if (rows) *rows = r;
    if (cols) *cols = c;
    if (nnz) *nnz = k;
    if (density) *density = p ? (double)k / ((double)r * (double)c) : 0.0;
    return SPT_OK;
}

int spt_model_num_params(const spt_model *m, int64_t *dense, int64_t *nonzero) {
    SPTI_CHECK_NULL(m);
    int64_t d = 0, z = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        d += m->params[i]->rows * m->params[i]->cols;
        z += spti_param_active_positions(m->params[i], NULL);
    }
    if (dense) *dense = d;
    if (nonzero) *nonzero = z;
    return SPT_OK;
}

int spt_model_flops(const spt_model *m, int dense, double *flops) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(flops);
    *flops = spti_model_flops(m, dense != 0);
    return SPT_OK;
}

int spt_model_set_dropout(spt_model *m, double p) {
    SPTI_CHECK_NULL(m);
    if (!(p >= 0.0 && p < 1.0)) return spti_fail(SPT_ERR_INVALID, "%s: rate %g must be in [0, 1)", __func__, p);
    int found = 0;
    for (int i = 0; i < m->n_leaves; i++)
        if (spti_dropout_rate(m->leaves[i]) >= 0.0f) found++;
    if (!found) return spti_fail(SPT_ERR_STATE, "%s: the model has no dropout layer", __func__);
    /* (float)p < 1 also for p just below 1: keep the rate valid in float. */
    float pf = (float)p < 1.0f ? (float)p : 0.99999994f;
    for (int i = 0; i < m->n_leaves; i++)
        if (spti_dropout_rate(m->leaves[i]) >= 0.0f) SPTI_TRY(spti_dropout_set_rate(m->leaves[i], pf));
    return SPT_OK;
}

int spt_model_create(const spt_net *net, uint64_t seed, spt_model **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(net);
    return spti_model_create(net, seed, out);
}

int spt_model_net(const spt_model *m, spt_net **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(m);
    return spti_net_clone(m->net, out);
}
