/*
 * Keep the top-scoring weights: the pruning plan, exact per-layer and
 * global selection (spti_topk, seeded tie-break), selection by the plan,
 * and applying the kept sets to the parameters (prune.h).
 */
#include <math.h>
#include <string.h>

#include "dst.h"
#include "method_config.h"
#include "prune.h"

/* ---- plan ------------------------------------------------------------------------- */

void spti_prune_plan_free(spti_prune_plan *p) {
    if (!p) return;
    spti_free(p->size);
    spti_free(p->final);
    spti_free(p->ranked);
    memset(p, 0, sizeof *p);
}

int spti_prune_plan_create(const spt_method_config *cfg, spti_param *const *weights, int n, spti_prune_plan *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return spti_fail(SPT_ERR_SIZE, "prune plan: the model has no weight layers to sparsify");
    SPTI_CHECK_NULL(weights);
    spti_prune_plan p = {0};
    p.n = n;
    p.global = cfg->value[SPT_MP_GLOBAL] != 0.0 && cfg->n_densities == 0;
    p.structure = (int)cfg->value[SPT_MP_STRUCTURE];
    if (p.global && p.structure != SPT_STRUCTURE_UNSTRUCTURED)
        return spti_fail(SPT_ERR_UNSUPPORTED,
                         "prune plan: structure \"%s\" ranks each layer on its own; global ranking (SPT_MP_GLOBAL 1) "
                         "is not supported with it",
                         spt_method_param_choice_name(SPT_MP_STRUCTURE, p.structure));
    p.size = spti_alloc(n, sizeof(int64_t));
    p.final = spti_alloc(n, sizeof(int64_t));
    p.ranked = spti_calloc(n, 1);
    if (!p.size || !p.final || !p.ranked) {
        spti_prune_plan_free(&p);
        return spti_fail(SPT_ERR_NOMEM, "prune plan: out of memory");
    }
    /* Validates the weights (non-NULL, 2-D/4-D) and the reachability of S. */
    int rc = spti_topology_plan(cfg, weights, n, p.final, NULL);
    if (rc != SPT_OK) {
        spti_prune_plan_free(&p);
        return rc;
    }
    int64_t total = 0, kept = 0;
    for (int l = 0; l < n; l++) {
        p.size[l] = weights[l]->rows * weights[l]->cols;
        total += p.size[l]; /* fits: spti_topology_plan checked the total */
    }
    if (!p.global) {
        for (int l = 0; l < n; l++) p.ranked[l] = p.final[l] < p.size[l];
    } else {
        int n_ranked = 0;
        for (int l = 0; l < n; l++) {
            if (weights[l]->density > 0.0 && weights[l]->density < 1.0) {
                spti_prune_plan_free(&p);
                return spti_fail(SPT_ERR_UNSUPPORTED,
                                 "prune plan: %s has a density of its own, which global ranking cannot keep; rank "
                                 "each layer on its own (SPT_MP_GLOBAL 0)",
                                 weights[l]->name);
            }
            bool keep_dense = (l == 0 && cfg->value[SPT_MP_DENSE_FIRST] != 0.0) ||
                              (l == n - 1 && cfg->value[SPT_MP_DENSE_LAST] != 0.0) || weights[l]->density == 1.0;
            p.ranked[l] = !keep_dense;
            if (keep_dense) {
                kept += p.size[l];
                p.final[l] = p.size[l];
            } else {
                p.pool += p.size[l];
                n_ranked++;
            }
        }
        int64_t k = (int64_t)llround((1.0 - cfg->value[SPT_MP_SPARSITY]) * (double)total) - kept;
        if (k < n_ranked) k = n_ranked; /* one weight per layer at least */
        if (k > p.pool) k = p.pool;
        p.pool_final = k;
    }
    *out = p;
    return SPT_OK;
}

int64_t spti_prune_count(int64_t size, double density, int64_t from, int64_t to) {
    double k = round(density * (double)size); /* half away from zero, like the allocators */
    if (!(k >= (double)to)) return to; /* also NaN */
    if (k >= (double)from) return from;
    return (int64_t)k;
}

/* ---- candidates ----------------------------------------------------------------------- */

void spti_prune_layers_destroy(spti_prune_layer *L, int n) {
    if (!L) return;
    for (int l = 0; l < n; l++) {
        spti_free(L[l].pos);
        spti_free(L[l].score);
    }
    spti_free(L);
}

int spti_prune_layers_create(spti_param *const *weights, int n, spti_prune_layer **out) {
    *out = NULL;
    spti_prune_layer *L = spti_calloc(n, sizeof *L);
    if (!L) return spti_fail(SPT_ERR_NOMEM, "prune: out of memory");
    for (int l = 0; l < n; l++) {
        int64_t c = spti_param_active_positions(weights[l], NULL);
        L[l].n = c;
        L[l].keep = c;
        L[l].pos = spti_alloc(c, sizeof(int64_t));
        L[l].score = spti_alloc(c, sizeof(float));
        if (!L[l].pos || !L[l].score) {
            spti_prune_layers_destroy(L, n);
            return spti_fail(SPT_ERR_NOMEM, "prune: out of memory for the candidates of %s", weights[l]->name);
        }
        spti_param_active_positions(weights[l], L[l].pos);
    }
    *out = L;
    return SPT_OK;
}

/* ---- selection -------------------------------------------------------------------------- */

/* Keep the candidates at the increasing indices idx[0..k) of layer L. */
static void compact(spti_prune_layer *L, const int64_t *idx, int64_t k) {
    for (int64_t j = 0; j < k; j++) L->pos[j] = L->pos[idx[j]]; /* idx[j] >= j: in place is safe */
    L->keep = k;
}

int spti_prune_select_layerwise(spti_prune_layer *L, int n, const int64_t *keep, uint64_t seed) {
    for (int l = 0; l < n; l++) {
        int64_t k = keep[l] < 0 ? 0 : keep[l];
        if (k >= L[l].n) {
            L[l].keep = L[l].n;
            continue;
        }
        int64_t *idx = spti_alloc(k, sizeof(int64_t));
        if (!idx) return spti_fail(SPT_ERR_NOMEM, "prune: out of memory selecting %lld entries", (long long)k);
        int rc = spti_topk(L[l].score, L[l].n, k, spti_prune_seed(seed, l, 0), idx);
        if (rc == SPT_OK) compact(&L[l], idx, k);
        spti_free(idx);
        SPTI_TRY(rc);
    }
    return SPT_OK;
}

int spti_prune_select_global(spti_prune_layer *L, int n, const uint8_t *ranked, int64_t total, uint64_t seed) {
    int64_t cand = 0, floor_count = 0;
    for (int l = 0; l < n; l++)
        if (ranked[l]) {
            cand += L[l].n;
            floor_count += L[l].n > 0;
        }
    if (total > cand) total = cand;
    if (total < floor_count) total = floor_count;
    const int64_t rest = total - floor_count; /* chosen by the global threshold */
    /* Each ranked layer's best candidate is reserved (no layer collapses);
     * one ranking over all the other candidates picks the rest. When no
     * layer would collapse anyway this is exactly the global top-total. */
    float *rs = spti_alloc(cand - floor_count, sizeof(float));
    int64_t *rmap = spti_alloc(cand - floor_count, sizeof(int64_t));
    int64_t *idx = spti_alloc(rest, sizeof(int64_t));
    uint8_t *take = spti_calloc(cand, 1);
    int rc = SPT_OK;
    if (!rs || !rmap || !idx || !take) {
        rc = spti_fail(SPT_ERR_NOMEM, "prune: out of memory ranking %lld candidates", (long long)cand);
        goto done;
    }
    int64_t off = 0, m = 0;
    for (int l = 0; l < n; l++) {
        if (!ranked[l] || L[l].n == 0) continue;
        int64_t best;
        rc = spti_topk(L[l].score, L[l].n, 1, spti_prune_seed(seed, l, 1), &best);
        if (rc != SPT_OK) goto done;
        take[off + best] = 1;
        for (int64_t i = 0; i < L[l].n; i++)
            if (i != best) {
                rs[m] = L[l].score[i];
                rmap[m++] = off + i;
            }
        off += L[l].n;
    }
    rc = spti_topk(rs, m, rest, spti_prune_seed(seed, -1, 2), idx);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < rest; j++) take[rmap[idx[j]]] = 1;
    off = 0;
    for (int l = 0; l < n; l++) {
        if (!ranked[l]) {
            L[l].keep = L[l].n;
            continue;
        }
        int64_t k = 0;
        for (int64_t i = 0; i < L[l].n; i++)
            if (take[off + i]) L[l].pos[k++] = L[l].pos[i];
        L[l].keep = k;
        off += L[l].n;
    }
done:
    spti_free(rs);
    spti_free(rmap);
    spti_free(idx);
    spti_free(take);
    return rc;
}

int spti_prune_select_plan(const spti_prune_plan *pl, spti_prune_layer *L, int n, spti_prune_keep_fn keep,
                           const void *ctx, int64_t at, uint64_t seed, const char *who) {
    if (pl->global) {
        int64_t active = 0;
        for (int l = 0; l < n; l++)
            if (pl->ranked[l]) active += L[l].n;
        return spti_prune_select_global(L, n, pl->ranked, keep(ctx, at, pl->pool, active, pl->pool_final), seed);
    }
    int64_t *k = spti_alloc(n, sizeof(int64_t));
    if (!k) return spti_fail(SPT_ERR_NOMEM, "%s: out of memory", who);
    for (int l = 0; l < n; l++) k[l] = pl->ranked[l] ? keep(ctx, at, pl->size[l], L[l].n, pl->final[l]) : L[l].n;
    int rc = spti_prune_select_layerwise(L, n, k, seed);
    spti_free(k);
    return rc;
}

/* ---- apply ---------------------------------------------------------------------------------- */

/* Active entries of a weight: p->n counts the stored ones (all of a DENSE
 * weight, the nonzeros of a SPARSE one). */
static int64_t active_count(const spti_param *p) { return p->kind == SPTI_PARAM_MASKED ? p->mask_nnz : p->n; }

int spti_prune_apply(spti_param **weights, const spti_prune_layer *L, int n, bool sparse, int *changed) {
    int count = 0, rc = SPT_OK;
    for (int l = 0; l < n && rc == SPT_OK; l++) {
        spti_param *p = weights[l];
        /* Untouched only when the kept set is every active entry of the
         * weight, not merely every candidate: a method may offer a subset
         * (SynFlow's candidates are the survivors of its earlier
         * iterations, the weight itself still DENSE). */
        if (L[l].keep == active_count(p) && !(sparse && p->kind == SPTI_PARAM_MASKED)) continue;
        int64_t cells = p->rows * p->cols;
        bool to_sparse = sparse || p->kind == SPTI_PARAM_SPARSE ||
                         (double)L[l].keep <= SPTI_PRUNE_SPARSE_DENSITY * (double)cells;
        rc = to_sparse ? spti_param_sparsify(p, L[l].pos, L[l].keep) : spti_param_mask(p, L[l].pos, L[l].keep);
        if (rc == SPT_OK) count++;
    }
    if (changed) *changed = count;
    return rc;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

uint64_t spti_prune_seed(uint64_t base, int64_t a, int64_t b) {
    uint64_t h = spti_mix64(base ^ 0x6a09e667f3bcc909ULL);
    h = spti_mix64(h ^ (uint64_t)a);
    return spti_mix64(h ^ ((uint64_t)b << 1 | 1));
}

uint64_t spti_prune_method_init(spti_method *m, const spti_method_ops *ops, const spt_method_config *cfg,
                                spti_param **weights, int n_weights, void *state) {
    m->ops = ops;
    m->weights = weights;
    m->n_weights = n_weights;
    m->state = state;
    /* Channel-pruned layers run their products over the whole rows alone
     * (kernels.h, spti_csr_ws.channel). */
    for (int l = 0; l < n_weights; l++) weights[l]->ws.channel = cfg->value[SPT_MP_STRUCTURE] == SPT_STRUCTURE_CHANNEL;
    spti_rng_seed(&m->rng, (uint64_t)cfg->value[SPT_MP_SEED]);
    return spti_rng_u64(&m->rng);
}

int spti_prune_check_dense(const char *who, spti_param *const *weights, int n) {
    for (int l = 0; l < n; l++)
        if (weights[l]->kind != SPTI_PARAM_DENSE)
            return spti_fail(SPT_ERR_STATE,
                             "%s: weight %s is already pruned; pruning at initialisation needs dense weights", who,
                             weights[l]->name);
    return SPT_OK;
}

float **spti_prune_buffers(spti_param *const *weights, int n) {
    float **b = spti_calloc(n, sizeof(float *));
    if (!b) return NULL;
    for (int l = 0; l < n; l++)
        if (!(b[l] = spti_calloc(weights[l]->rows * weights[l]->cols, sizeof(float)))) {
            spti_prune_buffers_free(b, n);
            return NULL;
        }
    return b;
}

void spti_prune_buffers_free(float **b, int n) {
    if (!b) return;
    for (int l = 0; l < n; l++) spti_free(b[l]);
    spti_free(b);
}

int spti_prune_accumulate_grads(const char *who, spti_grad_source *src, int64_t batches, spti_param *const *weights,
                                int n, float **acc) {
    for (int l = 0; l < n; l++) memset(acc[l], 0, (size_t)(weights[l]->rows * weights[l]->cols) * sizeof(float));
    for (int64_t b = 0; b < batches; b++) {
        float loss;
        SPTI_TRY(src->compute(src->ctx, &loss));
        for (int l = 0; l < n; l++) {
            const spti_param *p = weights[l];
            if (p->kind != SPTI_PARAM_DENSE)
                return spti_fail(SPT_ERR_STATE, "%s: weight %s changed form while scoring", who, p->name);
            for (int64_t i = 0; i < p->n; i++) acc[l][i] += p->grad[i];
        }
    }
    for (int l = 0; l < n; l++)
        for (int64_t i = 0; i < weights[l]->n; i++)
            if (!isfinite(acc[l][i]))
                return spti_fail(SPT_ERR_NONFINITE, "%s: the scoring gradient of %s is not finite", who,
                                 weights[l]->name);
    return SPT_OK;
}

int spti_prune_check_version(const char *who, spti_rcur *r, uint32_t current) {
    uint32_t version = 0;
    if (!spti_get_u32(r, &version)) return spti_fail(SPT_ERR_FORMAT, "%s load: no state version", who);
    if (version > current) return spti_fail(SPT_ERR_VERSION, "%s load: state version %u is newer", who, version);
    if (version != current) return spti_fail(SPT_ERR_FORMAT, "%s load: bad state version %u", who, version);
    return SPT_OK;
}

/*
 * One magnitude-pruning event (prune.h), shared by GMP and lottery tickets:
 * the active entries are scored by |w| and cut back to the counts the
 * method's schedule gives, by the plan.
 */


int spti_prune_by_magnitude(spti_method *m, const spti_prune_plan *pl, spti_prune_keep_fn keep, const void *ctx,
                            int64_t at, uint64_t seed, bool sparse) {
    if (pl->structure == SPT_STRUCTURE_CHANNEL || pl->structure == SPT_STRUCTURE_KERNEL)
        return spti_prune_groups_by_magnitude(m, pl, keep, ctx, at, seed, sparse);
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
