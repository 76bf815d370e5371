/* CSR getters, copying the arrays out, and the logical 4-D shape. */
#include <string.h>

#include "csr.h"

int64_t spt_csr_rows(const spt_csr *m) { return m ? m->rows : -1; }
int64_t spt_csr_cols(const spt_csr *m) { return m ? m->cols : -1; }
int64_t spt_csr_nnz(const spt_csr *m) { return m ? m->nnz : -1; }
const int64_t *spt_csr_row_ptr(const spt_csr *m) { return m ? m->row_ptr : NULL; }
const int32_t *spt_csr_col_idx(const spt_csr *m) { return m ? m->col_idx : NULL; }
float *spt_csr_values(spt_csr *m) { return m ? m->values : NULL; }

double spt_csr_density(const spt_csr *m) {
    if (!m) return -1.0;
    int64_t cells = m->rows * m->cols;
    return cells > 0 ? (double)m->nnz / (double)cells : 0.0;
}

int spt_csr_copy_out(const spt_csr *m, int64_t *row_ptr, int64_t row_ptr_len, int32_t *col_idx, float *values,
                     int64_t nnz_len) {
    SPTI_CHECK_NULL(m);
    if (row_ptr && row_ptr_len < m->rows + 1)
        return spti_fail(SPT_ERR_SIZE, "%s: row_ptr holds %lld entries, %lld needed", __func__, (long long)row_ptr_len,
                         (long long)(m->rows + 1));
    if ((col_idx || values) && nnz_len < m->nnz)
        return spti_fail(SPT_ERR_SIZE, "%s: col_idx/values hold %lld entries, %lld needed", __func__,
                         (long long)nnz_len, (long long)m->nnz);
    if (row_ptr) memcpy(row_ptr, m->row_ptr, (size_t)(m->rows + 1) * sizeof(int64_t));
    if (col_idx && m->nnz > 0) memcpy(col_idx, m->col_idx, (size_t)m->nnz * sizeof(int32_t));
    if (values && m->nnz > 0) memcpy(values, m->values, (size_t)m->nnz * sizeof(float));
    return SPT_OK;
}

int spt_csr_set_shape4(spt_csr *m, int64_t out, int64_t in, int64_t kh, int64_t kw) {
    SPTI_CHECK_NULL(m);
    int64_t dims[4] = {out, in, kh, kw}, inner;
    for (int i = 0; i < 4; i++)
        if (dims[i] < 1) return spti_fail(SPT_ERR_SIZE, "%s: dim %d (%lld) must be >= 1", __func__, i, (long long)dims[i]);
    if (out != m->rows || !spti_count_elems(dims + 1, 3, 1, &inner) || inner != m->cols)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld x %lld x %lld x %lld does not view as the %lld x %lld matrix", __func__,
                         (long long)out, (long long)in, (long long)kh, (long long)kw, (long long)m->rows,
                         (long long)m->cols);
    m->ndim = 4;
    memcpy(m->shape, dims, sizeof dims);
    return SPT_OK;
}

int spt_csr_ndim(const spt_csr *m) { return m ? m->ndim : -1; }

int64_t spt_csr_dim(const spt_csr *m, int i) { return m && i >= 0 && i < m->ndim ? m->shape[i] : -1; }
