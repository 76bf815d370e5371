/* The batch-contiguous activation layout (C x H x W x N) to and from
 * oneDNN's nChw16c (N x C/16 x H x W x 16) by 16x16 register transposes
 * (AVX-512; layout.h). Plain copies: the same bytes whatever the threads. */
#include <immintrin.h>

#include "layout.h"

/* r[i] (row i of a 16x16 block) -> r[j] = column j. */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + k], 128-bit lane L: column 4L + k of rows 4i .. 4i + 3 */
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]),
                      c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* column 4L + k = lanes L of u[k], u[4 + k], u[8 + k], u[12 + k] */
    for (int k = 0; k < 4; k++) {
        const __m512 s0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44), s1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xEE),
                     s2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44),
                     s3 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xEE);
        r[k] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
        r[8 + k] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
    }
}

void spti_chwn_to_nchw16c_avx512(const float *src, int64_t C, int64_t HW, int64_t N, float *dst) {
    const int64_t CB = C / 16, blocks = CB * HW;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * HW * N >= SPTI_LAYOUT_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t cb = b / HW, hw = b % HW;
        const float *s = src + (cb * 16 * HW + hw) * N;
        float *d = dst + (cb * HW + hw) * 16;
        const int64_t sstride = HW * N, dstride = CB * HW * 16;
        int64_t n0 = 0;
        for (; n0 + 16 <= N; n0 += 16) {
            __m512 r[16];
            for (int c = 0; c < 16; c++) r[c] = _mm512_loadu_ps(s + c * sstride + n0);
            transpose16(r);
            for (int j = 0; j < 16; j++) _mm512_storeu_ps(d + (n0 + j) * dstride, r[j]);
        }
        for (; n0 < N; n0++)
            for (int c = 0; c < 16; c++) d[n0 * dstride + c] = s[c * sstride + n0];
    }
}

void spti_nchw16c_to_chwn_avx512(const float *src, int64_t C, int64_t HW, int64_t N, float *dst) {
    const int64_t CB = C / 16, blocks = CB * HW;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (C * HW * N >= SPTI_LAYOUT_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t cb = b / HW, hw = b % HW;
        const float *s = src + (cb * HW + hw) * 16;
        float *d = dst + (cb * 16 * HW + hw) * N;
        const int64_t sstride = CB * HW * 16, dstride = HW * N;
        int64_t n0 = 0;
        for (; n0 + 16 <= N; n0 += 16) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(s + (n0 + j) * sstride);
            transpose16(r);
            for (int c = 0; c < 16; c++) _mm512_storeu_ps(d + c * dstride + n0, r[c]);
        }
        for (; n0 < N; n0++)
            for (int c = 0; c < 16; c++) d[c * dstride + n0] = s[n0 * sstride + c];
    }
}
