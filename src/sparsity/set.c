/*
 * SET (Mocanu et al. 2018), as the RigL paper's baseline: every delta_t
 * steps until T_end, each sparse layer drops the k = floor(f(t) * nnz)
 * active weights of smallest magnitude and grows k positions chosen
 * uniformly at random among those not kept (a just-dropped position may be
 * chosen again and then keeps its value and optimizer state).
 *
 * Choices (documented in the report and here):
 *  - New weights start at exactly 0 with zeroed optimizer slots, as in the
 *    RigL paper's SET baseline (the original SET draws them at random).
 *  - The optimizer step is NOT skipped: as in the RigL reference code, the
 *    step's gradient is applied on the old pattern first and the topology
 *    moves afterwards, in after_step. Only RigL skips (its Algorithm 1).
 *  - No dense gradient is ever needed: growth costs O(rows * cols / 64)
 *    memory for the candidate bit set, O(rows * cols) time per update.
 */
#include "methods.h"

static int set_begin_step(spti_method *m, int64_t step) { return SPT_OK; }

static int set_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    return SPT_OK;
}

static int set_after_step(spti_method *m, int64_t step) {
    if (!spti_dst_is_update(m, step)) return SPT_OK;
    return spti_dst_update(m, step, NULL);
}

static const spti_method_ops SET_OPS = {
    .name = "set",
    .init = spti_dst_init,
    .begin_step = set_begin_step,
    .after_backward = set_after_backward,
    .after_step = set_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
    .end_round = NULL,
};

int spti_set_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                    spti_method **out) {
    return spti_dst_create(&SET_OPS, SPT_METHOD_SET, cfg, weights, n_weights, total_steps, out);
}
