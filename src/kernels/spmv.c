/* Batch 1: y = W x + b, a sparse matrix-vector product. The batch-tiled
 * product (spmm.c) pays, per nonzero, a broadcast and a masked load of a
 * 1-lane window; here a row is a dot product of its values with the input
 * at its columns, so each nonzero costs one load of x (indexed) and one
 * multiply-add. Rows are split between threads by nonzero count as in
 * spmm.c; each output is summed by one thread in a fixed order (four
 * interleaved partial sums, combined as (s0 + s1) + (s2 + s3)), so results
 * do not depend on the thread count.
 *
 * Two variants, the scalar loop below and AVX-512 gathers (spmv_avx512.c,
 * 16 nonzeros per instruction); which one is faster depends on the
 * processor's gather throughput (docs/performance.md, "Inference"):
 * spti_spmv uses the gathers on rows of 64 nonzeros or more on average on
 * a CPU that runs them fast (Intel), and the scalar loop elsewhere (on AMD
 * Zen 5 the scalar loop is 8% faster at density 0.1 and 35% at 0.01 on the
 * 3072-4000-1000-4000 MLP; Zen 4 runs gathers microcoded).
 *
 * The scalar loop is compiled without auto-vectorisation (CMakeLists.txt):
 * vectorised for SSE it assembles each vector lane by lane from the indexed
 * loads and ran 18% slower (2 threads) to 2x slower (1 thread, one layer). */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

enum { PARALLEL_MIN_NNZ = 1 << 15 };

void spti_spmv_rows_generic(const spt_csr *W, const float *x, const float *bias, float *y, int64_t r0, int64_t r1) {
    const int32_t *col = W->col_idx;
    const float *val = W->values;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t k1 = W->row_ptr[r + 1];
        int64_t k = W->row_ptr[r];
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (; k + 4 <= k1; k += 4) {
            s0 += val[k] * x[col[k]];
            s1 += val[k + 1] * x[col[k + 1]];
            s2 += val[k + 2] * x[col[k + 2]];
            s3 += val[k + 3] * x[col[k + 3]];
        }
        for (; k < k1; k++) s0 += val[k] * x[col[k]];
        y[r] = (bias ? bias[r] : 0.0f) + ((s0 + s1) + (s2 + s3));
    }
}

static int g_variant = -1; /* -1: by the CPU; 0: scalar; 1: gathers (tests and benchmarks) */

void spti_spmv_set_variant(int variant) { g_variant = variant; }

void spti_spmv(const spt_csr *W, const float *x, const float *bias, float *y) {
    /* Gathers pay off on rows long enough for their 16-wide steps, on a CPU
     * that runs them fast. */
    const bool gathers = spti_simd_level() >= 2 &&
                         (g_variant == 1 || (g_variant < 0 && spti_cpu_fast_gathers() && W->nnz >= 64 * W->rows));
    const int threads = W->nnz < PARALLEL_MIN_NNZ ? 1 : spti_num_threads();
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int p = omp_get_num_threads(), t = omp_get_thread_num();
#else
        const int p = 1, t = 0;
#endif
        const int64_t r0 = spti_split_point(W->row_ptr, W->rows, p, t), r1 = spti_split_point(W->row_ptr, W->rows, p, t + 1);
        if (gathers) spti_spmv_rows_avx512(W, x, bias, y, r0, r1);
        else spti_spmv_rows_generic(W, x, bias, y, r0, r1);
    }
}
