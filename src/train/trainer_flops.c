/* FLOPs per example: forward dense / sparse, the method's training cost,
 * and the measured mean over the steps run. */
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

/* The method's training FLOPs for this run (dense: 3 f_D). */
static int method_train_flops(const spti_trainer *t, double fd, double fs, double *out) {
    if (!t->method && !t->cfg) {
        *out = 3.0 * fd;
        return SPT_OK;
    }
    const spti_method_ops *ops = t->method ? t->method->ops : spti_method_find(t->cfg->method);
    int64_t *out_hw = spti_alloc_or_fail(t->n_weights > 0 ? t->n_weights : 1, sizeof *out_hw, "trainer: layer list");
    if (!out_hw) return SPT_ERR_NOMEM;
    for (int l = 0; l < t->n_weights; l++) out_hw[l] = out_positions(t->model, t->weights[l]);
    const spti_flops_query q = {
        .f_dense = fd,
        .f_sparse = fs < fd ? fs : fd,
        .delta_t = t->cfg ? (int64_t)t->cfg->value[SPT_MP_DELTA_T] : 1,
        .cfg = t->cfg,
        .weights = t->weights,
        .out_hw = out_hw,
        .n_weights = t->n_weights,
        .total_steps = t->total_steps,
    };
    int rc = spti_method_train_flops(ops, &q, out);
    spti_free(out_hw);
    return rc;
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
