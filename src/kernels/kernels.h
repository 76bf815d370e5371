/*
 * Internal compute kernels. Layout convention everywhere: activations are
 * feature-major with the batch contiguous, i.e. a matrix "F x N" is F rows of
 * N contiguous floats (row stride N). N is the batch (or, for convolutions,
 * H*W*batch). A weight W is "out x in", row-major (dense) or CSR (sparse).
 *
 * The kernels assume validated arguments (shapes checked by the caller) and
 * do not report errors, except the cblas wrappers, which refuse dimensions
 * above INT_MAX with SPT_ERR_SIZE. Results are deterministic for a given
 * thread count: every output element is written by one thread, in a fixed
 * order.
 */
#ifndef SPTI_KERNELS_H
#define SPTI_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../tensor/csr.h"

/* ---- sparse products (CSR weight) ---------------------------------------- */

/* Y[out x N] = W[out x in] . X[in x N] (+ bias[out] broadcast along N; bias may be NULL).
 * Y is overwritten. */
void spti_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y);
/* The batch window of the products for a batch of N whose nonzeros gather
 * rows of `rows` floats x N: at most 128 (spmm.c says why it is not
 * narrowed to the L2). */
int64_t spti_spmm_window(int64_t rows, int64_t N);

/* Batch 1 (spmv.c): y[out] = W . x[in] (+ bias; may be NULL), overwritten.
 * spti_spmm with N = 1 gives the same values up to the order of the sums. */
void spti_spmv(const spt_csr *W, const float *x, const float *bias, float *y);
/* The variant spti_spmv runs: -1 by the CPU and the rows (spmv.c), 0 scalar,
 * 1 AVX-512 gathers when the CPU has them (tests, benchmarks). Not thread-safe. */
void spti_spmv_set_variant(int variant);
void spti_spmv_rows_generic(const spt_csr *W, const float *x, const float *bias, float *y, int64_t r0, int64_t r1);
void spti_spmv_rows_avx512(const spt_csr *W, const float *x, const float *bias, float *y, int64_t r0, int64_t r1);

/* dX[in x N] (=|+=) W^T . dY[out x N], through W's transposed index. */
void spti_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate);

/* dW[k] (=|+=) sum_n dY[r,n] * X[c,n] for each nonzero k = (r, c) of W (SDDMM).
 * dW has W->nnz entries in CSR order. */
void spti_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate);

/* dX[in x N] (=|+=) W^T . dY like spti_spmm_t, reading W's values in
 * transposed (CSC) order from wt[W->nnz] (wt[j] = values[csr_pos[j]], see
 * spti_csr_gather_t) instead of through csr_pos. wt may be NULL. */
void spti_spmm_t_vals(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX, bool accumulate);
/* wt[j] = W->values[W->csr_pos[j]] for every j < nnz (parallel). */
void spti_csr_gather_t(const spt_csr *W, float *wt);

/* Both backward products in one pass over W's columns: dX (=|+=) W^T . dY
 * and dW[nnz] (=|+=, CSR order) the SDDMM, each row of dY read once for
 * both. wt[nnz] holds the values in CSC order (spti_csr_gather_t); dWt[nnz]
 * is scratch (the gradient in CSC order before its scatter to CSR order).
 * AVX-512 only: returns false, having done nothing, on other machines (the
 * caller runs spti_sddmm and spti_spmm_t_vals). Each dW entry is computed
 * by one thread, so results do not depend on the thread count. */
bool spti_backward_fused(const spt_csr *W, const float *wt, const float *dY, const float *X, int64_t N, float *dX,
                         bool accumulate_dx, float *dW, bool accumulate_dw, float *dWt);

/* ---- kernel internals: one SIMD variant over a part of the work ------------
 * Each variant computes the rows [r0, r1) (columns [c0, c1) for _t) of its
 * product restricted to the batch window [n0, n1) and is called by the
 * OpenMP drivers in spmm.c with balanced ranges and L2-sized windows.
 * Suffixes: _generic (plain C), _avx2 (AVX2+FMA), _avx512 (AVX-512F/BW/VL/DQ);
 * the SIMD ones only after spti_simd_level() allows them. */
#define SPTI_DECLARE_SPARSE_VARIANT(sfx)                                                                      \
    void spti_spmm_rows_##sfx(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y,      \
                              int64_t r0, int64_t r1, int64_t n0, int64_t n1);                                \
    void spti_spmm_t_cols_##sfx(const spt_csr *W, const float *wt, const float *dY, int64_t N, float *dX,   \
                                bool accumulate, int64_t c0, int64_t c1, int64_t n0, int64_t n1);              \
    void spti_sddmm_rows_##sfx(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW,     \
                               bool accumulate, int64_t r0, int64_t r1, int64_t n0, int64_t n1);
SPTI_DECLARE_SPARSE_VARIANT(generic)
SPTI_DECLARE_SPARSE_VARIANT(avx2)
SPTI_DECLARE_SPARSE_VARIANT(avx512)
/* The fused backward (spti_backward_fused) over columns [c0, c1), window
 * [n0, n1): dWt in CSC order, stored (or added, add_dw). */
void spti_bwd_fused_cols_avx512(const spt_csr *W, const float *wt, const float *dY, const float *X, int64_t N,
                                float *dX, bool accumulate, float *dWt, bool add_dw, int64_t c0, int64_t c1,
                                int64_t n0, int64_t n1);

/* Split [0, n) into `parts` ranges of about equal cost, where the cost of
 * [0, i) is ptr[i] + i (nonzeros plus one per row for its output); part p is
 * [spti_split_point(ptr, n, parts, p), spti_split_point(.., p + 1)). */
int64_t spti_split_point(const int64_t *ptr, int64_t n, int parts, int part);

/* ---- dense products (OpenBLAS) --------------------------------------------- */

/* Y[out x N] = W[out x in] . X[in x N] (+ bias). */
int spti_gemm_fwd(const float *W, int64_t out, int64_t in, const float *X, int64_t N, const float *bias, float *Y);
/* dX[in x N] (=|+=) W^T . dY. */
int spti_gemm_dx(const float *W, int64_t out, int64_t in, const float *dY, int64_t N, float *dX, bool accumulate);
/* dW[out x in] (=|+=) dY[out x N] . X[in x N]^T  (the full dense gradient). */
int spti_gemm_dw(const float *dY, int64_t out, const float *X, int64_t in, int64_t N, float *dW, bool accumulate);

/* ---- naive references (tests only; also the generic fallback's spec) ---- */

void spti_ref_spmm(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y);
void spti_ref_spmm_t(const spt_csr *W, const float *dY, int64_t N, float *dX, bool accumulate);
void spti_ref_sddmm(const spt_csr *W, const float *dY, const float *X, int64_t N, float *dW, bool accumulate);

/* ---- selection ------------------------------------------------------------ */

/* Exact top-k: write to idx[0..k) the indices of the k largest score[i]
 * (i in [0, n)), in increasing index order. Ties at the threshold are broken
 * by a deterministic pseudo-random order derived from `seed` (same seed, same
 * choice). Expected O(n) time. NaN scores rank lowest. Returns SPT_ERR_NOMEM
 * or SPT_ERR_SIZE (k < 0 or k > n) on failure. */
int spti_topk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx);
/* Exact bottom-k, same contract with the k smallest. */
int spti_bottomk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx);

/* The k largest of key[0..n) (no NaN), as increasing indices into
 * idx[0..k): every key above the k-th largest value v, then among the keys
 * equal to v the ones spti_topk picks by its seeded hash of their rank
 * among the tied keys in index order. The result depends only on the keys,
 * k and seed. Expected O(n) time; workspace 2^16 counts plus the keys of
 * the threshold's 16-bit bucket and the ties (select.c). */
int spti_select_largest(const float *key, int64_t n, int64_t k, uint64_t seed, int64_t *idx);
/* The r-th largest (0-based) of a[0..n) (no NaN, 0 <= r < n), reordering a.
 * Expected O(n). */
float spti_nth_largest(float *a, int64_t n, int64_t r);

/* ---- path dispatch ---------------------------------------------------------- */

/* The products of a CSR weight run either on the sparse kernels above or, for
 * shapes and densities where that is faster, on OpenBLAS over a transient
 * dense copy of W. spti_choose_path() decides from timings measured on this
 * machine (once per shape class, cached); the layer keeps one workspace per
 * weight for the dense copy. */
typedef enum { SPTI_PATH_SPARSE = 0, SPTI_PATH_DENSE = 1 } spti_path;

typedef struct spti_csr_ws {
    spti_path path;     /* decided at first use for (W shape, nnz, N) */
    int64_t decided_nnz, decided_N;
    float *Wd;          /* out x in dense copy of W (dense path only) */
    float *dWd;         /* out x in dense gradient (dense path only) */
    float *wt;          /* W's values in transposed order (sparse backward), wt_cap floats */
    int64_t wt_cap;
    float *dwt;         /* the fused backward's dW in transposed order, dwt_cap floats */
    int64_t dwt_cap;
    bool fanin;         /* set by the weight's owner (a fanin-structured method): while every row holds the same
                         * count, the sparse path's forward runs the constant fan-in (ELL) kernel (ell.h); its
                         * backward stays on the CSR kernels, measured faster (docs/performance.md) */
    bool channel;       /* set by the weight's owner (a channel-structured method): while every row holds all its
                         * cols or none, the products run on OpenBLAS over the whole rows alone (their values are
                         * a dense kept x cols matrix in CSR order), the empty rows costing nothing */
    float *kept;        /* the channel path's kept rows of Y or dY, kept_cap floats */
    int64_t kept_cap;
} spti_csr_ws;

/* Which path is faster for an out x in weight with nnz nonzeros, N columns.
 * The first call for a shape class (out, in, N rounded to powers of two,
 * density to half-octaves) times both paths on a synthetic layer of that
 * class (a few forward + backward rounds, a few ms to a few hundred ms for
 * big layers) and caches the answer for the life of the process; later calls
 * are a table look-up. Layers at density <= 1/64 skip the timing (sparse by
 * a wide margin here). Serialized by a lock; never fails (if the timing
 * cannot allocate it answers sparse). */
spti_path spti_choose_path(int64_t out, int64_t in, int64_t nnz, int64_t N);
/* Forget the cached decisions (tests, benchmarks). */
void spti_dispatch_reset(void);

/* Y = W.X (+bias) on the chosen path. ws may be NULL (sparse path). */
int spti_csr_forward(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, spti_csr_ws *ws);
/* dX (=, or += if accumulate_dx) W^T.dY when dX != NULL; dW[nnz] (=|+=) the
 * gradient at W's nonzeros when dW != NULL. */
int spti_csr_backward(const spt_csr *W, const float *X, const float *dY, int64_t N, float *dX, bool accumulate_dx,
                      float *dW, bool accumulate_dw, spti_csr_ws *ws);
void spti_csr_ws_release(spti_csr_ws *ws);

#endif
