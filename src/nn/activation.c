/*
 * Elementwise activations over any shape (one task per element range, the
 * same bytes for any thread count):
 *   ReLU        y = max(x, 0);               dx = dy where y > 0
 *   leaky ReLU  y = x >= 0 ? x : slope * x;   dx = dy * (x > 0 ? 1 : slope)
 *   tanh        y = tanh(x);                 dx = dy * (1 - y^2)
 *   GELU        y = x/2 (1 + erf(x / sqrt 2)); dx = dy * ((1 + erf(x / sqrt 2))/2 + x phi(x))
 * NaN inputs give NaN outputs. tanh and erf are the vectorisable float
 * approximations of activation_math.h (a few ulp).
 */
#include <math.h>

/* GCC does not if-convert (hence not vectorise) a loop that computes a
 * product or quotient under a condition unless it may assume that floating
 * point operations do not trap; that assumption changes no result (it is
 * not -ffast-math). Clang assumes it by default. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "activation_math.h"
#include "layers.h"

enum { ACT_PAR_MIN = 1 << 16, RELU_PAR_MIN = ACT_PAR_MIN };

/* Elements of a batch of N examples of the layer's shape. */
static int64_t act_elems(const spti_layer *L, int64_t N) { return spti_shape_size(L->in_shape) * N; }

static double act_flops(const spti_layer *L, bool dense) { return 0.0; }

/* ---- ReLU ------------------------------------------------------------------ */

static int relu_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= RELU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN propagates */
    return SPT_OK;
}

static int relu_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= RELU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        /* dy read unconditionally: a load under the condition kept the loop
         * scalar and branchy (one misprediction per sign change of y). */
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return SPT_OK;
}

static const spti_layer_ops relu_ops = {.kind = "relu", .forward = relu_forward, .backward = relu_backward, .destroy = spti_layer_free, .flops = act_flops};

/* ---- leaky ReLU ---------------------------------------------------------------- */

typedef struct leaky_state {
    float slope;
} leaky_state;

static int leaky_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t n = act_elems(L, N);
    const float a = ((const leaky_state *)L->state)->slope;
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v < 0.0f ? a * v : v; /* NaN propagates */
    }
    return SPT_OK;
}

/* The derivative at 0 is the slope, as PyTorch (x > 0 ? 1 : slope). */
static int leaky_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t n = act_elems(L, N);
    const float a = ((const leaky_state *)L->state)->slope;
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float g = dy[i];
        dx[i] = x[i] > 0.0f ? g : a * g;
    }
    return SPT_OK;
}

static const spti_layer_ops leaky_ops = {.kind = "leaky_relu", .forward = leaky_forward, .backward = leaky_backward, .destroy = spti_layer_free, .flops = act_flops};

/* ---- tanh ---------------------------------------------------------------------- */

static int tanh_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = spti_act_tanh(x[i]);
    return SPT_OK;
}

static int tanh_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    return SPT_OK;
}

static const spti_layer_ops tanh_ops = {.kind = "tanh", .forward = tanh_forward, .backward = tanh_backward, .destroy = spti_layer_free, .flops = act_flops};

/* ---- GELU ---------------------------------------------------------------------- */

#define GELU_RSQRT2 0.707106781f     /* 1 / sqrt(2) */
#define GELU_RSQRT2PI 0.398942280f   /* 1 / sqrt(2 pi) */

/* The exact form, x/2 (1 + erf(x / sqrt 2)), with 1 + erf computed without
 * cancellation for negative x (spti_act_erf1p); x NaN gives NaN. */
static int gelu_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = 0.5f * v * spti_act_erf1p(v * GELU_RSQRT2); /* v NaN: NaN */
    }
    return SPT_OK;
}

/* dy * (Phi(x) + x phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2 and
 * phi(x) = e^(-x^2/2) / sqrt(2 pi), the exponent clamped to -87 (phi is
 * below 1e-38 there and x phi(x) negligible). Recomputed from x: no cache. */
static int gelu_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t n = act_elems(L, N);
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], h = -0.5f * (v * v), e = h > -87.0f ? h : -87.0f; /* NaN: -87 */
        const float d = 0.5f * spti_act_erf1p(v * GELU_RSQRT2) + v * (GELU_RSQRT2PI * spti_act_exp(e));
        dx[i] = dy[i] * d; /* v NaN: NaN */
    }
    return SPT_OK;
}

static const spti_layer_ops gelu_ops = {.kind = "gelu", .forward = gelu_forward, .backward = gelu_backward, .destroy = spti_layer_free, .flops = act_flops};

/* ---- constructors ------------------------------------------------------------------ */

/* A shape-preserving activation with `state_bytes` of state. */
static int act_create(const spti_layer_ops *ops, const char *name, spti_shape shape, size_t state_bytes,
                      spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (shape.c < 1 || shape.h < 1 || shape.w < 1)
        return spti_fail(SPT_ERR_SIZE, "%s %s: shape must be positive", ops->kind, name);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(ops, name, shape, shape, state_bytes);
    if (!L) return SPT_ERR_NOMEM;
    *out = L;
    return SPT_OK;
}

bool spti_layer_is_relu(const spti_layer *L) { return L && L->ops == &relu_ops; }

int spti_relu_create(const char *name, spti_shape shape, spti_layer **out) {
    return act_create(&relu_ops, name, shape, 0, out);
}

int spti_leaky_relu_create(const char *name, spti_shape shape, float slope, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (!isfinite(slope))
        return spti_fail(SPT_ERR_INVALID, "%s: slope must be finite", __func__);
    SPTI_TRY(act_create(&leaky_ops, name, shape, sizeof(leaky_state), out));
    ((leaky_state *)(*out)->state)->slope = slope;
    return SPT_OK;
}

float spti_leaky_relu_slope(const spti_layer *L) {
    return L && L->ops == &leaky_ops ? ((const leaky_state *)L->state)->slope : NAN;
}

int spti_tanh_create(const char *name, spti_shape shape, spti_layer **out) {
    return act_create(&tanh_ops, name, shape, 0, out);
}

int spti_gelu_create(const char *name, spti_shape shape, spti_layer **out) {
    return act_create(&gelu_ops, name, shape, 0, out);
}
