/* Drivers of the constant fan-in (ELL) products (ell.h): the thread
 * split, the batch slices and the sum of the slices' partial dW, and the
 * fallback to the CSR kernels without AVX-512. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ell.h"

enum { MAX_WINDOW = 128, PARALLEL_MIN_FLOPS = 1 << 16 };

bool spti_csr_fanin(const spt_csr *W, int64_t *f) {
    if (!W || W->rows < 1) return false;
    const int64_t first = W->row_ptr[1] - W->row_ptr[0];
    if (first < 1 || W->nnz != first * W->rows) return false;
    for (int64_t r = 1; r <= W->rows; r++)
        if (W->row_ptr[r] != r * first) return false;
    if (f) *f = first;
    return true;
}

static int threads_for(int64_t nnz, int64_t N, int64_t tasks) {
    int t = spti_num_threads();
    if ((double)nnz * (double)N < PARALLEL_MIN_FLOPS) return 1;
    return tasks < t ? (int)(tasks > 0 ? tasks : 1) : t;
}

/* Batch windows of nearly equal width, at most 128, multiples of 16. */
static int64_t window_for(int64_t N) {
    const int64_t nwin = (N + MAX_WINDOW - 1) / MAX_WINDOW;
    return nwin ? ((N + nwin - 1) / nwin + 15) / 16 * 16 : 16;
}

static void my_rows(int64_t rows, int64_t *r0, int64_t *r1) {
#ifdef _OPENMP
    const int p = omp_get_num_threads(), t = omp_get_thread_num();
#else
    const int p = 1, t = 0;
#endif
    *r0 = rows * t / p; /* every row costs the same */
    *r1 = rows * (t + 1) / p;
}

void spti_ell_forward(const spt_csr *W, int64_t f, const float *X, int64_t N, const float *bias, float *Y) {
    if (spti_simd_level() < 2) {
        spti_spmm(W, X, N, bias, Y);
        return;
    }
    const int64_t rows = W->rows, win = window_for(N);
#pragma omp parallel num_threads(threads_for(W->nnz, N, rows))
    {
        int64_t r0, r1;
        my_rows(rows, &r0, &r1);
        for (int64_t n0 = 0; n0 < N; n0 += win)
            spti_ell_fwd_avx512(W->col_idx, W->values, rows, f, X, N, bias, Y, r0, r1, n0, n0 + win < N ? n0 + win : N);
    }
}

void spti_ell_backward(const spt_csr *W, int64_t f, const float *X, const float *dY, int64_t N, float *dX,
                       bool accumulate_dx, float *dW, bool accumulate_dw) {
    if (spti_simd_level() < 2 || N <= 0) {
        if (dW) spti_sddmm(W, dY, X, N, dW, accumulate_dw);
        if (dX) spti_spmm_t(W, dY, N, dX, accumulate_dx);
        return;
    }
    const int64_t rows = W->rows, win = window_for(N);
    if (dW) {
        /* Rows split evenly; a row's windows add up in window order. */
#pragma omp parallel num_threads(threads_for(W->nnz, N, rows))
        {
            int64_t r0, r1;
            my_rows(rows, &r0, &r1);
            for (int64_t n0 = 0; n0 < N; n0 += win)
                spti_ell_dw_avx512(W->col_idx, rows, f, X, dY, N, dW, accumulate_dw || n0 > 0, r0, r1, n0,
                                   n0 + win < N ? n0 + win : N);
        }
    }
    if (dX) {
        /* No transposed index: each slice of the batch belongs to one
         * thread, which scatters every row's entries into its slice of dX. */
        const int64_t S = (N + SPTI_ELL_SLICE - 1) / SPTI_ELL_SLICE;
#pragma omp parallel for schedule(static, 1) num_threads(threads_for(W->nnz, N, S))
        for (int64_t s = 0; s < S; s++) {
            const int64_t n0 = s * SPTI_ELL_SLICE, n1 = n0 + SPTI_ELL_SLICE < N ? n0 + SPTI_ELL_SLICE : N;
            spti_ell_dx_avx512(W->col_idx, W->values, rows, W->cols, f, dY, N, dX, accumulate_dx, n0, n1);
        }
    }
}
