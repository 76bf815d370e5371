/* Moving a CSR matrix's nonzeros to a new pattern (RigL, SET, ... every
 * Delta-T steps): one merge of the old and new sorted position lists,
 * O(nnz_old + nnz_new + rows + cols). */
#include <string.h>

#include "csr.h"

enum { MAX_CARRY = 8 };

int spti_csr_repattern(spt_csr *m, const int64_t *pos, int64_t new_nnz, float **carry[], int n_carry) {
    if (!m || (!pos && new_nnz > 0) || n_carry < 0 || n_carry > MAX_CARRY || (n_carry > 0 && !carry))
        return spti_fail(SPT_ERR_INTERNAL, "%s: invalid arguments", __func__);
    for (int a = 0; a < n_carry; a++)
        if (!carry[a] || !*carry[a]) return spti_fail(SPT_ERR_INTERNAL, "%s: carry[%d] is NULL", __func__, a);
    const int64_t rows = m->rows, cols = m->cols, cells = rows * cols;
    if (new_nnz < 0 || new_nnz > cells || new_nnz > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld nonzeros for a %lld x %lld matrix", __func__, (long long)new_nnz,
                         (long long)rows, (long long)cols);
    SPTI_TRY(spti_check_positions(__func__, pos, new_nnz, cells));

    /* Allocate everything first, so that a failure changes nothing. The
     * transposed index is only reallocated when it is too short. */
    bool grow_t = new_nnz > m->capacity;
    int32_t *col_idx = spti_alloc(new_nnz, sizeof(int32_t));
    float *values = spti_alloc(new_nnz, sizeof(float));
    int32_t *row_idx = grow_t ? spti_alloc(new_nnz, sizeof(int32_t)) : m->row_idx;
    int32_t *csr_pos = grow_t ? spti_alloc(new_nnz, sizeof(int32_t)) : m->csr_pos;
    float *out[MAX_CARRY] = {NULL};
    bool ok = col_idx && values && row_idx && csr_pos;
    for (int a = 0; a < n_carry && ok; a++) ok = (out[a] = spti_alloc(new_nnz, sizeof(float))) != NULL;
    if (!ok) {
        spti_free(col_idx);
        spti_free(values);
        if (grow_t) {
            spti_free(row_idx);
            spti_free(csr_pos);
        }
        for (int a = 0; a < n_carry; a++) spti_free(out[a]);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %lld nonzeros", __func__, (long long)new_nnz);
    }

    /* Row by row: the new positions of row r are merged with the old
     * entries row_ptr[r] .. row_ptr[r+1]-1 (both sorted by column). row_ptr
     * is rewritten in place: entry r+1 is read before it is overwritten. */
    int64_t *rp = m->row_ptr;
    int64_t j = 0, k = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t old_end = rp[r + 1], row_start = r * cols, row_end = row_start + cols;
        for (; j < new_nnz && pos[j] < row_end; j++) {
            const int32_t c = (int32_t)(pos[j] - row_start);
            while (k < old_end && m->col_idx[k] < c) k++;
            col_idx[j] = c;
            if (k < old_end && m->col_idx[k] == c) {
                values[j] = m->values[k];
                for (int a = 0; a < n_carry; a++) out[a][j] = (*carry[a])[k];
                k++;
            } else {
                values[j] = 0.0f;
                for (int a = 0; a < n_carry; a++) out[a][j] = 0.0f;
            }
        }
        k = old_end;
        rp[r + 1] = j;
    }

    spti_free(m->col_idx);
    spti_free(m->values);
    if (grow_t) {
        spti_free(m->row_idx);
        spti_free(m->csr_pos);
        m->row_idx = row_idx;
        m->csr_pos = csr_pos;
        m->capacity = new_nnz;
    }
    for (int a = 0; a < n_carry; a++) {
        spti_free(*carry[a]);
        *carry[a] = out[a];
    }
    m->col_idx = col_idx;
    m->values = values;
    m->nnz = new_nnz;
    /* col_idx and values now hold exactly new_nnz entries. */
    if (m->capacity > new_nnz) m->capacity = new_nnz;
    spti_csr_build_transpose(m);
    return SPT_OK;
}
