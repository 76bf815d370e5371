/*
 * Sampled growth candidates (RigL with SPT_MP_GROW_SAMPLE > 0): the
 * gradient dL/dW of a SPARSE weight at a random sample of its inactive
 * positions only, and the growth selection over that sample.
 *
 * A sample is a set of distinct inactive positions of a rows x cols weight,
 * held as a pattern (row_ptr, col_idx) like a CSR matrix without values, so
 * that the SDDMM kernels of the sparse backward (spti_sddmm) compute its
 * gradient: for each sampled (r, c), sum over the batch of dY[r, n] X[c, n].
 * Memory follows the sample (rows + 1 offsets, 4 bytes per position), never
 * rows x cols.
 *
 * When the sample holds every inactive position, or at least a quarter of
 * all positions, the gradient is computed instead by the blocked dense
 * product of the layer's exact path, call for call: a linear layer's
 * growth collector (spti_grow_collect: row blocks of spti_grad_block_rows
 * on its lanes), or a convolution's dense gradient (spti_weight_grad_gemm:
 * the same row blocks; one product per group when grouped). There it is
 * cheaper, and it gives the exact path's gradients bit for bit for the
 * thread count, so that a sample of every candidate grows what exact RigL
 * grows. Only one block per lane is held at a time.
 */
#ifndef SPTI_GROW_SAMPLE_H
#define SPTI_GROW_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels.h"

/* The sampled positions of a rows x cols weight. Positions of row r are
 * col_idx[row_ptr[r] .. row_ptr[r + 1]), strictly increasing; none is an
 * active entry of the weight it was drawn for. */
typedef struct spti_grow_sample {
    int64_t rows, cols;
    int64_t n;        /* sampled positions */
    int64_t *row_ptr; /* rows + 1 */
    int32_t *col_idx; /* n */
} spti_grow_sample;

/* The gradient a backward computed for a sample. */
typedef struct spti_sample_grad {
    const spti_grow_sample *at; /* the sample it answers (borrowed) */
    float *grad;                /* n: dL/dW at the sampled positions, sample order */
    float *active;              /* nnz: dL/dW at the weight's active entries, CSR order */
    int64_t n, nnz;
    bool dense;                 /* computed by the blocked dense product (above) */
} spti_sample_grad;

/* An empty sample of n positions for a rows x cols weight (row_ptr zeroed,
 * col_idx uninitialised). SPT_ERR_NOMEM, *out = NULL, on failure. */
int spti_grow_sample_alloc(int64_t rows, int64_t cols, int64_t n, spti_grow_sample **out);
/* Free (NULL accepted). */
void spti_grow_sample_destroy(spti_grow_sample *s);
void spti_sample_grad_destroy(spti_sample_grad *g);

/* Whether the gradient of n sampled positions of a weight with `cells`
 * positions, nnz of them active, takes the blocked dense product: every
 * inactive position sampled, or n >= cells / 4. */
static inline bool spti_grow_sample_dense(int64_t cells, int64_t nnz, int64_t n) {
    return n >= cells - nnz || n >= (cells + 3) / 4;
}

/* The gradient of a weight of pattern m (rows x cols, SPARSE) at sample s
 * and at its active entries, for dY[rows x ncols] and X[groups*cols x
 * ncols]: with groups > 1 (a grouped convolution) row r belongs to group
 * q = r / (rows / groups) and reads X's rows [q*cols, (q+1)*cols).
 * as_collector: the dense product, where it serves, runs as the growth
 * collector's (a linear layer's exact path), else as the layer's dense
 * gradient (a convolution's). *out is (re)made here and points at s.
 * Nothing else changes; on failure (SPT_ERR_NOMEM; SPT_ERR_SIZE from the
 * cblas wrapper) *out is NULL. */
int spti_sample_gradient(spti_sample_grad **out, const spt_csr *m, const spti_grow_sample *s, const float *dy,
                         const float *X, int64_t ncols, int64_t groups, bool as_collector);

/* Growth over a sample: the k positions of largest |g| (NaN lowest) among
 * the sampled positions and the k dropped entries drop[0..k) (CSR indices,
 * increasing; their gradient is g->active), increasing, into grown[0..k).
 * The candidates are listed in position order and selected by
 * spti_select_largest with `seed`, as spti_grow_by_score and
 * spti_grow_by_collector select: over a sample of every inactive position
 * (gradients bit-identical, see above) the result is theirs, ties
 * included. SPT_ERR_STATE if g was not computed for this weight's pattern.
 * O(n + k) memory and time plus O(rows). */
int spti_grow_by_sample(const spt_csr *m, const int64_t *drop, const spti_sample_grad *g, int64_t k, uint64_t seed,
                        int64_t *grown);

#endif
