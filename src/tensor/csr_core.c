/* CSR storage: allocation, destruction and the transposed index. */
#include <string.h>

#include "csr.h"

int spti_csr_alloc(int64_t rows, int64_t cols, int64_t nnz, spt_csr **out) {
    *out = NULL;
    if (rows < 0 || cols < 0 || nnz < 0 || rows > INT32_MAX || cols > INT32_MAX || nnz > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "csr: rows (%lld), cols (%lld) and nnz (%lld) must be in [0, 2^31)",
                         (long long)rows, (long long)cols, (long long)nnz);
    int64_t cells;
    if (!spti_mul_i64(rows, cols, &cells) || nnz > cells)
        return spti_fail(SPT_ERR_SIZE, "csr: nnz (%lld) exceeds rows*cols (%lld x %lld)", (long long)nnz,
                         (long long)rows, (long long)cols);
    spt_csr *m = spti_calloc(1, sizeof *m);
    if (!m) return spti_fail(SPT_ERR_NOMEM, "csr: out of memory");
    m->rows = rows;
    m->cols = cols;
    m->nnz = nnz;
    m->capacity = nnz;
    m->ndim = 2;
    m->shape[0] = rows;
    m->shape[1] = cols;
    m->row_ptr = spti_calloc(rows + 1, sizeof(int64_t));
    m->col_ptr = spti_calloc(cols + 1, sizeof(int64_t));
    m->col_idx = spti_alloc(nnz, sizeof(int32_t));
    m->values = spti_alloc(nnz, sizeof(float));
    m->row_idx = spti_alloc(nnz, sizeof(int32_t));
    m->csr_pos = spti_alloc(nnz, sizeof(int32_t));
    if (!m->row_ptr || !m->col_ptr || !m->col_idx || !m->values || !m->row_idx || !m->csr_pos) {
        spt_csr_destroy(m);
        return spti_fail(SPT_ERR_NOMEM, "csr: out of memory for %lld nonzeros", (long long)nnz);
    }
    *out = m;
    return SPT_OK;
}

void spt_csr_destroy(spt_csr *m) {
    if (!m) return;
    spti_free(m->row_ptr);
    spti_free(m->col_idx);
    spti_free(m->values);
    spti_free(m->col_ptr);
    spti_free(m->row_idx);
    spti_free(m->csr_pos);
    spti_free(m);
}

/* Counting sort of the entries by column: O(nnz + cols). Walking rows in
 * order keeps each column's entries in increasing row order. */
void spti_csr_build_transpose(spt_csr *m) {
    int64_t *cp = m->col_ptr;
    memset(cp, 0, (size_t)(m->cols + 1) * sizeof(int64_t));
    for (int64_t k = 0; k < m->nnz; k++) cp[m->col_idx[k] + 1]++;
    for (int64_t c = 0; c < m->cols; c++) cp[c + 1] += cp[c];
    /* cp[c] is now the next free slot of column c; restored below. */
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) {
            int64_t slot = cp[m->col_idx[k]]++;
            m->row_idx[slot] = (int32_t)r;
            m->csr_pos[slot] = (int32_t)k;
        }
    for (int64_t c = m->cols; c > 0; c--) cp[c] = cp[c - 1];
    cp[0] = 0;
}
