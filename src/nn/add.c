/* Addition of two activations of the same shape (residual connections):
 * y = x0 + x1; dx0 = dx1 = dy. */
#include <string.h>

#include "layers.h"

enum { ADD_PAR_MIN = 1 << 16 }; /* elements below which the loops run on one thread */

static int add_forward(spti_layer *L, const float *const *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    (void)ctx;
    const int64_t n = spti_shape_size(L->out_shape) * N;
    const float *a = x[0], *b = x[1];
#pragma omp parallel for simd schedule(static) num_threads(spti_num_threads()) if (n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    return SPT_OK;
}

static int add_backward(spti_layer *L, const float *const *x, const float *y, const float *dy, float *const *dx,
                        int64_t N) {
    (void)x, (void)y;
    const size_t bytes = (size_t)(spti_shape_size(L->out_shape) * N) * sizeof(float);
    for (int k = 0; k < 2; k++)
        if (dx[k]) memcpy(dx[k], dy, bytes);
    return SPT_OK;
}

static double add_flops(const spti_layer *L, bool dense) {
    (void)L, (void)dense;
    return 0.0;
}

static const spti_layer_ops add_ops = {.kind = "add",
                                       .destroy = spti_layer_free,
                                       .flops = add_flops,
                                       .n_inputs = 2,
                                       .forward2 = add_forward,
                                       .backward2 = add_backward};

bool spti_layer_is_add(const spti_layer *L) { return L && L->ops == &add_ops; }

int spti_add_create(const char *name, spti_shape shape, spti_layer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(name);
    if (shape.c < 1 || shape.h < 1 || shape.w < 1) return spti_fail(SPT_ERR_SIZE, "add %s: shape must be positive", name);
    SPTI_TRY(spti_shape_elems(shape, 1, &(int64_t){0}));
    spti_layer *L = spti_layer_new(&add_ops, name, shape, shape, 0);
    if (!L) return SPT_ERR_NOMEM;
    *out = L;
    return SPT_OK;
}
