/*
 * Constant fan-in products (ELL layout). A weight whose rows all hold the
 * same count f (a fanin-structured layer, docs/methods.md "Structured
 * sparsity") is, in CSR order, exactly an ELL array: rows x f values and
 * rows x f int32 columns, row r at [r f, r f + f), no row pointer needed.
 * These kernels read only W->col_idx and W->values (never row_ptr nor the
 * transposed index), so they work on the CSR storage in place.
 *
 *   forward   Y = W X (+ bias): rows split evenly over the threads (all
 *             rows cost the same), batch windows of up to 128 columns kept
 *             in registers while the row's f gathered rows of X stream by;
 *   dW        at the nonzeros, rows split evenly, dY[r, window] in
 *             registers while the row's f rows of X stream by (a row's
 *             windows of 128 added in order);
 *   dX        W^T dY without a transposed index: the batch is cut into
 *             fixed slices of SPTI_ELL_SLICE columns, each owned by one
 *             thread, which runs over every row and adds w dY[r, slice] into
 *             dX[c, slice] for each of the row's entries (so dX's slice is
 *             read and written per entry, where the CSR kernel keeps a
 *             column's sum in registers; one pass for both products measured
 *             slower: X's and dX's slices together overflow the L2).
 * Every output element is computed by one thread in an order fixed by the
 * shapes alone: results do not depend on the thread count. AVX-512 only;
 * on other machines the calls run the CSR kernels (same results up to
 * rounding).
 */
#ifndef SPTI_ELL_H
#define SPTI_ELL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels.h"

enum { SPTI_ELL_SLICE = 64 };

/* Whether every row of W holds the same number of entries (and at least
 * one); *f (may be NULL) receives it. O(rows). */
bool spti_csr_fanin(const spt_csr *W, int64_t *f);

/* Y[rows x N] = W X[cols x N] (+ bias); W of constant fan-in f. */
void spti_ell_forward(const spt_csr *W, int64_t f, const float *X, int64_t N, const float *bias, float *Y);

/* dX (=, or += with accumulate_dx) W^T dY when dX != NULL, dW[nnz] (=|+=)
 * the gradient at W's entries when dW != NULL. */
void spti_ell_backward(const spt_csr *W, int64_t f, const float *X, const float *dY, int64_t N, float *dX,
                       bool accumulate_dx, float *dW, bool accumulate_dw);

/* AVX-512 window kernels (ell_avx512.c). Forward: rows [r0, r1), batch
 * window [n0, n1), n1 - n0 <= 128. dW: rows [r0, r1), window [n0, n1)
 * (<= 128): dw[k] = the window's dot, or += with add_dw. dX: every row,
 * batch slice [n0, n1) (<= 128); dX's slice is zeroed first unless
 * accumulate_dx. */
void spti_ell_fwd_avx512(const int32_t *col, const float *val, int64_t rows, int64_t f, const float *X, int64_t N,
                         const float *bias, float *Y, int64_t r0, int64_t r1, int64_t n0, int64_t n1);
void spti_ell_dw_avx512(const int32_t *col, int64_t rows, int64_t f, const float *X, const float *dY, int64_t N,
                        float *dw, bool add_dw, int64_t r0, int64_t r1, int64_t n0, int64_t n1);
void spti_ell_dx_avx512(const int32_t *col, const float *val, int64_t rows, int64_t cols, int64_t f, const float *dY,
                        int64_t N, float *dX, bool accumulate_dx, int64_t n0, int64_t n1);

#endif
