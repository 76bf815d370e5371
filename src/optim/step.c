/* One optimizer step over a list of parameters: validate, allocate slots,
 * then update. Everything that can fail happens before the first write. */
#include <math.h>

#include "optim.h"

static int slots_needed(const spti_optimizer *opt) {
    if (opt->kind == SPT_OPTIMIZER_ADAM) return 2;
    return opt->momentum > 0.0 ? 1 : 0;
}

/* What a parameter had before this step allocated its slots. */
typedef struct slot_record {
    uint8_t missing; /* bit s: slot[s] was NULL */
    int n_slots;
} slot_record;

/* Give every parameter `need` slots (zeroed). On failure, free exactly the
 * slots this call allocated so that every parameter is as before. */
static int ensure_all_slots(spti_param *const *params, int64_t n_params, int need) {
    if (need == 0) return SPT_OK;
    slot_record *rec = spti_alloc_or_fail(n_params, sizeof *rec, "optimizer slot bookkeeping");
    if (!rec) return SPT_ERR_NOMEM;
    int rc = SPT_OK;
    int64_t k = 0;
    for (; k < n_params && rc == SPT_OK; k++) {
        spti_param *p = params[k];
        rec[k].missing = 0;
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if (!p->opt.slot[s]) rec[k].missing |= (uint8_t)(1u << s);
        rec[k].n_slots = p->opt.n_slots;
        rc = spti_param_ensure_slots(p, need);
    }
    if (rc != SPT_OK)
        for (int64_t j = 0; j < k; j++) {
            spti_param *p = params[j];
            for (int s = 0; s < SPTI_MAX_SLOTS; s++)
                if (rec[j].missing & (1u << s)) {
                    spti_free(p->opt.slot[s]);
                    p->opt.slot[s] = NULL;
                }
            p->opt.n_slots = rec[j].n_slots;
        }
    spti_free(rec);
    return rc;
}

int spti_optimizer_step(spti_optimizer *opt, spti_param *const *params, int64_t n_params, double lr) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(params);
    if (n_params < 0) return spti_fail(SPT_ERR_SIZE, "%s: n_params (%lld) must be >= 0", __func__, (long long)n_params);
    if (!isfinite(lr) || lr < 0.0) return spti_fail(SPT_ERR_INVALID, "%s: lr (%g) must be finite and >= 0", __func__, lr);
    if (opt->step == INT64_MAX) return spti_fail(SPT_ERR_STATE, "%s: step counter exhausted", __func__);
    for (int64_t k = 0; k < n_params; k++)
        if (!params[k]) return spti_fail(SPT_ERR_NULL, "%s: params[%lld] is NULL", __func__, (long long)k);
    SPTI_TRY(spti_params_check_finite(params, n_params));

    int need = slots_needed(opt);
    SPTI_TRY(ensure_all_slots(params, n_params, need));

    if (opt->kind == SPT_OPTIMIZER_SGD) {
        for (int64_t k = 0; k < n_params; k++) {
            spti_param *p = params[k];
            spti_sgd_args a = {.lr = (float)lr,
                               .momentum = (float)opt->momentum,
                               .wd = p->no_weight_decay ? 0.0f : (float)opt->weight_decay,
                               .nesterov = opt->nesterov};
            spti_sgd_update(&a, p->n, p->value, p->grad, need ? p->opt.slot[0] : NULL,
                            p->kind == SPTI_PARAM_MASKED ? p->mask : NULL);
        }
    } else {
        double t = (double)(opt->step + 1);
        double bc1 = 1.0 - pow(opt->beta1, t), bc2 = 1.0 - pow(opt->beta2, t);
        for (int64_t k = 0; k < n_params; k++) {
            spti_param *p = params[k];
            double wd = p->no_weight_decay ? 0.0 : opt->weight_decay;
            spti_adam_args a = {.decay_mul = (float)(1.0 - lr * wd),
                                .step_size = (float)(lr / bc1),
                                .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)),
                                .beta1 = (float)opt->beta1,
                                .beta2 = (float)opt->beta2,
                                .eps = (float)opt->eps,
                                .one_minus_beta1 = (float)(1.0 - opt->beta1),
                                .one_minus_beta2 = (float)(1.0 - opt->beta2),
                                .wd = (float)wd,
                                .decoupled = opt->decoupled};
            spti_adam_update(&a, p->n, p->value, p->grad, p->opt.slot[0], p->opt.slot[1],
                             p->kind == SPTI_PARAM_MASKED ? p->mask : NULL);
        }
    }
    opt->step++;
    return SPT_OK;
}
