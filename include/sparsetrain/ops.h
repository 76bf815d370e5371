/** @file
 * The compute kernels, callable directly.
 *
 * The products one sparse linear layer needs for training, for a sparse
 * weight W of shape out x in (an #spt_csr, see tensor.h) and activations
 * stored feature-major with the batch contiguous (a matrix "F x N" is F rows
 * of N contiguous floats, N = batch size):
 *
 * - spt_csr_spmm():   Y = W . X (+ bias);  X: in x N, Y: out x N
 * - spt_csr_spmm_t(): dX = W^T . dY (or +=);  dY: out x N, dX: in x N
 * - spt_csr_sddmm():  dW = (dY . X^T) at W's nonzeros only (or +=), nnz
 *   floats in W's CSR order (row by row, columns increasing)
 *
 * and exact top-k / bottom-k selection as used by the sparse-training
 * methods to pick connections to drop and grow.
 *
 * Cost is proportional to the number of nonzeros times N. The kernels use
 * the SIMD path spt_simd_name() reports and spt_get_num_threads() OpenMP
 * threads. Results are deterministic: every output element is summed by one
 * thread in a fixed order, so they do not change with the thread count; the
 * SIMD paths differ from each other only by float rounding.
 *
 * Thread-safety: the calls only read W and the inputs and write the outputs
 * the caller passes; several may run at once on distinct outputs (each then
 * starts its own OpenMP team). Output buffers must not overlap the inputs.
 */
#ifndef SPARSETRAIN_OPS_H
#define SPARSETRAIN_OPS_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Sparse-dense product Y = W . X + bias.
 *
 * @param W     sparse weight, out x in. Not modified.
 * @param X     input, in x N floats (row c holds the N batch values of input feature c).
 * @param in    rows of X; must equal W's column count.
 * @param N     batch size (columns of X and Y), >= 1.
 * @param bias  out floats added to every column of Y, or NULL for none.
 * @param Y     output, out x N floats, overwritten.
 * @param out   rows of Y; must equal W's row count.
 * @return SPT_OK; SPT_ERR_NULL if W, X or Y is NULL; SPT_ERR_SIZE if N < 1,
 *         a shape does not match W, or in*N / out*N overflow. Y is untouched
 *         on failure.
 */
SPT_API int spt_csr_spmm(const spt_csr *W, const float *X, int64_t in, int64_t N, const float *bias, float *Y,
                         int64_t out);

/**
 * Transposed product dX = W^T . dY (the input gradient of a sparse linear
 * layer), computed through W's transposed index without atomics.
 *
 * @param W          sparse weight, out x in. Not modified.
 * @param dY         output gradient, out x N floats.
 * @param out        rows of dY; must equal W's row count.
 * @param N          batch size, >= 1.
 * @param dX         input gradient, in x N floats: overwritten, or added to
 *                   when accumulate is nonzero.
 * @param in         rows of dX; must equal W's column count.
 * @param accumulate 0: dX = W^T.dY; nonzero: dX += W^T.dY.
 * @return SPT_OK; SPT_ERR_NULL, SPT_ERR_SIZE as for spt_csr_spmm;
 *         SPT_ERR_NOMEM if the scratch (nnz floats) cannot be allocated.
 *         dX is untouched on failure.
 */
SPT_API int spt_csr_spmm_t(const spt_csr *W, const float *dY, int64_t out, int64_t N, float *dX, int64_t in,
                           int accumulate);

/**
 * Sampled dense-dense product (SDDMM): the weight gradient of a sparse linear
 * layer at W's nonzeros only, dW[k] = sum_n dY[r,n] * X[c,n] for the k-th
 * nonzero (r, c) of W in CSR order.
 *
 * @param W          sparse weight, out x in (only its pattern is read).
 * @param dY         output gradient, out x N floats.
 * @param out        rows of dY; must equal W's row count.
 * @param X          layer input, in x N floats.
 * @param in         rows of X; must equal W's column count.
 * @param N          batch size, >= 1.
 * @param dW         nnz floats: overwritten, or added to when accumulate is nonzero.
 * @param nnz        length of dW; must equal W's nonzero count.
 * @param accumulate 0: dW = ...; nonzero: dW += ....
 * @return SPT_OK; SPT_ERR_NULL if W, dY, X or dW is NULL; SPT_ERR_SIZE on a
 *         shape mismatch, N < 1 or overflow. dW is untouched on failure.
 */
SPT_API int spt_csr_sddmm(const spt_csr *W, const float *dY, int64_t out, const float *X, int64_t in, int64_t N,
                          float *dW, int64_t nnz, int accumulate);

/**
 * Exact top-k selection: the indices of the k largest of score[0..n), written
 * to idx[0..k) in increasing index order. Expected O(n) time, n * 16 bytes of
 * scratch.
 *
 * Ties at the threshold are broken by a pseudo-random order derived from
 * `seed`: the same scores and seed always give the same indices; another seed
 * may choose other tied entries. NaN ranks below every number (a NaN is only
 * chosen when fewer than k entries are numbers); -0.0 and +0.0 are equal.
 *
 * @param score  n floats, not modified. May be NULL when n == 0.
 * @param n      number of scores, >= 0.
 * @param k      how many to select, 0 <= k <= n.
 * @param seed   tie-break seed.
 * @param idx    k int64 slots (may be NULL when k == 0).
 * @return SPT_OK; SPT_ERR_NULL for a NULL buffer that is needed;
 *         SPT_ERR_SIZE unless 0 <= k <= n; SPT_ERR_NOMEM. Thread-safe.
 */
SPT_API int spt_topk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx);

/**
 * Exact bottom-k selection: as spt_topk() with the k smallest scores. NaN is
 * still chosen last (it ranks below every number for both selections).
 *
 * @param score  n floats, not modified. May be NULL when n == 0.
 * @param n      number of scores, >= 0.
 * @param k      how many to select, 0 <= k <= n.
 * @param seed   tie-break seed.
 * @param idx    k int64 slots, receiving the indices in increasing order
 *               (may be NULL when k == 0).
 * @return SPT_OK; SPT_ERR_NULL for a NULL buffer that is needed;
 *         SPT_ERR_SIZE unless 0 <= k <= n; SPT_ERR_NOMEM. Thread-safe.
 */
SPT_API int spt_bottomk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx);

/** How the products of a sparse layer choose between the sparse kernels
 * and OpenBLAS over a transient dense copy of the weight. */
typedef enum spt_dispatch_mode {
    /** Dense when the layer's density is at least the threshold set by
     * spt_set_dispatch_threshold() (default 0.4: where the two paths cross
     * on the development machine, see docs/performance.md), sparse below.
     * Deterministic: the default, so that one seed gives the same run bit
     * for bit in every process. */
    SPT_DISPATCH_THRESHOLD = 0,
    /** Time both paths once per shape class in this process and use the
     * faster (layers at density <= 1/64 always run sparse). Adapts to the
     * machine, but the two paths round differently, so two processes whose
     * timings fall on different sides of the margin can differ in the last
     * bits. */
    SPT_DISPATCH_TIMED = 1,
    /** Always the sparse kernels. */
    SPT_DISPATCH_SPARSE = 2,
    /** Always dense OpenBLAS (the "dense twin", for comparisons). */
    SPT_DISPATCH_DENSE = 3
} spt_dispatch_mode;

/**
 * Set how sparse layers choose their path (see #spt_dispatch_mode). A layer
 * decides at its first product and again only when its nonzero count or
 * batch changes, so set the mode before building a trainer.
 * Global state: not thread-safe against concurrent library calls.
 *
 * @param mode an #spt_dispatch_mode value.
 * @return #SPT_OK; #SPT_ERR_INVALID for another value.
 */
SPT_API int spt_set_dispatch_mode(int mode);

/**
 * The current #spt_dispatch_mode. Thread-safe.
 * @return the mode.
 */
SPT_API int spt_get_dispatch_mode(void);

/**
 * Set the density at and above which #SPT_DISPATCH_THRESHOLD runs a sparse
 * layer on dense OpenBLAS. Global state: not thread-safe against concurrent
 * library calls.
 *
 * @param density in (0, 1]; 1 keeps every layer below full density sparse.
 * @return #SPT_OK; #SPT_ERR_INVALID for a value outside (0, 1] or NaN.
 */
SPT_API int spt_set_dispatch_threshold(double density);

/**
 * The current threshold of #SPT_DISPATCH_THRESHOLD. Thread-safe.
 * @return the density.
 */
SPT_API double spt_get_dispatch_threshold(void);

#ifdef __cplusplus
}
#endif
#endif
