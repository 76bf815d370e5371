/*
 * RigL (Evci et al. 2020, Algorithm 1). On an update step t
 * (spt_drop_is_update_step(delta_t, T_end, t)):
 *   begin_step      sets want_dense_grad on every sparse weight, so the
 *                   backward fills dense_grad (rows x cols, the full dL/dW of
 *                   this mini-batch, inactive positions included);
 *   after_backward  per sparse layer, k = floor(f(t) * nnz): drop the k
 *                   active weights of smallest |w|, grow the k positions of
 *                   largest |dense_grad| among those not kept (inactive ones
 *                   and the k just dropped), repattern to kept U grown (a
 *                   re-grown dropped weight keeps its value and optimizer
 *                   slots; new ones start at 0 with zeroed slots), and skip
 *                   the optimizer step.
 * Other steps change nothing and do not skip.
 *
 * Memory: dense_grad is rows x cols floats per sparse layer, needed only on
 * update steps. It is freed right after the update (reallocated by the next
 * update's backward), so between updates the layer holds only its nonzeros
 * and the model's per-step gradient zeroing never touches a dense buffer.
 * A layer whose k is 0 at this step gets no dense gradient at all.
 * The selection needs O(k + nnz) extra memory (the growth candidates near
 * the top k, spti_grow_by_score) and one pass over each rows x cols gradient
 * (rarely two). Cost (MLP 3072-4000-1000-4000-10 at density 0.1, one thread,
 * docs/performance.md "RigL update cost"): the hooks take ~75 ms of the
 * ~155 ms an update step adds; the rest is the dense dY.X^T itself (~40 ms
 * net of the sparse dW it replaces) and writing it into fresh memory.
 */
#include "methods.h"

static int rigl_begin_step(spti_method *m, int64_t step) {
    bool update = spti_dst_is_update(m, step);
    /* A layer that moves no weight (k == 0) needs no dense gradient. */
    for (int l = 0; l < m->n_weights; l++)
        if (spti_dst_is_sparse(m, l))
            m->weights[l]->want_dense_grad = update && spti_dst_drop_count(m, step, m->weights[l]->n) > 0;
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
        if (spti_dst_is_sparse(m, l)) scores[l] = m->weights[l]->dense_grad; /* NULL: begin_step was not called */
    int rc = spti_dst_update(m, step, scores);
    spti_free(scores);
    for (int l = 0; l < m->n_weights; l++) {
        spti_param *p = m->weights[l];
        if (!spti_dst_is_sparse(m, l)) continue;
        p->want_dense_grad = false;
        spti_free(p->dense_grad);
        p->dense_grad = NULL;
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
