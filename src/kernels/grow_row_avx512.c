/* AVX-512 row pass of the growth collector (grow_collector.c): the columns
 * of one gradient row with |g| >= t that are not kept, 16 at a time with a
 * compress store, and whether the row holds a non-finite value. Compiled
 * with the AVX-512 flags; called only after spti_simd_level() >= 2, and
 * only with t > -1 (NaN keys never pass). */
#include <float.h>
#include <immintrin.h>

#include "grow_collector.h"

int64_t spti_grow_row_pass_avx512(const float *s, int64_t cols, float t, const uint8_t *kept, int32_t *idx,
                                  bool *nonfinite) {
    const __m512 vt = _mm512_set1_ps(t), vmax = _mm512_set1_ps(FLT_MAX);
    const __m512i step = _mm512_set1_epi32(16);
    __m512i q16 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 bad = 0;
    int64_t n = 0, q = 0;
    for (; q < cols; q += 16) {
        const int64_t left = cols - q;
        const __mmask16 lm = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(lm, s + q));
        const __m128i kb = _mm_maskz_loadu_epi8(lm, kept + q);
        /* |g| > FLT_MAX or unordered: inf or NaN */
        bad |= _mm512_mask_cmp_ps_mask(lm, a, vmax, _CMP_NLE_UQ);
        const __mmask16 m = _mm512_mask_cmp_ps_mask(lm, a, vt, _CMP_GE_OQ) & _mm_cmpeq_epi8_mask(kb, _mm_setzero_si128());
        _mm512_mask_compressstoreu_epi32(idx + n, m, q16);
        n += __builtin_popcount((unsigned)m);
        q16 = _mm512_add_epi32(q16, step);
    }
    *nonfinite = bad != 0;
    return n;
}
