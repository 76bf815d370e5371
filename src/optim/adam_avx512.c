/* AVX-512 Adam loop, 16 entries per iteration (see adam.c for the formulas).
 * Only called when spti_simd_level() >= 2. It exists because GCC does not
 * vectorise the generic loop: sqrtf may set errno, and the library is not
 * built with -fno-math-errno. The operations are the generic loop's, in the
 * same order and without fused multiply-adds, so both give the same bits.
 * w, g, m, v: n floats; mask: n bytes (1 = active) or NULL. */
#include <immintrin.h>

#include "optim.h"

void spti_adam_update_avx512(const spti_adam_args *a, int64_t n, float *w, const float *g, float *m, float *v,
                             const uint8_t *mask) {
    const __m512 decay_mul = _mm512_set1_ps(a->decoupled ? a->decay_mul : 1.0f);
    const __m512 l2 = _mm512_set1_ps(a->decoupled ? 0.0f : a->wd);
    const __m512 b1 = _mm512_set1_ps(a->beta1), b2 = _mm512_set1_ps(a->beta2);
    const __m512 c1 = _mm512_set1_ps(a->one_minus_beta1), c2 = _mm512_set1_ps(a->one_minus_beta2);
    const __m512 step_size = _mm512_set1_ps(a->step_size), isb = _mm512_set1_ps(a->inv_sqrt_bc2);
    const __m512 eps = _mm512_set1_ps(a->eps), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const int64_t blocks = n / 16 + (n % 16 != 0);
#pragma omp parallel for schedule(static) if (n >= SPTI_ADAM_PAR_MIN) num_threads(spti_num_threads())
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t i = blk * 16;
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 wi = _mm512_maskz_loadu_ps(k, w + i);
        __m512 gi = _mm512_add_ps(_mm512_maskz_loadu_ps(k, g + i), _mm512_mul_ps(l2, wi));
        __m512 on = one;
        if (mask) {
            __m128i bytes = _mm_maskz_loadu_epi8(k, mask + i);
            on = _mm512_mask_mov_ps(zero, _mm_test_epi8_mask(bytes, bytes), one);
            gi = _mm512_mul_ps(on, gi);
        }
        __m512 mm = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(k, m + i)), _mm512_mul_ps(c1, gi));
        __m512 vv = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(k, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vv), isb), eps);
        __m512 nw = _mm512_sub_ps(_mm512_mul_ps(wi, decay_mul), _mm512_div_ps(_mm512_mul_ps(step_size, mm), denom));
        if (mask) nw = _mm512_add_ps(_mm512_mul_ps(on, nw), zero);
        _mm512_mask_storeu_ps(m + i, k, mm);
        _mm512_mask_storeu_ps(v + i, k, vv);
        _mm512_mask_storeu_ps(w + i, k, nw);
    }
}
