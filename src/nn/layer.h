/*
 * The layer interface. A layer maps an input activation of per-example shape
 * in_shape to an output of out_shape for a batch of N examples. Buffers are
 * feature-major with the batch contiguous: C x H x W x N, index
 * ((c*H + h)*W + w)*N + n (flat features: H = W = 1).
 *
 * Contract of the operations (N may differ between calls, up to any size;
 * a layer grows its own scratch as needed):
 *   forward(L, x, y, N, ctx)        y = f(x); caches what backward needs
 *   backward(L, x, y, dy, dx, N, ctx)
 *                                   given the x and y of the last forward and
 *                                   dy = dL/dy, ADD dL/dparam into each
 *                                   param's grad (the model zeroes grads once
 *                                   per step) and WRITE dx = dL/dx. dx may be
 *                                   NULL when the input needs no gradient
 *                                   (first layer): skip that product.
 *   destroy(L)                      frees the layer's state and params.
 * A layer that needs randomness (dropout) draws from ctx->rng; a layer that
 * behaves differently in training and evaluation reads ctx->training.
 */
#ifndef SPTI_LAYER_H
#define SPTI_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "param.h"

typedef struct spti_shape {
    int64_t c, h, w; /* per example; flat features have h = w = 1 */
} spti_shape;

static inline int64_t spti_shape_size(spti_shape s) { return s.c * s.h * s.w; }

typedef struct spti_fwd_ctx {
    bool training;
    spti_rng *rng;
    /* Channels of x known to be exactly 0 whatever the batch (flags, one
     * per channel; NULL: none known), from the producer's zero_channels
     * below; a batch norm skips their work (batchnorm.c). */
    const uint8_t *zero_in;
} spti_fwd_ctx;

typedef struct spti_layer spti_layer;

/* The scratch a model lends its layers, which run one at a time
 * (spti_scratch, core/internal.h; grown on demand, freed with the model):
 * a convolution's column buffer, and the blocks and marks of a weight's
 * streamed growth gradient (kernels/grow_collector.h), which a convolution
 * needs while its columns are live. */
enum { SPTI_SCRATCH_COLUMNS, SPTI_SCRATCH_STREAM, SPTI_SCRATCH_SLOTS };

typedef struct spti_layer_ops {
    const char *kind; /* "linear", "conv2d", "batchnorm", ... */
    int (*forward)(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx);
    int (*backward)(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N);
    void (*destroy)(spti_layer *L);
    /* Forward FLOPs per example with the current weights (multiply-adds x 2
     * for the products; elementwise work not counted). `dense` asks for the
     * count the layer would have with every weight active. */
    double (*flops)(const spti_layer *L, bool dense);
    /* Layers of two inputs (addition) set n_inputs = 2 and run these
     * instead of forward / backward: x[k] is input k (in_shape each),
     * dx[k] its gradient to WRITE (NULL: not needed). 0 means 1 input. */
    int n_inputs;
    int (*forward2)(spti_layer *L, const float *const *x, float *y, int64_t N, const spti_fwd_ctx *ctx);
    int (*backward2)(spti_layer *L, const float *const *x, const float *y, const float *dy, float *const *dx,
                     int64_t N);
    /* Optional (batch norm): the layer fused with what follows it in the
     * model, y = relu?(layer(x) + res) (res NULL: no addition). Its
     * backward takes the block's output y and output gradient dy, WRITES
     * dx (NULL: not needed) and dres = the gradient of res (NULL: none),
     * and adds the parameter gradients, as forward / backward would have
     * done through the unfused nodes, with the same results. */
    int (*forward_act)(spti_layer *L, const float *x, const float *res, bool relu, float *y, int64_t N,
                       const spti_fwd_ctx *ctx);
    int (*backward_act)(spti_layer *L, const float *x, const float *y, const float *dy, bool relu, float *dx,
                        float *dres, int64_t N);
    /* Optional (weight layers): flags zero[c] the output channels the
     * layer writes as exactly 0 whatever its input, and whose output
     * gradient its backward never reads (spti_weight_zero_rows); true
     * when any is flagged. */
    bool (*zero_channels)(const spti_layer *L, uint8_t *zero);
} spti_layer_ops;

struct spti_layer {
    const spti_layer_ops *ops;
    char name[40];
    spti_shape in_shape, out_shape;
    spti_param *params[4]; /* owned; weight first, then bias / BN gamma, beta */
    int n_params;
    spti_layer **children; /* composite layers (a residual block) list their sublayers */
    int n_children;
    void *state;           /* the kind's private data */
    spti_scratch *shared;  /* the model's scratch, [SPTI_SCRATCH_SLOTS], or NULL: the layer's own */
};

#endif
