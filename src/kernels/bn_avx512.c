/* AVX-512 batch-norm channel kernels (bn.h). Compiled with -mavx512f;
 * called only after spti_simd_level() >= 2. Sums: 16 float lanes widened
 * to two vectors of 8 doubles per quantity, reduced in a fixed order. */
#include <immintrin.h>
#include <stdint.h>

#include "bn.h"

static inline __mmask16 head_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* Software prefetch of the stream p this many floats (4 cache lines) ahead.
 * The hardware prefetchers do not keep these one-stream-per-thread sweeps
 * fed on the AMD machine: with it the four kernels run 2-3x faster on data
 * that is not in cache (docs/performance.md, "Batch norm: software
 * prefetch"); a prefetch past the end of a buffer does not fault. */
enum { AHEAD = 64 };
static inline void ahead(const float *p) {
    /* the address as an integer: p + AHEAD may lie past the buffer's end */
    _mm_prefetch((const char *)((uintptr_t)p + AHEAD * sizeof(float)), _MM_HINT_T0);
}

/* The 16 lanes of lo (lanes 0-7) and hi (8-15), summed in a fixed order. */
static inline double sum2(__m512d lo, __m512d hi) { return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)); }

void spti_bn_stats_avx512(const float *x, int64_t M, double *mean, double *sq) {
    const __m512d k = _mm512_set1_pd((double)x[0]);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
    for (int64_t i = 0; i < M; i += 16) {
        ahead(x + i);
        const __m512 v = _mm512_maskz_loadu_ps(head_mask(M - i), x + i);
        /* masked-off lanes load 0: d = -k there, so mask them out of the sums */
        const __mmask8 m0 = (__mmask8)head_mask(M - i), m1 = (__mmask8)(head_mask(M - i) >> 8);
        const __m512d d0 = _mm512_maskz_sub_pd(m0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), k);
        const __m512d d1 = _mm512_maskz_sub_pd(
            m1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), k);
        a0 = _mm512_add_pd(a0, d0);
        a1 = _mm512_add_pd(a1, d1);
        b0 = _mm512_fmadd_pd(d0, d0, b0);
        b1 = _mm512_fmadd_pd(d1, d1, b1);
    }
    const double a = sum2(a0, a1), b = sum2(b0, b1), v = b - a * (a / (double)M);
    *mean = (double)x[0] + a / (double)M;
    *sq = v > 0.0 ? v : 0.0;
}

/* The ReLU mask of a backward kernel (bn.h's spti_bn_relu) over the
 * vector at i, lanes m, with x's vector xv: y > 0, or a x + b > 0 as
 * spti_bn_apply_avx512 computes it (a multiply then an add). */
typedef struct relu_vec {
    const float *y;
    __m512 a, b;
} relu_vec;

static inline relu_vec relu_vec_of(const spti_bn_relu *relu) {
    relu_vec r = {NULL, _mm512_setzero_ps(), _mm512_setzero_ps()};
    if (relu && relu->from_x) {
        r.a = _mm512_set1_ps(relu->a);
        r.b = _mm512_set1_ps(relu->b);
    } else if (relu) {
        r.y = relu->y;
    }
    return r;
}

static inline __mmask16 relu_mask(const relu_vec *r, int64_t i, __mmask16 m, __m512 xv) {
    const __m512 v = r->y ? _mm512_maskz_loadu_ps(m, r->y + i) : _mm512_add_ps(_mm512_mul_ps(r->a, xv), r->b);
    return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
}

void spti_bn_grad_sums_avx512(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                              float invstd, double *sdy, double *sdyx) {
    const __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(invstd);
    const relu_vec r = relu_vec_of(relu);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
    for (int64_t i = 0; i < M; i += 16) {
        const __mmask16 m = head_mask(M - i);
        ahead(dy + i);
        ahead(x + i);
        if (r.y) ahead(r.y + i);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        __m512 g = _mm512_maskz_loadu_ps(m, dy + i);
        if (relu) g = _mm512_maskz_mov_ps(relu_mask(&r, i, m, xv), g);
        const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, vm), vi);
        const __m512d g0 = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
        const __m512d g1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1)));
        const __m512d h0 = _mm512_cvtps_pd(_mm512_castps512_ps256(xh));
        const __m512d h1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xh), 1)));
        /* g is 0 in the masked-off lanes: they add nothing */
        a0 = _mm512_add_pd(a0, g0);
        a1 = _mm512_add_pd(a1, g1);
        b0 = _mm512_fmadd_pd(g0, h0, b0);
        b1 = _mm512_fmadd_pd(g1, h1, b1);
    }
    *sdy = sum2(a0, a1);
    *sdyx = sum2(b0, b1);
}

void spti_bn_apply_avx512(const float *x, const float *res, bool relu, float a, float b, int64_t M, float *y) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < M; i += 16) {
        const __mmask16 m = head_mask(M - i);
        ahead(x + i);
        if (res) ahead(res + i);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i)), vb);
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + i));
        /* v < 0 ? 0 : v, NaN kept (an ordered compare is false for NaN) */
        if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
        if (m == 0xFFFF)
            _mm512_storeu_ps(y + i, v);
        else
            _mm512_mask_storeu_ps(y + i, m, v);
    }
}

void spti_bn_grad_apply_avx512(const float *dy, const spti_bn_relu *relu, const float *x, int64_t M, float mean,
                               float invstd, float scale, bool training, float mdy, float mdyx, float *dx,
                               float *dres) {
    const __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(invstd), vs = _mm512_set1_ps(scale);
    const __m512 vmdy = _mm512_set1_ps(mdy), vmdyx = _mm512_set1_ps(mdyx);
    const relu_vec r = relu_vec_of(relu);
    const bool need_x = (dx && training) || (relu && !r.y);
    for (int64_t i = 0; i < M; i += 16) {
        const __mmask16 m = head_mask(M - i);
        ahead(dy + i);
        if (r.y) ahead(r.y + i);
        if (need_x) ahead(x + i);
        const __m512 xv = need_x ? _mm512_maskz_loadu_ps(m, x + i) : _mm512_setzero_ps();
        __m512 g = _mm512_maskz_loadu_ps(m, dy + i);
        if (relu) g = _mm512_maskz_mov_ps(relu_mask(&r, i, m, xv), g);
        if (dres) {
            if (m == 0xFFFF)
                _mm512_storeu_ps(dres + i, g);
            else
                _mm512_mask_storeu_ps(dres + i, m, g);
        }
        if (!dx) continue;
        __m512 v;
        if (training) {
            const __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(xv, vm), vi), vmdyx);
            v = _mm512_mul_ps(vs, _mm512_sub_ps(_mm512_sub_ps(g, vmdy), t));
        } else {
            v = _mm512_mul_ps(vs, g);
        }
        if (m == 0xFFFF)
            _mm512_storeu_ps(dx + i, v);
        else
            _mm512_mask_storeu_ps(dx + i, m, v);
    }
}
