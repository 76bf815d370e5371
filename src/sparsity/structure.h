/*
 * Structured sparsity (SPT_MP_STRUCTURE): which groups of a weight's
 * entries a method keeps together, orthogonal to the method and the
 * allocator. A weight is rows x cols (a row = an output neuron or filter);
 * the structures supported so far act row by row:
 *   fanin  every row holds exactly f = clamp(round(nnz / rows), 1, cols)
 *          entries;
 *   nm     every group of M consecutive columns of a row (the last one may
 *          be shorter, g < M) holds at most N entries; the initial topology
 *          holds exactly min(N, g) in each.
 * Both keep each row's count through drop/grow, so rows stay balanced
 * (kernels can store such a weight as rows x f values plus columns).
 * Which method supports which structure is its ops' `structures` mask
 * (method.h), checked by spti_method_create.
 */
#ifndef SPTI_STRUCTURE_H
#define SPTI_STRUCTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "method.h"

typedef struct spti_structure {
    int kind;     /* spt_structure */
    int64_t n, m; /* nm: at most n of every m consecutive inputs */
    double ablation; /* fanin, methods reading SPT_MP_ABLATION (RigL): SRigL's neuron ablation threshold; 0 off */
} spti_structure;

/* The structure a configuration asks for, checked against what `ops`
 * supports (SPT_ERR_UNSUPPORTED naming both) and its own relations (N <= M,
 * SPT_ERR_INVALID). */
int spti_structure_from_config(const spti_method_ops *ops, const spt_method_config *cfg, spti_structure *s);

/* Whether s moves rows as units of their own (anything but unstructured). */
static inline bool spti_structure_by_row(const spti_structure *s) {
    return s->kind == SPT_STRUCTURE_FANIN || s->kind == SPT_STRUCTURE_NM;
}

/* The group size of p under s: kh*kw under kernel for a convolution
 * (1 for a linear layer: its kernels are single weights, and it runs the
 * unstructured code), 1 otherwise. */
int64_t spti_structure_group(const spti_structure *s, const spti_param *p);

/* Whether p moves whole kernels (kernel structure, group size > 1). */
static inline bool spti_structure_by_kernel(const spti_structure *s, const spti_param *p) {
    return s->kind == SPT_STRUCTURE_KERNEL && spti_structure_group(s, p) > 1;
}

/* Kernel structure, a layer of `cells` weights in kernels of g: the count
 * planned at `planned` becomes clamp(round(planned / g), 1, cells / g)
 * kernels (cells when planned >= cells); the initial draw takes that many
 * kernels uniformly (nnz / g of the cells / g, from rng) into pos[nnz]
 * (sorted); drop/grow moves k = floor(fraction x active kernels) kernels:
 * the k of smallest L2 norm of their weights leave, and the k of largest
 * L2 norm of their score (rows x cols: RigL's gradient, SNFS's momentum)
 * or, score == NULL, k random ones grow among the kernels not kept
 * (inactive and just dropped), exact selections with seeded ties. */
int64_t spti_structure_kernel_nnz(int64_t g, int64_t cells, int64_t planned);
int spti_structure_kernel_sample(int64_t g, int64_t cells, int64_t nnz, spti_rng *rng, int64_t *pos);
int spti_structure_kernel_drop_grow(const spti_param *p, int64_t g, double fraction, const float *score,
                                    uint64_t seed, int64_t *new_pos);

/* The nonzero count of a rows x cols layer planned at `planned` (1 ..
 * rows*cols) under s: rows x f for fanin, rows x sum over groups of
 * min(N, g) for nm (unstructured: planned). A layer at rows*cols (kept
 * dense) stays so. */
int64_t spti_structure_nnz(const spti_structure *s, int64_t rows, int64_t cols, int64_t planned);

/* nnz = spti_structure_nnz(...) sorted positions of a rows x cols layer
 * drawn under s (uniform within each row or group: one draw per row from
 * rng, rows in order), into pos[nnz]. */
int spti_structure_sample(const spti_structure *s, int64_t rows, int64_t cols, int64_t nnz, spti_rng *rng,
                          int64_t *pos);

/* One drop/grow update of a SPARSE weight under s (by row), SRigL's way:
 * over the layer's live rows (dead may be NULL) keep the live - k active
 * entries of largest |w| (k = floor(fraction x live entries), one
 * layer-wide exact selection), trim a row holding more than its target to
 * its target by |w|, then grow each row back to its target (target < 0:
 * the row's count before the update) among its positions not kept, by
 * largest |score| (rows x cols) or, score == NULL, at random (a seeded
 * random key per candidate), taking a candidate only while its group of M
 * has room (nm). With dead (ablation), a row with dead[r] drops every
 * entry and grows none, and every other row grows to target, an empty one
 * (ablated before) included; without, a row holding no entry stays empty.
 * Ties are broken by a hash of `seed`
 * and the position. Writes the sorted new positions to new_pos (room for
 * max(nnz, rows x target)) and their count to *n_out. */
int spti_structure_drop_grow(const spti_structure *s, const spti_param *p, double fraction, const float *score,
                             uint64_t seed, const uint8_t *dead, int64_t target, int64_t *new_pos, int64_t *n_out);

/* SRigL's neuron ablation (Lasby et al. 2024) before a fanin RigL update
 * of p at drop fraction `fraction` with growth scores `score` (rows x
 * cols): the salient weights of the layer are the ones unconstrained RigL
 * would keep or grow (of k = floor(fraction nnz): the nnz - k active of
 * largest |w| and the k of largest |score| among the other positions,
 * exact seeded selections); a row holding fewer than max(1,
 * floor(s->ablation x f0)) salient weights is ablated (dead[r] = 1), f0 =
 * clamp(round(budget / rows), 1, cols) being the fan-in without ablation;
 * a row ablated before (empty) is judged the same way, by the salient
 * gradients in it, and comes back when they reach the threshold. Never
 * fewer than ceil(budget / cols) live rows (at least one), so that they
 * can hold the budget: then the rows with the most salient weights stay
 * (lowest index on ties). *target
 * receives the live rows' new fan-in, min(cols, max(1, round(budget /
 * live rows))): the budget of the ablated rows goes to the others. */
int spti_structure_ablate(const spti_structure *s, const spti_param *p, double fraction, const float *score,
                          int64_t budget, uint64_t seed, uint8_t *dead, int64_t *target);

/* Whether a weight's pattern satisfies s (a DENSE weight does):
 * SPT_OK, or SPT_ERR_INTERNAL naming the first row or group that does not.
 * fanin: every row holds `fanin` entries (fanin < 0: as many as row 0),
 * or none (a row ablated by SRigL's ablation). */
int spti_structure_check(const spti_structure *s, const spti_param *p, int64_t fanin);

#endif
