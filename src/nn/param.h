/*
 * A trainable parameter: the unit that layers own, optimizers update and
 * sparsity methods reshape. A weight is stored in one of three forms:
 *
 *   DENSE   value[rows*cols]             every entry trainable
 *   MASKED  value[rows*cols] + mask      inactive entries held at exactly 0
 *   SPARSE  csr (value == csr->values)   only the nonzeros exist
 *
 * A weight is born unallocated: DENSE with value == grad == NULL, holding
 * only its shape (and its pending init). Its storage is made once its form
 * is known: spti_param_sparsify() allocates the nonzeros alone, and
 * spti_param_materialize() the dense arrays; so a model's memory follows
 * its nonzeros from the first byte.
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

/* Optimizer state. Writer: the optimizer (optim/: allocates the slots,
 * updates them every step, zeroes them between lottery rounds); the
 * storage functions below carry them when the form or pattern changes. */
typedef struct spti_param_slots {
    float *slot[SPTI_MAX_SLOTS]; /* n each; NULL until the optimizer allocates */
    int n_slots;
} spti_param_slots;

/* A method's request for the coming backward. Writer: the method
 * (begin_step sets it, its update clears it); readers: the layer's
 * backward and the trainer's checks. The param frees a sample left
 * behind when destroyed. */
typedef struct spti_grad_request {
    bool dense_grad; /* also produce the full rows x cols gradient */
    /* > 0: a SPARSE linear or conv2d layer streams its dense gradient
     * into result.grow (the grow_k best growth candidates,
     * kernels/grow_collector.h) instead of filling result.dense_grad;
     * a layer that cannot stream fills result.dense_grad as asked. */
    int64_t grow_k;
    /* Non-NULL (a SPARSE weight, dense_grad false, grow_k 0): compute the
     * gradient at these sampled positions alone, and at the active
     * entries, into result.sample (kernels/grow_sample.h; linear and
     * conv2d layers). */
    struct spti_grow_sample *sample;
} spti_grad_request;

/* What the backward produced for the request. Writer: the owning layer's
 * backward (allocated on first use); the method reads it and frees it
 * after its update (spti_dst_release_gradients); the param frees what is
 * left when destroyed. */
typedef struct spti_grad_result {
    float *dense_grad;                /* rows*cols full gradient dL/dW, or NULL */
    struct spti_grow_collector *grow; /* streamed growth candidates, or NULL */
    struct spti_sample_grad *sample;  /* the gradient at request.sample, or NULL */
} spti_grad_result;

/* Each group has one writer, named at the group. */
typedef struct spti_param {
    /* ---- identity. Writer: spti_param_create (and the layer that owns it) ---- */
    char name[48];          /* e.g. "fc1.weight", "layer2.0.conv1.weight" */
    int ndim;               /* logical shape: (n) bias, (out,in) linear, (out,in,kh,kw) conv */
    int64_t shape[4];
    int64_t rows, cols;     /* 2-D view: rows = shape[0], cols = product of the rest (1-D: rows=n, cols=1) */
    bool is_weight;         /* a weight matrix/kernel a sparsity method may act on (not bias, not BN) */
    bool no_weight_decay;   /* biases and BatchNorm parameters */
    int64_t groups;         /* rows in groups of a grouped convolution (its layer sets it); 0 or 1: not grouped */
    double density;         /* the description's request (net.h SPT_LP_DENSITY): -1 the method's, 1 dense, or (0, 1) */
    /* ---- storage. Writer: the functions of this header (create,
     *      sparsify, mask, repattern, materialize); values also by the
     *      optimizer step and by methods that rewind or prune through
     *      these functions ---- */
    spti_param_kind kind;
    int64_t n;              /* stored entries: rows*cols, or nnz when SPARSE */
    float *value;           /* n values (SPARSE: aliases csr->values) */
    uint8_t *mask;          /* MASKED only: rows*cols, 1 = active */
    int64_t mask_nnz;       /* MASKED only: number of active entries */
    spt_csr *csr;           /* SPARSE only */
    /* Kaiming init not yet written: the draws start at init_rng, one
     * N(0, 2 / cols) per stored entry in storage order. Written by
     * spti_param_materialize (every entry) or spti_param_sparsify (the
     * active entries alone). */
    bool init_pending;
    spti_rng init_rng;
    /* The values were loaded from a file (spt_model_load_safetensors) and
     * no trainer has started on them yet: a method's sparse-aware init
     * (SPT_MP_SPARSE_INIT) keeps them, and a sparse method keeps a loaded
     * SPARSE weight's topology. Cleared by the trainer once its method's
     * init has run (later trainers treat the weight as any other). */
    bool loaded;
    /* ---- gradient. Writer: the model zeroes it, the owning layer's
     *      backward accumulates into it ---- */
    float *grad;            /* n gradients of the stored values */
    /* ---- dispatch state and dense scratch for SPARSE. Writer: the kernels' dispatch ---- */
    spti_csr_ws ws;
    spti_param_slots opt;      /* the optimizer's (above) */
    spti_grad_request request; /* a method's (above) */
    spti_grad_result result;   /* the backward's (above) */
    /* ---- data-parallel training (core/comm.h). Writer: the trainer sets
     *      `reduce` before a step with a communicator attached (NULL
     *      otherwise) and clears grad_reduced; a backward that summed this
     *      weight's gradient across the ranks while streaming it (the
     *      growth collector) sets grad_reduced, so the trainer does not sum
     *      it again ---- */
    const struct spti_reduce *reduce;
    bool grad_reduced;
} spti_param;

/* A DENSE parameter of the given logical shape (1 to 4 dims), value and
 * grad zeroed. `name` is copied (truncated to 47 chars). */
int spti_param_create(const char *name, int ndim, const int64_t *shape, bool is_weight, spti_param **out);
/* A weight (is_weight) of that shape with no storage yet (value == grad ==
 * NULL): nothing proportional to its size is allocated until
 * spti_param_sparsify or spti_param_materialize gives it a form. */
int spti_param_create_unallocated(const char *name, int ndim, const int64_t *shape, spti_param **out);
/* True while a DENSE parameter has no storage (see above). */
static inline bool spti_param_unallocated(const spti_param *p) { return p->value == NULL; }
/* Free the parameter and everything it owns. Accepts NULL. */
void spti_param_destroy(spti_param *p);

/* Allocate `n_slots` (<= SPTI_MAX_SLOTS) zeroed optimizer slots of length n
 * if not present yet. */
int spti_param_ensure_slots(spti_param *p, int n_slots);

/* Convert a DENSE or MASKED parameter to SPARSE keeping the entries at the
 * `nnz` sorted, distinct linear positions `pos` (row*cols + col) with their
 * current values and optimizer slots. grad is reallocated (zeroed). An
 * unallocated parameter gets its pending init at those entries (or zeros
 * without one) and never allocates its dense size. */
int spti_param_sparsify(spti_param *p, const int64_t *pos, int64_t nnz);
/* Give an unallocated parameter its dense storage (value and grad), with
 * its pending init written if it has one (zeros otherwise). No-op for a
 * parameter that has storage. SPT_ERR_NOMEM, parameter unchanged, if the
 * dense arrays cannot be allocated. */
int spti_param_materialize(spti_param *p);

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
