/*
 * Finite-difference gradient check for any spti_layer (tests only).
 *
 * The loss is L = sum_i y_i * r_i for a fixed random r (seeded), accumulated
 * in double. The analytic gradients come from one forward and one backward
 * with dy = r; each checked point is then perturbed by +-eps (the actual
 * float step is used in the quotient) and the central difference compared
 * with the analytic value:
 *     |fd - an| <= tol * (1 + max(|fd|, |an|)).
 * Points: elements of x and the stored values of every parameter of the
 * layer and of its children (recursively); MASKED parameters are checked at
 * their active entries, and their inactive gradients must stay exactly 0.
 *
 * The layer contract is checked on the way (each violation counts as a
 * failure): backward must ADD into param grads (they are pre-filled with a
 * constant), must WRITE dx (pre-filled with NaN), and neither pass may
 * modify x. A layer that draws from ctx->rng sees the same stream at every
 * forward (the state is restored before each). On return the params'
 * grads hold the constant plus one backward's gradient.
 */
#ifndef SPT_GRADCHECK_H
#define SPT_GRADCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/layer.h"

/* One point about to be checked. */
typedef struct spt_gc_point {
    const spti_layer *L;   /* the layer under test */
    const spti_param *p;   /* the parameter, or NULL for an input element */
    int64_t index;         /* element of x, or stored index in p->value */
    const float *x;        /* the unperturbed input (in_size x N) */
    int64_t N;
} spt_gc_point;

/* Return true to skip a point where the loss is not smooth within +-eps
 * (e.g. a ReLU input near 0, a max-pool window with a near tie). */
typedef bool (*spt_gc_skip_fn)(const spt_gc_point *pt, double eps, void *user);

typedef struct spt_gc_opts {
    double eps;          /* perturbation; 0 means 1e-2 */
    double tol;          /* relative tolerance; 0 means 1e-2 */
    int64_t max_points;  /* points sampled per tensor (x, each param); 0: all */
    uint64_t seed;       /* r, the sampled points and the ctx rng */
    bool training;       /* ctx->training of every forward */
    spt_gc_skip_fn skip; /* may be NULL */
    void *user;          /* passed to skip */
} spt_gc_opts;

typedef struct spt_gc_result {
    int64_t checked, skipped, failed;
    double max_err;      /* max |fd - an| / (1 + max(|fd|, |an|)) */
    char worst[192];     /* the first failure ("" when none) */
} spt_gc_result;

/* Check L at input x (in_size x N; not modified). Returns SPT_OK when the
 * check ran (look at res->failed), or the status of a failing allocation or
 * layer call. */
int spt_gradcheck(spti_layer *L, const float *x, int64_t N, const spt_gc_opts *opts, spt_gc_result *res);

#endif
