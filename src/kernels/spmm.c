/* OpenMP drivers of the sparse products: balanced static ranges (by nonzero
 * count, not rows), an L2-sized batch window, and the SIMD variant chosen at
 * run time. Every output element is computed by one thread in a fixed order,
 * so results do not depend on the thread count. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

/* Bytes of the gathered operand panel (rows x window floats) meant to stay in
 * a core's L2 (1 MiB here) while a thread sweeps its range. */
enum { PANEL_BYTES = 256 * 1024, MIN_WINDOW = 32, PARALLEL_MIN_FLOPS = 1 << 16 };

/* Batch window so that `rows` x window floats fit PANEL_BYTES: a multiple
 * of 32 (one pass of the 2-register SIMD step), at least 32, at most N. */
static int64_t window_for(int64_t rows, int64_t N) {
    int64_t w = rows > 0 ? PANEL_BYTES / (rows * (int64_t)sizeof(float)) : N;
    w = w / MIN_WINDOW * MIN_WINDOW;
    if (w < MIN_WINDOW) w = MIN_WINDOW;
    /* Split the batch into windows of nearly equal width. */
    int64_t nwin = (N + w - 1) / w;
    w = (N + nwin - 1) / nwin;
    return (w + 15) / 16 * 16;
}

static int threads_for(int64_t nnz, int64_t N) {
    int t = spti_num_threads();
    return (double)nnz * (double)N < PARALLEL_MIN_FLOPS ? 1 : t;
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
static int thread_count(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

typedef void (*rows_fn)(const spt_csr *, const float *, int64_t, const float *, float *, int64_t, int64_t, int64_t,
                        int64_t);
typedef void (*cols_fn)(const spt_csr *, const float *, const float *, int64_t, float *, bool, int64_t, int64_t,
                        int64_t, int64_t);
typedef void (*sddmm_fn)(const spt_csr *, const float *, const float *, int64_t, float *, bool, int64_t, int64_t,
                         int64_t, int64_t);

void spti_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y) {
    const int lvl = spti_simd_level();
    const rows_fn f = lvl >= 2 ? spti_spmm_rows_avx512 : lvl == 1 ? spti_spmm_rows_avx2 : spti_spmm_rows_generic;
    const int64_t win = window_for(W->cols, N);
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        const int p = thread_count(), t = thread_id();
        const int64_t r0 = spti_split_point(W->row_ptr, W->rows, p, t);
        const int64_t r1 = spti_split_point(W->row_ptr, W->rows, p, t + 1);
        for (int64_t n0 = 0; n0 < N; n0 += win) f(W, X, N, bias, Y, r0, r1, n0, n0 + win < N ? n0 + win : N);
    }
}

void spti_spmm_t_vals(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX, bool accumulate) {
    const int lvl = spti_simd_level();
    const cols_fn f = lvl >= 2 ? spti_spmm_t_cols_avx512 : lvl == 1 ? spti_spmm_t_cols_avx2 : spti_spmm_t_cols_generic;
    const int64_t win = window_for(W->rows, N);
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        const int p = thread_count(), t = thread_id();
        const int64_t c0 = spti_split_point(W->col_ptr, W->cols, p, t);
        const int64_t c1 = spti_split_point(W->col_ptr, W->cols, p, t + 1);
        for (int64_t n0 = 0; n0 < N; n0 += win) f(W, wt, dY, N, dX, accumulate, c0, c1, n0, n0 + win < N ? n0 + win : N);
    }
}

void spti_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate) {
    spti_spmm_t_vals(W, NULL, dY, N, dX, accumulate);
}

void spti_csr_gather_t(const spt_csr *W, float *wt) {
    const int32_t *pos = W->csr_pos;
    const float *v = W->values;
#pragma omp parallel for schedule(static) num_threads(threads_for(W->nnz, 64))
    for (int64_t j = 0; j < W->nnz; j++) wt[j] = v[pos[j]];
}

void spti_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate) {
    const int lvl = spti_simd_level();
    const sddmm_fn f = lvl >= 2 ? spti_sddmm_rows_avx512 : lvl == 1 ? spti_sddmm_rows_avx2 : spti_sddmm_rows_generic;
    /* One window over the whole batch: each nonzero's dot product is reduced
     * once (windows would each pay a horizontal reduction and a dW update,
     * which costs more than streaming the X rows from L3). */
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        const int p = thread_count(), t = thread_id();
        const int64_t r0 = spti_split_point(W->row_ptr, W->rows, p, t);
        const int64_t r1 = spti_split_point(W->row_ptr, W->rows, p, t + 1);
        f(W, dY, X, N, dW, accumulate, r0, r1, 0, N);
    }
}

void spti_sparse_backward(const spt_csr *W, const float *X, const float *dY, int64_t N, float *dX, bool accumulate_dx,
                          float *dW, bool accumulate_dw) {
    if (spti_simd_level() < 2) {
        spti_sddmm(W, dY, X, N, dW, accumulate_dw);
        spti_spmm_t(W, dY, N, dX, accumulate_dx);
        return;
    }
    /* Windows of at most 128 (X[c,:] and dX[c,:] in 16 registers); later
     * windows add their part of each dot product to dW. */
    const int64_t nwin = (N + 127) / 128, win = ((N + nwin - 1) / nwin + 15) / 16 * 16;
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        const int p = thread_count(), t = thread_id();
        const int64_t c0 = spti_split_point(W->col_ptr, W->cols, p, t);
        const int64_t c1 = spti_split_point(W->col_ptr, W->cols, p, t + 1);
        for (int64_t n0 = 0; n0 < N; n0 += win)
            spti_backward_cols_avx512(W, dY, X, N, dX, accumulate_dx, dW, accumulate_dw || n0 > 0, c0, c1, n0,
                                      n0 + win < N ? n0 + win : N);
    }
}
