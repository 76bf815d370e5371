/** @file
 * Sparse training: method identifiers, how sparsity is spread over layers,
 * update schedules and FLOP accounting.
 *
 * Sections of this header:
 *  1. Method identifiers (#spt_method), shared by every part of the library.
 *  2. Layer lists: how a network's weights are described to the functions below.
 *  3. Sparsity allocation: uniform, Erdos-Renyi (ER), Erdos-Renyi-Kernel (ERK), custom.
 *  4. Schedules: RigL/SET drop fraction, gradual magnitude pruning (GMP), lottery rounds.
 *  5. FLOP accounting (RigL paper conventions).
 *
 * Everything in sections 2-5 is pure arithmetic on the caller's arrays: no
 * handle, no allocation, no global state. Every such function is thread-safe,
 * keeps no pointer after it returns, and writes no output when it fails.
 *
 * @par Layer lists
 * A network's sparsifiable weights are described by parallel plain arrays
 * (no structs, so they are easy to fill from C, Python ctypes or NumPy):
 *  - `n_layers`: L >= 1 (else SPT_ERR_SIZE).
 *  - `ndim[L]`: 2 for a linear weight out x in, 4 for a convolution kernel
 *    out x in x kh x kw (else SPT_ERR_INVALID).
 *  - `shape[L*4]`: row-major; layer l's dims are shape[4*l] .. shape[4*l+3].
 *    For ndim 2 only the first two are read (the other two are ignored and
 *    may hold anything). Every dim read must be >= 1, and each layer's size
 *    (product of its dims) and the total over all layers must fit in int64_t
 *    (else SPT_ERR_SIZE).
 *  - `out_hw[L]` (FLOP functions only): number of output positions the weight
 *    is applied at per example: H_out * W_out for a convolution, 1 for a
 *    linear layer. NULL means all 1. Each must be >= 1 (else SPT_ERR_SIZE).
 *  - A NULL required array gives SPT_ERR_NULL.
 *
 * @par Sparsity allocation
 * size_l is the number of weights of layer l and total the sum of size_l over
 * ALL listed layers (kept-dense ones included). For a target overall sparsity
 * S the library places N = (1 - S) * total nonzeros:
 *  - Kept-dense layers (keep_dense[l] != 0, e.g. the first and last layer) get
 *    density 1 and are paid for from N: the other layers share the budget
 *    B = N - (sum of kept size_l). So the sparsity over all listed layers is S.
 *    (The RigL code instead leaves unmasked layers out of the count.) If B < 0
 *    the target is unreachable: SPT_ERR_INVALID, and the message states the
 *    largest reachable sparsity. B within half a weight below 0 counts as 0.
 *  - #SPT_DISTRIBUTION_UNIFORM: every non-kept layer gets the same density
 *    B / (sum of non-kept size_l); with no kept layer that is 1 - S. (For the
 *    RigL code's behaviour - non-kept layers at exactly 1 - S, overall
 *    sparsity below S - pass those densities to spt_sparsity_allocate_custom().)
 *  - #SPT_DISTRIBUTION_ERDOS_RENYI: density_l = eps * score_l with
 *    score_l = (n_in + n_out) / (n_in * n_out); for a convolution n_out and
 *    n_in are its first two dims and the kernel size is ignored.
 *  - #SPT_DISTRIBUTION_ERK: score_l = (sum of all dims) / (product of all
 *    dims); identical to ER for linear layers.
 *  - Exact ER/ERK solve: eps is chosen so that the sum of density_l * size_l
 *    over the non-kept layers equals B. If that makes some density exceed 1,
 *    every layer sharing the largest score is made dense (density 1) and
 *    removed, and eps is solved again over the rest with what is left of the
 *    budget; this repeats until no density exceeds 1.
 *  - Integer counts: nnz_l = round(density_l * size_l), clamped to
 *    [1, size_l] (every layer keeps at least one weight). The achieved
 *    overall sparsity 1 - (sum of nnz_l) / total is reported; it differs from
 *    S by at most one weight per layer (n_layers / total).
 *
 * @par FLOP conventions
 * Those of the RigL paper (Evci et al. 2020, appendix):
 *  - One multiply-add counts as 2 FLOPs (the paper's dense ResNet-50
 *    inference cost of 8.2e9 FLOPs is twice its 4.1e9 multiply-adds).
 *  - Only the listed weight layers are counted: a layer with nnz nonzero
 *    weights costs 2 * nnz * out_hw FLOPs per example in the forward pass
 *    (dense: nnz = size). Biases, normalisation, activations and pooling are
 *    not counted.
 *  - f_D is the dense forward cost, f_S the sparse one. The backward pass
 *    costs twice the forward (gradients with respect to the inputs and to the
 *    weights), so a training step costs 3 f per example. Results are per
 *    example and step; multiply by batch size and steps for a whole run.
 *  - Results are doubles (training totals exceed 2^53).
 */
#ifndef SPARSETRAIN_SPARSITY_H
#define SPARSETRAIN_SPARSITY_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== 1. method identifiers ===================================================== */

/** Sparse-training methods (pinned values: part of the ABI, only appended). */
typedef enum spt_method {
    SPT_METHOD_DENSE = 0,   /**< Ordinary dense training. */
    SPT_METHOD_STATIC = 1,  /**< A fixed random sparse mask. */
    SPT_METHOD_SET = 2,     /**< Mocanu et al. 2018: drop by magnitude, grow at random. */
    SPT_METHOD_SNFS = 3,    /**< Dettmers & Zettlemoyer 2019: grow by momentum (dense gradients). */
    SPT_METHOD_RIGL = 4,    /**< Evci et al. 2020: drop by magnitude, grow by gradient. */
    SPT_METHOD_GMP = 5,     /**< Zhu & Gupta 2017: gradual magnitude pruning from dense. */
    SPT_METHOD_LOTTERY = 6, /**< Frankle & Carbin 2019: iterative magnitude pruning with rewinding. */
    SPT_METHOD_SNIP = 7,    /**< Lee et al. 2019: prune at initialisation by |w * g|. */
    SPT_METHOD_GRASP = 8,   /**< Wang et al. 2020: prune at initialisation by gradient flow. */
    SPT_METHOD_SYNFLOW = 9, /**< Tanaka et al. 2020: data-free iterative synaptic flow. */
    SPT_METHOD_USER = 10    /**< Your own drop and grow criteria (user_method.h); made by spt_method_config_create_user() only. */
} spt_method;

/* ==== 2-3. sparsity allocation (layer lists: see the file comment) =============== */

/** How an overall sparsity is spread over layers (pinned values). */
typedef enum spt_distribution {
    SPT_DISTRIBUTION_UNIFORM = 0,     /**< Same density in every layer not kept dense. */
    SPT_DISTRIBUTION_ERDOS_RENYI = 1, /**< Density proportional to (n_in + n_out) / (n_in * n_out). */
    SPT_DISTRIBUTION_ERK = 2          /**< Erdos-Renyi-Kernel: density proportional to sum(dims) / prod(dims). */
} spt_distribution;

/**
 * Spread an overall sparsity over a layer list (definitions in the file
 * comment, "Sparsity allocation"). Thread-safe; allocates nothing.
 * @param distribution an #spt_distribution value.
 * @param sparsity     target overall sparsity S in [0, 1).
 * @param n_layers     number of layers L (layer list: file comment).
 * @param ndim         L entries, 2 or 4.
 * @param shape        L*4 dims, row-major.
 * @param keep_dense   L flags, nonzero = keep that layer dense; NULL = none.
 * @param[out] density_out L doubles: each layer's real density before
 *             rounding (1 for kept and saturated layers). Required.
 * @param[out] nnz_out L int64: each layer's integer nonzero count. Required.
 * @param[out] achieved_sparsity_out 1 - sum(nnz_out) / total; may be NULL.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an unknown distribution,
 *         S outside [0, 1) or an unreachable target; SPT_ERR_SIZE for a bad
 *         layer list.
 */
SPT_API int spt_sparsity_allocate(int distribution, double sparsity, int64_t n_layers, const int32_t *ndim,
                                  const int64_t *shape, const uint8_t *keep_dense, double *density_out,
                                  int64_t *nnz_out, double *achieved_sparsity_out);

/**
 * The SET paper's parameterisation (Mocanu et al. 2018): no overall target,
 * but each layer's density from epsilon alone,
 * density_l = min(1, epsilon * score_l), with the ER or ERK score of the file
 * comment; for a linear layer that is epsilon * (n_in + n_out) / (n_in * n_out),
 * about epsilon * (n_in + n_out) weights (the paper's epsilon = 20: a
 * 784-1000 layer keeps 35,680 of 784,000). Kept-dense layers get 1.
 * Thread-safe; allocates nothing.
 * @param distribution #SPT_DISTRIBUTION_ERDOS_RENYI or #SPT_DISTRIBUTION_ERK.
 * @param epsilon      in (0, 1e9].
 * @param n_layers     number of layers L (layer list: file comment).
 * @param ndim         L entries, 2 or 4.
 * @param shape        L*4 dims, row-major.
 * @param keep_dense   L flags, nonzero = keep that layer dense; NULL = none.
 * @param[out] density_out L doubles, each in (0, 1]. Required.
 * @param[out] nnz_out L int64: round(density_l * size_l) clamped to [1, size_l]. Required.
 * @param[out] achieved_sparsity_out 1 - sum(nnz_out) / total; may be NULL.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for another distribution or
 *         epsilon outside (0, 1e9]; SPT_ERR_SIZE for a bad layer list.
 */
SPT_API int spt_sparsity_allocate_epsilon(int distribution, double epsilon, int64_t n_layers, const int32_t *ndim,
                                          const int64_t *shape, const uint8_t *keep_dense, double *density_out,
                                          int64_t *nnz_out, double *achieved_sparsity_out);

/**
 * Integer nonzero counts for per-layer densities chosen by the caller.
 * Thread-safe; allocates nothing.
 * @param n_layers number of layers L (layer list: file comment).
 * @param ndim     L entries, 2 or 4.
 * @param shape    L*4 dims, row-major.
 * @param density  L densities, each in (0, 1].
 * @param[out] nnz_out L int64: round(density_l * size_l) clamped to [1, size_l]. Required.
 * @param[out] achieved_sparsity_out 1 - sum(nnz_out) / total; may be NULL.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for a density outside (0, 1];
 *         SPT_ERR_SIZE for a bad layer list.
 */
SPT_API int spt_sparsity_allocate_custom(int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                                         const double *density, int64_t *nnz_out, double *achieved_sparsity_out);

/* ==== 4. schedules ================================================================= */

/** Decay of the fraction of active weights dropped (and regrown) at a
 *  topology update of RigL, SET or SNFS (pinned values). */
typedef enum spt_drop_schedule {
    SPT_DROP_COSINE = 0,  /**< f(t) = alpha/2 * (1 + cos(pi * t / t_end)) (the RigL default). */
    SPT_DROP_LINEAR = 1,  /**< f(t) = alpha * (1 - t / t_end). */
    SPT_DROP_CONSTANT = 2 /**< f(t) = alpha. */
} spt_drop_schedule;

/**
 * Drop fraction f(t) at training step t: the formula of `schedule` for
 * 0 <= t < t_end, and 0 for t >= t_end (so always 0 when t_end is 0).
 * Thread-safe.
 * @param schedule an #spt_drop_schedule value.
 * @param alpha    initial drop fraction, in [0, 1].
 * @param t_end    step at which topology updates stop, >= 0.
 * @param t        step, >= 0.
 * @param[out] fraction_out f(t), in [0, alpha]. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its range.
 */
SPT_API int spt_drop_fraction(int schedule, double alpha, int64_t t_end, int64_t t, double *fraction_out);

/**
 * Whether step t is a topology-update step: t > 0 && t % delta_t == 0 &&
 * t < t_end. Step 0 is never one (the initial mask is fresh) and none happens
 * at or after t_end. Thread-safe.
 * @param delta_t steps between updates, >= 1.
 * @param t_end   step at which updates stop, >= 0.
 * @param t       step, >= 0.
 * @param[out] is_update_out 1 or 0. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its range.
 */
SPT_API int spt_drop_is_update_step(int64_t delta_t, int64_t t_end, int64_t t, int *is_update_out);

/**
 * Target sparsity of gradual magnitude pruning (Zhu & Gupta 2017) at step t:
 *  - s_initial for t < t0;
 *  - s_final + (s_initial - s_final) * (1 - (t - t0) / (n * delta_t))^3 for
 *    t0 <= t <= t0 + n * delta_t;
 *  - s_final after.
 *
 * Pruning happens at the n + 1 steps t0, t0 + delta_t, ..., t0 + n * delta_t
 * (spt_gmp_is_prune_step()); between them the mask, and so the model's
 * sparsity, stays at the value of the last pruning step. This function gives
 * the formula at t itself. Thread-safe.
 * @param s_initial sparsity before and at t0, in [0, 1).
 * @param s_final   sparsity at and after t0 + n * delta_t, in [0, 1).
 * @param t0        first pruning step, >= 0.
 * @param n         number of pruning intervals, >= 1.
 * @param delta_t   steps between pruning steps, >= 1.
 * @param t         step, >= 0.
 * @param[out] sparsity_out s_t. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its
 *         range; SPT_ERR_SIZE if t0 + n * delta_t overflows int64_t.
 */
SPT_API int spt_gmp_sparsity(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t,
                             double *sparsity_out);

/**
 * Whether step t is a GMP pruning step: t0 <= t <= t0 + n * delta_t and
 * (t - t0) % delta_t == 0. Thread-safe.
 * @param t0      first pruning step, >= 0.
 * @param n       number of pruning intervals, >= 1.
 * @param delta_t steps between pruning steps, >= 1.
 * @param t       step, >= 0.
 * @param[out] is_prune_out 1 or 0. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its
 *         range; SPT_ERR_SIZE if t0 + n * delta_t overflows int64_t.
 */
SPT_API int spt_gmp_is_prune_step(int64_t t0, int64_t n, int64_t delta_t, int64_t t, int *is_prune_out);

/**
 * Sparsity after `round` rounds of iterative pruning that each remove the
 * fraction `prune_fraction` of the surviving weights (lottery tickets):
 * 1 - (1 - prune_fraction)^round. Thread-safe.
 * @param prune_fraction fraction of survivors pruned per round, in [0, 1).
 * @param round          completed rounds, >= 0.
 * @param[out] sparsity_out the sparsity. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its range.
 */
SPT_API int spt_lottery_sparsity(double prune_fraction, int64_t round, double *sparsity_out);

/* ==== 5. FLOP accounting (conventions: see the file comment) ====================== */

/**
 * Forward FLOPs per example of a layer list (file comment, "FLOP conventions").
 * Thread-safe.
 * @param n_layers number of layers L (layer list: file comment).
 * @param ndim     L entries, 2 or 4.
 * @param shape    L*4 dims, row-major.
 * @param out_hw   L output positions per example, each >= 1; NULL = all 1.
 * @param nnz      L nonzero counts, each in [0, size_l]; NULL = dense (gives f_D).
 * @param[out] flops_out the FLOPs. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for a bad ndim; SPT_ERR_SIZE
 *         for a bad layer list or nnz outside [0, size_l].
 */
SPT_API int spt_flops_forward(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                              const int64_t *nnz, double *flops_out);

/**
 * Training FLOPs per example and step of a method, from f_D and f_S:
 *  - #SPT_METHOD_DENSE: 3 f_D;
 *  - #SPT_METHOD_STATIC, #SPT_METHOD_SET, #SPT_METHOD_SNIP, #SPT_METHOD_GRASP,
 *    #SPT_METHOD_SYNFLOW: 3 f_S (the one-off scoring pass at initialisation is
 *    not counted);
 *  - #SPT_METHOD_SNFS: 2 f_S + f_D (a dense gradient every step);
 *  - #SPT_METHOD_RIGL: (3 f_S delta_t + 2 f_S + f_D) / (delta_t + 1) (a dense
 *    gradient every delta_t steps; exact growth: this function knows no
 *    #SPT_MP_GROW_SAMPLE, spt_trainer_flops() counts a trainer's sampled
 *    growth);
 *  - #SPT_METHOD_GMP, #SPT_METHOD_LOTTERY: SPT_ERR_INVALID, since their cost
 *    follows a density schedule: use spt_flops_train_schedule() or
 *    spt_flops_train_gmp().
 *
 * Thread-safe.
 * @param method   an #spt_method value.
 * @param f_dense  f_D, finite.
 * @param f_sparse f_S, finite, 0 <= f_S <= f_D.
 * @param delta_t  RigL's update interval, >= 1; ignored by the other methods.
 * @param[out] flops_out the FLOPs. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an unknown or
 *         schedule-driven method or an argument outside its range.
 */
SPT_API int spt_flops_train(int method, double f_dense, double f_sparse, int64_t delta_t, double *flops_out);

/**
 * Average training FLOPs per example and step while per-layer densities
 * change: the mean over the n_points rows of
 * 3 * sum_l density[p][l] * (dense forward FLOPs of layer l). Thread-safe.
 * @param n_layers number of layers L (layer list: file comment).
 * @param ndim     L entries, 2 or 4.
 * @param shape    L*4 dims, row-major.
 * @param out_hw   L output positions per example, each >= 1; NULL = all 1.
 * @param n_points number of rows, >= 1 (e.g. one per step, or per round).
 * @param density  n_points x L densities, row-major, each in [0, 1]; every
 *                 row has the same weight.
 * @param[out] flops_out the mean FLOPs. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for a density outside [0, 1]
 *         or a bad ndim; SPT_ERR_SIZE for a bad layer list or n_points.
 */
SPT_API int spt_flops_train_schedule(int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                                     const int64_t *out_hw, int64_t n_points, const double *density,
                                     double *flops_out);

/**
 * Average training FLOPs per example and step of a GMP run of total_steps
 * steps (t = 0 .. total_steps - 1). Layer l follows spt_gmp_sparsity() from
 * 1 - initial_density[l] to 1 - final_density[l]; step t trains at the
 * sparsity of the last pruning step <= t (before t0: the initial density).
 * Thread-safe.
 * @param n_layers        number of layers L (layer list: file comment).
 * @param ndim            L entries, 2 or 4.
 * @param shape           L*4 dims, row-major.
 * @param out_hw          L output positions per example, each >= 1; NULL = all 1.
 * @param initial_density L densities in (0, 1]; NULL = all 1 (dense start, the usual case).
 * @param final_density   L densities in (0, 1], e.g. the density_out of spt_sparsity_allocate().
 * @param t0              first pruning step, >= 0.
 * @param n               number of pruning intervals, >= 1.
 * @param delta_t         steps between pruning steps, >= 1.
 * @param total_steps     length of the run, >= 1.
 * @param[out] flops_out  the mean FLOPs. Required.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_INVALID for an argument outside its
 *         range; SPT_ERR_SIZE for a bad layer list, total_steps < 1 or
 *         t0 + n * delta_t overflowing int64_t.
 */
SPT_API int spt_flops_train_gmp(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                                const double *initial_density, const double *final_density, int64_t t0, int64_t n,
                                int64_t delta_t, int64_t total_steps, double *flops_out);

#ifdef __cplusplus
}
#endif
#endif
