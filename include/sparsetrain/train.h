/** @file
 * The trainer: the loop that ties a model, an optimizer, a learning-rate
 * schedule, the data and a sparse-training method together.
 *
 * One training step t (counted from 0 over the whole run) is:
 *
 *     method begin_step(t)          (e.g. RigL asks for dense gradients)
 *     zero grads, forward, loss, backward, NaN/Inf checks
 *     method after_backward(t)      (topology updates; may skip the update)
 *     optimizer step with lr = schedule(t - start of the round)
 *     method after_step(t)          (pruning schedules)
 *     t = t + 1
 *
 * A step that fails before its update (bad arguments, NaN/Inf anywhere,
 * out of memory) changes nothing: no weight, no topology, no optimizer
 * state, no batch-norm running statistic, no random stream, not the step
 * count; retrying it on the same batch gives what the step would have
 * given without the failure.
 *
 * A run has the length given to spt_trainer_create() (`total_steps`): the
 * schedules and the method's timetable are resolved against it, and once
 * that many steps are done spt_trainer_step() refuses more with
 * #SPT_ERR_STATE, changing nothing. A longer run is a new trainer created
 * with a larger `total_steps` (checkpoints keep the length they were saved
 * with).
 *
 * A model has at most one trainer at a time: the trainer samples, prunes
 * and updates the model's weights, and a second one would change them under
 * the first. spt_trainer_create() on a model that has one fails with
 * #SPT_ERR_STATE; after spt_trainer_destroy() the model may be given a new
 * trainer, which starts from the weights as the first left them.
 *
 * Typical use:
 * @code
 *   spt_trainer *tr;
 *   spt_trainer_create(model, opt, sched, cfg, epochs * batches_per_epoch, 1, &tr);
 *   for (int e = 0; e < epochs; e++) {
 *       spt_trainer_train_epoch(tr, batcher, NULL, NULL, &loss, &acc);
 *       spt_trainer_evaluate(tr, test_set, 256, &test_loss, &test_acc);
 *   }
 *   spt_trainer_destroy(tr);
 *   spt_model_destroy(model);
 * @endcode
 *
 * Data-parallel training: with a communicator attached
 * (spt_trainer_set_comm(), sparsetrain/comm.h), spt_trainer_step(),
 * spt_trainer_train_epoch(), spt_trainer_prepare() and
 * spt_trainer_evaluate() are collective: every rank calls them in the same
 * order, each with its own share of the examples.
 *
 * Thread-safety: a trainer must not be used from two threads at once, nor
 * its model while the trainer runs; distinct trainers over distinct models
 * are independent.
 */
#ifndef SPARSETRAIN_TRAIN_H
#define SPARSETRAIN_TRAIN_H

#include "core.h"
#include "data.h"
#include "method.h"
#include "model.h"
#include "optim.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A training run over one model. Opaque. */
typedef struct spt_trainer spt_trainer;

/**
 * Progress callback of spt_trainer_train_epoch(), called after every
 * training step of the epoch.
 * @param user         the pointer given to spt_trainer_train_epoch().
 * @param step         steps completed so far in the run (after this one).
 * @param batch_index  index of this batch in the epoch, from 0.
 * @param batches      batches per epoch (spt_batcher_batches_per_epoch()).
 * @param loss         mean loss over this batch.
 * @param accuracy     fraction of this batch predicted right, in [0, 1].
 * @return 0 to go on; nonzero to stop the epoch after this batch.
 */
typedef int (*spt_progress_fn)(void *user, int64_t step, int64_t batch_index, int64_t batches, double loss,
                               double accuracy);

/**
 * Create a trainer.
 *
 * Methods that start sparse (static, SET, SNFS, RigL) sample their topology
 * here, which converts the model's weights to their sparse form. Methods
 * that score weights on data (SNIP, GraSP, SynFlow) are initialised later:
 * by spt_trainer_prepare(), or else by the first training step.
 *
 * @param model        the network to train; borrowed, not copied: it must
 *                     outlive the trainer (destroy the trainer first) and
 *                     must not be used elsewhere while the trainer runs.
 *                     At most one trainer per model at a time
 *                     (#SPT_ERR_STATE while another lives; allowed again
 *                     once that one is destroyed).
 * @param opt          the optimizer whose kind and hyper-parameters are
 *                     copied; its step count is not (the trainer counts from
 *                     0). Later changes to `opt` do not affect the trainer.
 * @param schedule     learning rate per step, copied; NULL = the optimizer's
 *                     SPT_OPT_LR at every step. A COSINE schedule whose
 *                     SPT_LR_TOTAL_STEPS is unset takes `total_steps`.
 * @param method       the sparse-training method and its knobs, copied;
 *                     NULL = dense training.
 * @param total_steps  number of training steps of the whole run (e.g.
 *                     epochs x spt_batcher_batches_per_epoch()), >= 1: the
 *                     method resolves fractions of the run (T_end, pruning
 *                     windows) against it. The run ends there: later
 *                     steps are refused (#SPT_ERR_STATE).
 * @param seed         seed of the trainer's random stream; the model's
 *                     generator (dropout) is reseeded from it. The
 *                     method's masks and ties come from its own
 *                     #SPT_MP_SEED (default 0), not from this seed: runs
 *                     meant to differ (error bars over seeds) set both,
 *                     as the example programs' --seed does.
 * @param[out] out     receives the trainer (NULL on failure); free it with
 *                     spt_trainer_destroy().
 * @return #SPT_OK; #SPT_ERR_NULL (model, opt or out NULL); #SPT_ERR_INVALID
 *         (total_steps < 1, or a method setting that does not fit the run:
 *         an unreachable sparsity, a GMP window not inside the run...);
 *         #SPT_ERR_SIZE (explicit densities whose count is not the model's
 *         number of weight layers); #SPT_ERR_STATE (the model already has
 *         a trainer, see above; or the schedule cannot give a learning rate,
 *         e.g. a cosine total not above its warm-up);
 *         another error of the method's initialisation; #SPT_ERR_NOMEM. On
 *         failure the model's weights are as before unless the method's
 *         initialisation failed half-way (it then reports which layer).
 */
SPT_API int spt_trainer_create(spt_model *model, const spt_optimizer *opt, const spt_lr_schedule *schedule,
                               const spt_method_config *method, int64_t total_steps, uint64_t seed,
                               spt_trainer **out);

/** Free a trainer (not its model). The model keeps its weights, in
 *  whatever form (dense or sparse) training left them, and may be given a
 *  new trainer.
 *  @param t the trainer, or NULL (no-op). */
SPT_API void spt_trainer_destroy(spt_trainer *t);

/**
 * Initialise a method that scores weights on data (SNIP, GraSP, SynFlow)
 * from mini-batches of `b` (as many as the method's SPT_MP_SCORE_BATCHES;
 * an epoch that ends is continued by the next). The batcher's position is
 * restored afterwards, so training sees the same batches as without this
 * call. Does nothing (SPT_OK) for other methods or once initialised.
 * spt_trainer_train_epoch() calls it itself; spt_trainer_step() without it
 * scores on its own batch.
 * @param t  the trainer.
 * @param b  a batcher over data of the model's input shape; its state is
 *           restored before returning.
 * @return SPT_OK; SPT_ERR_NULL; SPT_ERR_SIZE (the data's shape does not fit
 *         the model); the method's or the forward pass's error
 *         (SPT_ERR_NONFINITE, SPT_ERR_INVALID for a label out of range);
 *         SPT_ERR_NOMEM.
 */
SPT_API int spt_trainer_prepare(spt_trainer *t, spt_batcher *b);

/**
 * One training step on one mini-batch (see the file comment for the flow).
 * @param t        the trainer.
 * @param x        the batch, "C x H x W x N" (the model's input shape).
 * @param labels   n labels, each in [0, classes).
 * @param n        batch size, >= 1.
 * @param loss     receives the batch's mean loss before the update (may be NULL).
 * @param correct  receives how many examples were predicted right (may be NULL).
 * @return SPT_OK; SPT_ERR_NULL (t, x or labels); SPT_ERR_SIZE (n < 1 or
 *         too large); SPT_ERR_INVALID (a label out of range);
 *         SPT_ERR_NONFINITE (NaN or Inf in the input, an activation, the
 *         loss or a gradient: the message names the input, the layer or the
 *         parameter); SPT_ERR_STATE (the run's `total_steps` steps are
 *         all done: nothing is read or changed); a method's error;
 *         SPT_ERR_NOMEM. A failure before the update (arguments, NaN/Inf,
 *         memory, the method's begin_step or after_backward hook, RigL's
 *         drop and grow included) changes nothing (see the file comment;
 *         tests/test_alloc_sweep.c retries every such failure); only an
 *         error of the method's after_step hook (SET and SNFS updates, GMP
 *         pruning) comes after the update: that step then counts as done,
 *         and the topology change the hook was making may be partly made
 *         (every weight stays a valid sparse or masked tensor).
 */
SPT_API int spt_trainer_step(spt_trainer *t, const float *x, const int32_t *labels, int64_t n, double *loss,
                             int64_t *correct);

/**
 * Train over the rest of the batcher's current epoch (a whole epoch when it
 * is at the start of one), one spt_trainer_step() per batch. Batch buffers
 * are allocated once and kept by the trainer for later epochs.
 * @param t          the trainer.
 * @param b          the batcher, owned by the caller; its dataset must have
 *                   the model's input size (C*H*W).
 * @param progress   called after every step (may be NULL); a nonzero return
 *                   ends the epoch early (the function still returns SPT_OK
 *                   and the batcher stays in the middle of the epoch).
 * @param user       passed to `progress` unchanged.
 * @param mean_loss  receives the mean loss per example over the batches
 *                   trained (may be NULL; 0 when none was).
 * @param accuracy   receives the fraction predicted right over them (may be NULL).
 * @return SPT_OK; SPT_ERR_NULL (t or b); SPT_ERR_SIZE (data and model
 *         shapes differ); SPT_ERR_STATE (the run's `total_steps` are done,
 *         before the epoch or in it: the steps before stay done and the
 *         batcher stays at the first batch not trained); any error of
 *         spt_trainer_step(), which stops the epoch: the steps before it
 *         stay done and the failing batch is consumed; SPT_ERR_NOMEM.
 */
SPT_API int spt_trainer_train_epoch(spt_trainer *t, spt_batcher *b, spt_progress_fn progress, void *user,
                                    double *mean_loss, double *accuracy);

/**
 * Mean loss and accuracy over a whole dataset in evaluation mode (batch
 * norm uses its running statistics, no dropout), in example order. Changes
 * no weight and no random state.
 * @param t         the trainer.
 * @param ds        the dataset (read only); its C*H*W must be the model's input size.
 * @param batch     examples per forward pass, >= 1 (memory: batch x C*H*W floats).
 * @param loss      receives the mean loss per example (may be NULL).
 * @param accuracy  receives the fraction predicted right (may be NULL).
 * @return SPT_OK; SPT_ERR_NULL (t or ds); SPT_ERR_SIZE (batch < 1, shape
 *         mismatch); SPT_ERR_INVALID (a label outside the model's classes);
 *         SPT_ERR_NONFINITE; SPT_ERR_NOMEM.
 */
SPT_API int spt_trainer_evaluate(spt_trainer *t, const spt_dataset *ds, int64_t batch, double *loss,
                                 double *accuracy);

/**
 * End a training round (lottery tickets: train, prune, rewind, retrain).
 * Calls the method's end-of-round hook (the lottery method prunes and
 * rewinds there; other methods have none), then resets the optimizer's
 * state (momentum and Adam moments to 0, its step count to 0) and restarts
 * the learning-rate schedule: the next step uses the schedule's lr(0). The
 * step count of the run keeps growing.
 * @param t  the trainer.
 * @return SPT_OK; SPT_ERR_NULL; the method's error (nothing reset then).
 */
SPT_API int spt_trainer_end_round(spt_trainer *t);

/** Steps completed in the run (all rounds).
 *  @param t the trainer. @param[out] step receives the count.
 *  @return SPT_OK or SPT_ERR_NULL. */
SPT_API int spt_trainer_get_step(const spt_trainer *t, int64_t *step);

/** Rounds ended with spt_trainer_end_round() (0 at creation).
 *  @param t the trainer. @param[out] round receives the count.
 *  @return SPT_OK or SPT_ERR_NULL. */
SPT_API int spt_trainer_get_round(const spt_trainer *t, int64_t *round);

/** Learning rate the next step will use.
 *  @param t the trainer. @param[out] lr receives it.
 *  @return SPT_OK, SPT_ERR_NULL, or the schedule's error. */
SPT_API int spt_trainer_get_lr(const spt_trainer *t, double *lr);

/**
 * Sparsity over the method's weight layers (the model's convolution and
 * linear weights; biases and batch norm are not counted). For all
 * parameters use spt_model_num_params().
 * @param t         the trainer.
 * @param sparsity  receives 1 - nnz / dense (may be NULL).
 * @param nnz       receives the active weights (may be NULL).
 * @param dense     receives the weights if all were active (may be NULL).
 * @return SPT_OK or SPT_ERR_NULL (t).
 */
SPT_API int spt_trainer_sparsity(const spt_trainer *t, double *sparsity, int64_t *nnz, int64_t *dense);

/** Number of weight layers (the layers spt_trainer_layer_density() indexes,
 *  in model order). @param t the trainer. @param[out] n receives it.
 *  @return SPT_OK or SPT_ERR_NULL. */
SPT_API int spt_trainer_num_weight_layers(const spt_trainer *t, int64_t *n);

/**
 * Density of weight layer `layer` (0 .. spt_trainer_num_weight_layers() - 1).
 * Any output may be NULL.
 * @param t        the trainer.
 * @param layer    the weight layer index.
 * @param name     receives the weight's name, e.g. "fc1.weight" (owned by
 *                 the model, valid while it lives).
 * @param nnz      receives the active weights.
 * @param size     receives the weights if all were active.
 * @param density  receives nnz / size.
 * @return SPT_OK; SPT_ERR_NULL (t); SPT_ERR_INVALID (layer out of range).
 */
SPT_API int spt_trainer_layer_density(const spt_trainer *t, int64_t layer, const char **name, int64_t *nnz,
                                      int64_t *size, double *density);

/**
 * FLOPs per example (conventions of sparsetrain/sparsity.h: 2 per
 * multiply-add of the convolution and linear layers). Any output may be NULL.
 * @param t               the trainer.
 * @param forward_dense   receives f_D, the forward cost with every weight active.
 * @param forward_sparse  receives f_S, the forward cost with the current weights.
 * @param train           receives the training cost per step of the method
 *                        (spt_flops_train() with the method's SPT_MP_DELTA_T
 *                        at the current f_S; RigL with #SPT_MP_GROW_SAMPLE
 *                        m > 0: f_D replaced by f_S plus, per sparse layer,
 *                        2 s out_hw for its s = min(inactive, ceil(m k))
 *                        sampled positions, averaged over the run's update
 *                        steps; GMP: spt_flops_train_gmp() over
 *                        the configured schedule for the whole run; lottery:
 *                        3 f_S of the current round).
 * @param train_measured  receives the mean over the steps run so far of each
 *                        step's actual cost: 2 f_S plus, per layer, the dense
 *                        or the sparse weight-gradient cost as the method
 *                        asked, or the sparse one plus 2 s out_hw for a
 *                        sample of s positions (0 before the first step).
 * @return SPT_OK; SPT_ERR_NULL (t); SPT_ERR_INVALID (the configured GMP
 *         target cannot be reached); SPT_ERR_NOMEM.
 */
SPT_API int spt_trainer_flops(const spt_trainer *t, double *forward_dense, double *forward_sparse, double *train,
                              double *train_measured);

/**
 * Time of the whole run (a monotonic clock), over every trainer object that
 * ran it: checkpoints carry both figures and spt_trainer_load() restores
 * them. Any output may be NULL. For this trainer object's own figures, and
 * the method's time outside the steps, see spt_trainer_session_times().
 * @param t               the trainer.
 * @param step_seconds    receives the time inside spt_trainer_step() (steps
 *                        that failed included), except a method
 *                        initialisation the first step ran (SNIP, GraSP,
 *                        SynFlow without spt_trainer_prepare()).
 * @param method_seconds  receives the part of `step_seconds` spent in the
 *                        method's per-step hooks (RigL: choosing the
 *                        weights to drop and grow; SET, SNFS: their
 *                        updates; GMP: pruning; on every step, update step
 *                        or not), so never more than `step_seconds`. The
 *                        method's initialisation and end-of-round work are
 *                        not in it.
 * @return SPT_OK or SPT_ERR_NULL (t).
 */
SPT_API int spt_trainer_times(const spt_trainer *t, double *step_seconds, double *method_seconds);

/**
 * Where this trainer object's time went (a monotonic clock), from its
 * spt_trainer_create() or spt_trainer_load() on; not saved in checkpoints.
 * The three parts outside or inside the steps are disjoint:
 *
 *     init_seconds   the method's initialisation: sampling the initial
 *                    topology (static, SET, RigL, SNFS, user methods: in
 *                    spt_trainer_create(), and again in spt_trainer_load(),
 *                    which rebuilds the trainer that way), or scoring on
 *                    data (SNIP, GraSP, SynFlow: in spt_trainer_prepare()
 *                    or the first step). Not part of step_seconds.
 *     step_seconds   time inside spt_trainer_step() (steps that failed
 *                    included), the initialisation excluded.
 *     hook_seconds   the part of step_seconds spent in the method's
 *                    per-step hooks (drop/grow, pruning; every step).
 *     round_seconds  the method's end-of-round hook in
 *                    spt_trainer_end_round() (lottery tickets: prune and
 *                    rewind). Not part of step_seconds.
 *
 * So hook_seconds / step_seconds is the share of the steps' time the
 * method's per-step work took, and lies in [0, 1]. Any output may be NULL.
 * @param t              the trainer.
 * @param init_seconds   receives the initialisation time.
 * @param step_seconds   receives the steps' time.
 * @param hook_seconds   receives the per-step hooks' time.
 * @param round_seconds  receives the end-of-round time.
 * @return SPT_OK or SPT_ERR_NULL (t).
 */
SPT_API int spt_trainer_session_times(const spt_trainer *t, double *init_seconds, double *step_seconds,
                                      double *hook_seconds, double *round_seconds);

/**
 * What the topology updates cost, from the steps this trainer object has
 * run (counters start at 0 on create and on spt_trainer_load(); they are not
 * saved in checkpoints). An update step (one that changed which weights are
 * active: RigL/SET/SNFS every delta_t steps, GMP pruning steps...) costs
 * more than an ordinary one (RigL: the dense weight gradient, drop and
 * grow); its extra cost is
 *     update_step_seconds - update_steps * (step_seconds - update_step_seconds)
 *                                        / (steps - update_steps)
 * with step_seconds of the same object from spt_trainer_session_times()
 * (0 when there was no update step). Any output may be NULL.
 * @param t                    the trainer.
 * @param update_step_seconds  receives the time inside spt_trainer_step() of
 *                             the steps that changed the topology (part of
 *                             the session's step_seconds).
 * @param update_steps         receives their number.
 * @param steps                receives the number of steps timed (all
 *                             completed steps of this object).
 * @return SPT_OK or SPT_ERR_NULL (t).
 */
SPT_API int spt_trainer_update_times(const spt_trainer *t, double *update_step_seconds, int64_t *update_steps,
                                     int64_t *steps);

/**
 * Whether the last successful step changed the topology (which weights are
 * active), and how many steps did so far.
 * @param t        the trainer.
 * @param updated  receives 1 or 0 (may be NULL).
 * @param count    receives the number of steps that changed it (may be NULL).
 * @return SPT_OK or SPT_ERR_NULL (t).
 */
SPT_API int spt_trainer_last_update(const spt_trainer *t, int *updated, int64_t *count);

#ifdef __cplusplus
}
#endif
#endif
