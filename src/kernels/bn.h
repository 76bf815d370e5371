/*
 * Batch-norm channel kernels (the layer and its fused blocks:
 * src/nn/batchnorm.c), over one channel's M contiguous values. Generic C
 * (bn.c) and AVX-512 (bn_avx512.c), chosen by spti_simd_level(). The sums
 * are in double with a fixed lane structure per SIMD level: deterministic
 * for a given level, independent of the thread count (the layer runs one
 * channel per task). The elementwise maps compute the same operations in
 * the same order at every level (a multiply then an add, no FMA): their
 * results do not depend on the level.
 */
#ifndef SPTI_BN_H
#define SPTI_BN_H

#include <stdbool.h>
#include <stdint.h>

/* Mean and sum of squared deviations of x[0..M) (M >= 1) in one pass: the
 * sums of d and d^2 for d = x - x[0] in double (shifted data: no
 * catastrophic cancellation while x[0] lies within the data's range). */
void spti_bn_stats(const float *x, int64_t M, double *mean, double *sq);

/* The ReLU that followed the batch norm, for the backward kernels (NULL:
 * none): its gradient is g = dy where the ReLU's input was > 0, else 0.
 * That input is read as y > 0 from the block's output y, or, with from_x,
 * recomputed as a x + b > 0 from the batch norm's input with the forward's
 * a and b (no residual: spti_bn_apply's operations in its order, so the
 * same mask, without reading y). */
typedef struct spti_bn_relu {
    const float *y;
    bool from_x;
    float a, b;
} spti_bn_relu;

/* *sdy = sum g, *sdyx = sum g * xhat with xhat = (x - mean) * invstd in
 * float and g = dy, or the ReLU's gradient (relu != NULL). */
void spti_bn_grad_sums(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                       float invstd, double *sdy, double *sdyx);

/* y = (a x + b) (+ res when res != NULL), then max(., 0) when relu (NaN
 * propagates). */
void spti_bn_apply(const float *x, const float *res, bool relu, float a, float b, int64_t M, float *y);

/* y = (a 0 + b) (+ res when res != NULL), then max(., 0) when relu: the
 * bytes spti_bn_apply gives for an input channel of zeros, without reading
 * it. */
void spti_bn_fill(const float *res, bool relu, float a, float b, int64_t M, float *y);

/* With g as in spti_bn_grad_sums: dres = g (when dres != NULL) and dx (when
 * dx != NULL) = scale * (g - mdy - (x - mean) * invstd * mdyx) in training,
 * scale * g otherwise. */
void spti_bn_grad_apply(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                        float invstd, float scale, bool training, float mdy, float mdyx, float *dx, float *dres);

/* The AVX-512 variants (bn_avx512.c; call only when spti_simd_level() >= 2). */
void spti_bn_stats_avx512(const float *x, int64_t M, double *mean, double *sq);
void spti_bn_grad_sums_avx512(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                              float invstd, double *sdy, double *sdyx);
void spti_bn_apply_avx512(const float *x, const float *res, bool relu, float a, float b, int64_t M, float *y);
void spti_bn_grad_apply_avx512(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                               float invstd, float scale, bool training, float mdy, float mdyx, float *dx,
                               float *dres);

#endif
