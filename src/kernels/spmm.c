/* Sparse products, portable version (the SIMD versions refine these). */
#include <string.h>

#include "kernels.h"

/* Y[out x N] = W[out x in] . X[in x N] + bias: one row of Y per task. */
void spti_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y) {
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t r = 0; r < W->rows; r++) {
        float *y = Y + r * N;
        float b = bias ? bias[r] : 0.0f;
        for (int64_t n = 0; n < N; n++) y[n] = b;
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
            const float w = W->values[k];
            const float *x = X + (int64_t)W->col_idx[k] * N;
            for (int64_t n = 0; n < N; n++) y[n] += w * x[n];
        }
    }
}

/* dX[in x N] (=|+=) W^T . dY[out x N]: one column of W (row of dX) per task. */
void spti_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate) {
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t c = 0; c < W->cols; c++) {
        float *dx = dX + c * N;
        if (!accumulate) memset(dx, 0, (size_t)N * sizeof(float));
        for (int64_t j = W->col_ptr[c]; j < W->col_ptr[c + 1]; j++) {
            const float w = W->values[W->csr_pos[j]];
            const float *dy = dY + (int64_t)W->row_idx[j] * N;
            for (int64_t n = 0; n < N; n++) dx[n] += w * dy[n];
        }
    }
}

/* dW[k] (=|+=) dY[r,:] . X[c,:] for each nonzero k = (r, c). */
void spti_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate) {
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t r = 0; r < W->rows; r++) {
        const float *dy = dY + r * N;
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
            const float *x = X + (int64_t)W->col_idx[k] * N;
            float acc = 0.0f;
            for (int64_t n = 0; n < N; n++) acc += dy[n] * x[n];
            dW[k] = accumulate ? dW[k] + acc : acc;
        }
    }
}
