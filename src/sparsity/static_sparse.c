/*
 * Static sparse training: the topology sampled at init (allocator or
 * explicit densities, uniform random positions per layer) never changes.
 * Every per-step hook is a no-op.
 */
#include "methods.h"

static int static_begin_step(spti_method *m, int64_t step) { return SPT_OK; }

static int static_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    return SPT_OK;
}

static int static_after_step(spti_method *m, int64_t step) { return SPT_OK; }

static const spti_method_ops STATIC_OPS = {
    .name = "static",
    .init = spti_dst_init,
    .begin_step = static_begin_step,
    .after_backward = static_after_backward,
    .after_step = static_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
    .end_round = NULL,
};

int spti_static_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                       spti_method **out) {
    return spti_dst_create(&STATIC_OPS, SPT_METHOD_STATIC, cfg, weights, n_weights, total_steps, out);
}
