/* AVX-512 vector primitives of the direct sparse convolution (conv.h).
 * Compiled with -mavx512f; called only after spti_simd_level() >= 2. */
#include <immintrin.h>

#include "conv.h"

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* y[r*ys + e] += a * x[r*xs + e]: 32 floats per step, a masked tail. */
void spti_conv_axpy_rows_avx512(float a, const float *x, int64_t xs, float *y, int64_t ys, int64_t rows, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * xs;
        float *yr = y + r * ys;
        int64_t e = 0;
        for (; e + 32 <= n; e += 32) {
            __m512 y0 = _mm512_loadu_ps(yr + e), y1 = _mm512_loadu_ps(yr + e + 16);
            y0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xr + e), y0);
            y1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xr + e + 16), y1);
            _mm512_storeu_ps(yr + e, y0);
            _mm512_storeu_ps(yr + e + 16, y1);
        }
        for (; e < n; e += 16) {
            const __mmask16 m = tail_mask(n - e);
            __m512 yv = _mm512_maskz_loadu_ps(m, yr + e);
            yv = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, xr + e), yv);
            _mm512_mask_storeu_ps(yr + e, m, yv);
        }
    }
}

/* Dot product over rows with four independent accumulators, reduced in a
 * fixed order. */
float spti_conv_dot_rows_avx512(const float *a, int64_t as, const float *b, int64_t bs, int64_t rows, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * as, *br = b + r * bs;
        int64_t e = 0;
        for (; e + 64 <= n; e += 64) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e), _mm512_loadu_ps(br + e), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 16), _mm512_loadu_ps(br + e + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 32), _mm512_loadu_ps(br + e + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 48), _mm512_loadu_ps(br + e + 48), s3);
        }
        for (; e < n; e += 16) {
            const __mmask16 m = tail_mask(n - e);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + e), _mm512_maskz_loadu_ps(m, br + e), s0);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
