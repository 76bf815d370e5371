/* FLOPs per example: forward dense / sparse, the method's training cost,
 * and the measured mean over the steps run. */
#include <math.h>

#include "trainer.h"

/* Output positions per example of the layer owning weight p (H_out*W_out
 * for a convolution, 1 for a linear layer). */
static int64_t out_positions(const spti_model *m, const spti_param *p) {
    for (int i = 0; i < m->n_leaves; i++) {
        const spti_layer *L = m->leaves[i];
        if (L->n_params > 0 && L->params[0] == p) return L->out_shape.h * L->out_shape.w;
    }
    return 1;
}

static double cfg_value(const spti_trainer *t, int key) { return t->cfg->value[key]; }

/* GMP: spt_flops_train_gmp over the configured schedule for the whole run,
 * from the initial sparsity to the target the configuration allocates. */
static int gmp_train_flops(const spti_trainer *t, double *out) {
    const int64_t L = t->n_weights, T = t->total_steps;
    if (L == 0) {
        *out = 0.0;
        return SPT_OK;
    }
    int32_t *ndim = spti_alloc(L, sizeof *ndim);
    int64_t *shape = spti_calloc(4 * L, sizeof *shape), *out_hw = spti_alloc(L, sizeof *out_hw);
    int64_t *nnz = spti_alloc(L, sizeof *nnz);
    uint8_t *keep = spti_calloc(L, sizeof *keep);
    double *final = spti_alloc(L, sizeof *final), *initial = spti_alloc(L, sizeof *initial);
    int rc = SPT_OK;
    if (!ndim || !shape || !out_hw || !nnz || !keep || !final || !initial)
        rc = spti_fail(SPT_ERR_NOMEM, "spt_trainer_flops: out of memory for the layer list");
    for (int64_t l = 0; rc == SPT_OK && l < L; l++) {
        const spti_param *p = t->weights[l];
        ndim[l] = p->ndim == 4 ? 4 : 2;
        shape[4 * l] = p->ndim == 4 ? p->shape[0] : p->rows;
        shape[4 * l + 1] = p->ndim == 4 ? p->shape[1] : p->cols;
        shape[4 * l + 2] = p->ndim == 4 ? p->shape[2] : 1;
        shape[4 * l + 3] = p->ndim == 4 ? p->shape[3] : 1;
        out_hw[l] = out_positions(t->model, p);
    }
    if (rc == SPT_OK) {
        if (cfg_value(t, SPT_MP_DENSE_FIRST) != 0.0) keep[0] = 1;
        if (cfg_value(t, SPT_MP_DENSE_LAST) != 0.0) keep[L - 1] = 1;
        if (t->cfg->n_densities == L) {
            for (int64_t l = 0; l < L; l++) final[l] = t->cfg->densities[l];
        } else {
            rc = spt_sparsity_allocate((int)cfg_value(t, SPT_MP_DISTRIBUTION), cfg_value(t, SPT_MP_SPARSITY), L,
                                       ndim, shape, keep, final, nnz, NULL);
        }
    }
    if (rc == SPT_OK) {
        const double s_i = cfg_value(t, SPT_MP_INITIAL_SPARSITY);
        for (int64_t l = 0; l < L; l++) initial[l] = keep[l] ? 1.0 : 1.0 - s_i;
        /* -1 = 10% / 75% of the run (method.h's knobs). */
        const double start = cfg_value(t, SPT_MP_PRUNE_START), end = cfg_value(t, SPT_MP_PRUNE_END);
        const int64_t t0 = start < 0 ? (int64_t)floor(0.10 * (double)T) : (int64_t)start;
        const int64_t t1 = end < 0 ? (int64_t)floor(0.75 * (double)T) : (int64_t)end;
        const int64_t freq = (int64_t)cfg_value(t, SPT_MP_PRUNE_FREQ);
        int64_t n = (t1 - t0) / freq;
        if (n < 1) n = 1;
        rc = spt_flops_train_gmp(L, ndim, shape, out_hw, initial, final, t0, n, freq, T, out);
    }
    spti_free(ndim);
    spti_free(shape);
    spti_free(out_hw);
    spti_free(nnz);
    spti_free(keep);
    spti_free(final);
    spti_free(initial);
    return rc;
}

static int method_train_flops(const spti_trainer *t, double fd, double fs, double *out) {
    switch (t->method_kind) {
    case SPT_METHOD_GMP: return gmp_train_flops(t, out);
    case SPT_METHOD_LOTTERY:
    case SPTI_TRAINER_CUSTOM_METHOD: *out = 3.0 * fs; return SPT_OK;
    case SPT_METHOD_DENSE: return spt_flops_train(SPT_METHOD_DENSE, fd, fd, 1, out);
    default: {
        int64_t dt = t->cfg ? (int64_t)cfg_value(t, SPT_MP_DELTA_T) : 1;
        return spt_flops_train(t->method_kind, fd, fs < fd ? fs : fd, dt, out);
    }
    }
}

int spt_trainer_flops(const spt_trainer *t, double *forward_dense, double *forward_sparse, double *train,
                      double *train_measured) {
    SPTI_CHECK_NULL(t);
    const double fd = spti_model_flops(t->model, true), fs = spti_model_flops(t->model, false);
    double tr = 0.0;
    if (train) SPTI_TRY(spti_trainer_prefix(__func__, method_train_flops(t, fd, fs, &tr)));
    if (forward_dense) *forward_dense = fd;
    if (forward_sparse) *forward_sparse = fs;
    if (train) *train = tr;
    if (train_measured) *train_measured = t->step ? t->train_flops_sum / (double)t->step : 0.0;
    return SPT_OK;
}
