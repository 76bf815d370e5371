/*
 * A trainable parameter: the unit that layers own, optimizers update and
 * sparsity methods reshape. A weight is stored in one of three forms:
 *
 *   DENSE   value[rows*cols]             every entry trainable
 *   MASKED  value[rows*cols] + mask      inactive entries held at exactly 0
 *   SPARSE  csr (value == csr->values)   only the nonzeros exist
 *
 * In every form `value`, `grad` and the optimizer slots are arrays of the
 * same length `n` (rows*cols, or nnz for SPARSE) in the same order, so an
 * optimizer is one loop over n elements whatever the form. A topology change
 * of a SPARSE parameter goes through spti_param_repattern(), which carries
 * value and slots to the new pattern (new positions start at 0).
 */
#ifndef SPTI_PARAM_H
#define SPTI_PARAM_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../kernels/kernels.h"
#include "../tensor/csr.h"

typedef enum { SPTI_PARAM_DENSE = 0, SPTI_PARAM_MASKED = 1, SPTI_PARAM_SPARSE = 2 } spti_param_kind;

enum { SPTI_MAX_SLOTS = 2 };

typedef struct spti_param {
    char name[48];          /* e.g. "fc1.weight", "layer2.0.conv1.weight" */
    spti_param_kind kind;
    int ndim;               /* logical shape: (n) bias, (out,in) linear, (out,in,kh,kw) conv */
    int64_t shape[4];
    int64_t rows, cols;     /* 2-D view: rows = shape[0], cols = product of the rest (1-D: rows=n, cols=1) */
    int64_t n;              /* stored entries: rows*cols, or nnz when SPARSE */
    float *value;           /* n values (SPARSE: aliases csr->values) */
    float *grad;            /* n gradients of the stored values */
    uint8_t *mask;          /* MASKED only: rows*cols, 1 = active */
    int64_t mask_nnz;       /* MASKED only: number of active entries */
    spt_csr *csr;           /* SPARSE only */
    spti_csr_ws ws;         /* dispatch state and dense scratch for SPARSE */
    float *slot[SPTI_MAX_SLOTS]; /* optimizer state, n each; NULL until the optimizer allocates */
    int n_slots;
    bool is_weight;         /* a weight matrix/kernel a sparsity method may act on (not bias, not BN) */
    /* Kaiming init not yet written (DENSE only): the draws start at
     * init_rng. Written by spti_param_materialize, or, for the active
     * entries only, by spti_param_sparsify, so that a weight that becomes
     * sparse never touches its dense memory. */
    bool init_pending;
    spti_rng init_rng;
    bool want_dense_grad;   /* set by a method before backward: also fill dense_grad */
    float *dense_grad;      /* rows*cols full gradient dL/dW, only when want_dense_grad */
    /* Set by a method before backward (RigL): > 0 asks a SPARSE linear
     * layer to stream its dense gradient into `grow` (the want_grow_k best
     * growth candidates, kernels/grow_collector.h) instead of filling
     * dense_grad. Layers that cannot stream fill dense_grad as asked by
     * want_dense_grad. `grow` is owned (freed with the param). */
    int64_t want_grow_k;
    struct spti_grow_collector *grow;
    bool no_weight_decay;   /* biases and BatchNorm parameters */
} spti_param;

/* A DENSE parameter of the given logical shape (1 to 4 dims), value and
 * grad zeroed. `name` is copied (truncated to 47 chars). */
int spti_param_create(const char *name, int ndim, const int64_t *shape, bool is_weight, spti_param **out);
/* Free the parameter and everything it owns. Accepts NULL. */
void spti_param_destroy(spti_param *p);

/* Allocate `n_slots` (<= SPTI_MAX_SLOTS) zeroed optimizer slots of length n
 * if not present yet. */
int spti_param_ensure_slots(spti_param *p, int n_slots);

/* Convert a DENSE or MASKED parameter to SPARSE keeping the entries at the
 * `nnz` sorted, distinct linear positions `pos` (row*cols + col) with their
 * current values and optimizer slots. grad is reallocated (zeroed). */
int spti_param_sparsify(spti_param *p, const int64_t *pos, int64_t nnz);
/* Write a pending dense init (see init_pending); no-op otherwise. */
void spti_param_materialize(spti_param *p);

/* Convert a DENSE parameter to MASKED with the given active positions
 * (sorted, distinct); inactive values and slots are set to 0. For a MASKED
 * parameter, replace its mask. */
int spti_param_mask(spti_param *p, const int64_t *pos, int64_t nnz);

/* SPARSE only: move to a new pattern (sorted, distinct linear positions).
 * Values and optimizer slots of kept positions are carried, new positions
 * start at exactly 0, grad is reset to 0. Nothing changes on failure. */
int spti_param_repattern(spti_param *p, const int64_t *pos, int64_t nnz);

/* Write the weight as a dense rows x cols matrix (zeros where inactive). */
void spti_param_to_dense(const spti_param *p, float *dense);

/* Linear positions (row*cols + col) of the active entries, in increasing
 * order, into pos[0..active). Returns the active count. pos may be NULL to
 * only count. */
int64_t spti_param_active_positions(const spti_param *p, int64_t *pos);

#endif
