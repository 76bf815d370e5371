/*
 * The interface between the trainer and a sparse-training method.
 *
 * A method is an object attached to a model's weight parameters with a few
 * hooks; the trainer never needs to know which method runs. One training
 * step t (counted from 0) flows as:
 *
 *   method->begin_step(t)            may set param->want_dense_grad (RigL on
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

typedef struct spti_method_ops {
    const char *name; /* "rigl", "set", ... */
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

/* Build the method a configuration names, for a run of `total_steps`
 * optimizer steps (used to resolve T_end and pruning windows given as
 * fractions). Returns *out = NULL for SPT_METHOD_DENSE (nothing to do).
 * The method borrows `weights` (the model's is_weight params, model order)
 * for its whole life. Defined in method_factory.c. */
struct spt_method_config;
int spti_method_create(const struct spt_method_config *cfg, spti_param **weights, int n_weights,
                       int64_t total_steps, spti_method **out);
/* Free a method (NULL accepted). */
void spti_method_destroy(spti_method *m);

#endif
