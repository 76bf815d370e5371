/*
 * Internal pieces of the sparse-training methods (method.h is the hook
 * interface): one constructor per method, the initial-topology sampler, and
 * the drop/grow step shared by the dynamic sparse methods (SET, RigL, SNFS).
 *
 * Every dynamic method keeps its layers truly sparse: a sparsified weight is
 * a SPARSE param (CSR, only its nonzeros exist). Dense rows x cols memory
 * appears only where a method needs a dense score:
 *   RigL  on update steps only: linear layers stream their dense gradient
 *         in row blocks into a growth collector (O(k + nnz), no rows x cols
 *         buffer), conv layers fill dense_grad; both are freed right after
 *         the update: between updates nothing dense remains. With
 *         SPT_MP_GROW_SAMPLE > 0 nothing dense at all: the gradient at a
 *         sample of positions (kernels/grow_sample.h);
 *   SNFS  dense_grad every step plus one rows x cols momentum buffer per
 *         sparse layer, for the whole run (the method is dense by design).
 */
#ifndef SPTI_METHODS_H
#define SPTI_METHODS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../kernels/grow_collector.h"
#include "../kernels/grow_sample.h"
#include "method.h"
#include "structure.h"

/* ---- the methods (one file each; listed in method_registry.c) -------------- */
extern const spti_method_ops spti_method_static, spti_method_set, spti_method_rigl, spti_method_snfs,
    spti_method_gmp, spti_method_lottery, spti_method_snip, spti_method_grasp, spti_method_synflow, spti_method_user;

/* ---- initial topology (topology.c) ------------------------------------- */

/* Per-layer nonzero counts for the config: explicit densities
 * (spt_method_config_set_densities, one per weight, else SPT_ERR_SIZE) or
 * the allocator (SPT_MP_DISTRIBUTION at SPT_MP_SPARSITY). SPT_MP_DENSE_FIRST
 * / SPT_MP_DENSE_LAST keep the first / last weight at density 1 (also over
 * explicit densities). Weights must be 2-D or 4-D (SPT_ERR_INVALID).
 * nnz_out[n_weights]; a layer with nnz_out == rows*cols stays DENSE.
 * density_out[n_weights] (may be NULL): the densities before rounding (1
 * for kept layers). */
int spti_topology_plan(const spt_method_config *cfg, spti_param *const *weights, int n_weights, int64_t *nnz_out,
                       double *density_out);

/* Give each weight exactly nnz[l] active positions, chosen uniformly at
 * random (one child stream of rng per layer, split in model order, so the
 * same seed gives the same masks), and spti_param_sparsify it; a layer at
 * nnz == rows*cols is left as it is (DENSE), and so is a weight loaded
 * SPARSE from a file (param.h `loaded`; the caller reads its own count). Kept entries keep their values,
 * unless sparse_init and the weight was not loaded from a file: then each is redrawn from N(0, 2 / fan_in_nnz),
 * fan_in_nnz being the number of nonzeros of its row. With a structure by
 * row (structure != NULL, structure.h) the positions are drawn by
 * spti_structure_sample (nnz[l] must be its spti_structure_nnz). On failure the layers
 * before the failing one are already sparse (each layer is consistent). */
int spti_topology_init(spti_param **weights, int n_weights, const int64_t *nnz, bool sparse_init, spti_rng *rng,
                       const spti_structure *structure);

/* Set exactly k of the n bits of `bits` ((n + 63) / 64 words, fully
 * overwritten), every k-subset equally likely. Expected O(n / 64 + min(k,
 * n - k)) time. 0 <= k <= n. */
void spti_sample_bits(spti_rng *rng, int64_t n, int64_t k, uint64_t *bits);

/* pos[0..k): k distinct values of [0, n), increasing, every k-subset
 * equally likely. Memory and time follow k, not n, when k < n / 16 and n >
 * SPTI_SAMPLE_BITMAP_MAX (draws, radix sort, redraw of repeats: O(k) per
 * round, rounds expected < 2); otherwise the bit set of spti_sample_bits
 * (so small layers draw as they always have). SPT_ERR_NOMEM on failure. */
enum { SPTI_SAMPLE_BITMAP_MAX = 1 << 24 };
int spti_sample_sorted(spti_rng *rng, int64_t n, int64_t k, int64_t *pos);

/* ---- drop and grow (drop_grow.c) ------------------------------------------------ */

/* The exact selections behind drop and grow are kernels:
 * spti_select_largest, spti_nth_largest (kernels/kernels.h),
 * spti_grow_by_score and spti_grow_by_collector (kernels/grow_collector.h). */

/* The k entries of x[0..n) with the smallest |x| (absolute) or x (NaN
 * counts as largest), as increasing indices into idx[0..k). Ties: seeded,
 * deterministic (spti_select_largest on -|x| or -x). Expected O(n) time;
 * workspace n floats plus spti_select_largest's. */
int spti_drop_smallest(const float *x, bool absolute, int64_t n, int64_t k, uint64_t seed, int64_t *idx);

/* The new pattern of a SPARSE weight after one drop/grow update with k:
 *   kept  = its active positions minus the k smallest |w| (spti_drop_smallest),
 *           or the k of smallest drop_score[j] (nnz, CSR order) when given
 *   grown = k positions NOT in kept (inactive ones, and the k just dropped):
 *           the k largest |score[pos]| when score != NULL (rows x cols, e.g.
 *           the dense gradient), else the k largest |g| of the dense
 *           gradient a backward streamed into grow when grow != NULL
 *           (the same choice), else the k largest |g| among the sampled
 *           positions of `sampled` and the k dropped when sampled != NULL
 *           (spti_grow_by_sample), else k chosen uniformly at random from rng.
 * Writes the nnz sorted positions kept U grown to new_pos[nnz] (nnz unchanged).
 * A dropped position chosen again is in both patterns, so
 * spti_param_repattern keeps its value and optimizer slots. Ties use `seed`.
 * O(rows * cols) time with a score or a collector (O(rows + nnz + k) time
 * otherwise), O(k + nnz) memory beyond the score or sample. */
int spti_drop_grow_positions(const spti_param *p, int64_t k, const float *drop_score, const float *score,
                             const struct spti_grow_collector *grow, const spti_sample_grad *sampled, spti_rng *rng,
                             uint64_t seed, int64_t *new_pos);

/* n distinct inactive positions of the SPARSE weight of pattern m, every
 * n-subset of its rows*cols - nnz inactive positions equally likely
 * (spti_sample_sorted over their ranks, row by row, mapped to positions as
 * random growth maps them), as a sample (kernels/grow_sample.h; *out made
 * here). Memory and time O(n + rows + nnz) on large layers. SPT_ERR_SIZE
 * for n outside [0, inactive]; SPT_ERR_NOMEM. */
int spti_grow_sample_draw(const spt_csr *m, int64_t n, spti_rng *rng, spti_grow_sample **out);

/* ---- shared state of the four topology methods (dst.c) ---------------- */

typedef struct spti_dst {
    int64_t *nnz;           /* per layer target; == rows*cols: kept DENSE */
    bool sparse_init;
    int64_t delta_t, t_end; /* topology updates at spt_drop_is_update_step(delta_t, t_end, t) */
    double alpha;
    int schedule;           /* spt_drop_schedule */
    float beta;             /* SNFS momentum decay */
    bool has_momentum;      /* the method keeps `momentum` (SNFS) */
    float **momentum;       /* rows*cols per sparse layer (NULL otherwise), or NULL */
    spt_user_method *rules; /* a user method's criteria (owned copy), or NULL */
    double grow_sample;     /* SPT_MP_GROW_SAMPLE: growth by gradient over ceil(m k) sampled positions; 0: all */
    spti_structure structure; /* SPT_MP_STRUCTURE: by row (fanin, nm) or unstructured */
    int64_t updates;        /* update steps performed */
    int64_t last_update;    /* step of the last one, -1 before any */
} spti_dst;

/* Allocate a method of `ops` with the config's knobs (validated: total_steps
 * >= 0, weights non-NULL and 2-D/4-D, the allocation reachable). m->rng is
 * seeded with SPT_MP_SEED. */
int spti_dst_create(const spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights, int n_weights,
                    int64_t total_steps, spti_method **out);
void spti_dst_destroy(spti_method *m);
/* init hook shared by all four: spti_topology_init with the planned nnz. */
int spti_dst_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads);
/* Whether step t updates the topology, and k = floor(f(t) * nnz) for a layer. */
bool spti_dst_is_update(const spti_method *m, int64_t step);
int64_t spti_dst_drop_count(const spti_method *m, int64_t step, int64_t nnz);
/* Seed of layer l's selections at `step`: a hash of the method's RNG state
 * (which does not advance after init), the step and the layer. */
uint64_t spti_dst_seed(const spti_method *m, int64_t step, int layer);
/* Whether weight l is a SPARSE layer the method moves. */
bool spti_dst_is_sparse(const spti_method *m, int layer);
/* One drop/grow update of every sparse layer at `step`, dropping the
 * smallest |w| (drop == NULL or drop[l] == NULL) or drop[l] (nnz, CSR
 * order), growing by |scores[l]| (rows*cols; scores == NULL: at random;
 * scores[l] == NULL: by the layer's filled growth collector,
 * weights[l]->result.grow). New positions for all layers are computed first, then
 * every layer is repatterned. Adds 1 to m->topology_updates when any layer
 * changed. */
int spti_dst_update(spti_method *m, int64_t step, const float *const *drop, float *const *scores);
/* Ask every sparse layer whose k is > 0 at `step` (0 off update steps) for
 * the dense gradient of the coming backward: streamed into its growth
 * collector (stream: a SPARSE linear layer; others fill dense_grad) or as
 * a rows x cols dense_grad. With stream and grow_sample > 0, instead for
 * the gradient at min(inactive, ceil(grow_sample k)) inactive positions
 * drawn per layer (spti_grow_sample_draw, seeded by spti_dst_seed; layers
 * drawn in parallel): request.sample. Frees what an earlier request left
 * first. SPT_ERR_NOMEM (no request left behind) only when sampling. */
int spti_dst_request_gradients(spti_method *m, int64_t step, bool stream);
/* Clear those requests and free what they produced. */
void spti_dst_release_gradients(spti_method *m);
/* The weight-gradient FLOPs per example of an update step of a method that
 * grows over sampled positions (q->cfg, q->weights set, grow_sample > 0):
 * q->f_sparse plus, per sparse layer growing k > 0 weights,
 * 2 s hw (s = min(inactive, ceil(grow_sample k)) sampled positions, hw its
 * output positions per example) or, where the dense product serves the
 * sample (spti_grow_sample_dense), its dense cost minus f_S, averaged over
 * the run's update steps (at most 1024 of them, evenly spread); f_S alone
 * when the run has none. */
int spti_dst_sampled_update_flops(const spti_flops_query *q, double *out);
/* Checkpoint of the state (little-endian; layout in dst.c). */
int spti_dst_save(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len);
int spti_dst_load(spti_method *m, const uint8_t *buf, int64_t len);

#endif
