/* Validation of raw CSR arrays and of sorted position lists. */
#include "csr.h"

int spti_csr_check_arrays(const char *fn, int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr,
                          const int32_t *col_idx) {
    if (!row_ptr) return spti_fail(SPT_ERR_NULL, "%s: row_ptr is NULL", fn);
    if (!col_idx && nnz > 0) return spti_fail(SPT_ERR_NULL, "%s: col_idx is NULL with nnz = %lld", fn, (long long)nnz);
    if (rows < 0 || cols < 0 || nnz < 0 || rows > INT32_MAX || cols > INT32_MAX || nnz > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: rows (%lld), cols (%lld) and nnz (%lld) must be in [0, 2^31)", fn,
                         (long long)rows, (long long)cols, (long long)nnz);
    if (nnz > rows * cols) /* both <= INT32_MAX: the product fits */
        return spti_fail(SPT_ERR_SIZE, "%s: nnz (%lld) exceeds rows*cols (%lld x %lld)", fn, (long long)nnz,
                         (long long)rows, (long long)cols);
    if (row_ptr[0] != 0) return spti_fail(SPT_ERR_FORMAT, "%s: row_ptr[0] is %lld, must be 0", fn, (long long)row_ptr[0]);
    for (int64_t r = 0; r < rows; r++) {
        int64_t lo = row_ptr[r], hi = row_ptr[r + 1];
        if (hi < lo)
            return spti_fail(SPT_ERR_FORMAT, "%s: row_ptr decreases at row %lld (%lld then %lld)", fn, (long long)r,
                             (long long)lo, (long long)hi);
        if (hi > nnz)
            return spti_fail(SPT_ERR_FORMAT, "%s: row_ptr[%lld] (%lld) exceeds nnz (%lld)", fn, (long long)(r + 1),
                             (long long)hi, (long long)nnz);
        for (int64_t k = lo; k < hi; k++) {
            int32_t c = col_idx[k];
            if (c < 0 || c >= cols)
                return spti_fail(SPT_ERR_FORMAT, "%s: row %lld, entry %lld: column %d is outside [0, %lld)", fn,
                                 (long long)r, (long long)k, (int)c, (long long)cols);
            if (k > lo && c <= col_idx[k - 1])
                return spti_fail(SPT_ERR_FORMAT, "%s: row %lld, entry %lld: column %d follows column %d (%s)", fn,
                                 (long long)r, (long long)k, (int)c, (int)col_idx[k - 1],
                                 c == col_idx[k - 1] ? "duplicate" : "unsorted");
        }
    }
    if (row_ptr[rows] != nnz)
        return spti_fail(SPT_ERR_FORMAT, "%s: row_ptr[%lld] is %lld, must equal nnz (%lld)", fn, (long long)rows,
                         (long long)row_ptr[rows], (long long)nnz);
    return SPT_OK;
}

int spt_csr_check(int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr, const int32_t *col_idx) {
    return spti_csr_check_arrays(__func__, rows, cols, nnz, row_ptr, col_idx);
}

int spti_check_positions(const char *fn, const int64_t *pos, int64_t n, int64_t cells) {
    for (int64_t i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= cells)
            return spti_fail(SPT_ERR_INVALID, "%s: position %lld (entry %lld) is outside [0, %lld)", fn,
                             (long long)pos[i], (long long)i, (long long)cells);
        if (i > 0 && pos[i] <= pos[i - 1])
            return spti_fail(SPT_ERR_INVALID, "%s: positions must be strictly increasing (entry %lld: %lld after %lld)",
                             fn, (long long)i, (long long)pos[i], (long long)pos[i - 1]);
    }
    return SPT_OK;
}

int spti_csr_validate(const spt_csr *m) {
    SPTI_TRY(spti_csr_check_arrays(__func__, m->rows, m->cols, m->nnz, m->row_ptr, m->col_idx));
    if (m->capacity < m->nnz)
        return spti_fail(SPT_ERR_INTERNAL, "%s: capacity %lld below nnz %lld", __func__, (long long)m->capacity,
                         (long long)m->nnz);
    const int64_t *cp = m->col_ptr;
    if (cp[0] != 0 || cp[m->cols] != m->nnz)
        return spti_fail(SPT_ERR_INTERNAL, "%s: col_ptr must run from 0 to nnz", __func__);
    /* Each column lists rows in increasing order, each pointing at the CSR
     * entry (r, c): with distinct columns per row, that makes the transposed
     * index a bijection onto the nnz entries. */
    for (int64_t c = 0; c < m->cols; c++) {
        if (cp[c + 1] < cp[c]) return spti_fail(SPT_ERR_INTERNAL, "%s: col_ptr decreases at column %lld", __func__, (long long)c);
        for (int64_t t = cp[c]; t < cp[c + 1]; t++) {
            int64_t r = m->row_idx[t], p = m->csr_pos[t];
            if (r < 0 || r >= m->rows || (t > cp[c] && r <= m->row_idx[t - 1]) || p < m->row_ptr[r] ||
                p >= m->row_ptr[r + 1] || m->col_idx[p] != c)
                return spti_fail(SPT_ERR_INTERNAL, "%s: transposed entry %lld of column %lld is wrong", __func__,
                                 (long long)t, (long long)c);
        }
    }
    return SPT_OK;
}
