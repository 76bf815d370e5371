/* ReLU: y = max(x, 0) elementwise over any shape; dx = dy where y > 0. */
#include "layers.h"

enum { RELU_PAR_MIN = 1 << 16 };

static int relu_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const int64_t n = spti_shape_size(L->in_shape) * N;
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= RELU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN propagates */
    return SPT_OK;
}

static int relu_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (!dx) return SPT_OK;
    const int64_t n = spti_shape_size(L->in_shape) * N;
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= RELU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        /* dy read unconditionally: a load under the condition kept the loop
         * scalar and branchy (one misprediction per sign change of y). */
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return SPT_OK;
}

static double relu_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops relu_ops = {.kind = "relu", .forward = relu_forward, .backward = relu_backward, .destroy = spti_layer_free, .flops = relu_flops};

int spti_relu_create(const char *name, spti_shape shape, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (shape.c < 1 || shape.h < 1 || shape.w < 1)
        return spti_fail(SPT_ERR_SIZE, "relu %s: shape must be positive", name);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(&relu_ops, name, shape, shape, 0);
    if (!L) return SPT_ERR_NOMEM;
    *out = L;
    return SPT_OK;
}
