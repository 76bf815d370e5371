/* Sparse products, AVX-512 variant. A row's outputs for a window of up to
 * 128 batch columns live in zmm registers while its nonzeros stream by (the
 * gathered rows of X are read whole: 512 contiguous bytes per nonzero at
 * N = 128, which the hardware prefetchers stream well from L3); window tails
 * use masked loads and stores, so any N works. Compile-time widths V (zmm
 * per row window) and nonzeros in flight U keep every accumulator in a
 * register. */
#include <immintrin.h>

#include "kernels.h"

static inline __mmask16 lane_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

/* Prefetch distance in nonzeros: the rows gathered PFD entries ahead are
 * requested into L1 (measured ~10% faster at 4096x4096, density 0.1). */
enum { PFD = 12 };

#define SPTI_INLINE static inline __attribute__((always_inline))

/* acc[0..V) += sum over cnt entries e of w_e * src[idx[e]*N + n0 + 0..16V),
 * w_e = w[e], or vals[pos[e]] when w is NULL. U entries in flight. idx has
 * `avail` >= cnt readable entries (the prefetch looks past the row's end
 * into the next rows). */
SPTI_INLINE void gather_axpy(const int32_t *idx, const float *w, const float *vals, const int32_t *pos, int64_t cnt,
                             int64_t avail, const float *src, int64_t N, const __mmask16 *m, __m512 *acc,
                             const int V, const int U) {
    __m512 a[4][8];
    for (int u = 0; u < U; u++)
        for (int v = 0; v < V; v++) a[u][v] = u == 0 ? acc[v] : _mm512_setzero_ps();
    int64_t e = 0;
    for (; e + U <= cnt; e += U)
        for (int u = 0; u < U; u++) {
            if (e + u + PFD < avail) {
                const char *p = (const char *)(src + (int64_t)idx[e + u + PFD] * N);
                for (int v = 0; v < V; v++) _mm_prefetch(p + 64 * v, _MM_HINT_T0);
            }
            const float *x = src + (int64_t)idx[e + u] * N;
            const __m512 wv = _mm512_set1_ps(w ? w[e + u] : vals[pos[e + u]]);
            for (int v = 0; v < V; v++) a[u][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[u][v]);
        }
    for (; e < cnt; e++) {
        const float *x = src + (int64_t)idx[e] * N;
        const __m512 wv = _mm512_set1_ps(w ? w[e] : vals[pos[e]]);
        for (int v = 0; v < V; v++) a[0][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[0][v]);
    }
    for (int u = 1; u < U; u++)
        for (int v = 0; v < V; v++) a[0][v] = _mm512_add_ps(a[0][v], a[u][v]);
    for (int v = 0; v < V; v++) acc[v] = a[0][v];
}

SPTI_INLINE void fwd_window(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, int64_t r0,
                            int64_t r1, int64_t n0, int64_t n1, const int V, const int U) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k0 = W->row_ptr[r];
        __m512 acc[8];
        const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int v = 0; v < V; v++) acc[v] = b;
        gather_axpy(W->col_idx + k0, W->values + k0, NULL, NULL, W->row_ptr[r + 1] - k0, W->nnz - k0, X + n0, N, m,
                    acc, V, U);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(Y + r * N + n0 + 16 * v, m[v], acc[v]);
    }
}

SPTI_INLINE void bwd_x_window(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX,
                              bool accumulate, int64_t c0, int64_t c1, int64_t n0, int64_t n1, const int V,
                              const int U) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    for (int64_t c = c0; c < c1; c++) {
        const int64_t j0 = W->col_ptr[c];
        float *dx = dX + c * N + n0;
        __m512 acc[8];
        for (int v = 0; v < V; v++) acc[v] = accumulate ? _mm512_maskz_loadu_ps(m[v], dx + 16 * v) : _mm512_setzero_ps();
        gather_axpy(W->row_idx + j0, wt ? wt + j0 : NULL, W->values, W->csr_pos + j0, W->col_ptr[c + 1] - j0,
                    W->nnz - j0, dY + n0, N, m, acc, V, U);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(dx + 16 * v, m[v], acc[v]);
    }
}

/* Nonzeros in flight per window width: at least 8 accumulator chains. */
#define SPTI_BY_WIDTH(CALL)                  \
    switch ((n1 - n0 + 15) / 16) {           \
    case 1: CALL(1, 4); break;               \
    case 2: CALL(2, 4); break;               \
    case 3: CALL(3, 3); break;               \
    case 4: CALL(4, 2); break;               \
    case 5: CALL(5, 2); break;               \
    case 6: CALL(6, 2); break;               \
    case 7: CALL(7, 1); break;               \
    default: CALL(8, 1); break;              \
    }

/* Y[r, n0:n1] for r in [r0, r1), n1 - n0 <= 128; Y: out x N, X: in x N. */
void spti_spmm_rows_avx512(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, int64_t r0,
                           int64_t r1, int64_t n0, int64_t n1) {
#define SPTI_CALL(V, U) fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, V, U)
    SPTI_BY_WIDTH(SPTI_CALL)
#undef SPTI_CALL
}

/* dX[c, n0:n1] for c in [c0, c1), n1 - n0 <= 128; dX: in x N, dY: out x N. */
void spti_spmm_t_cols_avx512(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX,
                             bool accumulate, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
#define SPTI_CALL(V, U) bwd_x_window(W, wt, dY, N, dX, accumulate, c0, c1, n0, n1, V, U)
    SPTI_BY_WIDTH(SPTI_CALL)
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

/* dW[k] for the nonzeros of rows [r0, r1), window [n0, n1) (<= 128 wide):
 * dY[r, window] stays in registers; eight nonzeros at once, one accumulator
 * each, then one transposing reduction. */
SPTI_INLINE void sddmm_window(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW,
                              bool accumulate, int64_t r0, int64_t r1, int64_t n0, int64_t n1, const int V) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    for (int64_t r = r0; r < r1; r++) {
        __m512 dy[8];
        for (int v = 0; v < V; v++) dy[v] = _mm512_maskz_loadu_ps(m[v], dY + r * N + n0 + 16 * v);
        const int64_t kend = W->row_ptr[r + 1];
        for (int64_t k = W->row_ptr[r]; k < kend; k += 8) {
            const int64_t g = kend - k < 8 ? kend - k : 8;
            __m512 acc[8];
            for (int i = 0; i < 8; i++) {
                if (k + i + PFD < W->nnz) {
                    const char *p = (const char *)(X + (int64_t)W->col_idx[k + i + PFD] * N + n0);
                    for (int v = 0; v < V; v++) _mm_prefetch(p + 64 * v, _MM_HINT_T0);
                }
                /* Lanes past the row's end repeat its last entry; not stored. */
                const float *x = X + (int64_t)W->col_idx[k + (i < g ? i : g - 1)] * N + n0;
                __m512 a = _mm512_mul_ps(dy[0], _mm512_maskz_loadu_ps(m[0], x));
                for (int v = 1; v < V; v++) a = _mm512_fmadd_ps(dy[v], _mm512_maskz_loadu_ps(m[v], x + 16 * v), a);
                acc[i] = a;
            }
            __m256 s = reduce8(acc);
            const __mmask8 mg = (__mmask8)((1u << g) - 1u);
            if (accumulate) s = _mm256_add_ps(s, _mm256_maskz_loadu_ps(mg, dW + k));
            _mm256_mask_storeu_ps(dW + k, mg, s);
        }
    }
}

void spti_sddmm_rows_avx512(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW,
                            bool accumulate, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
#define SPTI_CALL(V, U) sddmm_window(W, dY, X, N, dW, accumulate, r0, r1, n0, n1, V)
    SPTI_BY_WIDTH(SPTI_CALL)
#undef SPTI_CALL
}

/* Both backward products in one pass over W's columns, for a window
 * [n0, n1) (<= 128 wide): X[c, window] stays in registers while the rows
 * dY[r, window] of column c's nonzeros stream by, each read once for both
 * dX[c] += w_rc dY[r] and the dot product dY[r] . X[c] (stored in CSC
 * order into dWt, or added there when `add_dw`). A nonzero's dot is
 * formed as spti_sddmm_rows_avx512 forms it, so dWt holds its values bit
 * for bit; dX sums each column's nonzeros in one chain (the same order as
 * spti_spmm_t_cols_avx512 at 128-wide windows). At N = 128 on a 600,000 x
 * 600,000 layer of 24 million nonzeros (rows far beyond any cache) this
 * halves the random row traffic of the backward pass: 0.61 s against 1.0 s
 * on 2 Zen 5 cores (bench/results/fused-backward.txt). */
SPTI_INLINE void bwd_fused_window(const spt_csr *W, const float *wt, const float *dY, const float *X, int64_t N,
                                  float *dX, bool accumulate, float *dWt, bool add_dw, int64_t c0, int64_t c1,
                                  int64_t n0, int64_t n1, const int V) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = lane_mask(n1 - n0 - 16 * v);
    for (int64_t c = c0; c < c1; c++) {
        __m512 xc[8], dx[8];
        float *dxr = dX + c * N + n0;
        for (int v = 0; v < V; v++) {
            xc[v] = _mm512_maskz_loadu_ps(m[v], X + c * N + n0 + 16 * v);
            dx[v] = accumulate ? _mm512_maskz_loadu_ps(m[v], dxr + 16 * v) : _mm512_setzero_ps();
        }
        const int64_t jend = W->col_ptr[c + 1];
        for (int64_t j = W->col_ptr[c]; j < jend; j += 8) {
            const int64_t g = jend - j < 8 ? jend - j : 8;
            __m512 acc[8];
            for (int i = 0; i < 8; i++) {
                if (i >= g) {
                    acc[i] = _mm512_setzero_ps();
                    continue;
                }
                if (j + i + PFD < W->nnz) {
                    const char *p = (const char *)(dY + (int64_t)W->row_idx[j + i + PFD] * N + n0);
                    for (int v = 0; v < V; v++) _mm_prefetch(p + 64 * v, _MM_HINT_T0);
                }
                const float *y = dY + (int64_t)W->row_idx[j + i] * N + n0;
                const __m512 w = _mm512_set1_ps(wt[j + i]);
                __m512 yv = _mm512_maskz_loadu_ps(m[0], y);
                __m512 a = _mm512_mul_ps(yv, xc[0]);
                dx[0] = _mm512_fmadd_ps(w, yv, dx[0]);
                for (int v = 1; v < V; v++) {
                    yv = _mm512_maskz_loadu_ps(m[v], y + 16 * v);
                    a = _mm512_fmadd_ps(yv, xc[v], a);
                    dx[v] = _mm512_fmadd_ps(w, yv, dx[v]);
                }
                acc[i] = a;
            }
            __m256 s = reduce8(acc);
            const __mmask8 mg = (__mmask8)((1u << g) - 1u);
            if (add_dw) s = _mm256_add_ps(s, _mm256_maskz_loadu_ps(mg, dWt + j));
            _mm256_mask_storeu_ps(dWt + j, mg, s);
        }
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(dxr + 16 * v, m[v], dx[v]);
    }
}

void spti_bwd_fused_cols_avx512(const spt_csr *W, const float *wt, const float *dY, const float *X, int64_t N,
                                float *dX, bool accumulate, float *dWt, bool add_dw, int64_t c0, int64_t c1,
                                int64_t n0, int64_t n1) {
#define SPTI_CALL(V, U) bwd_fused_window(W, wt, dY, X, N, dX, accumulate, dWt, add_dw, c0, c1, n0, n1, V)
    SPTI_BY_WIDTH(SPTI_CALL)
#undef SPTI_CALL
}
