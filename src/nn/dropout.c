/* Inverted dropout: in training y = x * keep / (1 - p) with keep ~ Bernoulli(1 - p)
 * drawn from ctx->rng, one draw per element in index order (reproducible
 * for a given rng state); identity in evaluation and when p == 0. */
#include <string.h>

#include "layers.h"

typedef struct dropout_state {
    float p;
    uint8_t *keep; /* mask of the last training forward, in_size x N */
    int64_t keep_cap;
    bool last_masked; /* last forward applied the mask */
} dropout_state;

/* keep ? v : +0.0f, as a bit mask so that the loops vectorise (a select
 * with a branch per element ran scalar). */
static inline float masked(float v, uint8_t keep) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u &= 0u - (uint32_t)keep;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int dropout_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    dropout_state *s = L->state;
    const int64_t n = spti_shape_size(L->in_shape) * N;
    s->last_masked = false;
    if (!ctx || !ctx->training || s->p == 0.0f) {
        memcpy(y, x, (size_t)n * sizeof(float));
        return SPT_OK;
    }
    if (!ctx->rng) return spti_fail(SPT_ERR_NULL, "dropout %s: training forward without an rng", L->name);
    void *buf = s->keep;
    SPTI_TRY(spti_buf_grow(&buf, &s->keep_cap, n, 1, "dropout mask"));
    s->keep = buf;
    const float p = s->p, scale = 1.0f / (1.0f - p);
    /* The draws are one sequential stream (serial, in index order); applying
     * the mask is elementwise (parallel, vectorised select). */
    spti_rng_keep_mask(ctx->rng, p, n, s->keep);
    const uint8_t *keep = s->keep;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; i++) y[i] = masked(x[i] * scale, keep[i]);
    s->last_masked = true;
    return SPT_OK;
}

static int dropout_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    dropout_state *s = L->state;
    if (!dx) return SPT_OK;
    const int64_t n = spti_shape_size(L->in_shape) * N;
    if (!s->last_masked) {
        memcpy(dx, dy, (size_t)n * sizeof(float));
        return SPT_OK;
    }
    if (n > s->keep_cap)
        return spti_fail(SPT_ERR_STATE, "dropout %s: backward batch larger than the forward batch", L->name);
    const float scale = 1.0f / (1.0f - s->p);
    const uint8_t *keep = s->keep;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; i++) dx[i] = masked(dy[i] * scale, keep[i]);
    return SPT_OK;
}

static void dropout_destroy(spti_layer *L) {
    dropout_state *s = L->state;
    if (s) spti_free(s->keep);
    spti_layer_free(L);
}

static double dropout_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops dropout_ops = {.kind = "dropout", .forward = dropout_forward, .backward = dropout_backward, .destroy = dropout_destroy, .flops = dropout_flops};

static bool rate_ok(float p) { return p >= 0.0f && p < 1.0f; } /* false for NaN */

int spti_dropout_create(const char *name, spti_shape shape, float p, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (shape.c < 1 || shape.h < 1 || shape.w < 1)
        return spti_fail(SPT_ERR_SIZE, "dropout %s: shape must be positive", name);
    if (!rate_ok(p)) return spti_fail(SPT_ERR_INVALID, "dropout %s: rate %g must be in [0, 1)", name, (double)p);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(&dropout_ops, name, shape, shape, sizeof(dropout_state));
    if (!L) return SPT_ERR_NOMEM;
    ((dropout_state *)L->state)->p = p;
    *out = L;
    return SPT_OK;
}

int spti_dropout_set_rate(spti_layer *L, float p) {
    SPTI_CHECK_NULL(L);
    if (L->ops != &dropout_ops) return spti_fail(SPT_ERR_INVALID, "%s: layer %s is not dropout", __func__, L->name);
    if (!rate_ok(p)) return spti_fail(SPT_ERR_INVALID, "%s: rate %g must be in [0, 1)", __func__, (double)p);
    ((dropout_state *)L->state)->p = p;
    return SPT_OK;
}

float spti_dropout_rate(const spti_layer *L) {
    if (!L || L->ops != &dropout_ops) return -1.0f;
    return ((const dropout_state *)L->state)->p;
}
