/* The optimizer handle: creation, hyper-parameters and their domains. */
#include <math.h>

#include "optim.h"

static void set_defaults(spti_optimizer *o, int kind) {
    o->kind = kind;
    o->lr = kind == SPT_OPTIMIZER_SGD ? 0.1 : 1e-3;
    o->momentum = 0.0;
    o->nesterov = false;
    o->weight_decay = 0.0;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->decoupled = false;
    o->step = 0;
}

int spt_optimizer_create(int kind, spt_optimizer **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    if (kind != SPT_OPTIMIZER_SGD && kind != SPT_OPTIMIZER_ADAM)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown optimizer kind %d", __func__, kind);
    spti_optimizer *o = spti_calloc_or_fail(1, sizeof *o, "optimizer");
    if (!o) return SPT_ERR_NOMEM;
    set_defaults(o, kind);
    *out = o;
    return SPT_OK;
}

void spt_optimizer_destroy(spt_optimizer *opt) { spti_free(opt); }

static const char *kind_name(int kind) { return kind == SPT_OPTIMIZER_SGD ? "SGD" : "Adam"; }

/* Which kinds accept a key: bit 0 SGD, bit 1 Adam; 0 = unknown key. */
static int key_kinds(int which) {
    switch (which) {
    case SPT_OPT_LR:
    case SPT_OPT_WEIGHT_DECAY: return 3;
    case SPT_OPT_MOMENTUM:
    case SPT_OPT_NESTEROV: return 1;
    case SPT_OPT_BETA1:
    case SPT_OPT_BETA2:
    case SPT_OPT_EPS:
    case SPT_OPT_DECOUPLED_WEIGHT_DECAY: return 2;
    default: return 0;
    }
}

static int check_key(int kind, int which, const char *caller) {
    int kinds = key_kinds(which);
    if (kinds == 0) return spti_fail(SPT_ERR_INVALID, "%s: unknown optimizer parameter %d", caller, which);
    if (!(kinds & (1 << kind)))
        return spti_fail(SPT_ERR_INVALID, "%s: parameter %d does not apply to %s", caller, which, kind_name(kind));
    return SPT_OK;
}

int spti_optimizer_set(spti_optimizer *opt, int which, double value, const char *caller) {
    SPTI_TRY(check_key(opt->kind, which, caller));
    bool ok;
    switch (which) {
    case SPT_OPT_LR: ok = isfinite(value) && value > 0.0; break;
    case SPT_OPT_MOMENTUM:
    case SPT_OPT_BETA1:
    case SPT_OPT_BETA2: ok = value >= 0.0 && value < 1.0; break;
    case SPT_OPT_WEIGHT_DECAY: ok = isfinite(value) && value >= 0.0; break;
    case SPT_OPT_EPS: ok = isfinite(value) && value > 0.0; break;
    default: ok = value == 0.0 || value == 1.0; break; /* the two flags */
    }
    if (!ok) {
        static const char *const domain[] = {"finite and > 0", "in [0, 1)", "0 or 1",    "finite and >= 0",
                                             "in [0, 1)",      "in [0, 1)", "finite and > 0", "0 or 1"};
        return spti_fail(SPT_ERR_INVALID, "%s: parameter %d = %g must be %s", caller, which, value, domain[which]);
    }
    switch (which) {
    case SPT_OPT_LR: opt->lr = value; break;
    case SPT_OPT_MOMENTUM: opt->momentum = value; break;
    case SPT_OPT_NESTEROV: opt->nesterov = value != 0.0; break;
    case SPT_OPT_WEIGHT_DECAY: opt->weight_decay = value; break;
    case SPT_OPT_BETA1: opt->beta1 = value; break;
    case SPT_OPT_BETA2: opt->beta2 = value; break;
    case SPT_OPT_EPS: opt->eps = value; break;
    default: opt->decoupled = value != 0.0; break;
    }
    return SPT_OK;
}

int spt_optimizer_set_param(spt_optimizer *opt, int param, double value) {
    SPTI_CHECK_NULL(opt);
    return spti_optimizer_set(opt, param, value, __func__);
}

int spt_optimizer_get_param(const spt_optimizer *opt, int param, double *value) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(value);
    SPTI_TRY(check_key(opt->kind, param, __func__));
    switch (param) {
    case SPT_OPT_LR: *value = opt->lr; break;
    case SPT_OPT_MOMENTUM: *value = opt->momentum; break;
    case SPT_OPT_NESTEROV: *value = opt->nesterov ? 1.0 : 0.0; break;
    case SPT_OPT_WEIGHT_DECAY: *value = opt->weight_decay; break;
    case SPT_OPT_BETA1: *value = opt->beta1; break;
    case SPT_OPT_BETA2: *value = opt->beta2; break;
    case SPT_OPT_EPS: *value = opt->eps; break;
    default: *value = opt->decoupled ? 1.0 : 0.0; break;
    }
    return SPT_OK;
}

int spt_optimizer_get_kind(const spt_optimizer *opt, int *kind) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(kind);
    *kind = opt->kind;
    return SPT_OK;
}

int spt_optimizer_get_step(const spt_optimizer *opt, int64_t *step) {
    SPTI_CHECK_NULL(opt);
    SPTI_CHECK_NULL(step);
    *step = opt->step;
    return SPT_OK;
}
