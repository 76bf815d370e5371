/* Flatten C x H x W -> (C*H*W) x 1 x 1. With the batch innermost the bytes
 * are already in (C*H*W) x N order: both directions are plain copies. */
#include <string.h>

#include "layers.h"

static int flatten_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    if (y != x) memcpy(y, x, (size_t)(spti_shape_size(L->in_shape) * N) * sizeof(float));
    return SPT_OK;
}

static int flatten_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    if (dx && dx != dy) memcpy(dx, dy, (size_t)(spti_shape_size(L->in_shape) * N) * sizeof(float));
    return SPT_OK;
}

static double flatten_flops(const spti_layer *L, bool dense) { return 0.0; }

static const spti_layer_ops flatten_ops = {.kind = "flatten", .forward = flatten_forward, .backward = flatten_backward, .destroy = spti_layer_free, .flops = flatten_flops};

int spti_flatten_create(const char *name, spti_shape shape, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (shape.c < 1 || shape.h < 1 || shape.w < 1)
        return spti_fail(SPT_ERR_SIZE, "flatten %s: shape must be positive", name);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_shape o = {spti_shape_size(shape), 1, 1};
    spti_layer *L = spti_layer_new(&flatten_ops, name, shape, o, 0);
    if (!L) return SPT_ERR_NOMEM;
    *out = L;
    return SPT_OK;
}
