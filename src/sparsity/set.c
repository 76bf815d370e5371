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
#include "dst.h"

static int set_begin_step(spti_method *m, int64_t step) { return SPT_OK; }

static int set_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    return SPT_OK;
}

static int set_after_step(spti_method *m, int64_t step) {
    if (!spti_dst_is_update(m, step)) return SPT_OK;
    return spti_dst_update(m, step, NULL, NULL);
}

static const int SET_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_SEED, SPT_MP_SPARSE_INIT, SPT_MP_EPSILON, SPT_MP_DELTA_T, SPT_MP_ALPHA, SPT_MP_T_END, SPT_MP_T_END_FRACTION, SPT_MP_DROP_SCHEDULE, SPT_MP_STRUCTURE, SPT_MP_STRUCTURE_N, SPT_MP_STRUCTURE_M, -1};

const spti_method_ops spti_method_set = {
    .id = SPT_METHOD_SET,
    .name = "set",
    .summary = "Mocanu et al. 2018: drop by magnitude, grow at random",
    .flags = SPTI_METHOD_INIT_SPARSIFIES | SPTI_METHOD_KEEPS_FORM,
    .keys = SET_KEYS,
    .structures = 1u << SPT_STRUCTURE_FANIN | 1u << SPT_STRUCTURE_NM | 1u << SPT_STRUCTURE_KERNEL,
    .create = spti_dst_create,
    .init = spti_dst_init,
    .begin_step = set_begin_step,
    .after_backward = set_after_backward,
    .after_step = set_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
};
