/* Batch 1, AVX-512 variant of spmv.c: 16 nonzeros of a row per step, their
 * inputs gathered (vgatherdps), four accumulators in flight, the row's tail
 * under a mask; the 64 lanes are summed in a fixed order. */
#include <immintrin.h>

#include "kernels.h"

void spti_spmv_rows_avx512(const spt_csr *W, const float *x, const float *bias, float *y, int64_t r0, int64_t r1) {
    const int32_t *col = W->col_idx;
    const float *val = W->values;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k1 = W->row_ptr[r + 1];
        int64_t k = W->row_ptr[r];
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (; k + 64 <= k1; k += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k),
                                 _mm512_i32gather_ps(_mm512_loadu_si512(col + k), x, 4), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k + 16),
                                 _mm512_i32gather_ps(_mm512_loadu_si512(col + k + 16), x, 4), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k + 32),
                                 _mm512_i32gather_ps(_mm512_loadu_si512(col + k + 32), x, 4), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k + 48),
                                 _mm512_i32gather_ps(_mm512_loadu_si512(col + k + 48), x, 4), a3);
        }
        for (; k + 16 <= k1; k += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k), _mm512_i32gather_ps(_mm512_loadu_si512(col + k), x, 4), a0);
        if (k < k1) {
            const __mmask16 m = (__mmask16)((1u << (k1 - k)) - 1u);
            const __m512i idx = _mm512_maskz_loadu_epi32(m, col + k);
            const __m512 g = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, x, 4);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, val + k), g, a1);
        }
        const __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        y[r] = (bias ? bias[r] : 0.0f) + _mm512_reduce_add_ps(s);
    }
}
