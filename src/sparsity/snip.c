/*
 * SNIP (Lee et al. 2019): prune once at initialisation by connection
 * sensitivity |g * w|, g being the gradient summed over SPT_MP_SCORE_BATCHES
 * mini-batches of the grad source (the weights are DENSE then, so their
 * grad is the full gradient). Keeps the top (1 - S): globally over the
 * layers not kept dense (SPT_MP_GLOBAL 1, this method's default, as in the
 * paper) or per layer at the allocator's counts (SPT_MP_GLOBAL 0), then
 * makes every pruned layer SPARSE. The paper's normalisation of the scores
 * by their sum does not change the ranking and is left out.
 */
#include <math.h>

#include "methods.h"
#include "prune.h"

static int snip_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    SPTI_TRY(spti_pai_check_init(m, weights, n));
    if (!grads || !grads->compute)
        return spti_fail(SPT_ERR_NULL, "snip init: scoring needs a gradient source (training data)");
    spti_pai *st = m->state;
    float **g = spti_prune_buffers(weights, n);
    if (!g) return spti_fail(SPT_ERR_NOMEM, "snip: out of memory for the scoring gradients");
    spti_prune_layer *L = NULL;
    int rc = spti_prune_accumulate_grads("snip", grads, st->batches, weights, n, g);
    if (rc == SPT_OK) rc = spti_prune_layers_create(weights, n, &L);
    if (rc == SPT_OK) {
        for (int l = 0; l < n; l++)
            for (int64_t j = 0; j < L[l].n; j++) {
                int64_t i = L[l].pos[j]; /* DENSE: candidates are every position */
                L[l].score[j] = fabsf(g[l][i] * weights[l]->value[i]);
            }
        rc = spti_pai_select(m, L, 1.0, 0);
    }
    if (rc == SPT_OK) rc = spti_pai_finish(m, L);
    spti_prune_layers_destroy(L, n);
    spti_prune_buffers_free(g, n);
    return rc;
}

static const spti_method_ops SNIP_OPS = {
    .name = "snip",
    .init = snip_init,
    .save = spti_pai_save,
    .load = spti_pai_load,
    .destroy = spti_pai_destroy,
};

int spti_snip_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                     spti_method **out) {
    return spti_pai_create(&SNIP_OPS, cfg, weights, n_weights, total_steps, out);
}
