/* Constant fan-in (ELL) products, AVX-512 variant (ell.h). A row's window
 * of outputs (forward) or of dY (backward) lives in zmm registers; window
 * tails use masked loads and stores, so any N works. */
#include <immintrin.h>
#include <string.h>

#include "ell.h"

#define SPTI_INLINE static inline __attribute__((always_inline))

/* Prefetch distance in entries (as the CSR kernels). */
enum { PFD = 12 };

static inline __mmask16 lane_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

SPTI_INLINE void fwd(const int32_t *col, const float *val, int64_t rows, int64_t f, const float *X, int64_t N,
                     const float *bias, float *Y, int64_t r0, int64_t r1, int64_t n0, int64_t n1, const int V,
                     const int U) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    const int64_t total = rows * f;
    const float *src = X + n0;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k0 = r * f;
        const int32_t *idx = col + k0;
        const float *w = val + k0;
        __m512 a[4][8];
        const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int u = 0; u < U; u++)
            for (int v = 0; v < V; v++) a[u][v] = u == 0 ? b : _mm512_setzero_ps();
        int64_t e = 0;
        for (; e + U <= f; e += U)
            for (int u = 0; u < U; u++) {
                if (k0 + e + u + PFD < total) {
                    const char *p = (const char *)(src + (int64_t)idx[e + u + PFD] * N);
                    for (int v = 0; v < V; v++) _mm_prefetch(p + 64 * v, _MM_HINT_T0);
                }
                const float *x = src + (int64_t)idx[e + u] * N;
                const __m512 wv = _mm512_set1_ps(w[e + u]);
                for (int v = 0; v < V; v++)
                    a[u][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[u][v]);
            }
        for (; e < f; e++) {
            const float *x = src + (int64_t)idx[e] * N;
            const __m512 wv = _mm512_set1_ps(w[e]);
            for (int v = 0; v < V; v++) a[0][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[0][v]);
        }
        for (int u = 1; u < U; u++)
            for (int v = 0; v < V; v++) a[0][v] = _mm512_add_ps(a[0][v], a[u][v]);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(Y + r * N + n0 + 16 * v, m[v], a[0][v]);
    }
}

void spti_ell_fwd_avx512(const int32_t *col, const float *val, int64_t rows, int64_t f, const float *X, int64_t N,
                         const float *bias, float *Y, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
#define SPTI_CALL(V, U) fwd(col, val, rows, f, X, N, bias, Y, r0, r1, n0, n1, V, U)
    switch ((n1 - n0 + 15) / 16) {
    case 1:
        SPTI_CALL(1, 4);
        break;
    case 2:
        SPTI_CALL(2, 4);
        break;
    case 3:
        SPTI_CALL(3, 3);
        break;
    case 4:
        SPTI_CALL(4, 2);
        break;
    case 5:
        SPTI_CALL(5, 2);
        break;
    case 6:
        SPTI_CALL(6, 2);
        break;
    case 7:
        SPTI_CALL(7, 1);
        break;
    default:
        SPTI_CALL(8, 1);
        break;
    }
#undef SPTI_CALL
}

/* Lane i of the result is the sum of the 16 lanes of v[i]. */
SPTI_INLINE __m256 reduce8(const __m512 v[8]) {
    __m256 h[8];
    for (int i = 0; i < 8; i++)
        h[i] = _mm256_add_ps(_mm512_castps512_ps256(v[i]),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[i]), 1)));
    const __m256 h01 = _mm256_hadd_ps(h[0], h[1]), h23 = _mm256_hadd_ps(h[2], h[3]);
    const __m256 h45 = _mm256_hadd_ps(h[4], h[5]), h67 = _mm256_hadd_ps(h[6], h[7]);
    const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

/* Rows [r0, r1), batch window [n0, n1) (<= 128 wide, V <= 8 zmm):
 * dY[r, window] in registers; eight entries at a time, each reading
 * X[c, window] for its dot (DW: dw[k] = dot, or += with add_dw) or
 * updating dX[c, window] += w dY[r, window] (DX). */
SPTI_INLINE void bwd(const int32_t *col, const float *val, int64_t rows, int64_t f, const float *X, const float *dY,
                     int64_t N, float *dX, float *dw, bool add_dw, int64_t r0, int64_t r1, int64_t n0, int64_t n1,
                     const int V, const bool DW, const bool DX) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    const int64_t total = rows * f;
    for (int64_t r = r0; r < r1; r++) {
        __m512 dy[8];
        for (int v = 0; v < V; v++) dy[v] = _mm512_maskz_loadu_ps(m[v], dY + r * N + n0 + 16 * v);
        const int64_t kend = (r + 1) * f;
        for (int64_t k = r * f; k < kend; k += 8) {
            const int64_t g = kend - k < 8 ? kend - k : 8;
            __m512 acc[8];
            for (int i = 0; i < 8; i++) {
                if (i >= g) {
                    acc[i] = _mm512_setzero_ps();
                    continue;
                }
                const int64_t c = col[k + i];
                if (k + i + PFD < total) {
                    const int64_t cp = col[k + i + PFD];
                    for (int v = 0; v < V; v++)
                        _mm_prefetch((const char *)((DW ? X : dX) + cp * N + n0) + 64 * v, _MM_HINT_T0);
                }
                if (DW) {
                    const float *x = X + c * N + n0;
                    __m512 a = _mm512_mul_ps(dy[0], _mm512_maskz_loadu_ps(m[0], x));
                    for (int v = 1; v < V; v++) a = _mm512_fmadd_ps(dy[v], _mm512_maskz_loadu_ps(m[v], x + 16 * v), a);
                    acc[i] = a;
                }
                if (DX) {
                    float *dx = dX + c * N + n0;
                    const __m512 w = _mm512_set1_ps(val[k + i]);
                    for (int v = 0; v < V; v++)
                        _mm512_mask_storeu_ps(dx + 16 * v, m[v],
                                              _mm512_fmadd_ps(w, dy[v], _mm512_maskz_loadu_ps(m[v], dx + 16 * v)));
                }
            }
            if (DW) {
                const __mmask8 mg = (__mmask8)((1u << g) - 1u);
                __m256 sum = reduce8(acc);
                if (add_dw) sum = _mm256_add_ps(sum, _mm256_maskz_loadu_ps(mg, dw + k));
                _mm256_mask_storeu_ps(dw + k, mg, sum);
            }
        }
    }
}

#define SPTI_BY_WIDTH8(CALL)                                                                                           \
    switch ((n1 - n0 + 15) / 16) {                                                                                     \
    case 1:                                                                                                            \
        CALL(1);                                                                                                       \
        break;                                                                                                         \
    case 2:                                                                                                            \
        CALL(2);                                                                                                       \
        break;                                                                                                         \
    case 3:                                                                                                            \
        CALL(3);                                                                                                       \
        break;                                                                                                         \
    case 4:                                                                                                            \
        CALL(4);                                                                                                       \
        break;                                                                                                         \
    case 5:                                                                                                            \
        CALL(5);                                                                                                       \
        break;                                                                                                         \
    case 6:                                                                                                            \
        CALL(6);                                                                                                       \
        break;                                                                                                         \
    case 7:                                                                                                            \
        CALL(7);                                                                                                       \
        break;                                                                                                         \
    default:                                                                                                           \
        CALL(8);                                                                                                       \
        break;                                                                                                         \
    }

void spti_ell_dw_avx512(const int32_t *col, int64_t rows, int64_t f, const float *X, const float *dY, int64_t N,
                        float *dw, bool add_dw, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
#define SPTI_CALL(V) bwd(col, NULL, rows, f, X, dY, N, NULL, dw, add_dw, r0, r1, n0, n1, V, true, false)
    SPTI_BY_WIDTH8(SPTI_CALL)
#undef SPTI_CALL
}

void spti_ell_dx_avx512(const int32_t *col, const float *val, int64_t rows, int64_t cols, int64_t f, const float *dY,
                        int64_t N, float *dX, bool accumulate_dx, int64_t n0, int64_t n1) {
    if (!accumulate_dx)
        for (int64_t c = 0; c < cols; c++) memset(dX + c * N + n0, 0, (size_t)(n1 - n0) * sizeof(float));
#define SPTI_CALL(V) bwd(col, val, rows, f, NULL, dY, N, dX, NULL, false, 0, rows, n0, n1, V, false, true)
    SPTI_BY_WIDTH8(SPTI_CALL)
#undef SPTI_CALL
}
