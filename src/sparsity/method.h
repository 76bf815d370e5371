/*
 * The interface between the trainer and a sparse-training method.
 *
 * A method is an object attached to a model's weight parameters with a few
 * hooks; the trainer never needs to know which method runs. One training
 * step t (counted from 0) flows as:
 *
 *   method->begin_step(t)            may set param->request.dense_grad (RigL on
 *                                    update steps; SNFS every step)
 *   zero grads, forward, loss, backward, finite check
 *   skip = method->after_backward(t) may change the topology (drop/grow,
 *                                    repattern, zero new slots); returns
 *                                    whether the optimizer step is skipped
 *   if (!skip) optimizer step
 *   method->after_step(t)            pruning schedules (GMP) act here
 *
 * plus, once, `init` before the first step (sample the initial topology, or
 * prune at initialisation from a few batches), and `end_round` for methods
 * that train in rounds (lottery tickets). `save`/`load` serialise the
 * method's scheduler state (its RNG, counters, round) for checkpoints; the
 * topology itself is saved with the parameters.
 */
#ifndef SPTI_METHOD_H
#define SPTI_METHOD_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../nn/param.h"

typedef struct spti_method spti_method;

/* What init may use to score weights before training (SNIP, GraSP,
 * SynFlow): a callback that runs forward+backward on the next mini-batch and
 * leaves gradients in the params' grad (and dense_grad if requested). */
typedef struct spti_grad_source {
    int (*compute)(void *ctx, float *loss); /* one batch: zero grads, fwd, loss, bwd */
    void *ctx;
    /* Optional: restart the sequence, so that the next compute calls see
     * the same batches again, in the same order, as the calls since the
     * source was made (GraSP evaluates each batch at two points). NULL
     * means every compute call uses the same batch. */
    int (*reset)(void *ctx);
} spti_grad_source;

/* What the FLOP hook of a method may read (method ops `train_flops`). From
 * the public spt_flops_train() only f_dense, f_sparse and delta_t are set
 * (cfg and weights NULL); the trainer sets everything. */
typedef struct spti_flops_query {
    double f_dense, f_sparse;       /* forward FLOPs per example: dense, and as the model is now */
    int64_t delta_t;                /* steps between topology updates */
    const spt_method_config *cfg;   /* the run's configuration, or NULL */
    spti_param *const *weights;     /* the model's weights, model order (cfg != NULL) */
    const int64_t *out_hw;          /* output positions per example of each weight (cfg != NULL) */
    int n_weights;
    int64_t total_steps;            /* the run's length (cfg != NULL) */
} spti_flops_query;

/* A key of the configuration with a value (a method's default overrides). */
typedef struct spti_key_value {
    int key; /* spt_method_param, -1 ends a list */
    double value;
} spti_key_value;

/* Properties of a method, read by code outside sparsity/ (which never
 * names a method). */
enum {
    /* init scores weights on data (a spti_grad_source): the trainer defers
     * it to spt_trainer_prepare() or the first step (SNIP, GraSP, SynFlow). */
    SPTI_METHOD_NEEDS_DATA = 1u << 0,
    /* init only sparsifies: it reads no weight value, so a weight's pending
     * dense initialisation may be written at its active entries alone
     * (param.h init_pending), and a weight that starts sparse never
     * occupies its dense size. */
    SPTI_METHOD_INIT_SPARSIFIES = 1u << 1,
    /* Every weight keeps the form (dense or sparse) init gave it for the
     * whole run: a checkpoint whose forms differ is refused. */
    SPTI_METHOD_KEEPS_FORM = 1u << 2,
    /* Built from a caller's criteria (spt_method_config_create_user), not
     * by spt_method_config_create. */
    SPTI_METHOD_USER_RULES = 1u << 3,
};

/* A method: its identity and properties, then the hooks of its objects.
 * Everything the rest of the library needs to know about a method is
 * here; one `const spti_method_ops` per method file, listed once in the
 * registry (method_registry.c). */
typedef struct spti_method_ops {
    /* ---- the method ---- */
    int id;                        /* spt_method value (pinned; checkpoints record it) */
    const char *name;              /* "rigl", "set", ... (spt_method_name) */
    const char *summary;           /* one line: what it does, the paper */
    unsigned flags;                /* SPTI_METHOD_* */
    const int *keys;               /* the spt_method_param keys it reads, -1 ends; NULL: none */
    const spti_key_value *defaults; /* defaults that differ from the keys' own, -1 ends; NULL: none */
    /* Structures it supports besides unstructured: bits 1u << spt_structure
     * (spti_method_create refuses the others with SPT_ERR_UNSUPPORTED). */
    unsigned structures;
    /* Build an object for a run of total_steps steps over `weights`
     * (borrowed, the model's weight params in model order). *out = NULL on
     * failure. NULL for dense training (no object). */
    int (*create)(const struct spti_method_ops *ops, const spt_method_config *cfg, spti_param **weights,
                  int n_weights, int64_t total_steps, spti_method **out);
    /* Training rounds the configuration runs (>= 1). NULL: 1. */
    int (*rounds)(const spt_method_config *cfg, int64_t *rounds);
    /* Training FLOPs per example and step, averaged over the run (RigL
     * paper conventions, sparsity.h section 5). NULL: 3 f_sparse. */
    int (*train_flops)(const spti_flops_query *q, double *out);

    /* ---- hooks of an object (per-step ones may be NULL) ---- */
    int (*init)(spti_method *m, spti_param **weights, int n, spti_grad_source *grads);
    int (*begin_step)(spti_method *m, int64_t step);
    int (*after_backward)(spti_method *m, int64_t step, bool *skip_optimizer);
    int (*after_step)(spti_method *m, int64_t step);
    /* Serialised scheduler state: size query with buf == NULL. */
    int (*save)(const spti_method *m, uint8_t *buf, int64_t cap, int64_t *len);
    int (*load)(spti_method *m, const uint8_t *buf, int64_t len);
    void (*destroy)(spti_method *m);
    /* Optional (NULL for methods without rounds): called by
     * spt_trainer_end_round() at the end of a training round, `step` being
     * the number of steps completed so far over all rounds. Lottery tickets
     * prune and rewind here. The trainer then resets the optimizer's state
     * (slots zeroed, step count 0) and restarts the lr schedule at 0. */
    int (*end_round)(spti_method *m, int64_t step);
} spti_method_ops;

struct spti_method {
    const spti_method_ops *ops;
    spti_param **weights; /* borrowed: the model's weight params, model order */
    int n_weights;
    spti_rng rng;
    void *state;
    /* Topology changes made so far (drop/grow, pruning, rewinding masks):
     * a method adds 1 whenever a hook changes which weights are active. The
     * trainer reports "the last step updated the topology" from it. */
    int64_t topology_updates;
};

/* ---- the registry (method_registry.c) ---- */

/* The method with spt_method value `id`, or NULL for an unknown value
 * (dense training included: it has an entry whose create is NULL). */
const spti_method_ops *spti_method_find(int id);

/* Build the method a configuration names, for a run of `total_steps`
 * optimizer steps (used to resolve T_end and pruning windows given as
 * fractions). Returns *out = NULL for dense training (nothing to do).
 * The method borrows `weights` (the model's is_weight params, model order)
 * for its whole life. */
int spti_method_create(const spt_method_config *cfg, spti_param **weights, int n_weights, int64_t total_steps,
                       spti_method **out);
/* Free a method (NULL accepted). */
void spti_method_destroy(spti_method *m);
/* Training FLOPs of a method (its train_flops hook, or 3 f_sparse). */
int spti_method_train_flops(const spti_method_ops *ops, const spti_flops_query *q, double *out);
/* Whether a method object (NULL: dense) has a property SPTI_METHOD_*. */
static inline bool spti_method_has(const spti_method *m, unsigned flag) {
    return m && (m->ops->flags & flag) != 0;
}

#endif
