/* Fused sparse backward, AVX-512: dX = W^T.dY and dW = (dY.X^T) at W's
 * nonzeros in one sweep over W's transposed index. Column c of W needs the
 * rows dY[r, :] of its nonzeros for both products (dX[c,:] += w * dY[r,:]
 * and dW(r,c) = dY[r,:] . X[c,:]), so each gathered dY row is read once for
 * the two, with X[c, window] and dX[c, window] held in registers. */
#include <immintrin.h>

#include "kernels.h"

static inline __mmask16 lane_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

/* Lane i of the result is the sum of the 16 lanes of v[i]. */
static inline __m256 reduce8(const __m512 v[8]) {
    __m256 h[8];
    for (int i = 0; i < 8; i++)
        h[i] = _mm256_add_ps(_mm512_castps512_ps256(v[i]),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[i]), 1)));
    const __m256 h01 = _mm256_hadd_ps(h[0], h[1]), h23 = _mm256_hadd_ps(h[2], h[3]);
    const __m256 h45 = _mm256_hadd_ps(h[4], h[5]), h67 = _mm256_hadd_ps(h[6], h[7]);
    const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

/* Columns [c0, c1), batch window [n0, n0 + 16*V) clipped to n1 by masks.
 * add_dw: add to dW instead of overwriting (accumulate, or a later window). */
static inline __attribute__((always_inline)) void bwd_window(const spt_csr *W, const float *dY, const float *X,
                                                             int64_t N, float *dX, bool acc_dx, float *dW,
                                                             bool add_dw, int64_t c0, int64_t c1, int64_t n0,
                                                             int64_t n1, const int V) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    const int32_t *rows = W->row_idx, *pos = W->csr_pos;
    const float *vals = W->values;
    for (int64_t c = c0; c < c1; c++) {
        __m512 xc[8], acc[8];
        float *dx = dX + c * N + n0;
        for (int v = 0; v < V; v++) {
            xc[v] = _mm512_maskz_loadu_ps(m[v], X + c * N + n0 + 16 * v);
            acc[v] = acc_dx ? _mm512_maskz_loadu_ps(m[v], dx + 16 * v) : _mm512_setzero_ps();
        }
        const int64_t jend = W->col_ptr[c + 1];
        for (int64_t j = W->col_ptr[c]; j < jend; j += 8) {
            const int64_t g = jend - j < 8 ? jend - j : 8;
            __m512 dot[8];
            for (int i = 0; i < 8; i++) {
                /* Lanes past the column's end repeat its last entry with w = 0. */
                const int64_t e = j + (i < g ? i : g - 1);
                const float *dy = dY + (int64_t)rows[e] * N + n0;
                const __m512 w = _mm512_set1_ps(i < g ? vals[pos[e]] : 0.0f);
                __m512 d = _mm512_setzero_ps();
                for (int v = 0; v < V; v++) {
                    const __m512 y = _mm512_maskz_loadu_ps(m[v], dy + 16 * v);
                    acc[v] = _mm512_fmadd_ps(w, y, acc[v]);
                    d = _mm512_fmadd_ps(y, xc[v], d);
                }
                dot[i] = d;
            }
            float s[8];
            _mm256_storeu_ps(s, reduce8(dot));
            for (int i = 0; i < g; i++) {
                float *t = dW + pos[j + i];
                *t = add_dw ? *t + s[i] : s[i];
            }
        }
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(dx + 16 * v, m[v], acc[v]);
    }
}

void spti_backward_cols_avx512(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dX, bool acc_dx,
                               float *dW, bool add_dw, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
    switch ((n1 - n0 + 15) / 16) {
    case 1: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 1); break;
    case 2: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 2); break;
    case 3: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 3); break;
    case 4: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 4); break;
    case 5: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 5); break;
    case 6: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 6); break;
    case 7: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 7); break;
    default: bwd_window(W, dY, X, N, dX, acc_dx, dW, add_dw, c0, c1, n0, n1, 8); break;
    }
}
