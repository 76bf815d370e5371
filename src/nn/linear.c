/*
 * Linear layer: y[out x N] = W[out x in] . x[in x N] + b, with W in any of
 * the three forms of param.h (read afresh at every call), plus the gradient
 * helpers shared with Conv2d (layers.h).
 */
#include <string.h>

#include "../kernels/grow_collector.h"
#include "../kernels/grow_sample.h"
#include "layers.h"

typedef struct linear_state {
    int64_t in, out;
    bool has_bias;
} linear_state;

/* ---- helpers shared by the weight layers ---------------------------------- */

bool spti_weight_zero_rows(const spti_param *p, bool has_bias, uint8_t *zero) {
    if (has_bias || p->kind != SPTI_PARAM_SPARSE || !p->ws.channel || p->request.dense_grad || p->request.sample)
        return false;
    const spt_csr *W = p->csr;
    bool any = false;
    for (int64_t r = 0; r < W->rows; r++) any |= (zero[r] = W->row_ptr[r + 1] == W->row_ptr[r]) != 0;
    return any;
}

int spti_weight_ensure_dense_grad(spti_param *p) {
    if (p->result.dense_grad) return SPT_OK;
    p->result.dense_grad = spti_alloc_or_fail(p->rows * p->cols, sizeof(float), "dense weight gradient");
    return p->result.dense_grad ? SPT_OK : SPT_ERR_NOMEM;
}

/* grad += the dense gradient g (rows x cols) at p's active entries. */
static void add_dense_grad(spti_param *p, const float *g) {
    switch (p->kind) {
    case SPTI_PARAM_DENSE:
        for (int64_t i = 0; i < p->n; i++) p->grad[i] += g[i];
        break;
    case SPTI_PARAM_MASKED:
        for (int64_t i = 0; i < p->n; i++)
            if (p->mask[i]) p->grad[i] += g[i];
        break;
    case SPTI_PARAM_SPARSE: {
        const spt_csr *m = p->csr;
        for (int64_t r = 0; r < m->rows; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) p->grad[k] += g[r * m->cols + m->col_idx[k]];
        break;
    }
    }
}

int spti_weight_grad_gemm(spti_param *p, const float *dy, const float *X, int64_t ncols) {
    if (p->request.dense_grad) {
        /* In the row blocks of the streaming path (grow_collector.c), so
         * both paths give bit-identical gradients (and growth choices). */
        const int64_t B = spti_grad_block_rows(p->cols);
        for (int64_t r0 = 0; r0 < p->rows; r0 += B) {
            const int64_t nb = p->rows - r0 < B ? p->rows - r0 : B;
            SPTI_TRY(spti_gemm_dw(dy + r0 * ncols, nb, X, p->cols, ncols, p->result.dense_grad + r0 * p->cols, false));
        }
        add_dense_grad(p, p->result.dense_grad);
        return SPT_OK;
    }
    SPTI_TRY(spti_gemm_dw(dy, p->rows, X, p->cols, ncols, p->grad, true));
    if (p->kind == SPTI_PARAM_MASKED) /* inactive grads were 0: put them back */
        for (int64_t i = 0; i < p->n; i++)
            if (!p->mask[i]) p->grad[i] = 0.0f;
    return SPT_OK;
}

int spti_weight_grad_gemm_grouped(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups) {
    if (groups <= 1) return spti_weight_grad_gemm(p, dy, X, ncols);
    const int64_t R = p->rows / groups, C = p->cols;
    float *dst = p->request.dense_grad ? p->result.dense_grad : p->grad;
    /* Group q: rows [q*R, (q+1)*R) of dst against the dy rows of the group
     * and the X rows [q*C, (q+1)*C). Every call has the same sizes: the
     * first fails (SPT_ERR_SIZE) before anything changes, or none does. */
    for (int64_t q = 0; q < groups; q++)
        SPTI_TRY(spti_gemm_dw(dy + q * R * ncols, R, X + q * C * ncols, C, ncols, dst + q * R * C,
                              !p->request.dense_grad));
    if (p->request.dense_grad)
        add_dense_grad(p, p->result.dense_grad);
    else if (p->kind == SPTI_PARAM_MASKED) /* inactive grads were 0: put them back */
        for (int64_t i = 0; i < p->n; i++)
            if (!p->mask[i]) p->grad[i] = 0.0f;
    return SPT_OK;
}

int spti_weight_grad_stream(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups,
                            bool lanes, spti_scratch *scratch) {
    if (p->kind != SPTI_PARAM_SPARSE || p->request.grow_k < 1)
        return spti_fail(SPT_ERR_STATE, "growth collector: %s is not sparse or k (%lld) < 1", p->name,
                         (long long)p->request.grow_k);
    /* The kernel streams the blocks into p->result.grow; only then, the whole
     * gradient known, does grad change (a failure leaves it as it was). */
    const int rc =
        spti_grow_collect(&p->result.grow, p->csr, p->request.grow_k, dy, X, ncols, groups, lanes, p->reduce, scratch);
    /* Across ranks: the collectives are done (even when this rank failed),
     * and active is the global batch's gradient. */
    if (p->reduce) p->grad_reduced = true;
    SPTI_TRY(rc);
    const float *active = p->result.grow->active;
    for (int64_t j = 0; j < p->csr->nnz; j++) p->grad[j] += active[j];
    return SPT_OK;
}

int spti_weight_grad_sample(spti_param *p, const float *dy, const float *X, int64_t ncols, int64_t groups,
                            bool conv) {
    if (p->kind != SPTI_PARAM_SPARSE || !p->request.sample)
        return spti_fail(SPT_ERR_STATE, "sampled growth: %s is not sparse or has no sample", p->name);
    /* The kernel computes both gradients first; only then does grad change
     * (a failure leaves it as it was). */
    /* The dense product, where it serves, as the layer's exact path runs
     * it: a linear layer streams into the collector's lanes, a convolution
     * on one lane, each block's product threaded as the full dense_grad
     * path's (so a sample of every candidate gives its bits). */
    SPTI_TRY(spti_sample_gradient(&p->result.sample, p->csr, p->request.sample, dy, X, ncols, groups, !conv));
    const float *active = p->result.sample->active;
    for (int64_t j = 0; j < p->csr->nnz; j++) p->grad[j] += active[j];
    return SPT_OK;
}

/* db[rows] += row sums of dy[rows x M]. */
void spti_bias_grad_add(float *db, const float *dy, int64_t rows, int64_t M) {
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (rows * M >= (1 << 15))
    for (int64_t r = 0; r < rows; r++) {
        double acc = 0.0;
        const float *d = dy + r * M;
        for (int64_t e = 0; e < M; e++) acc += d[e];
        db[r] += (float)acc;
    }
}

int64_t spti_weight_active(const spti_param *p) {
    switch (p->kind) {
    case SPTI_PARAM_MASKED: return p->mask_nnz;
    case SPTI_PARAM_SPARSE: return p->csr->nnz;
    default: return p->rows * p->cols;
    }
}

/* ---- the layer ------------------------------------------------------------------ */

static int linear_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    (void)ctx;
    const linear_state *st = L->state;
    if (N < 0 || N > INT32_MAX) return spti_fail(SPT_ERR_SIZE, "linear %s: batch size %lld", L->name, (long long)N);
    spti_param *W = L->params[0];
    const float *b = st->has_bias ? L->params[1]->value : NULL;
    if (W->kind == SPTI_PARAM_SPARSE) return spti_csr_forward(W->csr, x, N, b, y, &W->ws);
    /* MASKED values are exactly 0 where inactive: the dense product is exact. */
    return spti_gemm_fwd(W->value, st->out, st->in, x, N, b, y);
}

/* Gradients: dL/db = row sums of dY, dL/dW = dY . X^T (at the active entries),
 * dX = W^T . dY. Allocation first, so a failure changes no gradient. */
static int linear_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    (void)y;
    const linear_state *st = L->state;
    if (N < 0 || N > INT32_MAX) return spti_fail(SPT_ERR_SIZE, "linear %s: batch size %lld", L->name, (long long)N);
    spti_param *W = L->params[0];
    /* A SPARSE weight asked for the gradient at sampled positions computes
     * it there alone; one asked for growth candidates streams its dense
     * gradient in row blocks (no rows x cols buffer); otherwise the
     * dense_grad request is served in full. */
    const bool sampled = W->kind == SPTI_PARAM_SPARSE && W->request.sample;
    const bool stream = !sampled && W->kind == SPTI_PARAM_SPARSE && W->request.grow_k > 0;
    const bool want_dense = W->request.dense_grad && !stream && !sampled;
    if (want_dense) SPTI_TRY(spti_weight_ensure_dense_grad(W));
    /* The weight gradient is the last call that may fail (its dense
     * scratch); the bias and dX below cannot. */
    if (sampled)
        SPTI_TRY(spti_weight_grad_sample(W, dy, x, N, 1, false));
    else if (stream)
        SPTI_TRY(spti_weight_grad_stream(W, dy, x, N, 1, true, L->shared ? &L->shared[SPTI_SCRATCH_STREAM] : NULL));
    else if (want_dense || W->kind != SPTI_PARAM_SPARSE)
        SPTI_TRY(spti_weight_grad_gemm(W, dy, x, N));
    else if (dx) { /* both products at once (one pass over dY's rows where the machine allows) */
        SPTI_TRY(spti_csr_backward(W->csr, x, dy, N, dx, false, W->grad, true, &W->ws));
        if (st->has_bias) spti_bias_grad_add(L->params[1]->grad, dy, st->out, N);
        return SPT_OK;
    } else
        SPTI_TRY(spti_csr_backward(W->csr, x, dy, N, NULL, false, W->grad, true, &W->ws));
    if (st->has_bias) spti_bias_grad_add(L->params[1]->grad, dy, st->out, N);
    if (!dx) return SPT_OK;
    if (W->kind == SPTI_PARAM_SPARSE) return spti_csr_backward(W->csr, NULL, dy, N, dx, false, NULL, false, &W->ws);
    return spti_gemm_dx(W->value, st->out, st->in, dy, N, dx, false);
}

static double linear_flops(const spti_layer *L, bool dense) {
    const spti_param *W = L->params[0];
    return 2.0 * (double)(dense ? W->rows * W->cols : spti_weight_active(W));
}

static void linear_destroy(spti_layer *L) { spti_layer_free(L); }

static bool linear_zero_channels(const spti_layer *L, uint8_t *zero) {
    const linear_state *st = L->state;
    return spti_weight_zero_rows(L->params[0], st->has_bias, zero);
}

static const spti_layer_ops linear_ops = {
    .kind = "linear",
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = linear_destroy,
    .flops = linear_flops,
    .zero_channels = linear_zero_channels,
};

int spti_linear_create(const char *name, int64_t in_features, int64_t out_features, bool bias, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (in_features < 1 || out_features < 1 || in_features > INT32_MAX || out_features > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: in_features (%lld) and out_features (%lld) must be in [1, 2^31)", __func__,
                         (long long)in_features, (long long)out_features);
    int64_t cells;
    if (!spti_mul_i64(in_features, out_features, &cells) || !spti_mul_i64(cells, (int64_t)sizeof(float), &cells))
        return spti_fail(SPT_ERR_SIZE, "%s: weight %lld x %lld overflows", __func__, (long long)out_features,
                         (long long)in_features);
    spti_shape in = {in_features, 1, 1}, outs = {out_features, 1, 1};
    spti_layer *L = spti_layer_new(&linear_ops, name, in, outs, sizeof(linear_state));
    if (!L) return SPT_ERR_NOMEM;
    linear_state *st = L->state;
    st->in = in_features;
    st->out = out_features;
    st->has_bias = bias;
    int64_t wshape[2] = {out_features, in_features}, bshape[1] = {out_features};
    int rc = spti_layer_add_param(L, "weight", 2, wshape, true, NULL);
    if (rc == SPT_OK && bias) rc = spti_layer_add_param(L, "bias", 1, bshape, false, NULL);
    if (rc != SPT_OK) {
        spti_layer_free(L);
        return rc;
    }
    *out = L;
    return SPT_OK;
}
