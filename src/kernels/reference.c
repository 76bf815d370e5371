/* Naive reference kernels: the specification the fast kernels are tested
 * against. Plain loops, double accumulation, no threads. */
#include "kernels.h"

/* Y[out x N] = W . X[in x N] + bias */
void spti_ref_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y) {
    for (int64_t r = 0; r < W->rows; r++)
        for (int64_t n = 0; n < N; n++) {
            double acc = bias ? bias[r] : 0.0;
            for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++)
                acc += (double)W->values[k] * X[(int64_t)W->col_idx[k] * N + n];
            Y[r * N + n] = (float)acc;
        }
}

/* dX[in x N] (=|+=) W^T . dY[out x N] */
void spti_ref_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate) {
    if (!accumulate)
        for (int64_t i = 0; i < W->cols * N; i++) dX[i] = 0.0f;
    for (int64_t r = 0; r < W->rows; r++)
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++)
            for (int64_t n = 0; n < N; n++) dX[(int64_t)W->col_idx[k] * N + n] += W->values[k] * dY[r * N + n];
}

/* dW[k] (=|+=) dY[r,:] . X[c,:] at each nonzero k = (r, c) */
void spti_ref_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate) {
    for (int64_t r = 0; r < W->rows; r++)
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++) acc += (double)dY[r * N + n] * X[(int64_t)W->col_idx[k] * N + n];
            dW[k] = accumulate ? dW[k] + (float)acc : (float)acc;
        }
}
