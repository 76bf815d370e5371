/*
 * Internal layout of a CSR matrix (the public handle spt_csr is opaque).
 *
 * A sparse weight W of shape rows x cols (a 4-D convolution weight
 * out x in x kh x kw is viewed as out x (in*kh*kw)) stores only its nonzeros:
 *
 *   row_ptr[rows+1]   entries of row r are row_ptr[r] .. row_ptr[r+1]-1
 *   col_idx[nnz]      column of each entry, strictly increasing within a row
 *   values[nnz]       the weights
 *
 * and a transposed index (a CSC view over the same values) kept in step by
 * spti_csr_build_transpose(), so that dX = W^T dY runs column by column with
 * no atomics:
 *
 *   col_ptr[cols+1]   entries of column c, in increasing row order, are
 *                     col_ptr[c] .. col_ptr[c+1]-1 of the arrays below
 *   row_idx[nnz]      row of that entry
 *   csr_pos[nnz]      its position in values[] (values are stored once)
 *
 * Limits: rows, cols and nnz are at most INT32_MAX (indices are int32).
 * Arrays are 64-byte aligned (spti_alloc). `capacity` >= nnz is the
 * allocated length of col_idx/values/row_idx/csr_pos.
 */
#ifndef SPTI_CSR_H
#define SPTI_CSR_H

#include <stdint.h>

#include "../core/internal.h"

struct spt_csr {
    int64_t rows, cols, nnz, capacity;
    int64_t *row_ptr;
    int32_t *col_idx;
    float *values;
    int64_t *col_ptr;
    int32_t *row_idx;
    int32_t *csr_pos;
    int ndim;          /* logical shape: 2, or 4 for a convolution weight */
    int64_t shape[4];
};

/* Allocate an empty-structure CSR with room for `nnz` entries (row_ptr all
 * zero, transposed index allocated). Sets the error message on failure. */
int spti_csr_alloc(int64_t rows, int64_t cols, int64_t nnz, spt_csr **out);

/* (Re)build col_ptr/row_idx/csr_pos from row_ptr/col_idx in O(nnz + cols). */
void spti_csr_build_transpose(spt_csr *m);

/* Replace the sparsity pattern by the `new_nnz` sorted, distinct linear
 * positions `pos` (pos = row*cols + col), keeping nnz fixed or changing it.
 * For each of the `n_carry` arrays carry[i] (length old nnz, in CSR order),
 * the value of a position present in both patterns is kept and a new
 * position gets 0; the arrays are reallocated to new_nnz and the pointers in
 * carry[] replaced (the old ones freed). values[] is always carried.
 * Rebuilds the transposed index. n_carry is at most 8. Positions that are
 * not sorted, distinct and in range give SPT_ERR_INVALID. On failure nothing
 * is changed. */
int spti_csr_repattern(spt_csr *m, const int64_t *pos, int64_t new_nnz, float **carry[], int n_carry);

/* spt_csr_check's work, with `fn` (the public caller) naming the failure. */
int spti_csr_check_arrays(const char *fn, int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr,
                          const int32_t *col_idx);

/* Full invariant check of a CSR matrix, transposed index included:
 * SPT_OK, or SPT_ERR_FORMAT / SPT_ERR_INTERNAL naming what is broken.
 * O(nnz + rows + cols). */
int spti_csr_validate(const spt_csr *m);

/* Check that pos[0..n) are strictly increasing linear positions in
 * [0, cells): SPT_ERR_INVALID (message names `fn` and the entry) otherwise. */
int spti_check_positions(const char *fn, const int64_t *pos, int64_t n, int64_t cells);

/* Fill row_ptr and col_idx of `m` (allocated for exactly m->nnz entries) from
 * the m->nnz sorted, distinct linear positions pos, then build the transposed
 * index. O(nnz + rows + cols). */
void spti_csr_set_pattern(spt_csr *m, const int64_t *pos);

#endif
