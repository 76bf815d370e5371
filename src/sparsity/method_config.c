/* Method configuration: one table of keys with their domains and defaults. */
#include <math.h>
#include <string.h>

#include "method.h"
#include "method_config.h"

typedef struct {
    double def, lo, hi;  /* domain [lo, hi] */
    bool lo_open, hi_open;
    bool integer;
    const char *name;
} key_info;

/* Order = the pinned key values. */
static const key_info KEYS[SPT_MP_COUNT_] = {
    [SPT_MP_SPARSITY] = {0.9, 0, 1, false, true, false, "sparsity"},
    [SPT_MP_DISTRIBUTION] = {SPT_DISTRIBUTION_ERK, 0, 2, false, false, true, "distribution"},
    [SPT_MP_DENSE_FIRST] = {0, 0, 1, false, false, true, "dense_first"},
    [SPT_MP_DENSE_LAST] = {0, 0, 1, false, false, true, "dense_last"},
    [SPT_MP_DELTA_T] = {100, 1, 1e15, false, false, true, "delta_t"},
    [SPT_MP_ALPHA] = {0.3, 0, 1, false, false, false, "alpha"},
    [SPT_MP_T_END] = {-1, -1, 1e15, false, false, true, "t_end"},
    [SPT_MP_T_END_FRACTION] = {0.75, 0, 1, false, false, false, "t_end_fraction"},
    [SPT_MP_DROP_SCHEDULE] = {SPT_DROP_COSINE, 0, 2, false, false, true, "drop_schedule"},
    [SPT_MP_SNFS_MOMENTUM] = {0.9, 0, 1, false, true, false, "snfs_momentum"},
    [SPT_MP_PRUNE_START] = {-1, -1, 1e15, false, false, true, "prune_start"},
    [SPT_MP_PRUNE_END] = {-1, -1, 1e15, false, false, true, "prune_end"},
    [SPT_MP_PRUNE_FREQ] = {100, 1, 1e15, false, false, true, "prune_freq"},
    [SPT_MP_INITIAL_SPARSITY] = {0, 0, 1, false, true, false, "initial_sparsity"},
    [SPT_MP_GLOBAL] = {0, 0, 1, false, false, true, "global"},
    [SPT_MP_LOTTERY_ROUNDS] = {0, 1, 1000, false, false, true, "lottery_rounds"},
    [SPT_MP_LOTTERY_RATE] = {0.2, 0, 1, true, true, false, "lottery_rate"},
    [SPT_MP_REWIND_STEP] = {0, 0, 1e15, false, false, true, "rewind_step"},
    [SPT_MP_SCORE_BATCHES] = {1, 1, 1e6, false, false, true, "score_batches"},
    [SPT_MP_SYNFLOW_ITERS] = {100, 1, 1e6, false, false, true, "synflow_iters"},
    [SPT_MP_SEED] = {0, 0, 9007199254740992.0, false, false, true, "seed"},
    [SPT_MP_SPARSE_INIT] = {0, 0, 1, false, false, true, "sparse_init"},
};

int spti_method_config_new(const spti_method_ops *ops, spt_method_config **out) {
    *out = NULL;
    spt_method_config *c = spti_calloc(1, sizeof *c);
    if (!c) return spti_fail(SPT_ERR_NOMEM, "method config: out of memory");
    c->method = ops->id;
    for (int k = 0; k < SPT_MP_COUNT_; k++) c->value[k] = KEYS[k].def;
    for (const spti_key_value *d = ops->defaults; d && d->key >= 0; d++) c->value[d->key] = d->value;
    *out = c;
    return SPT_OK;
}

int spt_method_config_create(int method, spt_method_config **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    if (ops->flags & SPTI_METHOD_USER_RULES)
        return spti_fail(SPT_ERR_INVALID, "%s: method \"%s\" needs its criteria: use spt_method_config_create_user",
                         __func__, ops->name);
    return spti_method_config_new(ops, out);
}

void spt_method_config_destroy(spt_method_config *cfg) {
    if (!cfg) return;
    spti_free(cfg->user);
    spti_free(cfg->densities);
    spti_free(cfg);
}

int spt_method_config_set(spt_method_config *cfg, int key, double value) {
    SPTI_CHECK_NULL(cfg);
    if (key < 0 || key >= SPT_MP_COUNT_) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    const key_info *k = &KEYS[key];
    bool ok = !isnan(value) && value >= k->lo && value <= k->hi && !(k->lo_open && value == k->lo) &&
              !(k->hi_open && value == k->hi) && !(k->integer && value != floor(value));
    if (!ok)
        return spti_fail(SPT_ERR_INVALID, "%s: %s = %g is outside %s%g, %g%s%s", __func__, k->name, value,
                         k->lo_open ? "(" : "[", k->lo, k->hi, k->hi_open ? ")" : "]",
                         k->integer ? " (whole numbers)" : "");
    cfg->value[key] = value;
    cfg->was_set[key] = true;
    return SPT_OK;
}

int spt_method_config_get(const spt_method_config *cfg, int key, double *value) {
    SPTI_CHECK_NULL(cfg);
    SPTI_CHECK_NULL(value);
    if (key < 0 || key >= SPT_MP_COUNT_) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    *value = cfg->value[key];
    return SPT_OK;
}

int spt_method_config_method(const spt_method_config *cfg, int *method) {
    SPTI_CHECK_NULL(cfg);
    SPTI_CHECK_NULL(method);
    *method = cfg->method;
    return SPT_OK;
}

int spt_method_config_set_densities(spt_method_config *cfg, const double *densities, int64_t n) {
    SPTI_CHECK_NULL(cfg);
    if (n < 0) return spti_fail(SPT_ERR_SIZE, "%s: n (%lld) must be >= 0", __func__, (long long)n);
    if (n == 0) {
        spti_free(cfg->densities);
        cfg->densities = NULL;
        cfg->n_densities = 0;
        return SPT_OK;
    }
    SPTI_CHECK_NULL(densities);
    for (int64_t i = 0; i < n; i++)
        if (!(densities[i] > 0.0 && densities[i] <= 1.0))
            return spti_fail(SPT_ERR_INVALID, "%s: density[%lld] = %g is outside (0, 1]", __func__, (long long)i,
                             densities[i]);
    double *copy = spti_alloc(n, sizeof(double));
    if (!copy) return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
    memcpy(copy, densities, (size_t)n * sizeof(double));
    spti_free(cfg->densities);
    cfg->densities = copy;
    cfg->n_densities = n;
    return SPT_OK;
}

int spti_method_config_clone(const spt_method_config *cfg, spt_method_config **out) {
    *out = NULL;
    spt_method_config *c = spti_alloc(1, sizeof *c);
    if (!c) return spti_fail(SPT_ERR_NOMEM, "method config: out of memory");
    *c = *cfg;
    c->densities = NULL;
    c->user = NULL;
    if (cfg->user && !(c->user = spti_alloc(1, sizeof *c->user))) {
        spti_free(c);
        return spti_fail(SPT_ERR_NOMEM, "method config: out of memory");
    }
    if (cfg->user) *c->user = *cfg->user;
    if (cfg->n_densities > 0) {
        c->densities = spti_alloc(cfg->n_densities, sizeof(double));
        if (!c->densities) {
            spt_method_config_destroy(c);
            return spti_fail(SPT_ERR_NOMEM, "method config: out of memory");
        }
        memcpy(c->densities, cfg->densities, (size_t)cfg->n_densities * sizeof(double));
    }
    *out = c;
    return SPT_OK;
}
