/* Method configuration: one table of keys with their types, domains, defaults
 * and descriptions, read by spt_method_config_set() and the public metadata. */
#include <math.h>
#include <string.h>

#include "method.h"
#include "method_config.h"

typedef struct {
    double def, lo, hi;  /* domain [lo, hi] */
    bool lo_open, hi_open;
    int type; /* spt_param_type; all but REAL take whole numbers */
    const char *name;
    const char *doc; /* one line (spt_method_param_doc) */
} key_info;

enum { T_REAL = SPT_PARAM_REAL, T_INT = SPT_PARAM_INTEGER, T_BOOL = SPT_PARAM_BOOLEAN, T_CHOICE = SPT_PARAM_CHOICE };

/* Order = the pinned key values. A choice key's domain is [0, n - 1] over
 * its CHOICES below. */
static const key_info KEYS[SPT_MP_COUNT_] = {
    [SPT_MP_SPARSITY] = {0.9, 0, 1, false, true, T_REAL, "sparsity",
                         "target overall sparsity of the convolution and linear weights"},
    [SPT_MP_DISTRIBUTION] = {SPT_DISTRIBUTION_ERK, 0, 2, false, false, T_CHOICE, "distribution",
                             "how the sparsity is spread over layers (per-layer densities)"},
    [SPT_MP_DENSE_FIRST] = {0, 0, 1, false, false, T_BOOL, "dense_first", "keep the first weight layer dense"},
    [SPT_MP_DENSE_LAST] = {0, 0, 1, false, false, T_BOOL, "dense_last", "keep the last weight layer dense"},
    [SPT_MP_DELTA_T] = {100, 1, 1e15, false, false, T_INT, "delta_t", "steps between topology updates"},
    [SPT_MP_ALPHA] = {0.3, 0, 1, false, false, T_REAL, "alpha",
                      "initial fraction of active weights dropped per update"},
    [SPT_MP_T_END] = {-1, -1, 1e15, false, false, T_INT, "t_end",
                      "step at which topology updates stop (-1: use t_end_fraction)"},
    [SPT_MP_T_END_FRACTION] = {0.75, 0, 1, false, false, T_REAL, "t_end_fraction",
                               "topology updates stop at this fraction of the run's steps"},
    [SPT_MP_DROP_SCHEDULE] = {SPT_DROP_COSINE, 0, 2, false, false, T_CHOICE, "drop_schedule",
                              "decay of the drop fraction over the run"},
    [SPT_MP_SNFS_MOMENTUM] = {0.9, 0, 1, false, true, T_REAL, "snfs_momentum",
                              "decay of the dense-gradient momentum used for growth"},
    [SPT_MP_PRUNE_START] = {-1, -1, 1e15, false, false, T_INT, "prune_start",
                            "first pruning step (-1: 10% of the run)"},
    [SPT_MP_PRUNE_END] = {-1, -1, 1e15, false, false, T_INT, "prune_end", "last pruning step (-1: 75% of the run)"},
    [SPT_MP_PRUNE_FREQ] = {100, 1, 1e15, false, false, T_INT, "prune_freq", "steps between pruning events"},
    [SPT_MP_INITIAL_SPARSITY] = {0, 0, 1, false, true, T_REAL, "initial_sparsity",
                                 "sparsity at the first pruning step"},
    [SPT_MP_GLOBAL] = {0, 0, 1, false, false, T_BOOL, "global",
                       "rank the weights of all layers together (1) or each layer on its own (0)"},
    [SPT_MP_LOTTERY_ROUNDS] = {0, 1, 1000, false, false, T_INT, "lottery_rounds",
                               "pruning rounds (unset, 0: as many as reach the sparsity at lottery_rate)"},
    [SPT_MP_LOTTERY_RATE] = {0.2, 0, 1, true, true, T_REAL, "lottery_rate",
                             "fraction of surviving weights pruned per round"},
    [SPT_MP_REWIND_STEP] = {0, 0, 1e15, false, false, T_INT, "rewind_step",
                            "step whose weights survivors are rewound to (0: initialisation)"},
    [SPT_MP_SCORE_BATCHES] = {1, 1, 1e6, false, false, T_INT, "score_batches",
                              "mini-batches used to score the weights"},
    [SPT_MP_SYNFLOW_ITERS] = {100, 1, 1e6, false, false, T_INT, "synflow_iters", "pruning iterations"},
    [SPT_MP_SEED] = {0, 0, 9007199254740992.0, false, false, T_INT, "seed",
                     "seed of the method's own random state (masks, ties, random growth)"},
    [SPT_MP_SPARSE_INIT] = {1, 0, 1, false, false, T_BOOL, "sparse_init",
                            "scale each sparse layer's initialisation by its nonzero fan-in"},
    [SPT_MP_EPSILON] = {0, 0, 1e9, false, false, T_REAL, "epsilon",
                        "er/erk: each layer's density is min(1, epsilon x its score) instead of a global sparsity "
                        "(0 = off)"},
    [SPT_MP_GROW_SAMPLE] = {0, 0, 1e9, false, false, T_REAL, "grow_sample",
                            "grow the best k of m x k random inactive positions and the k dropped, gradients computed "
                            "there alone (m; 0 = exact: the dense gradient at every position)"},
    [SPT_MP_STRUCTURE] = {SPT_STRUCTURE_UNSTRUCTURED, 0, 4, false, false, T_CHOICE, "structure",
                          "groups of weights kept or dropped together: unstructured, kernel, channel, nm, fanin"},
    [SPT_MP_STRUCTURE_N] = {2, 1, 1e6, false, false, T_INT, "structure_n",
                            "nm structure: at most N active weights in every M consecutive inputs of a row"},
    [SPT_MP_STRUCTURE_M] = {4, 1, 1e6, false, false, T_INT, "structure_m", "nm structure: the group length M"},
    [SPT_MP_ABLATION] = {0, 0, 1, false, false, T_REAL, "ablation",
                         "fanin RigL: remove a neuron whose salient weights fall below this fraction of its fan-in and "
                         "share its budget among the others (SRigL; 0 = off)"},
};

/* Names of the values of the choice keys, canonical names first (index =
 * value), then aliases. */
typedef struct {
    const char *name;
    int value;
} choice_name;

static const choice_name DISTRIBUTIONS[] = {{"uniform", SPT_DISTRIBUTION_UNIFORM},
                                            {"er", SPT_DISTRIBUTION_ERDOS_RENYI},
                                            {"erk", SPT_DISTRIBUTION_ERK},
                                            {"erdos_renyi", SPT_DISTRIBUTION_ERDOS_RENYI},
                                            {NULL, 0}};
static const choice_name DROP_SCHEDULES[] = {
    {"cosine", SPT_DROP_COSINE}, {"linear", SPT_DROP_LINEAR}, {"constant", SPT_DROP_CONSTANT}, {NULL, 0}};

static const choice_name STRUCTURES[] = {{"unstructured", SPT_STRUCTURE_UNSTRUCTURED},
                                         {"kernel", SPT_STRUCTURE_KERNEL},
                                         {"channel", SPT_STRUCTURE_CHANNEL},
                                         {"nm", SPT_STRUCTURE_NM},
                                         {"fanin", SPT_STRUCTURE_FANIN},
                                         {"n:m", SPT_STRUCTURE_NM},
                                         {NULL, 0}};

static const choice_name *choices(int key) {
    switch (key) {
    case SPT_MP_DISTRIBUTION:
        return DISTRIBUTIONS;
    case SPT_MP_DROP_SCHEDULE:
        return DROP_SCHEDULES;
    case SPT_MP_STRUCTURE:
        return STRUCTURES;
    default:
        return NULL;
    }
}

static bool known_key(int key) { return key >= 0 && key < SPT_MP_COUNT_; }

/* Whether `value` is in the domain of `key` (known). */
static bool in_domain(const key_info *k, double value) {
    return !isnan(value) && value >= k->lo && value <= k->hi && !(k->lo_open && value == k->lo) &&
           !(k->hi_open && value == k->hi) && !(k->type != SPT_PARAM_REAL && value != floor(value));
}

int spt_method_param_count(void) { return SPT_MP_COUNT_; }

const char *spt_method_param_name(int key) { return known_key(key) ? KEYS[key].name : NULL; }

const char *spt_method_param_doc(int key) { return known_key(key) ? KEYS[key].doc : NULL; }

int spt_method_param_from_name(const char *name, int *key) {
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(key);
    for (int k = 0; k < SPT_MP_COUNT_; k++)
        if (strcmp(name, KEYS[k].name) == 0) {
            *key = k;
            return SPT_OK;
        }
    return spti_fail(SPT_ERR_INVALID, "%s: unknown parameter \"%s\"", __func__, name);
}

int spt_method_param_type(int key, int *type) {
    SPTI_CHECK_NULL(type);
    if (!known_key(key)) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    *type = KEYS[key].type;
    return SPT_OK;
}

int spt_method_param_bounds(int key, double *lo, double *hi, int *flags) {
    if (!known_key(key)) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    const key_info *k = &KEYS[key];
    if (lo) *lo = k->lo;
    if (hi) *hi = k->hi;
    if (flags) *flags = (k->lo_open ? SPT_PARAM_LO_OPEN : 0) | (k->hi_open ? SPT_PARAM_HI_OPEN : 0);
    return SPT_OK;
}

int spt_method_param_default(int method, int key, double *value) {
    SPTI_CHECK_NULL(value);
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    if (!known_key(key)) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    double v = KEYS[key].def;
    for (const spti_key_value *d = ops->defaults; d && d->key >= 0; d++)
        if (d->key == key) v = d->value;
    *value = v;
    return SPT_OK;
}

int spt_method_uses_param(int method, int key, int *uses) {
    SPTI_CHECK_NULL(uses);
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    if (!known_key(key)) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    int u = 0;
    for (const int *k = ops->keys; k && *k >= 0; k++)
        if (*k == key) u = 1;
    *uses = u;
    return SPT_OK;
}

const char *spt_method_param_choice_name(int key, int value) {
    const choice_name *c = choices(key);
    if (!c || value < 0 || value > (int)KEYS[key].hi) return NULL;
    return c[value].name;
}

int spt_method_param_choice_from_name(int key, const char *name, int *value) {
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(value);
    if (!known_key(key)) return spti_fail(SPT_ERR_INVALID, "%s: unknown key %d", __func__, key);
    const choice_name *c = choices(key);
    if (!c) return spti_fail(SPT_ERR_INVALID, "%s: %s is not a choice", __func__, KEYS[key].name);
    for (; c->name; c++)
        if (strcmp(name, c->name) == 0) {
            *value = c->value;
            return SPT_OK;
        }
    return spti_fail(SPT_ERR_INVALID, "%s: unknown %s \"%s\"", __func__, KEYS[key].name, name);
}

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
    if (!in_domain(k, value))
        return spti_fail(SPT_ERR_INVALID, "%s: %s = %g is outside %s%g, %g%s%s", __func__, k->name, value,
                         k->lo_open ? "(" : "[", k->lo, k->hi, k->hi_open ? ")" : "]",
                         k->type != SPT_PARAM_REAL ? " (whole numbers)" : "");
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
