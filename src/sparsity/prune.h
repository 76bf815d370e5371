/*
 * Shared machinery of the pruning methods (GMP, lottery tickets, SNIP,
 * GraSP, SynFlow): the pruning plan (what each layer, or the global pool,
 * must keep at the end), the exact selection of the top-scoring weights per
 * layer or over all layers, applying the selection to the parameters, a
 * whole magnitude-pruning event, and small helpers for seeds, construction
 * and checkpoints.
 *
 * Form of a pruned layer. A layer being pruned from dense stays MASKED
 * (values and slots kept, pruned entries held at 0) while it is dense enough
 * for the dense kernels to be the better choice, and becomes SPARSE (CSR,
 * only its nonzeros exist) once its density is at or below
 * SPTI_PRUNE_SPARSE_DENSITY or when the method's last pruning event happens,
 * whichever comes first; the rest of training then costs in proportion to
 * the nonzeros. A SPARSE layer pruned further is repatterned to a subset of
 * its nonzeros (values and slots carried). Prune-at-init methods make every
 * pruned layer SPARSE at once. A layer that keeps every weight is not
 * touched (it stays DENSE).
 */
#ifndef SPTI_PRUNE_H
#define SPTI_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/le_io.h"
#include "method.h"

/* Density at or below which a pruned layer is converted to SPARSE. */
#define SPTI_PRUNE_SPARSE_DENSITY 0.3

/* ---- plan ------------------------------------------------------------------ */

typedef struct spti_prune_plan {
    int n;
    bool global;     /* one ranking over the pool of ranked layers */
    int64_t *size;   /* rows*cols of each layer */
    int64_t *final;  /* layer-wise: entries each layer keeps at the end (== size: never pruned) */
    uint8_t *ranked; /* layer takes part in pruning (global: not kept dense; layer-wise: final < size) */
    int64_t pool;       /* global: sum of the sizes of the ranked layers */
    int64_t pool_final; /* global: entries the pool keeps at the end */
    int structure;      /* SPT_MP_STRUCTURE: unstructured, channel or kernel (prune_groups.c) */
} spti_prune_plan;

/* The plan of a config over `weights` (2-D / 4-D, checked):
 *  - layer-wise (SPT_MP_GLOBAL 0, or explicit densities): final[l] from
 *    spti_topology_plan (distribution, densities, dense first/last);
 *  - global: the pool is every layer not kept dense by SPT_MP_DENSE_FIRST /
 *    _LAST; it keeps round((1 - S) * total) minus the kept layers' sizes,
 *    total being all listed weights (the allocators' convention), and at
 *    least one weight per ranked layer.
 * The structure is the config's SPT_MP_STRUCTURE (the method's support was
 * checked by spti_method_create); a structured plan refuses global ranking
 * (SPT_ERR_UNSUPPORTED). */
int spti_prune_plan_create(const spt_method_config *cfg, spti_param *const *weights, int n, spti_prune_plan *out);
void spti_prune_plan_free(spti_prune_plan *p);

/* Count kept at fraction `frac` of the way from `from` to `to` entries,
 * following a density ramp d(frac) given by the caller: round(size * d),
 * clamped to [to, from]. */
int64_t spti_prune_count(int64_t size, double density, int64_t from, int64_t to);

/* ---- selection ----------------------------------------------------------------- */

/* One layer's candidates: its active entries (the only ones that may be
 * kept: pruned weights stay pruned) and their scores (higher = keep). */
typedef struct spti_prune_layer {
    int64_t n;     /* candidates (active entries) */
    int64_t *pos;  /* n increasing linear positions; after a select, pos[0..keep) are the kept ones */
    float *score;  /* n scores, filled by the caller (NaN ranks lowest) */
    int64_t keep;  /* after a select: how many are kept */
} spti_prune_layer;

/* Candidates of every weight (spti_param_active_positions), scores
 * allocated and uninitialised. *out is NULL on failure. */
int spti_prune_layers_create(spti_param *const *weights, int n, spti_prune_layer **out);
void spti_prune_layers_destroy(spti_prune_layer *L, int n);

/* Layer-wise: layer l keeps its min(keep[l], n) highest-scoring candidates
 * (every candidate when keep[l] >= n). Ties: seeded per layer. */
int spti_prune_select_layerwise(spti_prune_layer *L, int n, const int64_t *keep, uint64_t seed);

/* Global: the layers with ranked[l] keep `total` candidates together (clamped
 * to [number of non-empty ranked layers, their candidates]): each ranked
 * layer's best candidate first (no layer collapses), the rest by one
 * threshold over all remaining candidates. Unranked layers keep all. */
int spti_prune_select_global(spti_prune_layer *L, int n, const uint8_t *ranked, int64_t total, uint64_t seed);

/* Give each weight the kept set of its layer (L[l].pos: a subset of the
 * weight's active positions): a layer that keeps all its active entries is
 * left alone (except that `sparse` turns a MASKED one SPARSE); otherwise it becomes SPARSE when `sparse` is true, when it is
 * already SPARSE or when its density falls to SPTI_PRUNE_SPARSE_DENSITY or
 * below, else MASKED. *changed (may be NULL)
 * receives the number of layers changed. On failure (out of memory) the
 * layers before the failing one are already pruned, each consistent. */
int spti_prune_apply(spti_param **weights, const spti_prune_layer *L, int n, bool sparse, int *changed);

/* ---- selection by the plan ------------------------------------------------------ */

/* Count a group keeps at the caller's point `at` of its schedule (a step, a
 * round, an iteration; ctx is the caller's): the group is the global pool
 * or one layer, of `size` weights with `active` candidates left, keeping
 * `final` at the end. */
typedef int64_t (*spti_prune_keep_fn)(const void *ctx, int64_t at, int64_t size, int64_t active, int64_t final);

/* Select in L (scores filled) as the plan says: global, the pool keeps
 * keep(pool, candidates of the ranked layers, pool_final) by one ranking;
 * layer-wise, each ranked layer keeps keep(size, its candidates, final)
 * and the others every candidate. `who` names the method in errors. */
int spti_prune_select_plan(const spti_prune_plan *pl, spti_prune_layer *L, int n, spti_prune_keep_fn keep,
                           const void *ctx, int64_t at, uint64_t seed, const char *who);

/* One magnitude-pruning event of m (GMP, lottery tickets;
 * prune.c): score every active entry of m's weights by |w|,
 * select by the plan and `keep` (spti_prune_select_plan), apply
 * (spti_prune_apply with `sparse`) and count one topology update on m when
 * a layer changed. */
int spti_prune_by_magnitude(spti_method *m, const spti_prune_plan *pl, spti_prune_keep_fn keep, const void *ctx,
                            int64_t at, uint64_t seed, bool sparse);

/* ---- structured magnitude pruning (prune_groups.c) ------------------------------ */

/* Weights per group of p under a structure: cols (channel: a row), kh*kw
 * (kernel: one kernel of a convolution; 1 for a linear layer), else 1. */
int64_t spti_prune_group_size(int structure, const spti_param *p);

/* Groups a layer of `size` weights in groups of g keeps at the end when
 * planned at `final` weights: clamp(round(final / g), 1, size / g), every
 * group when final >= size. */
int64_t spti_prune_group_final(int64_t final, int64_t size, int64_t g);

/* spti_prune_by_magnitude under pl->structure (channel or kernel): groups
 * scored by the L2 norm of their active weights, the schedule's counts
 * taken in groups (keep(ctx, at, groups, active groups, final groups)),
 * layer-wise exact selection of whole groups, the dropped groups' weights
 * pruned. */
int spti_prune_groups_by_magnitude(spti_method *m, const spti_prune_plan *pl, spti_prune_keep_fn keep, const void *ctx,
                                   int64_t at, uint64_t seed, bool sparse);

/* ---- prune at initialisation (prune_at_init.c): SNIP, GraSP, SynFlow ---------- */

typedef struct spti_pai {
    spti_prune_plan plan;
    int64_t batches; /* SPT_MP_SCORE_BATCHES */
    int64_t iters;   /* SPT_MP_SYNFLOW_ITERS */
    uint64_t seed;   /* tie-break */
    bool done;       /* init has pruned */
} spti_pai;

/* A method of `ops` with a spti_pai state from the config. */
int spti_pai_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights, int n_weights,
                    int64_t total_steps, spti_method **out);
void spti_pai_destroy(spti_method *m);
/* Checks of init: weights match, all DENSE, not pruned yet. */
int spti_pai_check_init(spti_method *m, spti_param **weights, int n);
/* Select in L (scores filled) the survivors at exponent e in (0, 1] of the
 * final density: layer-wise round(size (final/size)^e) per layer, global
 * the same over the pool; e = 1 gives the final counts exactly. */
int spti_pai_select(spti_method *m, spti_prune_layer *L, double e, int64_t iteration);
/* Apply the final selection (every pruned layer SPARSE), mark done. */
int spti_pai_finish(spti_method *m, const spti_prune_layer *L);
/* Checkpoint (little-endian): 0 magic "SPPI"  4 u32 version 1  8 char[8]
 * method name, zero-padded  16 u64 layers  24 u64 done  32 u64 seed
 * 40 i64 topology_updates. */
int spti_pai_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len);
int spti_pai_load(spti_method *m, const uint8_t *buf, int64_t len);

/* ---- helpers ---------------------------------------------------------------------- */

/* Seed of a selection: a hash of a base seed and two counters. */
uint64_t spti_prune_seed(uint64_t base, int64_t a, int64_t b);

/* Wire a newly allocated method m of `ops` over the weights (borrowed) to
 * its state, seed m->rng from SPT_MP_SEED and return the tie-break seed
 * drawn from it (the pruning methods' common constructor tail). */
uint64_t spti_prune_method_init(spti_method *m, const spti_method_ops *ops, const spt_method_config *cfg,
                                spti_param **weights, int n_weights, void *state);

/* Whether every weight is DENSE (prune-at-init methods need it). */
int spti_prune_check_dense(const char *who, spti_param *const *weights, int n);

/* Accumulate the gradient of `batches` calls of the source into acc[l]
 * (rows*cols per weight, overwritten): acc = sum over the batches of grad. */
int spti_prune_accumulate_grads(const char *who, spti_grad_source *src, int64_t batches, spti_param *const *weights,
                                int n, float **acc);

/* Per-layer rows*cols float buffers (zeroed); free with spti_prune_buffers_free. */
float **spti_prune_buffers(spti_param *const *weights, int n);
void spti_prune_buffers_free(float **b, int n);

/* Read the u32 state version at r (core/le_io.h) and check it against
 * `current`: a newer one is SPT_ERR_VERSION, any other mismatch (or no
 * bytes left) SPT_ERR_FORMAT ("<who> load: ..."). */
int spti_prune_check_version(const char *who, spti_rcur *r, uint32_t current);

/* GraSP's Hessian-gradient product over the weights (grasp.c): g = the
 * summed gradient of `batches` batches, hg = H g by a forward difference
 * (see grasp.c). g and hg: rows*cols per weight. The weights' values are
 * restored exactly. */
int spti_grasp_hg(spti_param *const *weights, int n, spti_grad_source *src, int64_t batches, float **g, float **hg);

/* SynFlow scores of the active entries (synflow.c): |w| * dR/dw with
 * R = 1^T (prod |W_l|) 1 over the weight list read as a chain with the
 * projection shortcuts of residual blocks added in (see synflow.c), pruned
 * entries counting as 0 (active[l]: rows*cols flags, 1 = active), divided
 * by R. score[l]: rows*cols. */
int spti_synflow_scores(spti_param *const *weights, int n, uint8_t *const *active, float **score);

#endif
