/*
 * Internal helpers of the sparsity math (allocators, FLOP counters): the
 * layer-list check and the per-distribution density solvers behind
 * spt_sparsity_allocate (include/sparsetrain/sparsity.h, section 3).
 */
#ifndef SPTI_SPARSITY_MATH_H
#define SPTI_SPARSITY_MATH_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"

/* Check a layer list (sparsity.h, section 2) on behalf of `func` (named in
 * the error message): n_layers >= 1, ndim/shape non-NULL, every ndim 2 or 4,
 * every dim read >= 1, sizes and their total within int64_t. out_hw may be
 * NULL (not checked); otherwise every entry must be >= 1. Writes the total
 * number of weights to *total. Returns SPT_OK or the failing status. */
int spti_layers_check(const char *func, int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                      const int64_t *out_hw, int64_t *total);

/* Number of weights of layer l of a list that passed spti_layers_check. */
int64_t spti_layer_size(const int32_t *ndim, const int64_t *shape, int64_t l);

/* Dense forward FLOPs per example of layer l: 2 * size * out_hw[l] (out_hw NULL = 1). */
double spti_layer_dense_flops(const int32_t *ndim, const int64_t *shape, const int64_t *out_hw, int64_t l);

/* Density solvers. Inputs: a checked layer list, keep flags (NULL = none;
 * nonzero = dense) and the budget B >= 0 of nonzeros the non-kept layers
 * share. Each writes density[l] for every layer (1 for kept layers). Neither
 * can fail on checked input. */

/* Same density B / (sum of non-kept sizes) for every non-kept layer. */
void spti_allocate_uniform(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const uint8_t *keep,
                           double budget, double *density);

/* Erdos-Renyi (kernel == false) or Erdos-Renyi-Kernel (kernel == true) with
 * the exact saturating solve described in sparsity.h. */
void spti_allocate_erdos_renyi(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const uint8_t *keep,
                               double budget, bool kernel, double *density);

/* Raw ER / ERK score of layer l (larger = denser). */
double spti_erdos_renyi_score(const int32_t *ndim, const int64_t *shape, int64_t l, bool kernel);

/* nnz[l] = round(density[l] * size_l) clamped to [1, size_l]; returns the
 * sum of nnz. */
int64_t spti_round_nnz(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const double *density,
                       int64_t *nnz);

/* ---- GMP schedule helpers (schedules.c), shared with its FLOP average (flops.c) ---- */

/* Check t0 >= 0, n >= 1, delta_t >= 1 on behalf of `func`; write the last
 * pruning step t0 + n*delta_t to *t_last (SPT_ERR_SIZE on overflow). */
int spti_gmp_check(const char *func, int64_t t0, int64_t n, int64_t delta_t, int64_t *t_last);

/* Zhu & Gupta's cubic ramp at step t (arguments already checked). */
double spti_gmp_value(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t);

#endif
