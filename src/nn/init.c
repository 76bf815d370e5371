/*
 * Weight initialisation. One draw per active entry in storage order (row by
 * row, increasing column), so the same pattern and seed give the same
 * values whether the weight is MASKED or SPARSE.
 */
#include <math.h>

#include "layers.h"

/* Calls f(ctx, row, stored index) for each active entry, row by row. */
typedef void (*entry_fn)(void *ctx, int64_t row, int64_t idx);

static void for_each_active(const spti_param *p, entry_fn f, void *ctx) {
    if (p->kind == SPTI_PARAM_SPARSE) {
        const spt_csr *m = p->csr;
        for (int64_t r = 0; r < m->rows; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) f(ctx, r, k);
        return;
    }
    for (int64_t i = 0; i < p->n; i++)
        if (p->kind == SPTI_PARAM_DENSE || p->mask[i]) f(ctx, i / p->cols, i);
}

/* Active entries of row r. */
static int64_t row_active(const spti_param *p, int64_t r) {
    if (p->kind == SPTI_PARAM_SPARSE) return p->csr->row_ptr[r + 1] - p->csr->row_ptr[r];
    if (p->kind == SPTI_PARAM_DENSE) return p->cols;
    int64_t c = 0;
    for (int64_t j = 0; j < p->cols; j++) c += p->mask[r * p->cols + j];
    return c;
}

typedef struct kaiming_ctx {
    spti_param *p;
    spti_rng *rng;
    bool sparse_aware;
    int64_t row;  /* row whose std is cached */
    float std;
} kaiming_ctx;

static void kaiming_entry(void *vctx, int64_t row, int64_t idx) {
    kaiming_ctx *c = vctx;
    if (row != c->row) {
        int64_t fan_in = c->sparse_aware ? row_active(c->p, row) : c->p->cols;
        c->std = (float)sqrt(2.0 / (double)fan_in); /* fan_in >= 1: the row has this entry */
        c->row = row;
    }
    c->p->value[idx] = c->std * spti_rng_normal(c->rng);
}

int spti_init_kaiming(spti_param *p, spti_rng *rng, bool sparse_aware) {
    SPTI_CHECK_NULL(p);
    SPTI_CHECK_NULL(rng);
    SPTI_TRY(spti_param_materialize(p)); /* a weight born without storage gets its dense form */
    kaiming_ctx c = {p, rng, sparse_aware, -1, 0.0f};
    for_each_active(p, kaiming_entry, &c);
    return SPT_OK;
}

typedef struct uniform_ctx {
    float *value;
    spti_rng *rng;
    float bound;
} uniform_ctx;

static void uniform_entry(void *vctx, int64_t row, int64_t idx) {
    (void)row;
    uniform_ctx *c = vctx;
    c->value[idx] = c->bound * (2.0f * spti_rng_uniform(c->rng) - 1.0f);
}

int spti_init_uniform(spti_param *w, spti_param *bias, spti_rng *rng) {
    SPTI_CHECK_NULL(w);
    SPTI_CHECK_NULL(rng);
    SPTI_TRY(spti_param_materialize(w));
    if (bias) SPTI_TRY(spti_param_materialize(bias));
    uniform_ctx c = {w->value, rng, (float)(1.0 / sqrt((double)w->cols))};
    for_each_active(w, uniform_entry, &c);
    if (bias) {
        c.value = bias->value;
        for_each_active(bias, uniform_entry, &c);
    }
    return SPT_OK;
}

int spti_init_zero(spti_param *p) {
    SPTI_CHECK_NULL(p);
    SPTI_TRY(spti_param_materialize(p));
    for (int64_t i = 0; i < p->n; i++) p->value[i] = 0.0f;
    return SPT_OK;
}
