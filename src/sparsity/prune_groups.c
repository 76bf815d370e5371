/*
 * Structured magnitude pruning (prune.h, spti_prune_groups_by_magnitude):
 * one pruning event of GMP or lottery tickets under SPT_STRUCTURE_CHANNEL
 * (a group is a whole row: an output neuron or filter) or
 * SPT_STRUCTURE_KERNEL (a group is the kh x kw kernel of one (output,
 * input) pair of a convolution: kh*kw consecutive columns of a row; a
 * linear layer's kernels are its single weights).
 *
 * A group's score is the L2 norm of its active weights. The method's
 * schedule is followed in group units: a layer of G groups planned to keep
 * `final` weights keeps clamp(round(final / g), 1, G) groups at the end (g
 * the group size), and at each event the count its keep function gives for
 * (G, active groups, final groups); the top-scoring groups are kept by the
 * exact layer-wise selection (spti_prune_select_layerwise, seeded ties),
 * every weight of a dropped group is pruned. Groups only ever leave, so a
 * kept group is always whole. Layer-wise only (the plan refuses global
 * ranking: norms of groups of different sizes do not compare).
 */
#include <math.h>
#include <string.h>

#include "dst.h"
#include "prune.h"

int64_t spti_prune_group_size(int structure, const spti_param *p) {
    if (structure == SPT_STRUCTURE_CHANNEL) return p->cols;
    if (structure == SPT_STRUCTURE_KERNEL) return p->ndim == 4 ? p->shape[2] * p->shape[3] : 1;
    return 1;
}

int64_t spti_prune_group_final(int64_t final, int64_t size, int64_t g) {
    const int64_t groups = size / g;
    if (final >= size) return groups;
    int64_t k = (int64_t)llround((double) final / (double)g);
    return k < 1 ? 1 : k > groups ? groups : k;
}

/* Layer l's candidates regrouped: the active groups of L (positions and
 * scores of its active weights) and their L2 norms, into G (pos = group
 * index, increasing). */
static int to_groups(const spti_param *p, const spti_prune_layer *L, int64_t g, spti_prune_layer *G) {
    const int64_t groups = p->rows * p->cols / g;
    double *sum = spti_calloc(groups, sizeof(double));
    uint8_t *any = spti_calloc(groups, 1);
    int rc = SPT_OK;
    if (!sum || !any) {
        rc = spti_fail(SPT_ERR_NOMEM, "structured pruning: out of memory for the groups of %s", p->name);
        goto done;
    }
    for (int64_t j = 0; j < L->n; j++) {
        const int64_t grp = L->pos[j] / g;
        const double w = p->value[p->kind == SPTI_PARAM_SPARSE ? j : L->pos[j]];
        sum[grp] += w * w;
        any[grp] = 1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < groups; i++) n += any[i];
    G->n = G->keep = n;
    G->pos = spti_alloc(n, sizeof(int64_t));
    G->score = spti_alloc(n, sizeof(float));
    if (!G->pos || !G->score) {
        rc = spti_fail(SPT_ERR_NOMEM, "structured pruning: out of memory for the groups of %s", p->name);
        goto done;
    }
    n = 0;
    for (int64_t i = 0; i < groups; i++)
        if (any[i]) {
            G->pos[n] = i;
            G->score[n++] = (float)sqrt(sum[i]);
        }
done:
    spti_free(sum);
    spti_free(any);
    return rc;
}

/* Keep in L the active weights of the kept groups of G (G->pos[0..keep),
 * in selection order). */
static int from_groups(const spti_param *p, spti_prune_layer *L, const spti_prune_layer *G, int64_t g) {
    const int64_t groups = p->rows * p->cols / g;
    uint8_t *kept = spti_calloc(groups, 1);
    if (!kept) return spti_fail(SPT_ERR_NOMEM, "structured pruning: out of memory for %s", p->name);
    for (int64_t j = 0; j < G->keep; j++) kept[G->pos[j]] = 1;
    int64_t k = 0;
    for (int64_t j = 0; j < L->n; j++)
        if (kept[L->pos[j] / g]) L->pos[k++] = L->pos[j]; /* increasing, in place */
    L->keep = k;
    spti_free(kept);
    return SPT_OK;
}

int spti_prune_groups_by_magnitude(spti_method *m, const spti_prune_plan *pl, spti_prune_keep_fn keep, const void *ctx,
                                   int64_t at, uint64_t seed, bool sparse) {
    const int n = m->n_weights;
    spti_prune_layer *L = NULL, *G = spti_calloc(n, sizeof *G);
    int64_t *k = spti_alloc(n, sizeof(int64_t));
    int rc = G && k ? spti_prune_layers_create(m->weights, n, &L)
                    : spti_fail(SPT_ERR_NOMEM, "%s: out of memory", m->ops->name);
    for (int l = 0; l < n && rc == SPT_OK; l++) {
        const spti_param *p = m->weights[l];
        const int64_t g = spti_prune_group_size(pl->structure, p);
        rc = to_groups(p, &L[l], g, &G[l]);
        if (rc != SPT_OK) break;
        k[l] = pl->ranked[l]
                   ? keep(ctx, at, pl->size[l] / g, G[l].n, spti_prune_group_final(pl->final[l], pl->size[l], g))
                   : G[l].n;
    }
    if (rc == SPT_OK) rc = spti_prune_select_layerwise(G, n, k, seed);
    for (int l = 0; l < n && rc == SPT_OK; l++) {
        /* spti_prune_select_layerwise leaves the kept groups in selection
         * order; from_groups marks them, so any order will do. */
        rc = from_groups(m->weights[l], &L[l], &G[l], spti_prune_group_size(pl->structure, m->weights[l]));
    }
    int changed = 0;
    if (rc == SPT_OK) rc = spti_prune_apply(m->weights, L, n, sparse, &changed);
    if (changed) m->topology_updates++;
    spti_prune_layers_destroy(L, n);
    spti_prune_layers_destroy(G, n);
    spti_free(k);
    return rc;
}
