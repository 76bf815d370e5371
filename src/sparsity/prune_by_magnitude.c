/*
 * One magnitude-pruning event (prune.h), shared by GMP and lottery tickets:
 * the active entries are scored by |w| and cut back to the counts the
 * method's schedule gives, by the plan.
 */
#include <math.h>

#include "prune.h"

int spti_prune_by_magnitude(spti_method *m, const spti_prune_plan *pl, spti_prune_keep_fn keep, const void *ctx,
                            int64_t at, uint64_t seed, bool sparse) {
    const int n = m->n_weights;
    spti_prune_layer *L;
    SPTI_TRY(spti_prune_layers_create(m->weights, n, &L));
    /* Candidates in the storage order of each form: a SPARSE weight's values
     * are its nonzeros, a DENSE / MASKED one's are indexed by position. */
    for (int l = 0; l < n; l++) {
        const spti_param *p = m->weights[l];
        for (int64_t j = 0; j < L[l].n; j++)
            L[l].score[j] = fabsf(p->value[p->kind == SPTI_PARAM_SPARSE ? j : L[l].pos[j]]);
    }
    int rc = spti_prune_select_plan(pl, L, n, keep, ctx, at, seed, m->ops->name);
    int changed = 0;
    if (rc == SPT_OK) rc = spti_prune_apply(m->weights, L, n, sparse, &changed);
    spti_prune_layers_destroy(L, n);
    if (changed) m->topology_updates++;
    return rc;
}
