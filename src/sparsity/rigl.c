/*
 * RigL (Evci et al. 2020, Algorithm 1). On an update step t
 * (spt_drop_is_update_step(delta_t, T_end, t)):
 *   begin_step      asks every sparse weight whose k = floor(f(t) * nnz) is
 *                   > 0 for the dense gradient dL/dW of this mini-batch:
 *                   want_grow_k = k (a SPARSE linear layer streams it in row
 *                   blocks into the weight's growth collector,
 *                   kernels/grow_collector.h: no rows x cols buffer) and
 *                   want_dense_grad (layers that cannot stream, e.g. conv,
 *                   fill dense_grad, rows x cols, as before);
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
 * Memory: the collector holds O(k + nnz) floats plus one ~1 MiB block; a
 * dense_grad (conv layers) is rows x cols. Both are freed right after the
 * update, so between updates a layer holds only its nonzeros. A layer whose
 * k is 0 at this step asks for nothing.
 * Cost: docs/performance.md "RigL update cost". The blocked dense product
 * (one lane per thread, kernels/grow_collector.c) is most of it; the drop/grow of
 * the layers runs in parallel across layers (dst_method.c). Per update, MLP
 * 3072-4000-1000-4000-10, density 0.05-0.1, two threads: ~50-70 ms, 4-6
 * ordinary steps; in a real run with delta_t = 100, 1.5-1.8% of the run's
 * time at 90% sparsity, 2.3-2.4% at 95%, 3.3-3.7% at 99% (docs/results.md).
 */
#include "methods.h"

static int rigl_begin_step(spti_method *m, int64_t step) {
    bool update = spti_dst_is_update(m, step);
    /* A layer that moves no weight (k == 0) needs no dense gradient. */
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!spti_dst_is_sparse(m, l)) continue;
        const int64_t k = update ? spti_dst_drop_count(m, step, p->n) : 0;
        p->want_dense_grad = k > 0;
        p->want_grow_k = k;
        if (p->grow) p->grow->filled = false; /* only this step's backward counts */
    }
    return SPT_OK;
}

static int rigl_after_backward(spti_method *m, int64_t step, bool *skip_optimizer) {
    SPTI_CHECK_NULL(skip_optimizer);
    *skip_optimizer = false;
    if (!spti_dst_is_update(m, step)) return SPT_OK;
    *skip_optimizer = true;
    float **scores = spti_calloc(m->n_weights, sizeof(float *));
    if (!scores) return spti_fail(SPT_ERR_NOMEM, "rigl: out of memory");
    for (int l = 0; l < m->n_weights; l++)
        if (spti_dst_is_sparse(m, l)) /* NULL: streamed into the collector, or begin_step was not called */
            scores[l] = m->weights[l]->dense_grad;
    int rc = spti_dst_update(m, step, scores);
    spti_free(scores);
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!spti_dst_is_sparse(m, l)) continue;
        p->want_dense_grad = false;
        p->want_grow_k = 0;
        spti_free(p->dense_grad);
        p->dense_grad = NULL;
        spti_grow_collector_destroy(p->grow);
        p->grow = NULL;
    }
    return rc;
}

static int rigl_after_step(spti_method *m, int64_t step) { return SPT_OK; }

static const spti_method_ops RIGL_OPS = {
    .name = "rigl",
    .init = spti_dst_init,
    .begin_step = rigl_begin_step,
    .after_backward = rigl_after_backward,
    .after_step = rigl_after_step,
    .save = spti_dst_save,
    .load = spti_dst_load,
    .destroy = spti_dst_destroy,
    .end_round = NULL,
};

int spti_rigl_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                     spti_method **out) {
    return spti_dst_create(&RIGL_OPS, SPT_METHOD_RIGL, cfg, weights, n_weights, total_steps, out);
}
