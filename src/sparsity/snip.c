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

#include "dst.h"
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

static const int SNIP_KEYS[] = {SPT_MP_SPARSITY, SPT_MP_DISTRIBUTION, SPT_MP_DENSE_FIRST, SPT_MP_DENSE_LAST, SPT_MP_GLOBAL, SPT_MP_SEED, SPT_MP_SCORE_BATCHES, -1};
/* The prune-at-init papers rank all layers together. */
static const spti_key_value SNIP_DEFAULTS[] = {{SPT_MP_GLOBAL, 1.0}, {-1, 0}};

const spti_method_ops spti_method_snip = {
    .id = SPT_METHOD_SNIP,
    .name = "snip",
    .summary = "Lee et al. 2019: prune at initialisation by |w * g|",
    .flags = SPTI_METHOD_NEEDS_DATA,
    .keys = SNIP_KEYS,
    .defaults = SNIP_DEFAULTS,
    .create = spti_pai_create,
    .init = snip_init,
    .save = spti_pai_save,
    .load = spti_pai_load,
    .destroy = spti_pai_destroy,
};
