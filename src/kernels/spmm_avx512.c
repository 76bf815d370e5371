/* Sparse products, AVX-512 variant. A row's outputs for a window of the
 * batch live in zmm registers while its nonzeros stream by; four nonzeros
 * are in flight at once (separate accumulators) so the FMA latency is
 * hidden; window tails use masked loads and stores (any N). */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* acc[0..1] (32 floats) += sum over `cnt` entries of w[e] * src[idx[e]*N + n]
 * (rows of src gathered by idx), with masks m0/m1 for the two vectors. The
 * weight comes from w[e] or, when w is NULL, from vals[pos[e]]. */
static inline void gather_axpy32(const int32_t *idx, const float *w, const float *vals, const int32_t *pos,
                                 int64_t cnt, const float *src, int64_t N, __mmask16 m0, __mmask16 m1, __m512 *o0,
                                 __m512 *o1) {
    __m512 a0 = *o0, a1 = *o1;
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
    __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
    int64_t e = 0;
#define SPTI_W(i) (w ? w[i] : vals[pos[i]])
    for (; e + 4 <= cnt; e += 4) {
        const float *x0 = src + (int64_t)idx[e] * N, *x1 = src + (int64_t)idx[e + 1] * N;
        const float *x2 = src + (int64_t)idx[e + 2] * N, *x3 = src + (int64_t)idx[e + 3] * N;
        const __m512 w0 = _mm512_set1_ps(SPTI_W(e)), w1 = _mm512_set1_ps(SPTI_W(e + 1));
        const __m512 w2 = _mm512_set1_ps(SPTI_W(e + 2)), w3 = _mm512_set1_ps(SPTI_W(e + 3));
        a0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m0, x0), a0);
        a1 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m1, x0 + 16), a1);
        b0 = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m0, x1), b0);
        b1 = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m1, x1 + 16), b1);
        c0 = _mm512_fmadd_ps(w2, _mm512_maskz_loadu_ps(m0, x2), c0);
        c1 = _mm512_fmadd_ps(w2, _mm512_maskz_loadu_ps(m1, x2 + 16), c1);
        d0 = _mm512_fmadd_ps(w3, _mm512_maskz_loadu_ps(m0, x3), d0);
        d1 = _mm512_fmadd_ps(w3, _mm512_maskz_loadu_ps(m1, x3 + 16), d1);
    }
    for (; e < cnt; e++) {
        const float *x0 = src + (int64_t)idx[e] * N;
        const __m512 w0 = _mm512_set1_ps(SPTI_W(e));
        a0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m0, x0), a0);
        a1 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m1, x0 + 16), a1);
    }
#undef SPTI_W
    *o0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
    *o1 = _mm512_add_ps(_mm512_add_ps(a1, b1), _mm512_add_ps(c1, d1));
}

/* Y[r, n0:n1] for r in [r0, r1); Y: out x N, X: in x N. */
void spti_spmm_rows_avx512(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, int64_t r0,
                           int64_t r1, int64_t n0, int64_t n1) {
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k0 = W->row_ptr[r], cnt = W->row_ptr[r + 1] - k0;
        const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int64_t n = n0; n < n1; n += 32) {
            const __mmask16 m0 = tail_mask(n1 - n), m1 = tail_mask(n1 - n - 16 > 0 ? n1 - n - 16 : 0);
            __m512 a0 = b, a1 = b;
            gather_axpy32(W->col_idx + k0, W->values + k0, NULL, NULL, cnt, X + n, N, m0, m1, &a0, &a1);
            _mm512_mask_storeu_ps(Y + r * N + n, m0, a0);
            _mm512_mask_storeu_ps(Y + r * N + n + 16, m1, a1);
        }
    }
}


/* Y[r, n0:n0+16V] for rows [r0, r1) with U nonzeros in flight (V*U
 * accumulators). */
static inline __attribute__((always_inline)) void fwd_window(const spt_csr *W, const float *X, int64_t N,
                                                             const float *bias, float *Y, int64_t r0, int64_t r1,
                                                             int64_t n0, int64_t n1, const int V, const int U) {
    __mmask16 m[8];
    for (int v = 0; v < V; v++) m[v] = tail_mask(n1 - n0 - 16 * v > 0 ? n1 - n0 - 16 * v : 0);
    const int32_t *col = W->col_idx;
    const float *val = W->values;
    for (int64_t r = r0; r < r1; r++) {
        __m512 a[4][8];
        const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int u = 0; u < U; u++)
            for (int v = 0; v < V; v++) a[u][v] = u == 0 ? b : _mm512_setzero_ps();
        int64_t k = W->row_ptr[r];
        const int64_t kend = W->row_ptr[r + 1];
        for (; k + U <= kend; k += U)
            for (int u = 0; u < U; u++) {
                const float *x = X + (int64_t)col[k + u] * N + n0;
                const __m512 w = _mm512_set1_ps(val[k + u]);
                for (int v = 0; v < V; v++) a[u][v] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[u][v]);
            }
        for (; k < kend; k++) {
            const float *x = X + (int64_t)col[k] * N + n0;
            const __m512 w = _mm512_set1_ps(val[k]);
            for (int v = 0; v < V; v++) a[0][v] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m[v], x + 16 * v), a[0][v]);
        }
        for (int u = 1; u < U; u++)
            for (int v = 0; v < V; v++) a[0][v] = _mm512_add_ps(a[0][v], a[u][v]);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(Y + r * N + n0 + 16 * v, m[v], a[0][v]);
    }
}

void spti_spmm_rows_avx512_v(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, int64_t r0,
                           int64_t r1, int64_t n0, int64_t n1, int vu) {
    switch (vu) {
    case 84: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 8, 1); break;
    case 82: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 8, 2); break;
    case 42: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 4, 2); break;
    case 44: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 4, 4); break;
    case 24: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 2, 4); break;
    default: fwd_window(W, X, N, bias, Y, r0, r1, n0, n1, 1, 8); break;
    }
}

/* dX[c, n0:n1] for c in [c0, c1); dX: in x N, dY: out x N. */
void spti_spmm_t_cols_avx512(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX,
                             bool accumulate, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
    for (int64_t c = c0; c < c1; c++) {
        const int64_t j0 = W->col_ptr[c], cnt = W->col_ptr[c + 1] - j0;
        float *dx = dX + c * N;
        for (int64_t n = n0; n < n1; n += 32) {
            const __mmask16 m0 = tail_mask(n1 - n), m1 = tail_mask(n1 - n - 16 > 0 ? n1 - n - 16 : 0);
            __m512 a0 = accumulate ? _mm512_maskz_loadu_ps(m0, dx + n) : _mm512_setzero_ps();
            __m512 a1 = accumulate ? _mm512_maskz_loadu_ps(m1, dx + n + 16) : _mm512_setzero_ps();
            gather_axpy32(W->row_idx + j0, wt ? wt + j0 : NULL, W->values, W->csr_pos + j0, cnt, dY + n, N, m0, m1,
                          &a0, &a1);
            _mm512_mask_storeu_ps(dx + n, m0, a0);
            _mm512_mask_storeu_ps(dx + n + 16, m1, a1);
        }
    }
}

/* Sum of each of eight vectors: lane i of the result is the sum of v[i]. */
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

/* dW[k] for the nonzeros of rows [r0, r1), window [n0, n1): eight nonzeros
 * of a row at once, one accumulator each, then one transposing reduction. */
void spti_sddmm_rows_avx512(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW,
                            bool accumulate, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    for (int64_t r = r0; r < r1; r++) {
        const float *dy = dY + r * N;
        const int64_t kend = W->row_ptr[r + 1];
        for (int64_t k = W->row_ptr[r]; k < kend; k += 8) {
            const int64_t g = kend - k < 8 ? kend - k : 8;
            const float *x[8];
            for (int i = 0; i < 8; i++) x[i] = X + (int64_t)W->col_idx[k + (i < g ? i : 0)] * N;
            __m512 acc[8];
            for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t n = n0; n < n1; n += 16) {
                const __mmask16 m = tail_mask(n1 - n);
                const __m512 d = _mm512_maskz_loadu_ps(m, dy + n);
                for (int i = 0; i < 8; i++) acc[i] = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, x[i] + n), acc[i]);
            }
            __m256 s = reduce8(acc);
            const __mmask8 mg = (__mmask8)((1u << g) - 1u);
            if (accumulate) s = _mm256_add_ps(s, _mm256_maskz_loadu_ps(mg, dW + k));
            _mm256_mask_storeu_ps(dW + k, mg, s);
        }
    }
}
