/* Batch-norm channel kernels, generic C and the dispatch (bn.h). */
#include "bn.h"

/* Lets GCC if-convert the ReLU's select (as in src/nn/activation.c); no
 * result changes. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "../core/internal.h"

/* Independent partial sums (the adder's latency), combined in order. */
enum { LANES = 4 };

static double combine(const double *acc) {
    double s = 0.0;
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

static void stats_generic(const float *x, int64_t M, double *mean, double *sq) {
    const double k = x[0];
    double s1[LANES] = {0}, s2[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= M; i += LANES)
        for (int j = 0; j < LANES; j++) {
            const double d = x[i + j] - k;
            s1[j] += d;
            s2[j] += d * d;
        }
    for (; i < M; i++) {
        const double d = x[i] - k;
        s1[i % LANES] += d;
        s2[i % LANES] += d * d;
    }
    const double a = combine(s1), b = combine(s2), v = b - a * (a / (double)M);
    *mean = k + a / (double)M;
    *sq = v > 0.0 ? v : 0.0;
}

static inline float grad_of(const float *dy, const spti_bn_relu *relu, const float *x, int64_t i) {
    const float g = dy[i];
    if (!relu) return g;
    const float v = relu->from_x ? relu->a * x[i] + relu->b : relu->y[i];
    return v > 0.0f ? g : 0.0f;
}

static void grad_sums_generic(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                              float invstd, double *sdy, double *sdyx) {
    double a[LANES] = {0}, b[LANES] = {0};
    for (int64_t i = 0; i < M; i++) {
        const float g = grad_of(dy, relu, x, i);
        a[i % LANES] += g;
        b[i % LANES] += (double)g * ((x[i] - mean) * invstd);
    }
    *sdy = combine(a);
    *sdyx = combine(b);
}

static void apply_generic(const float *x, const float *res, bool relu, float a, float b, int64_t M, float *y) {
    for (int64_t i = 0; i < M; i++) {
        float v = a * x[i] + b;
        if (res) v += res[i];
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

void spti_bn_fill(const float *res, bool relu, float a, float b, int64_t M, float *y) {
    const float c = a * 0.0f + b; /* spti_bn_apply's operations on x = 0, in its order */
    if (!res) {
        const float v = relu && c < 0.0f ? 0.0f : c;
        for (int64_t i = 0; i < M; i++) y[i] = v;
        return;
    }
    for (int64_t i = 0; i < M; i++) {
        const float v = c + res[i];
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

static void grad_apply_generic(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                               float invstd, float scale, bool training, float mdy, float mdyx, float *dx,
                               float *dres) {
    for (int64_t i = 0; i < M; i++) {
        const float g = grad_of(dy, relu, x, i);
        if (dres) dres[i] = g;
        if (dx) dx[i] = training ? scale * (g - mdy - (x[i] - mean) * invstd * mdyx) : scale * g;
    }
}

void spti_bn_stats(const float *x, int64_t M, double *mean, double *sq) {
    (spti_simd_level() >= 2 ? spti_bn_stats_avx512 : stats_generic)(x, M, mean, sq);
}

void spti_bn_grad_sums(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                       float invstd, double *sdy, double *sdyx) {
    (spti_simd_level() >= 2 ? spti_bn_grad_sums_avx512 : grad_sums_generic)(dy, relu, x, M, mean, invstd, sdy, sdyx);
}

void spti_bn_apply(const float *x, const float *res, bool relu, float a, float b, int64_t M, float *y) {
    (spti_simd_level() >= 2 ? spti_bn_apply_avx512 : apply_generic)(x, res, relu, a, b, M, y);
}

void spti_bn_grad_apply(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                        float invstd, float scale, bool training, float mdy, float mdyx, float *dx, float *dres) {
    (spti_simd_level() >= 2 ? spti_bn_grad_apply_avx512 : grad_apply_generic)(dy, relu, x, M, mean, invstd, scale,
                                                                            training, mdy, mdyx, dx, dres);
}
