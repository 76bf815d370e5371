/** @file
 * Dense tensors, masked tensors and CSR matrices.
 *
 * Layouts: every buffer is float32, row-major (C order). A matrix "R x C" is
 * R rows of C contiguous floats. Activations are feature-major with the
 * batch contiguous: a layer input of F features for B examples is "F x B".
 * A convolution weight out x in x kh x kw is handled as the matrix
 * out x (in*kh*kw).
 *
 * Conventions of this header (beyond those of core.h):
 *  - Creating functions copy the caller's buffers; no pointer to them is kept.
 *  - Length arguments (`n`, `*_len`) state how many elements the caller's
 *    buffer holds; a buffer shorter than required gives #SPT_ERR_SIZE and
 *    nothing is written.
 *  - Getters that cannot fail except on a NULL handle return -1 (sizes),
 *    NULL (pointers) for a NULL handle, and set no error message.
 *  - Pointers returned by getters are borrowed: they stay valid until the
 *    handle is destroyed (for a CSR matrix: or its pattern changes through
 *    the library's sparse training). Do not free them.
 *  - Thread-safety: read-only functions may run on one handle from several
 *    threads at once; a function that writes to a handle must not run
 *    concurrently with any other use of that handle.
 */
#ifndef SPARSETRAIN_TENSOR_H
#define SPARSETRAIN_TENSOR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Dense float32 tensor of 1 to 4 dimensions, row-major. Opaque. */
typedef struct spt_tensor spt_tensor;

/** Masked tensor: a dense R x C matrix of values with a 0/1 mask and an exact
 * count of active (mask = 1) entries. Inactive values are kept at 0. Opaque. */
typedef struct spt_masked spt_masked;

/** Compressed sparse row matrix with a transposed (CSC) index kept in step.
 * Opaque. Format of its arrays: row_ptr[rows+1] (int64) with row_ptr[0] = 0,
 * non-decreasing, row_ptr[rows] = nnz; col_idx[nnz] (int32), strictly
 * increasing within each row (sorted, no duplicates) and in [0, cols);
 * values[nnz]. rows, cols and nnz are at most INT32_MAX and
 * nnz <= rows*cols. */
typedef struct spt_csr spt_csr;

/* ======================================================================
 * Dense tensors
 * ====================================================================== */

/** Create a zero-filled dense tensor. Thread-safe.
 * @param ndim   number of dimensions, 1..4 (else #SPT_ERR_SIZE).
 * @param shape  ndim extents, each >= 1; their product (and its size in
 *               bytes) must not overflow (else #SPT_ERR_SIZE). Copied.
 * @param[out] out receives the new tensor (NULL on failure). Caller owns it;
 *               free with spt_tensor_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (shape or out NULL), #SPT_ERR_SIZE,
 *         #SPT_ERR_NOMEM. */
SPT_API int spt_tensor_create(int ndim, const int64_t *shape, spt_tensor **out);

/** Free a tensor and its data.
 * @param t the tensor, or NULL (no-op). */
SPT_API void spt_tensor_destroy(spt_tensor *t);

/** Number of dimensions.
 * @param t the tensor.
 * @return 1..4; -1 if t is NULL. */
SPT_API int spt_tensor_ndim(const spt_tensor *t);

/** Extent of one dimension.
 * @param t the tensor.
 * @param i the dimension, in [0, ndim).
 * @return the extent; -1 if t is NULL or i is not in [0, ndim). */
SPT_API int64_t spt_tensor_dim(const spt_tensor *t, int i);

/** Number of elements.
 * @param t the tensor.
 * @return the product of the extents; -1 if t is NULL. */
SPT_API int64_t spt_tensor_numel(const spt_tensor *t);

/** The tensor's data.
 * @param t the tensor.
 * @return its numel floats, row-major, writable; borrowed, valid until
 *         spt_tensor_destroy(). NULL if t is NULL. */
SPT_API float *spt_tensor_data(spt_tensor *t);

/** Copy n floats from src into the tensor.
 * @param t    the tensor.
 * @param src  n floats, row-major.
 * @param n    must equal spt_tensor_numel(t) (else #SPT_ERR_SIZE).
 * @return #SPT_OK, #SPT_ERR_NULL (t or src), #SPT_ERR_SIZE. On failure t is
 *         unchanged. */
SPT_API int spt_tensor_copy_from(spt_tensor *t, const float *src, int64_t n);

/** Copy the tensor's numel floats into dst.
 * @param t    the tensor.
 * @param[out] dst receives numel floats, row-major.
 * @param n    length of dst, must be >= spt_tensor_numel(t) (else #SPT_ERR_SIZE).
 * @return #SPT_OK, #SPT_ERR_NULL (t or dst), #SPT_ERR_SIZE (nothing written). */
SPT_API int spt_tensor_copy_to(const spt_tensor *t, float *dst, int64_t n);

/* ======================================================================
 * Masked matrices
 * ====================================================================== */

/** Create a masked rows x cols matrix from a dense buffer and a mask.
 * Thread-safe.
 * @param rows        >= 0; rows*cols must not overflow (else #SPT_ERR_SIZE).
 * @param cols        >= 0.
 * @param values      rows*cols floats, row-major. Copied; entries whose
 *                    mask is 0 are stored as 0.
 * @param mask        rows*cols bytes, each 0 or 1 (else #SPT_ERR_INVALID). Copied.
 * @param[out] out    receives the new matrix (NULL on failure); free with
 *                    spt_masked_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (values, mask or out), #SPT_ERR_SIZE,
 *         #SPT_ERR_INVALID, #SPT_ERR_NOMEM. */
SPT_API int spt_masked_create(int64_t rows, int64_t cols, const float *values, const uint8_t *mask, spt_masked **out);

/** Free a masked matrix.
 * @param m the matrix, or NULL (no-op). */
SPT_API void spt_masked_destroy(spt_masked *m);

/** Rows of a masked matrix.
 * @param m the matrix.
 * @return the rows; -1 if m is NULL. */
SPT_API int64_t spt_masked_rows(const spt_masked *m);
/** Columns of a masked matrix.
 * @param m the matrix.
 * @return the columns; -1 if m is NULL. */
SPT_API int64_t spt_masked_cols(const spt_masked *m);
/** Exact number of active (mask = 1) entries.
 * @param m the matrix.
 * @return the count; -1 if m is NULL. */
SPT_API int64_t spt_masked_nnz(const spt_masked *m);
/** The values of a masked matrix.
 * @param m the matrix.
 * @return its rows*cols values, row-major (0 where inactive); borrowed,
 *         read-only. NULL if m is NULL. */
SPT_API const float *spt_masked_values(const spt_masked *m);
/** The mask of a masked matrix.
 * @param m the matrix.
 * @return its rows*cols mask bytes (0 or 1), row-major; borrowed, read-only.
 *         NULL if m is NULL. */
SPT_API const uint8_t *spt_masked_mask(const spt_masked *m);

/** Write the values as a dense rows x cols matrix (0 where inactive).
 * @param m  the matrix.
 * @param[out] dense receives rows*cols floats, row-major.
 * @param n  length of dense, >= rows*cols (else #SPT_ERR_SIZE).
 * @return #SPT_OK, #SPT_ERR_NULL (m or dense), #SPT_ERR_SIZE (nothing written). */
SPT_API int spt_masked_to_dense(const spt_masked *m, float *dense, int64_t n);

/* ======================================================================
 * CSR matrices
 * ======================================================================
 * Format: row_ptr[rows+1] (int64) with row_ptr[0] = 0, non-decreasing,
 * row_ptr[rows] = nnz; col_idx[nnz] (int32), strictly increasing within each
 * row (sorted, no duplicates) and in [0, cols); values[nnz]. rows, cols and
 * nnz are at most INT32_MAX and nnz <= rows*cols.
 */

/** Check raw CSR arrays against the format above without copying them.
 * Thread-safe; allocates nothing.
 * @param rows     rows, in [0, INT32_MAX].
 * @param cols     columns, in [0, INT32_MAX].
 * @param nnz      stored entries, in [0, min(INT32_MAX, rows*cols)].
 * @param row_ptr  rows+1 offsets.
 * @param col_idx  nnz column indices (may be NULL when nnz is 0).
 * @return #SPT_OK; #SPT_ERR_NULL (row_ptr NULL, or col_idx NULL with nnz > 0);
 *         #SPT_ERR_SIZE (negative or too large rows/cols/nnz, nnz > rows*cols);
 *         #SPT_ERR_FORMAT (row_ptr[0] != 0, row_ptr decreasing, row_ptr[rows]
 *         != nnz, a column out of range, unsorted or repeated within a row);
 *         the message names the offending row and entry. */
SPT_API int spt_csr_check(int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr, const int32_t *col_idx);

/** Create a CSR matrix from raw arrays (validated as by spt_csr_check(),
 * then copied). Thread-safe.
 * @param rows     rows, in [0, INT32_MAX].
 * @param cols     columns, in [0, INT32_MAX].
 * @param nnz      stored entries.
 * @param row_ptr  rows+1 offsets.
 * @param col_idx  nnz column indices (may be NULL only when nnz is 0).
 * @param values   nnz floats (may be NULL only when nnz is 0).
 * @param[out] out receives the matrix (NULL on failure); free with spt_csr_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE, #SPT_ERR_FORMAT, #SPT_ERR_NOMEM. */
SPT_API int spt_csr_create(int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr, const int32_t *col_idx,
                           const float *values, spt_csr **out);

/** Create a CSR matrix holding the entries != 0 of a dense rows x cols
 * matrix (NaN counts as nonzero, -0.0 as zero). Thread-safe.
 * @param rows   rows, in [0, INT32_MAX].
 * @param cols   columns, in [0, INT32_MAX].
 * @param dense  rows*cols floats, row-major.
 * @param[out] out receives the matrix (NULL on failure); free with spt_csr_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (dense or out), #SPT_ERR_SIZE (rows/cols
 *         outside [0, INT32_MAX], or more than INT32_MAX nonzeros),
 *         #SPT_ERR_NOMEM. */
SPT_API int spt_csr_from_dense(int64_t rows, int64_t cols, const float *dense, spt_csr **out);

/** Create a CSR matrix holding the active entries of a masked matrix, the
 * mask = 1 entries even where their value is 0, so nnz equals
 * spt_masked_nnz(m). Thread-safe.
 * @param m  the masked matrix (read only).
 * @param[out] out receives the matrix (NULL on failure); free with spt_csr_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (m or out), #SPT_ERR_SIZE (dims or nnz above
 *         INT32_MAX), #SPT_ERR_NOMEM. */
SPT_API int spt_csr_from_masked(const spt_masked *m, spt_csr **out);

/** Create a random sparse matrix: exactly nnz = round(density*rows*cols)
 * nonzeros (at least 1) at positions drawn uniformly without replacement,
 * with values drawn from N(0, std^2). The same arguments give the same
 * matrix, bit for bit, on every machine and thread count. Thread-safe.
 * @param rows        in [1, INT32_MAX] (else #SPT_ERR_SIZE).
 * @param cols        in [1, INT32_MAX] (else #SPT_ERR_SIZE).
 * @param density     in (0, 1] (else #SPT_ERR_INVALID, NaN included).
 * @param std         finite and >= 0 (else #SPT_ERR_INVALID).
 * @param seed        any value.
 * @param[out] out    receives the matrix (NULL on failure); free with spt_csr_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (out), #SPT_ERR_SIZE (also when nnz exceeds
 *         INT32_MAX), #SPT_ERR_INVALID, #SPT_ERR_NOMEM. */
SPT_API int spt_csr_random(int64_t rows, int64_t cols, double density, float std, uint64_t seed, spt_csr **out);

/** Free a CSR matrix and everything it owns.
 * @param m the matrix, or NULL (no-op). */
SPT_API void spt_csr_destroy(spt_csr *m);

/** Write the matrix as a dense rows x cols matrix (0 where no entry).
 * @param m  the matrix.
 * @param[out] dense receives rows*cols floats, row-major.
 * @param n  length of dense, >= rows*cols (else #SPT_ERR_SIZE).
 * @return #SPT_OK, #SPT_ERR_NULL (m or dense), #SPT_ERR_SIZE (nothing written). */
SPT_API int spt_csr_to_dense(const spt_csr *m, float *dense, int64_t n);

/** Create a masked matrix whose mask is the matrix's pattern (every stored
 * entry active, even a stored 0) and whose values are its values. Thread-safe.
 * @param m    the CSR matrix (read only).
 * @param[out] out receives it (NULL on failure); free with spt_masked_destroy().
 * @return #SPT_OK, #SPT_ERR_NULL (m or out), #SPT_ERR_SIZE (rows*cols
 *         overflows), #SPT_ERR_NOMEM. */
SPT_API int spt_csr_to_masked(const spt_csr *m, spt_masked **out);

/** Rows of the 2-D view.
 * @param m the matrix.
 * @return the rows; -1 if m is NULL. */
SPT_API int64_t spt_csr_rows(const spt_csr *m);
/** Columns of the 2-D view.
 * @param m the matrix.
 * @return the columns; -1 if m is NULL. */
SPT_API int64_t spt_csr_cols(const spt_csr *m);
/** Number of stored entries.
 * @param m the matrix.
 * @return nnz; -1 if m is NULL. */
SPT_API int64_t spt_csr_nnz(const spt_csr *m);
/** Fraction of stored entries.
 * @param m the matrix.
 * @return nnz / (rows*cols); 0 for an empty shape; -1 if m is NULL. */
SPT_API double spt_csr_density(const spt_csr *m);
/** The row offsets.
 * @param m the matrix.
 * @return row_ptr[rows+1]; borrowed, read-only. NULL if m is NULL. */
SPT_API const int64_t *spt_csr_row_ptr(const spt_csr *m);
/** The column indices.
 * @param m the matrix.
 * @return col_idx[nnz]; borrowed, read-only. NULL if m is NULL. */
SPT_API const int32_t *spt_csr_col_idx(const spt_csr *m);
/** The stored values.
 * @param m the matrix.
 * @return values[nnz], writable (changing values keeps the pattern);
 *         borrowed. NULL if m is NULL. */
SPT_API float *spt_csr_values(spt_csr *m);

/** Copy the CSR arrays into caller buffers (e.g. NumPy arrays from Python).
 * Each of row_ptr, col_idx, values may be NULL to skip it.
 * @param m            the matrix.
 * @param[out] row_ptr receives rows+1 offsets; may be NULL.
 * @param row_ptr_len  length of row_ptr, >= rows+1 when row_ptr is given.
 * @param[out] col_idx receives nnz column indices; may be NULL.
 * @param[out] values  receives nnz values; may be NULL.
 * @param nnz_len      length of col_idx and of values, >= nnz when either is given.
 * @return #SPT_OK, #SPT_ERR_NULL (m NULL), #SPT_ERR_SIZE (a buffer too short;
 *         nothing written). */
SPT_API int spt_csr_copy_out(const spt_csr *m, int64_t *row_ptr, int64_t row_ptr_len, int32_t *col_idx, float *values,
                             int64_t nnz_len);

/** Record a 4-D logical shape (a convolution weight out x in x kh x kw
 * stored as the matrix out x (in*kh*kw)). The storage is unchanged.
 * @param m    the matrix.
 * @param out  output channels, must equal the rows.
 * @param in   input channels, >= 1.
 * @param kh   kernel height, >= 1.
 * @param kw   kernel width, >= 1; in*kh*kw must equal the columns.
 * @return #SPT_OK, #SPT_ERR_NULL, #SPT_ERR_SIZE (a dim < 1, out != rows, or
 *         in*kh*kw != cols). On failure the shape is unchanged. */
SPT_API int spt_csr_set_shape4(spt_csr *m, int64_t out, int64_t in, int64_t kh, int64_t kw);

/** Logical number of dimensions.
 * @param m the matrix.
 * @return 2, or 4 after spt_csr_set_shape4(); -1 if m is NULL. */
SPT_API int spt_csr_ndim(const spt_csr *m);

/** Logical extent of one dimension.
 * @param m the matrix.
 * @param i the dimension, in [0, spt_csr_ndim(m)).
 * @return the extent; -1 if m is NULL or i is out of range. */
SPT_API int64_t spt_csr_dim(const spt_csr *m, int i);

#ifdef __cplusplus
}
#endif
#endif
