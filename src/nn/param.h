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
    bool want_dense_grad;   /* set by a method before backward: also fill dense_grad */
    float *dense_grad;      /* rows*cols full gradient dL/dW, only when want_dense_grad */
    bool no_weight_decay;   /* biases and BatchNorm parameters */
} spti_param;

#endif
