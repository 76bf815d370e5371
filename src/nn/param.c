/* Lifecycle and form changes of a trainable parameter (see param.h). */
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "param.h"
#include "../kernels/grow_collector.h"
#include "../kernels/grow_sample.h"

/* The parameter record without storage: checks and identity. */
static int param_new(const char *name, int ndim, const int64_t *shape, bool is_weight, spti_param **out) {
    *out = NULL;
    if (ndim < 1 || ndim > 4) return spti_fail(SPT_ERR_SIZE, "param %s: ndim (%d) must be 1..4", name, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) return spti_fail(SPT_ERR_SIZE, "param %s: dimension %d is %lld", name, i, (long long)shape[i]);
    int64_t n;
    if (!spti_count_elems(shape, ndim, sizeof(float), &n) || n == 0)
        return spti_fail(SPT_ERR_SIZE, "param %s: invalid or overflowing shape", name);
    spti_param *p = spti_calloc(1, sizeof *p);
    if (!p) return spti_fail(SPT_ERR_NOMEM, "param %s: out of memory", name);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = SPTI_PARAM_DENSE;
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
    p->rows = shape[0];
    p->cols = n / shape[0];
    p->n = n;
    p->is_weight = is_weight;
    p->no_weight_decay = !is_weight;
    p->density = -1.0;
    *out = p;
    return SPT_OK;
}

/* Dense value and grad arrays, zeroed (calloc: untouched pages cost no memory). */
static int alloc_dense(spti_param *p) {
    float *value = spti_calloc(p->n, sizeof(float)), *grad = spti_calloc(p->n, sizeof(float));
    if (!value || !grad) {
        spti_free(value);
        spti_free(grad);
        return spti_fail(SPT_ERR_NOMEM, "param %s: out of memory for %lld dense values (%.3g GB)", p->name,
                         (long long)p->n, 8.0 * (double)p->n / 1e9);
    }
    p->value = value;
    p->grad = grad;
    return SPT_OK;
}

int spti_param_create(const char *name, int ndim, const int64_t *shape, bool is_weight, spti_param **out) {
    SPTI_TRY(param_new(name, ndim, shape, is_weight, out));
    int rc = alloc_dense(*out);
    if (rc != SPT_OK) {
        spti_param_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int spti_param_create_unallocated(const char *name, int ndim, const int64_t *shape, spti_param **out) {
    return param_new(name, ndim, shape, true, out);
}

void spti_param_destroy(spti_param *p) {
    if (!p) return;
    if (p->kind != SPTI_PARAM_SPARSE) spti_free(p->value);
    spt_csr_destroy(p->csr);
    spti_free(p->grad);
    spti_free(p->mask);
    for (int i = 0; i < SPTI_MAX_SLOTS; i++) spti_free(p->opt.slot[i]);
    spti_free(p->result.dense_grad);
    spti_grow_collector_destroy(p->result.grow);
    spti_sample_grad_destroy(p->result.sample);
    spti_grow_sample_destroy(p->request.sample);
    spti_csr_ws_release(&p->ws);
    spti_free(p);
}

int spti_param_ensure_slots(spti_param *p, int n_slots) {
    if (n_slots < 0 || n_slots > SPTI_MAX_SLOTS)
        return spti_fail(SPT_ERR_INTERNAL, "param %s: %d optimizer slots requested", p->name, n_slots);
    for (int i = 0; i < n_slots; i++)
        if (!p->opt.slot[i] && !(p->opt.slot[i] = spti_calloc_or_fail(p->n, sizeof(float), "optimizer slots")))
            return SPT_ERR_NOMEM;
    if (n_slots > p->opt.n_slots) p->opt.n_slots = n_slots;
    return SPT_OK;
}

static int check_positions(const spti_param *p, const int64_t *pos, int64_t nnz) {
    int64_t cells = p->rows * p->cols;
    if (nnz < 0 || nnz > cells)
        return spti_fail(SPT_ERR_SIZE, "param %s: %lld active entries for %lld cells", p->name, (long long)nnz,
                         (long long)cells);
    for (int64_t i = 0; i < nnz; i++)
        if (pos[i] < 0 || pos[i] >= cells || (i > 0 && pos[i] <= pos[i - 1]))
            return spti_fail(SPT_ERR_INVALID, "param %s: positions must be sorted, distinct and in [0, %lld)", p->name,
                             (long long)cells);
    return SPT_OK;
}

int spti_param_materialize(spti_param *p) {
    if (!spti_param_unallocated(p)) return SPT_OK;
    SPTI_TRY(alloc_dense(p));
    if (p->init_pending) {
        p->init_pending = false;
        spti_init_kaiming(p, &p->init_rng, false);
    }
    return SPT_OK;
}

int spti_param_sparsify(spti_param *p, const int64_t *pos, int64_t nnz) {
    if (p->kind == SPTI_PARAM_SPARSE) return spti_param_repattern(p, pos, nnz);
    SPTI_TRY(check_positions(p, pos, nnz));
    spt_csr *m;
    SPTI_TRY(spti_csr_alloc(p->rows, p->cols, nnz, &m));
    m->ndim = p->ndim;
    for (int i = 0; i < 4; i++) m->shape[i] = p->shape[i];
    float *grad = spti_calloc(nnz, sizeof(float));
    float *slots[SPTI_MAX_SLOTS] = {NULL};
    bool ok = grad != NULL;
    for (int s = 0; s < SPTI_MAX_SLOTS && ok; s++)
        if (p->opt.slot[s] && !(slots[s] = spti_alloc(nnz, sizeof(float)))) ok = false;
    if (!ok) {
        spt_csr_destroy(m);
        spti_free(grad);
        for (int s = 0; s < SPTI_MAX_SLOTS; s++) spti_free(slots[s]);
        return spti_fail(SPT_ERR_NOMEM, "param %s: out of memory sparsifying", p->name);
    }
    const bool unallocated = spti_param_unallocated(p); /* values: the pending init below, or zeros */
    for (int64_t k = 0; k < nnz; k++) {
        int64_t r = pos[k] / p->cols;
        m->row_ptr[r + 1]++;
        m->col_idx[k] = (int32_t)(pos[k] % p->cols);
        m->values[k] = unallocated ? 0.0f : p->value[pos[k]];
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if (slots[s]) slots[s][k] = p->opt.slot[s][pos[k]];
    }
    for (int64_t r = 0; r < p->rows; r++) m->row_ptr[r + 1] += m->row_ptr[r];
    spti_csr_build_transpose(m);
    spti_free(p->value);
    spti_free(p->grad);
    spti_free(p->mask);
    p->mask = NULL;
    for (int s = 0; s < SPTI_MAX_SLOTS; s++) {
        spti_free(p->opt.slot[s]);
        p->opt.slot[s] = slots[s];
    }
    p->csr = m;
    p->value = m->values;
    p->grad = grad;
    p->n = nnz;
    p->kind = SPTI_PARAM_SPARSE;
    if (unallocated && p->init_pending) { /* the active entries of the pending init alone */
        p->init_pending = false;
        spti_init_kaiming(p, &p->init_rng, false);
    }
    return SPT_OK;
}

int spti_param_mask(spti_param *p, const int64_t *pos, int64_t nnz) {
    if (p->kind == SPTI_PARAM_SPARSE)
        return spti_fail(SPT_ERR_STATE, "param %s: a sparse parameter cannot be masked", p->name);
    SPTI_TRY(check_positions(p, pos, nnz));
    SPTI_TRY(spti_param_materialize(p));
    if (!p->mask && !(p->mask = spti_alloc_or_fail(p->n, 1, "parameter mask"))) return SPT_ERR_NOMEM;
    memset(p->mask, 0, (size_t)p->n);
    for (int64_t k = 0; k < nnz; k++) p->mask[pos[k]] = 1;
    for (int64_t i = 0; i < p->n; i++)
        if (!p->mask[i]) {
            p->value[i] = 0.0f;
            p->grad[i] = 0.0f;
            for (int s = 0; s < SPTI_MAX_SLOTS; s++)
                if (p->opt.slot[s]) p->opt.slot[s][i] = 0.0f;
        }
    p->mask_nnz = nnz;
    p->kind = SPTI_PARAM_MASKED;
    return SPT_OK;
}

int spti_param_repattern(spti_param *p, const int64_t *pos, int64_t nnz) {
    if (p->kind != SPTI_PARAM_SPARSE)
        return spti_fail(SPT_ERR_STATE, "param %s: repattern needs a sparse parameter", p->name);
    SPTI_TRY(check_positions(p, pos, nnz));
    float *grad = spti_calloc(nnz, sizeof(float));
    if (!grad) return spti_fail(SPT_ERR_NOMEM, "param %s: out of memory for gradients", p->name);
    float **carry[SPTI_MAX_SLOTS];
    int n_carry = 0;
    for (int s = 0; s < SPTI_MAX_SLOTS; s++)
        if (p->opt.slot[s]) carry[n_carry++] = &p->opt.slot[s];
    int rc = spti_csr_repattern(p->csr, pos, nnz, carry, n_carry);
    if (rc != SPT_OK) {
        spti_free(grad);
        return rc;
    }
    spti_free(p->grad);
    p->grad = grad;
    p->value = p->csr->values;
    p->n = nnz;
    return SPT_OK;
}

void spti_param_to_dense(const spti_param *p, float *dense) {
    if (p->kind != SPTI_PARAM_SPARSE) {
        memcpy(dense, p->value, (size_t)p->n * sizeof(float));
        return;
    }
    const spt_csr *m = p->csr;
    memset(dense, 0, (size_t)(p->rows * p->cols) * sizeof(float));
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) dense[r * m->cols + m->col_idx[k]] = m->values[k];
}

int64_t spti_param_active_positions(const spti_param *p, int64_t *pos) {
    int64_t count = 0;
    if (p->kind == SPTI_PARAM_SPARSE) {
        const spt_csr *m = p->csr;
        for (int64_t r = 0; r < m->rows; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) {
                if (pos) pos[count] = r * m->cols + m->col_idx[k];
                count++;
            }
        return count;
    }
    for (int64_t i = 0; i < p->n; i++)
        if (p->kind == SPTI_PARAM_DENSE || p->mask[i]) {
            if (pos) pos[count] = i;
            count++;
        }
    return count;
}
