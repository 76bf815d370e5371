/* OpenMP drivers of the sparse products: balanced static ranges (by nonzero
 * count, not rows), batch windows of at most 128 columns, and the SIMD
 * variant chosen at run time. Every output element is computed by one thread
 * in a fixed order, so results do not depend on the thread count.
 *
 * Why 128-wide windows rather than narrow L2-resident panels: at N = 128 a
 * gathered row (512 bytes) streams from L3 with prefetch at ~11 cycles per
 * nonzero on Zen 5, while 32-wide windows over a 512 KiB L2 panel pay the
 * index, broadcast and (for SDDMM) reduction overheads four times and
 * measured 13-20 cycles. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

enum { MAX_WINDOW = 128, PARALLEL_MIN_FLOPS = 1 << 16 };

/* Batch windows of nearly equal width, at most 128 (a row's window of
 * outputs fits in registers), a multiple of 16 where possible. */
static int64_t window_for(int64_t N) {
    const int64_t nwin = (N + MAX_WINDOW - 1) / MAX_WINDOW;
    const int64_t w = ((N + nwin - 1) / nwin + 15) / 16 * 16;
    return w < MAX_WINDOW ? w : MAX_WINDOW;
}

/* Not narrowed to the L2 (issue 17): windows sized so that a window of the
 * gathered operand fits half the L2 found at run time (32 wide for 4096
 * rows on a 1 MiB L2) measured slower on the Zen 5 development machine
 * for every product, one thread, 4096 x 4096, N = 128: forward + dX + dW
 * 26.7-27.7 ms with 128-wide windows against 27.3-28.6 (forward and dX
 * narrowed), 32.5-32.6 (fused backward narrowed) and 31.9-33.6 (both) at
 * density 0.1; 2.5-3.0 ms against 2.6-3.4 at 0.01. */
int64_t spti_spmm_window(int64_t rows, int64_t N) {
    (void)rows;
    return window_for(N);
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

/* This thread's part [*lo, *hi) of a balanced split (spti_split_point) of
 * the n rows or columns whose nonzeros start at ptr; inside a parallel
 * region. */
static void thread_part(const int64_t *ptr, int64_t n, int64_t *lo, int64_t *hi) {
    const int p = thread_count(), t = thread_id();
    *lo = spti_split_point(ptr, n, p, t);
    *hi = spti_split_point(ptr, n, p, t + 1);
}

/* End of the batch window [n0, n0 + win) clipped to N. */
static int64_t window_end(int64_t n0, int64_t win, int64_t N) { return n0 + win < N ? n0 + win : N; }

typedef void (*rows_fn)(const spt_csr *, const float *, int64_t, const float *, float *, int64_t, int64_t, int64_t,
                        int64_t);
typedef void (*cols_fn)(const spt_csr *, const float *, const float *, int64_t, float *, bool, int64_t, int64_t,
                        int64_t, int64_t);
typedef void (*sddmm_fn)(const spt_csr *, const float *, const float *, int64_t, float *, bool, int64_t, int64_t,
                         int64_t, int64_t);

void spti_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y) {
    const int lvl = spti_simd_level();
    const rows_fn f = lvl >= 2 ? spti_spmm_rows_avx512 : lvl == 1 ? spti_spmm_rows_avx2 : spti_spmm_rows_generic;
    const int64_t win = window_for(N);
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        int64_t r0, r1;
        thread_part(W->row_ptr, W->rows, &r0, &r1);
        for (int64_t n0 = 0; n0 < N; n0 += win) f(W, X, N, bias, Y, r0, r1, n0, window_end(n0, win, N));
    }
}

void spti_spmm_t_vals(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX, bool accumulate) {
    const int lvl = spti_simd_level();
    const cols_fn f = lvl >= 2 ? spti_spmm_t_cols_avx512 : lvl == 1 ? spti_spmm_t_cols_avx2 : spti_spmm_t_cols_generic;
    const int64_t win = window_for(N);
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        int64_t c0, c1;
        thread_part(W->col_ptr, W->cols, &c0, &c1);
        for (int64_t n0 = 0; n0 < N; n0 += win) f(W, wt, dY, N, dX, accumulate, c0, c1, n0, window_end(n0, win, N));
    }
}

void spti_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate) {
    spti_spmm_t_vals(W, NULL, dY, N, dX, accumulate);
}

void spti_csr_gather_t(const spt_csr *W, float *wt) {
    const int32_t *pos = W->csr_pos;
    const float *v = W->values;
    /* (AVX-512 gathers measured slower than scalar loads here.) */
#pragma omp parallel for schedule(static) num_threads(threads_for(W->nnz, 64))
    for (int64_t j = 0; j < W->nnz; j++) wt[j] = v[pos[j]];
}

void spti_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate) {
    const int lvl = spti_simd_level();
    const sddmm_fn f = lvl >= 2 ? spti_sddmm_rows_avx512 : lvl == 1 ? spti_sddmm_rows_avx2 : spti_sddmm_rows_generic;
    const int64_t win = lvl >= 1 ? window_for(N) : N;
    if (N <= 0) { /* empty sums */
        if (!accumulate)
            for (int64_t k = 0; k < W->nnz; k++) dW[k] = 0.0f;
        return;
    }
#pragma omp parallel num_threads(threads_for(W->nnz, N))
    {
        int64_t r0, r1;
        thread_part(W->row_ptr, W->rows, &r0, &r1);
        /* Later windows add their part of each dot product to the first's. */
        for (int64_t n0 = 0; n0 < N; n0 += win)
            f(W, dY, X, N, dW, accumulate || n0 > 0, r0, r1, n0, window_end(n0, win, N));
    }
}


bool spti_backward_fused(const spt_csr *W, const float *wt, const float *dY, const float *X, int64_t N, float *dX,
                         bool accumulate_dx, float *dW, bool accumulate_dw, float *dWt) {
    if (spti_simd_level() < 2 || N <= 0) return false;
    const int64_t win = window_for(N);
    const int nt = threads_for(W->nnz, N);
#pragma omp parallel num_threads(nt)
    {
        int64_t c0, c1;
        thread_part(W->col_ptr, W->cols, &c0, &c1);
        for (int64_t n0 = 0; n0 < N; n0 += win)
            spti_bwd_fused_cols_avx512(W, wt, dY, X, N, dX, accumulate_dx, dWt, n0 > 0, c0, c1, n0,
                                       window_end(n0, win, N));
    }
    const int32_t *pos = W->csr_pos;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < W->nnz; j++) dW[pos[j]] = accumulate_dw ? dW[pos[j]] + dWt[j] : dWt[j];
    return true;
}
