/*
 * spti_method_create / spti_method_destroy: build the method a
 * configuration names (method.h). Dense training needs no method (NULL).
 */
#include "method_config.h"
#include "methods.h"

int spti_method_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                       spti_method **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(cfg);
    if (n_weights < 0) return spti_fail(SPT_ERR_SIZE, "%s: n_weights (%d) must be >= 0", __func__, n_weights);
    if (total_steps < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 0", __func__, (long long)total_steps);
    switch (cfg->method) {
    case SPT_METHOD_DENSE:
        return SPT_OK;
    case SPT_METHOD_STATIC:
        return spti_static_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_SET:
        return spti_set_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_RIGL:
        return spti_rigl_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_SNFS:
        return spti_snfs_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_GMP:
        return spti_gmp_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_LOTTERY:
        return spti_lottery_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_SNIP:
        return spti_snip_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_GRASP:
        return spti_grasp_create(cfg, weights, n_weights, total_steps, out);
    case SPT_METHOD_SYNFLOW:
        return spti_synflow_create(cfg, weights, n_weights, total_steps, out);
    default:
        return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, cfg->method);
    }
}

void spti_method_destroy(spti_method *m) {
    if (m) m->ops->destroy(m);
}
