/* Masked matrices: dense values with a 0/1 mask and an exact active count. */
#include <string.h>

#include "masked.h"

int spti_masked_alloc(int64_t rows, int64_t cols, spt_masked **out) {
    *out = NULL;
    int64_t dims[2] = {rows, cols}, cells;
    if (rows < 0 || cols < 0 || !spti_count_elems(dims, 2, sizeof(float), &cells))
        return spti_fail(SPT_ERR_SIZE, "masked: rows (%lld) and cols (%lld) must be >= 0 and their product must fit",
                         (long long)rows, (long long)cols);
    spt_masked *m = spti_calloc(1, sizeof *m);
    float *values = spti_calloc(cells, sizeof(float));
    uint8_t *mask = spti_calloc(cells, 1);
    if (!m || !values || !mask) {
        spti_free(m);
        spti_free(values);
        spti_free(mask);
        return spti_fail(SPT_ERR_NOMEM, "masked: out of memory for %lld x %lld", (long long)rows, (long long)cols);
    }
    m->rows = rows;
    m->cols = cols;
    m->values = values;
    m->mask = mask;
    *out = m;
    return SPT_OK;
}

int spt_masked_create(int64_t rows, int64_t cols, const float *values, const uint8_t *mask, spt_masked **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(values);
    SPTI_CHECK_NULL(mask);
    int64_t dims[2] = {rows, cols}, cells;
    if (rows < 0 || cols < 0 || !spti_count_elems(dims, 2, sizeof(float), &cells))
        return spti_fail(SPT_ERR_SIZE, "%s: rows (%lld) and cols (%lld) must be >= 0 and their product must fit",
                         __func__, (long long)rows, (long long)cols);
    int64_t nnz = 0;
    for (int64_t i = 0; i < cells; i++) {
        if (mask[i] > 1)
            return spti_fail(SPT_ERR_INVALID, "%s: mask[%lld] is %u, must be 0 or 1", __func__, (long long)i,
                             (unsigned)mask[i]);
        nnz += mask[i];
    }
    spt_masked *m;
    int rc = spti_masked_alloc(rows, cols, &m);
    if (rc != SPT_OK) return spti_fail(rc, "%s: out of memory for %lld x %lld", __func__, (long long)rows, (long long)cols);
    memcpy(m->mask, mask, (size_t)cells);
    for (int64_t i = 0; i < cells; i++) m->values[i] = mask[i] ? values[i] : 0.0f;
    m->nnz = nnz;
    *out = m;
    return SPT_OK;
}

void spt_masked_destroy(spt_masked *m) {
    if (!m) return;
    spti_free(m->values);
    spti_free(m->mask);
    spti_free(m);
}

int64_t spt_masked_rows(const spt_masked *m) { return m ? m->rows : -1; }
int64_t spt_masked_cols(const spt_masked *m) { return m ? m->cols : -1; }
int64_t spt_masked_nnz(const spt_masked *m) { return m ? m->nnz : -1; }
const float *spt_masked_values(const spt_masked *m) { return m ? m->values : NULL; }
const uint8_t *spt_masked_mask(const spt_masked *m) { return m ? m->mask : NULL; }

int spti_dense_fits(const char *func, int64_t rows, int64_t cols, int64_t n) {
    const int64_t cells = rows * cols;
    if (n < cells)
        return spti_fail(SPT_ERR_SIZE, "%s: dense holds %lld floats, the matrix has %lld", func, (long long)n,
                         (long long)cells);
    return SPT_OK;
}

int spt_masked_to_dense(const spt_masked *m, float *dense, int64_t n) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(dense);
    SPTI_TRY(spti_dense_fits(__func__, m->rows, m->cols, n));
    memcpy(dense, m->values, (size_t)(m->rows * m->cols) * sizeof(float));
    return SPT_OK;
}
