/* AVX-512 vector primitives of the direct sparse convolution (conv.h).
 * Compiled with -mavx512f; called only after spti_simd_level() >= 2. */
#include <immintrin.h>

#include "conv.h"

/* y[0..n) += a * x[0..n): 32 floats per iteration, a masked tail. */
void spti_conv_axpy_avx512(float a, const float *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t e = 0;
    for (; e + 32 <= n; e += 32) {
        __m512 y0 = _mm512_loadu_ps(y + e), y1 = _mm512_loadu_ps(y + e + 16);
        y0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(x + e), y0);
        y1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(x + e + 16), y1);
        _mm512_storeu_ps(y + e, y0);
        _mm512_storeu_ps(y + e + 16, y1);
    }
    for (; e < n; e += 16) {
        const int64_t left = n - e;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 yv = _mm512_maskz_loadu_ps(m, y + e);
        yv = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + e), yv);
        _mm512_mask_storeu_ps(y + e, m, yv);
    }
}

/* Dot product with four independent accumulators, reduced in a fixed order. */
float spti_conv_dot_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int64_t e = 0;
    for (; e + 64 <= n; e += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + e), _mm512_loadu_ps(b + e), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + e + 16), _mm512_loadu_ps(b + e + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + e + 32), _mm512_loadu_ps(b + e + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + e + 48), _mm512_loadu_ps(b + e + 48), s3);
    }
    for (; e < n; e += 16) {
        const int64_t left = n - e;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + e), _mm512_maskz_loadu_ps(m, b + e), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
