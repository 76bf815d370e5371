/*
 * sparsetrain/sparsity.h - sparse training: methods, how sparsity is spread
 * over layers, update schedules and FLOP accounting.
 *
 * Sections:
 *   1. Method identifiers (shared by every part of the library).
 *   2. Layer lists: how a network's weights are described to the functions below.
 *   3. Sparsity allocation: uniform, Erdos-Renyi (ER), Erdos-Renyi-Kernel (ERK), custom.
 *   4. Schedules: RigL/SET drop fraction, gradual magnitude pruning (GMP), lottery rounds.
 *   5. FLOP accounting (RigL paper conventions).
 *
 * Everything in sections 2-5 is pure arithmetic on the caller's arrays: no
 * handle, no allocation, no global state. Every function is thread-safe and
 * keeps no pointer after it returns. On failure no output was written.
 */
#ifndef SPARSETRAIN_SPARSITY_H
#define SPARSETRAIN_SPARSITY_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * 1. Method identifiers
 * ====================================================================== */

/* Sparse-training methods. Pinned values: part of the ABI, only appended. */
typedef enum spt_method {
    SPT_METHOD_DENSE = 0,   /* ordinary dense training */
    SPT_METHOD_STATIC = 1,  /* fixed random sparse mask */
    SPT_METHOD_SET = 2,     /* Mocanu et al. 2018: drop by magnitude, grow at random */
    SPT_METHOD_SNFS = 3,    /* Dettmers & Zettlemoyer 2019: grow by momentum (dense gradients) */
    SPT_METHOD_RIGL = 4,    /* Evci et al. 2020: drop by magnitude, grow by gradient */
    SPT_METHOD_GMP = 5,     /* Zhu & Gupta 2017: gradual magnitude pruning from dense */
    SPT_METHOD_LOTTERY = 6, /* Frankle & Carbin 2019: iterative magnitude pruning with rewinding */
    SPT_METHOD_SNIP = 7,    /* Lee et al. 2019: prune at initialisation by |w * g| */
    SPT_METHOD_GRASP = 8,   /* Wang et al. 2020: prune at initialisation by gradient flow */
    SPT_METHOD_SYNFLOW = 9  /* Tanaka et al. 2020: data-free iterative synaptic flow */
} spt_method;

/* ======================================================================
 * 2. Layer lists
 * ======================================================================
 * A network's sparsifiable weights are described by parallel plain arrays
 * (no structs, so they are easy to fill from C, Python ctypes or NumPy):
 *
 *   n_layers        L >= 1                           (else SPT_ERR_SIZE)
 *   ndim[L]         2 for a linear weight out x in,
 *                   4 for a convolution kernel out x in x kh x kw
 *                                                    (else SPT_ERR_INVALID)
 *   shape[L*4]      row-major: layer l's dims are shape[4*l .. 4*l+3].
 *                   For ndim 2 only the first two are read (the other two
 *                   are ignored and may hold anything). Every dim read must
 *                   be >= 1, and each layer's size (product of its dims) and
 *                   the total over all layers must fit in int64_t
 *                                                    (else SPT_ERR_SIZE)
 *   out_hw[L]       (FLOP functions only) number of output positions the
 *                   weight is applied at per example: H_out * W_out for a
 *                   convolution, 1 for a linear layer. NULL means all 1.
 *                   Each must be >= 1                (else SPT_ERR_SIZE)
 *
 * A NULL required array gives SPT_ERR_NULL.
 */

/* ======================================================================
 * 3. Sparsity allocation
 * ======================================================================
 * Definitions. size_l is the number of weights of layer l, total = sum of
 * size_l over ALL listed layers (kept-dense ones included). For a target
 * overall sparsity S the library places N = (1 - S) * total nonzeros:
 *
 *  - Kept-dense layers (keep_dense[l] != 0, e.g. the first and last layer)
 *    get density 1 and are paid for from N: the remaining layers share
 *    B = N - sum of kept size_l. So the sparsity over all listed layers is S
 *    (this differs from the RigL code, where unmasked layers are simply not
 *    counted). If B < 0 the target is unreachable (SPT_ERR_INVALID; the
 *    message states the largest reachable sparsity). B within half a weight
 *    below 0 is treated as 0 (rounding).
 *  - SPT_DISTRIBUTION_UNIFORM: every non-kept layer gets the same density
 *    d = B / (sum of non-kept size_l); with no kept layer d = 1 - S. (To get
 *    the RigL code's behaviour - non-kept layers at exactly 1 - S, overall
 *    sparsity below S - pass those densities to spt_sparsity_allocate_custom.)
 *  - SPT_DISTRIBUTION_ERDOS_RENYI: density_l = eps * score_l with
 *    score_l = (n_in + n_out) / (n_in * n_out) (for a convolution n_out,
 *    n_in are its first two dims; the kernel size is ignored).
 *  - SPT_DISTRIBUTION_ERK: score_l = (sum of all dims) / (product of all
 *    dims); identical to ER for linear layers.
 *  - ER/ERK exact solve: eps is chosen so that sum of density_l * size_l
 *    over the non-kept layers equals B. If that makes some density exceed 1,
 *    every layer sharing the largest score is made dense (density 1) and
 *    removed, and eps is solved again over the rest with their budget; this
 *    repeats until no density exceeds 1.
 *  - Integer counts: nnz_l = round(density_l * size_l), clamped to
 *    [1, size_l] (every layer keeps at least one weight). The achieved
 *    overall sparsity 1 - (sum nnz_l) / total is reported; it differs from
 *    S by at most one weight per layer (n_layers / total) - more only when
 *    the at-least-one clamp binds on a nearly empty layer.
 */

/* Sparsity distributions. Pinned values. */
typedef enum spt_distribution {
    SPT_DISTRIBUTION_UNIFORM = 0,
    SPT_DISTRIBUTION_ERDOS_RENYI = 1,
    SPT_DISTRIBUTION_ERK = 2
} spt_distribution;

/* Spread overall sparsity `sparsity` over a layer list (see the definitions above).
 *   distribution       an spt_distribution value            (else SPT_ERR_INVALID)
 *   sparsity           S in [0, 1)                           (else SPT_ERR_INVALID)
 *   n_layers, ndim, shape   the layer list (section 2)
 *   keep_dense         L flags, nonzero = keep that layer dense; NULL = none
 *   density_out        L doubles: each layer's real density before rounding
 *                      (1 for kept and saturated layers). Required.
 *   nnz_out            L int64: each layer's integer nonzero count. Required.
 *   achieved_sparsity_out  1 - sum(nnz_out)/total; may be NULL.
 * Returns SPT_OK, SPT_ERR_NULL, SPT_ERR_INVALID (bad distribution, S, or an
 * unreachable target), SPT_ERR_SIZE (bad layer list).
 * Thread-safe; allocates nothing. */
SPT_API int spt_sparsity_allocate(int distribution, double sparsity, int64_t n_layers, const int32_t *ndim,
                                  const int64_t *shape, const uint8_t *keep_dense, double *density_out,
                                  int64_t *nnz_out, double *achieved_sparsity_out);

/* Integer nonzero counts for densities chosen by the caller.
 *   density            L doubles, each in (0, 1]              (else SPT_ERR_INVALID)
 *   nnz_out            L int64: round(density_l * size_l) clamped to [1, size_l]. Required.
 *   achieved_sparsity_out  1 - sum(nnz_out)/total; may be NULL.
 * Returns SPT_OK, SPT_ERR_NULL, SPT_ERR_INVALID, SPT_ERR_SIZE.
 * Thread-safe; allocates nothing. */
SPT_API int spt_sparsity_allocate_custom(int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                                         const double *density, int64_t *nnz_out, double *achieved_sparsity_out);

/* ======================================================================
 * 4. Schedules
 * ====================================================================== */

/* Decay of the fraction of active weights dropped (and regrown) at a
 * topology update (RigL, SET, SNFS). Pinned values. */
typedef enum spt_drop_schedule {
    SPT_DROP_COSINE = 0,  /* f(t) = alpha/2 * (1 + cos(pi * t / t_end))  (RigL default) */
    SPT_DROP_LINEAR = 1,  /* f(t) = alpha * (1 - t / t_end) */
    SPT_DROP_CONSTANT = 2 /* f(t) = alpha */
} spt_drop_schedule;

/* Drop fraction f(t) at training step t: the formula of `schedule` for
 * 0 <= t < t_end and 0 for t >= t_end (so also always 0 when t_end == 0).
 *   schedule   an spt_drop_schedule value                  (else SPT_ERR_INVALID)
 *   alpha      initial drop fraction in [0, 1]             (else SPT_ERR_INVALID)
 *   t_end      step at which updates stop, >= 0            (else SPT_ERR_INVALID)
 *   t          step, >= 0                                  (else SPT_ERR_INVALID)
 *   fraction_out  f(t) in [0, alpha]. Required (SPT_ERR_NULL).
 * Thread-safe. */
SPT_API int spt_drop_fraction(int schedule, double alpha, int64_t t_end, int64_t t, double *fraction_out);

/* Whether step t is a topology-update step: t > 0 && t % delta_t == 0 &&
 * t < t_end. Step 0 is never an update (the initial mask is fresh), and no
 * update happens at or after t_end.
 *   delta_t    steps between updates, >= 1                 (else SPT_ERR_INVALID)
 *   t_end, t   >= 0                                        (else SPT_ERR_INVALID)
 *   is_update_out  1 or 0. Required (SPT_ERR_NULL).
 * Thread-safe. */
SPT_API int spt_drop_is_update_step(int64_t delta_t, int64_t t_end, int64_t t, int *is_update_out);

/* Gradual magnitude pruning (Zhu & Gupta 2017) target sparsity at step t:
 *   s_t = s_initial                                         t < t0
 *   s_t = s_final + (s_initial - s_final) * (1 - (t - t0) / (n * delta_t))^3
 *                                                           t0 <= t <= t0 + n*delta_t
 *   s_t = s_final                                           t > t0 + n*delta_t
 * Pruning happens at the n + 1 steps t0, t0 + delta_t, ..., t0 + n*delta_t
 * (see spt_gmp_is_prune_step); between them the mask, and so the model's
 * sparsity, stays at the value of the last pruning step. This function
 * returns the formula at t itself.
 *   s_initial, s_final   in [0, 1)                         (else SPT_ERR_INVALID)
 *   t0 >= 0, n >= 1, delta_t >= 1, t >= 0                  (else SPT_ERR_INVALID)
 *   t0 + n*delta_t must fit in int64_t                     (else SPT_ERR_SIZE)
 *   sparsity_out  Required (SPT_ERR_NULL).
 * Thread-safe. */
SPT_API int spt_gmp_sparsity(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t,
                             double *sparsity_out);

/* Whether step t is a GMP pruning step: t0 <= t <= t0 + n*delta_t and
 * (t - t0) % delta_t == 0. Arguments as spt_gmp_sparsity; is_prune_out 1 or 0.
 * Thread-safe. */
SPT_API int spt_gmp_is_prune_step(int64_t t0, int64_t n, int64_t delta_t, int64_t t, int *is_prune_out);

/* Sparsity after `round` rounds of iterative pruning that each remove the
 * fraction `prune_fraction` of the surviving weights (lottery tickets):
 * 1 - (1 - prune_fraction)^round.
 *   prune_fraction  in [0, 1)                               (else SPT_ERR_INVALID)
 *   round           >= 0                                    (else SPT_ERR_INVALID)
 *   sparsity_out    Required (SPT_ERR_NULL).
 * Thread-safe. */
SPT_API int spt_lottery_sparsity(double prune_fraction, int64_t round, double *sparsity_out);

/* ======================================================================
 * 5. FLOP accounting
 * ======================================================================
 * Conventions (those of the RigL paper, Evci et al. 2020, appendix):
 *  - One multiply-add counts as 2 FLOPs (the paper's dense ResNet-50
 *    inference cost of 8.2e9 FLOPs is twice its 4.1e9 multiply-adds).
 *  - Only the weight layers of the list are counted: a layer with nnz
 *    nonzero weights costs 2 * nnz * out_hw FLOPs per example in the forward
 *    pass (dense: nnz = size). Biases, normalisation, activations and
 *    pooling are not counted.
 *  - f_D is the dense forward cost, f_S the sparse one. The backward pass
 *    costs twice the forward (gradient w.r.t. inputs + w.r.t. weights), so
 *    one training step costs 3 * f per example. Results are per example;
 *    multiply by batch size and steps for a whole run.
 *  - All results are doubles (training totals exceed 2^53).
 */

/* Forward FLOPs per example of a layer list (see the conventions above).
 *   n_layers, ndim, shape, out_hw   the layer list (section 2)
 *   nnz        L nonzero counts, each in [0, size_l] (else SPT_ERR_SIZE);
 *              NULL = dense (f_D).
 *   flops_out  Required.
 * Returns SPT_OK, SPT_ERR_NULL, SPT_ERR_INVALID, SPT_ERR_SIZE. Thread-safe. */
SPT_API int spt_flops_forward(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                              const int64_t *nnz, double *flops_out);

/* Training FLOPs per example and step of a method, from f_D and f_S:
 *   SPT_METHOD_DENSE                 3 f_D
 *   SPT_METHOD_STATIC, SPT_METHOD_SET
 *   SNIP, GRASP, SYNFLOW             3 f_S (the one-off scoring pass at
 *                                    initialisation is not counted)
 *   SPT_METHOD_SNFS                  2 f_S + f_D (dense gradients every step)
 *   SPT_METHOD_RIGL                  (3 f_S delta_t + 2 f_S + f_D) / (delta_t + 1)
 *                                    (one dense gradient every delta_t steps)
 *   SPT_METHOD_GMP, SPT_METHOD_LOTTERY  SPT_ERR_INVALID: their cost follows a
 *                                    density schedule; use
 *                                    spt_flops_train_schedule or spt_flops_train_gmp.
 *   f_dense, f_sparse  finite, 0 <= f_sparse <= f_dense     (else SPT_ERR_INVALID)
 *   delta_t            RigL update interval, >= 1 for RIGL  (else SPT_ERR_INVALID);
 *                      ignored by the other methods.
 *   flops_out          Required.
 * Thread-safe. */
SPT_API int spt_flops_train(int method, double f_dense, double f_sparse, int64_t delta_t, double *flops_out);

/* Average training FLOPs per example and step when the per-layer densities
 * change over training: the mean over the n_points rows of
 * 3 * sum_l density[p][l] * (dense forward FLOPs of layer l).
 *   n_layers, ndim, shape, out_hw   the layer list (section 2)
 *   n_points   rows, >= 1 (e.g. one per step, or one per round) (else SPT_ERR_SIZE)
 *   density    n_points x n_layers row-major, each in [0, 1] (else SPT_ERR_INVALID);
 *              every row has equal weight.
 *   flops_out  Required.
 * Thread-safe. */
SPT_API int spt_flops_train_schedule(int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                                     const int64_t *out_hw, int64_t n_points, const double *density,
                                     double *flops_out);

/* Average training FLOPs per example and step of a GMP run of total_steps
 * steps (t = 0 .. total_steps-1). Layer l follows spt_gmp_sparsity from
 * 1 - initial_density[l] to 1 - final_density[l]; step t trains at the
 * sparsity of the last pruning step <= t (before t0: the initial density).
 *   n_layers, ndim, shape, out_hw   the layer list (section 2)
 *   initial_density  L values in (0, 1]; NULL = all 1 (dense start, the usual case)
 *   final_density    L values in (0, 1] (e.g. spt_sparsity_allocate's density_out)
 *   t0, n, delta_t   as spt_gmp_sparsity
 *   total_steps      >= 1                                   (else SPT_ERR_SIZE)
 *   flops_out        Required.
 * Thread-safe. */
SPT_API int spt_flops_train_gmp(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                                const double *initial_density, const double *final_density, int64_t t0, int64_t n,
                                int64_t delta_t, int64_t total_steps, double *flops_out);

#ifdef __cplusplus
}
#endif
#endif
