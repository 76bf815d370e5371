/*
 * spti_method_create / spti_method_destroy: build the method a
 * configuration names (method.h). Dense training needs no method (NULL).
 */
#include "method_config.h"
#include "methods.h"

/* A method constructor (methods.h). */
typedef int (*method_ctor)(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                           spti_method **out);

/* The constructor of each method, indexed by its spt_method value (pinned). */
static const method_ctor CTORS[] = {
    [SPT_METHOD_STATIC] = spti_static_create, [SPT_METHOD_SET] = spti_set_create,
    [SPT_METHOD_RIGL] = spti_rigl_create,     [SPT_METHOD_SNFS] = spti_snfs_create,
    [SPT_METHOD_GMP] = spti_gmp_create,       [SPT_METHOD_LOTTERY] = spti_lottery_create,
    [SPT_METHOD_SNIP] = spti_snip_create,     [SPT_METHOD_GRASP] = spti_grasp_create,
    [SPT_METHOD_SYNFLOW] = spti_synflow_create,
};

int spti_method_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                       spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (n_weights < 0) return spti_fail(SPT_ERR_SIZE, "%s: n_weights (%d) must be >= 0", __func__, n_weights);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 0", __func__, (long long)total_steps);
    if (cfg->method == SPT_METHOD_DENSE) return SPT_OK;
    const int k = cfg->method;
    if (k < 0 || k >= (int)(sizeof CTORS / sizeof CTORS[0]) || !CTORS[k])
        return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, k);
    return CTORS[k](cfg, weights, n_weights, total_steps, out);
}

void spti_method_destroy(spti_method *m) {
    if (m) m->ops->destroy(m);
}
