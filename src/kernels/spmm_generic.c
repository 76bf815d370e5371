/* Sparse products, portable C variant (any x86-64 or other CPU). Same
 * contract as the SIMD variants: rows/columns of a range, batch window
 * [n0, n1). The compiler vectorizes the inner loops over the batch. */
#include <string.h>

#include "kernels.h"

/* Y[r, n0:n1] = bias[r] + sum_k W[r, c_k] X[c_k, n0:n1] for r in [r0, r1). */
void spti_spmm_rows_generic(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, int64_t r0,
                            int64_t r1, int64_t n0, int64_t n1) {
    const int64_t len = n1 - n0;
    for (int64_t r = r0; r < r1; r++) {
        float *restrict y = Y + r * N + n0;
        const float b = bias ? bias[r] : 0.0f;
        for (int64_t n = 0; n < len; n++) y[n] = b;
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
            const float w = W->values[k];
            const float *restrict x = X + (int64_t)W->col_idx[k] * N + n0;
            for (int64_t n = 0; n < len; n++) y[n] += w * x[n];
        }
    }
}

/* dX[c, n0:n1] (=|+=) sum_j W[r_j, c] dY[r_j, n0:n1] for c in [c0, c1). */
void spti_spmm_t_cols_generic(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX,
                              bool accumulate, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
    const int64_t len = n1 - n0;
    for (int64_t c = c0; c < c1; c++) {
        float *restrict dx = dX + c * N + n0;
        if (!accumulate) memset(dx, 0, (size_t)len * sizeof(float));
        for (int64_t j = W->col_ptr[c]; j < W->col_ptr[c + 1]; j++) {
            const float w = wt ? wt[j] : W->values[W->csr_pos[j]];
            const float *restrict dy = dY + (int64_t)W->row_idx[j] * N + n0;
            for (int64_t n = 0; n < len; n++) dx[n] += w * dy[n];
        }
    }
}

/* dW[k] (=|+=) dY[r, n0:n1] . X[c_k, n0:n1] for the nonzeros of rows [r0, r1). */
void spti_sddmm_rows_generic(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW,
                             bool accumulate, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
    const int64_t len = n1 - n0;
    for (int64_t r = r0; r < r1; r++) {
        const float *restrict dy = dY + r * N + n0;
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
            const float *restrict x = X + (int64_t)W->col_idx[k] * N + n0;
            /* Four partial sums: shorter dependency chains, same result for
             * a given window on every run. */
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            int64_t n = 0;
            for (; n + 4 <= len; n += 4) {
                a0 += dy[n] * x[n];
                a1 += dy[n + 1] * x[n + 1];
                a2 += dy[n + 2] * x[n + 2];
                a3 += dy[n + 3] * x[n + 3];
            }
            for (; n < len; n++) a0 += dy[n] * x[n];
            const float acc = (a0 + a1) + (a2 + a3);
            dW[k] = accumulate ? dW[k] + acc : acc;
        }
    }
}
