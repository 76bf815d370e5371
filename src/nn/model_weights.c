/* Copy-out of a primitive layer's weight (sparsetrain/model.h, "weights"):
 * CSR arrays of the active entries, or the dense matrix. Reads the model
 * only; the arrays are built from whichever form the parameter has. */
#include <string.h>

#include "model.h"

/* The weight parameter of leaf i, or a recorded failure. */
static int layer_weight_param(const char *func, const spt_model *m, int64_t i, const spti_param **out) {
    if (i < 0 || i >= m->n_leaves)
        return spti_fail(SPT_ERR_INVALID, "%s: layer index %lld outside [0, %d)", func, (long long)i, m->n_leaves);
    const spti_layer *L = m->leaves[i];
    if (L->n_params < 1 || !L->params[0]->is_weight)
        return spti_fail(SPT_ERR_INVALID, "%s: layer %lld (\"%s\", %s) has no weight", func, (long long)i, L->name,
                         L->ops->kind);
    *out = L->params[0];
    return SPT_OK;
}

int spt_model_layer_weight_csr(const spt_model *m, int64_t i, int64_t *row_ptr, int64_t row_ptr_len,
                               int32_t *col_idx, float *values, int64_t nnz_len) {
    SPTI_CHECK_NULL(m);
    const spti_param *p = NULL;
    SPTI_TRY(layer_weight_param(__func__, m, i, &p));
    SPTI_TRY(spti_param_materialize((spti_param *)p)); /* an unallocated weight gets its dense storage and init */
    if (p->cols > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld columns do not fit int32 column indices", __func__,
                         (long long)p->cols);
    int64_t nnz = spti_param_active_positions(p, NULL);
    if (row_ptr && row_ptr_len < p->rows + 1)
        return spti_fail(SPT_ERR_SIZE, "%s: row_ptr_len %lld < rows + 1 = %lld", __func__, (long long)row_ptr_len,
                         (long long)(p->rows + 1));
    if ((col_idx || values) && nnz_len < nnz)
        return spti_fail(SPT_ERR_SIZE, "%s: nnz_len %lld < nnz %lld", __func__, (long long)nnz_len, (long long)nnz);

    if (p->kind == SPTI_PARAM_SPARSE) {
        /* The stored CSR is already in this form: rows, sorted columns. */
        const spt_csr *c = p->csr;
        if (row_ptr) memcpy(row_ptr, c->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t));
        if (col_idx) memcpy(col_idx, c->col_idx, (size_t)nnz * sizeof(int32_t));
        if (values) memcpy(values, c->values, (size_t)nnz * sizeof(float));
        return SPT_OK;
    }
    /* DENSE (every entry active) or MASKED (mask = 1 entries): value is
     * rows x cols row-major; walk it row by row. */
    int64_t k = 0;
    if (row_ptr) row_ptr[0] = 0;
    for (int64_t r = 0; r < p->rows; r++) {
        for (int64_t c = 0; c < p->cols; c++) {
            int64_t at = r * p->cols + c;
            if (p->kind == SPTI_PARAM_MASKED && !p->mask[at]) continue;
            if (col_idx) col_idx[k] = (int32_t)c;
            if (values) values[k] = p->value[at];
            k++;
        }
        if (row_ptr) row_ptr[r + 1] = k;
    }
    return SPT_OK;
}

int spt_model_layer_weight_dense(const spt_model *m, int64_t i, float *dense, int64_t n) {
    SPTI_CHECK_NULL(m);
    SPTI_CHECK_NULL(dense);
    const spti_param *p = NULL;
    SPTI_TRY(layer_weight_param(__func__, m, i, &p));
    SPTI_TRY(spti_param_materialize((spti_param *)p)); /* an unallocated weight gets its dense storage and init */
    int64_t size = p->rows * p->cols; /* fits: the parameter holds or held it densely */
    if (n < size)
        return spti_fail(SPT_ERR_SIZE, "%s: n %lld < rows*cols %lld", __func__, (long long)n, (long long)size);
    spti_param_to_dense(p, dense);
    return SPT_OK;
}
