/* Conversions between CSR, dense and masked matrices. */
#include <string.h>

#include "csr.h"
#include "masked.h"

/* Keep entry i of a rows x cols matrix when mask[i] == 1 or, with no mask,
 * when values[i] != 0. Two passes: count, then fill. */
static int csr_from_values(const char *fn, int64_t rows, int64_t cols, const float *values, const uint8_t *mask,
                           spt_csr **out) {
    if (rows < 0 || cols < 0 || rows > INT32_MAX || cols > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: rows (%lld) and cols (%lld) must be in [0, 2^31)", fn, (long long)rows,
                         (long long)cols);
    int64_t cells = rows * cols, nnz = 0;
    for (int64_t i = 0; i < cells; i++) nnz += mask ? mask[i] != 0 : values[i] != 0.0f;
    if (nnz > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld nonzeros exceed the 2^31-1 limit", fn, (long long)nnz);
    spt_csr *m;
    SPTI_TRY(spti_csr_alloc(rows, cols, nnz, &m));
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *vr = values + r * cols;
        const uint8_t *mr = mask ? mask + r * cols : NULL;
        for (int64_t c = 0; c < cols; c++)
            if (mr ? mr[c] != 0 : vr[c] != 0.0f) {
                m->col_idx[k] = (int32_t)c;
                m->values[k++] = vr[c];
            }
        m->row_ptr[r + 1] = k;
    }
    spti_csr_build_transpose(m);
    *out = m;
    return SPT_OK;
}

int spt_csr_from_dense(int64_t rows, int64_t cols, const float *dense, spt_csr **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(dense);
    return csr_from_values(__func__, rows, cols, dense, NULL, out);
}

int spt_csr_from_masked(const spt_masked *m, spt_csr **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(m);
    return csr_from_values(__func__, m->rows, m->cols, m->values, m->mask, out);
}

int spt_csr_to_dense(const spt_csr *m, float *dense, int64_t n) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(dense);
    SPTI_TRY(spti_dense_fits(__func__, m->rows, m->cols, n));
    memset(dense, 0, (size_t)(m->rows * m->cols) * sizeof(float));
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) dense[r * m->cols + m->col_idx[k]] = m->values[k];
    return SPT_OK;
}

int spt_csr_to_masked(const spt_csr *m, spt_masked **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(m);
    spt_masked *mk;
    SPTI_TRY(spti_masked_alloc(m->rows, m->cols, &mk));
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) {
            int64_t i = r * m->cols + m->col_idx[k];
            mk->values[i] = m->values[k];
            mk->mask[i] = 1;
        }
    mk->nnz = m->nnz;
    *out = mk;
    return SPT_OK;
}
