/*
 * Static sparse training: the topology sampled at init (allocator or
 * explicit densities, uniform random positions per layer) never changes.
 * Every per-step hook is a no-op.
 */
#include "dst.h"

static int static_begin_step(spti_method *m, int64_t step) { return SPT_OK; }

static int static_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    return SPT_OK;
}

static int static_after_step(spti_method *m, int64_t step) { return SPT_OK; }

static const int STATIC_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_SEED, SPT_MP_SPARSE_INIT, SPT_MP_EPSILON, SPT_MP_STRUCTURE, SPT_MP_STRUCTURE_N, SPT_MP_STRUCTURE_M, -1};

const spti_method_ops spti_method_static = {
    .id = SPT_METHOD_STATIC,
    .name = "static",
    .summary = "a fixed random sparse topology",
    .flags = SPTI_METHOD_INIT_SPARSIFIES | SPTI_METHOD_KEEPS_FORM,
    .keys = STATIC_KEYS,
    .structures = 1u << SPT_STRUCTURE_FANIN | 1u << SPT_STRUCTURE_NM | 1u << SPT_STRUCTURE_KERNEL,
    .create = spti_dst_create,
    .init = spti_dst_init,
    .begin_step = static_begin_step,
    .after_backward = static_after_backward,
    .after_step = static_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
};
