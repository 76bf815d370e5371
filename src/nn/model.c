/* The model container: layer sequence, buffers, forward / backward, the
 * training step without the update, evaluation (see model.h). */
#include <math.h>
#include <string.h>

#include "layers.h"
#include "model.h"

int spti_model_new(spti_shape in, uint64_t seed, spti_model **out) {
    *out = NULL;
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return spti_fail(SPT_ERR_SIZE, "model: input shape %lld x %lld x %lld must be positive", (long long)in.c,
                         (long long)in.h, (long long)in.w);
    SPTI_TRY(spti_shape_elems(in, 1, &(int64_t){0}));
    spti_model *m = spti_calloc(1, sizeof *m);
    if (!m) return spti_fail(SPT_ERR_NOMEM, "model: out of memory");
    m->in_shape = in;
    m->seed = seed;
    spti_rng_seed(&m->rng, seed);
    *out = m;
    return SPT_OK;
}

static bool same_shape(spti_shape a, spti_shape b) { return a.c == b.c && a.h == b.h && a.w == b.w; }

int spti_model_append(spti_model *m, spti_layer *L) {
    spti_shape prev = m->n_layers ? m->layers[m->n_layers - 1]->out_shape : m->in_shape;
    if (!same_shape(prev, L->in_shape)) {
        int rc = spti_fail(SPT_ERR_SIZE, "model: layer %s expects %lld x %lld x %lld but gets %lld x %lld x %lld",
                           L->name, (long long)L->in_shape.c, (long long)L->in_shape.h, (long long)L->in_shape.w,
                           (long long)prev.c, (long long)prev.h, (long long)prev.w);
        spti_layer_destroy(L);
        return rc;
    }
    if (m->n_layers == m->layers_cap) {
        int cap = m->layers_cap ? 2 * m->layers_cap : 16;
        spti_layer **nl = spti_alloc(cap, sizeof *nl);
        if (!nl) {
            spti_layer_destroy(L);
            return spti_fail(SPT_ERR_NOMEM, "model: out of memory for the layer list");
        }
        if (m->n_layers) memcpy(nl, m->layers, (size_t)m->n_layers * sizeof *nl);
        spti_free(m->layers);
        m->layers = nl;
        m->layers_cap = cap;
    }
    m->layers[m->n_layers++] = L;
    return SPT_OK;
}

/* Count (lists NULL) or fill the leaves and params of L, depth first. */
static void walk(spti_layer *L, spti_layer **leaves, int *n_leaves, spti_param **params, int64_t *n_params) {
    for (int i = 0; i < L->n_params; i++) {
        if (params) params[*n_params] = L->params[i];
        (*n_params)++;
    }
    if (L->n_children == 0) {
        if (leaves) leaves[*n_leaves] = L;
        (*n_leaves)++;
    }
    for (int i = 0; i < L->n_children; i++) walk(L->children[i], leaves, n_leaves, params, n_params);
}

int spti_model_finalize(spti_model *m) {
    if (m->n_layers == 0) return spti_fail(SPT_ERR_SIZE, "model: no layers");
    int nl = 0;
    int64_t np = 0;
    for (int i = 0; i < m->n_layers; i++) walk(m->layers[i], NULL, &nl, NULL, &np);
    spti_layer **leaves = spti_alloc(nl, sizeof *leaves);
    spti_param **params = spti_alloc(np, sizeof *params);
    if (!leaves || !params) {
        spti_free(leaves);
        spti_free(params);
        return spti_fail(SPT_ERR_NOMEM, "model: out of memory for the parameter list");
    }
    nl = 0;
    np = 0;
    for (int i = 0; i < m->n_layers; i++) walk(m->layers[i], leaves, &nl, params, &np);
    spti_free(m->leaves);
    spti_free(m->params);
    m->leaves = leaves;
    m->n_leaves = nl;
    m->params = params;
    m->n_params = np;
    m->classes = spti_shape_size(m->layers[m->n_layers - 1]->out_shape);
    return SPT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

void spti_model_materialize(spti_model *m) {
    if (!m->init_pending) return;
    for (int64_t i = 0; i < m->n_params; i++) spti_param_materialize(m->params[i]);
    m->init_pending = false;
}

int spti_model_init_params(spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        if (p->kind != SPTI_PARAM_DENSE)
            return spti_fail(SPT_ERR_STATE, "model: parameter %s is not dense at initialisation", p->name);
        if (p->is_weight) {
            /* N(0, 2 / fan_in), written when first needed (spti_param_materialize,
             * or only the active entries by spti_param_sparsify); the model's
             * stream moves past the draws now, as if they had been made. */
            p->init_rng = m->rng;
            p->init_pending = true;
            m->init_pending = true;
            spti_rng_skip_normals(&m->rng, p->n);
        } else if (ends_with(p->name, ".weight")) {
            for (int64_t k = 0; k < p->n; k++) p->value[k] = 1.0f; /* BatchNorm gamma */
        } else {
            SPTI_TRY(spti_init_zero(p)); /* biases, BatchNorm beta */
        }
    }
    return SPT_OK;
}

static void free_buffers(float **acts, int n, float *g0, float *g1, float *dl) {
    if (acts)
        for (int i = 0; i < n; i++) spti_free(acts[i]);
    spti_free(acts);
    spti_free(g0);
    spti_free(g1);
    spti_free(dl);
}

void spti_model_destroy(spti_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) spti_layer_destroy(m->layers[i]);
    spti_free(m->layers);
    spti_free(m->leaves);
    spti_free(m->params);
    free_buffers(m->acts, m->n_layers, m->gbuf[0], m->gbuf[1], m->dlogits);
    spti_free(m);
}

int spti_model_reserve(spti_model *m, int64_t N) {
    if (N < 1) return spti_fail(SPT_ERR_SIZE, "model: batch size %lld must be >= 1", (long long)N);
    if (N <= m->act_cap && m->acts) return SPT_OK;
    int64_t gmax;
    SPTI_TRY(spti_shape_elems(m->in_shape, N, &gmax));
    for (int i = 0; i < m->n_layers; i++) {
        int64_t e;
        SPTI_TRY(spti_shape_elems(m->layers[i]->out_shape, N, &e));
        if (e > gmax) gmax = e;
    }
    float **acts = spti_calloc(m->n_layers, sizeof *acts);
    float *g0 = spti_alloc(gmax, sizeof(float)), *g1 = spti_alloc(gmax, sizeof(float));
    float *dl = spti_alloc(m->classes * N, sizeof(float));
    bool ok = acts && g0 && g1 && dl;
    for (int i = 0; ok && i < m->n_layers; i++)
        ok = (acts[i] = spti_alloc(spti_shape_size(m->layers[i]->out_shape) * N, sizeof(float))) != NULL;
    if (!ok) {
        free_buffers(acts, m->n_layers, g0, g1, dl);
        return spti_fail(SPT_ERR_NOMEM, "model: out of memory for the buffers of a batch of %lld", (long long)N);
    }
    free_buffers(m->acts, m->n_layers, m->gbuf[0], m->gbuf[1], m->dlogits);
    m->acts = acts;
    m->gbuf[0] = g0;
    m->gbuf[1] = g1;
    m->dlogits = dl;
    m->act_cap = N;
    m->last_N = 0;
    return SPT_OK;
}

int spti_model_forward(spti_model *m, const float *x, int64_t N, bool training, const float **logits) {
    spti_model_materialize(m);
    SPTI_TRY(spti_model_reserve(m, N));
    spti_fwd_ctx ctx = {training, &m->rng};
    m->last_N = 0;
    const float *in = x;
    for (int i = 0; i < m->n_layers; i++) {
        spti_layer *L = m->layers[i];
        SPTI_TRY(L->ops->forward(L, in, m->acts[i], N, &ctx));
        in = m->acts[i];
    }
    m->last_N = N;
    m->last_training = training;
    if (logits) *logits = in;
    return SPT_OK;
}

int spti_model_backward(spti_model *m, const float *x, const float *dlogits, int64_t N) {
    if (m->last_N != N)
        return spti_fail(SPT_ERR_STATE, "model: backward of a batch of %lld without its forward", (long long)N);
    const float *dy = dlogits;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        spti_layer *L = m->layers[i];
        const float *in = i ? m->acts[i - 1] : x;
        float *dx = i ? m->gbuf[i % 2] : NULL;
        SPTI_TRY(L->ops->backward(L, in, m->acts[i], dy, dx, N));
        dy = dx;
    }
    return SPT_OK;
}

void spti_model_zero_grad(spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        memset(p->grad, 0, (size_t)p->n * sizeof(float));
        if (p->result.dense_grad) memset(p->result.dense_grad, 0, (size_t)(p->rows * p->cols) * sizeof(float));
    }
}

static int64_t first_nonfinite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

int spti_model_check_grads(const spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        int64_t k = first_nonfinite(p->grad, p->n);
        if (k >= 0)
            return spti_fail(SPT_ERR_NONFINITE, "model: gradient of %s is not finite (entry %lld)", p->name,
                             (long long)k);
    }
    return SPT_OK;
}

/* After a non-finite loss: say where the first non-finite value appeared. */
static int locate_nonfinite(const spti_model *m, const float *x, int64_t N, double loss) {
    if (first_nonfinite(x, spti_shape_size(m->in_shape) * N) >= 0)
        return spti_fail(SPT_ERR_NONFINITE, "model: the input batch holds NaN or Inf");
    for (int i = 0; i < m->n_layers; i++)
        if (first_nonfinite(m->acts[i], spti_shape_size(m->layers[i]->out_shape) * N) >= 0)
            return spti_fail(SPT_ERR_NONFINITE, "model: the output of layer %s is not finite", m->layers[i]->name);
    return spti_fail(SPT_ERR_NONFINITE, "model: the loss is not finite (%g)", loss);
}

int spti_model_train_step(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct) {
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= m->classes)
            return spti_fail(SPT_ERR_INVALID, "model: label %d of example %lld is outside [0, %lld)", (int)labels[n],
                             (long long)n, (long long)m->classes);
    spti_model_zero_grad(m);
    const float *logits;
    SPTI_TRY(spti_model_forward(m, x, N, true, &logits));
    double l;
    int64_t c;
    SPTI_TRY(spti_softmax_xent(logits, m->classes, N, labels, m->dlogits, &l, &c));
    if (!isfinite(l)) return locate_nonfinite(m, x, N, l);
    SPTI_TRY(spti_model_backward(m, x, m->dlogits, N));
    SPTI_TRY(spti_model_check_grads(m));
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

int spti_model_eval_batch(spti_model *m, const float *x, const int32_t *labels, int64_t N, double *loss,
                          int64_t *correct) {
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= m->classes)
            return spti_fail(SPT_ERR_INVALID, "model: label %d of example %lld is outside [0, %lld)", (int)labels[n],
                             (long long)n, (long long)m->classes);
    const float *logits;
    SPTI_TRY(spti_model_forward(m, x, N, false, &logits));
    double l;
    int64_t c;
    SPTI_TRY(spti_softmax_xent(logits, m->classes, N, labels, NULL, &l, &c));
    if (!isfinite(l)) return locate_nonfinite(m, x, N, l);
    if (loss) *loss = l;
    if (correct) *correct = c;
    return SPT_OK;
}

double spti_model_flops(const spti_model *m, bool dense) {
    double f = 0.0;
    for (int i = 0; i < m->n_layers; i++) f += m->layers[i]->ops->flops(m->layers[i], dense);
    return f;
}
