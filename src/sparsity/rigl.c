/*
 * RigL (Evci et al. 2020, Algorithm 1). On an update step t
 * (spt_drop_is_update_step(delta_t, T_end, t)):
 *   begin_step      asks every sparse weight whose k = floor(f(t) * nnz) is
 *                   > 0 for the dense gradient dL/dW of this mini-batch:
 *                   request.grow_k = k (a SPARSE linear or convolution layer
 *                   streams it in blocks into the weight's growth collector,
 *                   kernels/grow_collector.h: no rows x cols buffer) and
 *                   request.dense_grad (a layer that cannot stream would
 *                   fill dense_grad, rows x cols);
 *   after_backward  per sparse layer: drop the k active weights of smallest
 *                   |w|, grow the k positions of largest |g| among those not
 *                   kept (inactive ones and the k just dropped), from the
 *                   collector or from dense_grad (the same positions, ties
 *                   included: both paths compute g in the same row blocks
 *                   and select with the same seeded tie-break), repattern to
 *                   kept U grown (a re-grown dropped weight keeps its value
 *                   and optimizer slots; new ones start at 0 with zeroed
 *                   slots), and skip the optimizer step.
 * Other steps change nothing and do not skip.
 *
 * Sampled growth (SPT_MP_GROW_SAMPLE = m > 0), an approximation for layers
 * whose dense gradient is too costly: begin_step draws, per sparse layer
 * with k > 0, s = min(inactive, ceil(m k)) of its inactive positions
 * uniformly (spti_grow_sample_draw, seeded by the method's seed, the step
 * and the layer) into request.sample instead of asking for the dense
 * gradient; the backward computes dL/dW at those positions and at the
 * active entries alone (kernels/grow_sample.h: an SDDMM, O((s + nnz) x
 * batch)); after_backward grows the k of largest |g| among the sampled
 * positions and the k just dropped, with the same selection and seeded
 * tie-break. A sample of every inactive position takes the blocked dense
 * product of the exact path and grows exactly what exact RigL grows.
 * Memory O(s + nnz + rows) per layer, nothing rows x cols, freed after the
 * update.
 *
 * Memory: the collector holds O(k + nnz) floats, plus one block of the
 * blocked product while its layer's backward streams (freed when it ends).
 * It is freed right after the update, so between updates a layer holds
 * only its nonzeros. A layer whose k is 0 at this step asks for nothing.
 * Cost: docs/performance.md "RigL update cost". The blocked dense product
 * (one lane per thread, kernels/grow_collector.c) is most of it; the drop/grow of
 * the layers runs in parallel across layers (dst.c). Per update, MLP
 * 3072-4000-1000-4000-10, density 0.05-0.1, two threads: ~50-70 ms, 4-6
 * ordinary steps; in a real run with delta_t = 100, 1.5-1.8% of the run's
 * time at 90% sparsity, 2.3-2.4% at 95%, 3.3-3.7% at 99% (docs/results.md).
 */
#include "method_config.h"
#include "dst.h"

static int rigl_begin_step(spti_method *m, int64_t step) { return spti_dst_request_gradients(m, step, true); }

static int rigl_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    if (!spti_dst_is_update(m, step)) return SPT_OK;
    *skip_optimizer = true;
    float **scores = spti_calloc(m->n_weights, sizeof(float *));
    if (!scores) return spti_fail(SPT_ERR_NOMEM, "rigl: out of memory");
    for (int l = 0; l < m->n_weights; l++)
        if (spti_dst_is_sparse(m, l)) /* NULL: streamed into the collector, or begin_step was not called */
            scores[l] = m->weights[l]->result.dense_grad;
    int rc = spti_dst_update(m, step, NULL, scores);
    spti_free(scores);
    spti_dst_release_gradients(m);
    return rc;
}

static int rigl_after_step(spti_method *m, int64_t step) { return SPT_OK; }

/* (3 f_S delta_t + 2 f_S + f_D) / (delta_t + 1): an update step adds the
 * dense gradient (f_D) to the sparse forward and input gradient (2 f_S).
 * With sampled growth (a run's configuration with grow_sample > 0) the
 * update step's weight gradient costs f_S plus the sampled positions'
 * instead of f_D (spti_dst_sampled_update_flops). */
static int rigl_flops(const spti_flops_query *q, double *out) {
    if (q->delta_t < 1)
        return spti_fail(SPT_ERR_INVALID, "rigl flops: delta_t (%lld) must be >= 1", (long long)q->delta_t);
    const double dt = (double)q->delta_t;
    double grad = q->f_dense;
    if (q->cfg && q->weights && q->out_hw && q->cfg->value[SPT_MP_GROW_SAMPLE] > 0.0)
        SPTI_TRY(spti_dst_sampled_update_flops(q, &grad));
    *out = (3.0 * q->f_sparse * dt + 2.0 * q->f_sparse + grad) / (dt + 1.0);
    return SPT_OK;
}

static const int RIGL_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_SEED, SPT_MP_SPARSE_INIT, SPT_MP_EPSILON, SPT_MP_DELTA_T, SPT_MP_ALPHA, SPT_MP_T_END, SPT_MP_T_END_FRACTION, SPT_MP_DROP_SCHEDULE, SPT_MP_GROW_SAMPLE, SPT_MP_STRUCTURE, SPT_MP_STRUCTURE_N, SPT_MP_STRUCTURE_M, SPT_MP_ABLATION, -1};

const spti_method_ops spti_method_rigl = {
    .id = SPT_METHOD_RIGL,
    .name = "rigl",
    .summary = "Evci et al. 2020: drop by magnitude, grow by gradient",
    .flags = SPTI_METHOD_INIT_SPARSIFIES | SPTI_METHOD_KEEPS_FORM,
    .keys = RIGL_KEYS,
    .structures = 1u << SPT_STRUCTURE_FANIN | 1u << SPT_STRUCTURE_NM | 1u << SPT_STRUCTURE_KERNEL,
    .create = spti_dst_create,
    .train_flops = rigl_flops,
    .init = spti_dst_init,
    .begin_step = rigl_begin_step,
    .after_backward = rigl_after_backward,
    .after_step = rigl_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
};
