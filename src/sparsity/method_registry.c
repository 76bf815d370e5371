/*
 * The registry: every method the library knows, by its pinned spt_method
 * value, and what is derived from it alone (names, creation, rounds,
 * training FLOPs). Adding a method: its file defines one
 * `const spti_method_ops`, and one line below lists it.
 */
#include <string.h>

#include "method_config.h"
#include "dst.h"
#include "structure.h"

static int dense_flops(const spti_flops_query *q, double *out) {
    *out = 3.0 * q->f_dense;
    return SPT_OK;
}

static const spti_key_value DENSE_DEFAULTS[] = {{SPT_MP_SPARSITY, 0.0}, {-1, 0}};

/* Dense training: no method object, every weight trained dense. */
static const spti_method_ops DENSE = {
    .id = SPT_METHOD_DENSE,
    .name = "dense",
    .summary = "ordinary dense training (no sparsity)",
    .defaults = DENSE_DEFAULTS,
    .train_flops = dense_flops,
};

/* Indexed by spt_method value. */
static const spti_method_ops *const METHODS[] = {
    [SPT_METHOD_DENSE] = &DENSE,
    [SPT_METHOD_STATIC] = &spti_method_static,
    [SPT_METHOD_SET] = &spti_method_set,
    [SPT_METHOD_SNFS] = &spti_method_snfs,
    [SPT_METHOD_RIGL] = &spti_method_rigl,
    [SPT_METHOD_GMP] = &spti_method_gmp,
    [SPT_METHOD_LOTTERY] = &spti_method_lottery,
    [SPT_METHOD_SNIP] = &spti_method_snip,
    [SPT_METHOD_GRASP] = &spti_method_grasp,
    [SPT_METHOD_SYNFLOW] = &spti_method_synflow,
    [SPT_METHOD_USER] = &spti_method_user,
};
enum { N_METHODS = sizeof METHODS / sizeof METHODS[0] };

const spti_method_ops *spti_method_find(int id) { return id >= 0 && id < N_METHODS ? METHODS[id] : NULL; }

int spt_method_count(void) { return N_METHODS; }

const char *spt_method_name(int method) {
    const spti_method_ops *ops = spti_method_find(method);
    return ops ? ops->name : NULL;
}

const char *spt_method_summary(int method) {
    const spti_method_ops *ops = spti_method_find(method);
    return ops ? ops->summary : NULL;
}

int spt_method_is_user(int method, int *is_user) {
    SPTI_CHECK_NULL(is_user);
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    *is_user = (ops->flags & SPTI_METHOD_USER_RULES) != 0;
    return SPT_OK;
}

int spt_method_from_name(const char *name, int *method) {
    SPTI_CHECK_NULL(name);
    SPTI_CHECK_NULL(method);
    for (int i = 0; i < N_METHODS; i++)
        if (strcmp(name, METHODS[i]->name) == 0) {
            *method = i;
            return SPT_OK;
        }
    return spti_fail(SPT_ERR_INVALID, "%s: unknown method \"%s\"", __func__, name);
}

int spti_method_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                       spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (n_weights < 0) return spti_fail(SPT_ERR_SIZE, "%s: n_weights (%d) must be >= 0", __func__, n_weights);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 0", __func__, (long long)total_steps);
    const spti_method_ops *ops = spti_method_find(cfg->method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, cfg->method);
    spti_structure s;
    SPTI_TRY(spti_structure_from_config(ops, cfg, &s));
    return ops->create ? ops->create(ops, cfg, weights, n_weights, total_steps, out) : SPT_OK;
}

void spti_method_destroy(spti_method *m) {
    if (m) m->ops->destroy(m);
}

int spt_method_config_rounds(const spt_method_config *cfg, int64_t *rounds) {
    SPTI_CHECK_NULL(cfg);
    SPTI_CHECK_NULL(rounds);
    const spti_method_ops *ops = spti_method_find(cfg->method);
    if (ops && ops->rounds) return ops->rounds(cfg, rounds);
    *rounds = 1;
    return SPT_OK;
}

int spti_method_train_flops(const spti_method_ops *ops, const spti_flops_query *q, double *out) {
    if (ops->train_flops) return ops->train_flops(q, out);
    *out = 3.0 * q->f_sparse;
    return SPT_OK;
}

int spt_method_supports_structure(int method, int structure, int *supported) {
    SPTI_CHECK_NULL(supported);
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    if (structure < SPT_STRUCTURE_UNSTRUCTURED || structure > SPT_STRUCTURE_FANIN)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown structure %d", __func__, structure);
    *supported = structure == SPT_STRUCTURE_UNSTRUCTURED || (ops->structures & (1u << structure)) != 0;
    return SPT_OK;
}
