/*
 * The trainer (internal view of the public spt_trainer, sparsetrain/train.h).
 *
 * Everything a checkpoint needs besides the model's parameters is here:
 * the optimizer copy (with its step count), the schedule copy, the method
 * and its scheduler state (method->ops->save/load), the step and round
 * counters, the trainer's rng and the statistics. The model's own rng
 * (dropout) lives in the model.
 */
#ifndef SPTI_TRAINER_H
#define SPTI_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/comm.h"
#include "../core/internal.h"
#include "../nn/model.h"
#include "../optim/optim.h"
#include "../sparsity/method.h"
#include "../sparsity/method_config.h"

struct spt_trainer {
    spti_model *model;          /* borrowed */
    spti_optimizer opt;         /* copy of the caller's settings; owns the step count */
    spti_lr_schedule *sched;    /* owned copy, or NULL: opt.lr every step */
    spt_method_config *cfg;     /* owned copy, or NULL (dense, or a caller's method object) */
    spti_method *method;        /* NULL for dense training */
    bool owns_method;           /* destroy it with the trainer (false: the caller's) */
    bool init_pending;          /* init waits for data (SNIP, GraSP, SynFlow) */
    spti_param **weights;       /* owned array of the model's is_weight params, model order */
    int n_weights;
    int64_t total_steps;        /* length of the run the method was built for */
    int64_t step;               /* steps completed, all rounds */
    int64_t round;              /* rounds ended */
    int64_t round_start;        /* step at which the current round began (lr schedule origin) */
    uint64_t seed;
    spti_rng rng;               /* the trainer's stream (the model's dropout stream is split from it) */
    /* Statistics of the whole run (in checkpoints): time inside the steps
     * (a method initialisation a step ran excluded), and the part of it in
     * the method's per-step hooks. */
    double step_seconds, method_seconds;
    /* This trainer object only (not in checkpoints), spt_trainer_session_times
     * and spt_trainer_update_times: the method's initialisation (outside the
     * steps), the steps, their hooks, end-of-round hooks; the steps timed,
     * and the time and number of those that changed the topology. */
    double s_init_seconds, s_step_seconds, s_hook_seconds, s_round_seconds;
    double update_step_seconds;
    int64_t timed_steps, timed_update_steps;
    double train_flops_sum;     /* sum over completed steps of that step's FLOPs per example */
    bool last_update;           /* the last completed step changed the topology */
    int64_t update_steps;       /* completed steps that changed the topology */
    /* the model's random stream and running statistics before the current
     * step, put back when it fails before its update */
    spti_model_step_state undo;
    /* batch buffers of train_epoch / prepare, grown as needed */
    float *xbuf;
    int32_t *ybuf;
    int64_t xcap, ycap;
    /* data-parallel training (trainer_comm.c): the communicator (borrowed;
     * NULL or size 1: none), the reduction the weights see during a step,
     * the packed reduction buffer, the running statistics' copy, the
     * global batch of the last step */
    spt_comm *comm;
    spti_reduce reduce;
    float *cbuf;
    int64_t ccap;
    spti_model_step_state dp_running;
    int64_t comm_batch;
    bool dp_diverged;           /* a failed step left the ranks apart: no more steps */
};
typedef struct spt_trainer spti_trainer;

/* Build a trainer around a method object the caller made (tests, or a
 * method not in the factory). `method` may be NULL (dense); it is borrowed
 * and must outlive the trainer; its `weights` must be the model's weight
 * params. `needs_data`: defer init to prepare / the first step with a grad
 * source. Arguments as spt_trainer_create (cfg = NULL). */
int spti_trainer_create_with_method(spti_model *model, const spti_optimizer *opt, const spti_lr_schedule *schedule,
                                    spti_method *method, bool needs_data, int64_t total_steps, uint64_t seed,
                                    spti_trainer **out);

/* The model's is_weight params in model order into a new array. */
int spti_trainer_collect_weights(const spti_model *m, spti_param ***out, int *n);

/* Learning rate of step `step` of the run (schedule origin: round_start). */
int spti_trainer_lr_at(const spti_trainer *t, int64_t step, double *lr);

/* Run the method's deferred init with `src` as its grad source. */
int spti_trainer_run_init(spti_trainer *t, spti_grad_source *src);

/* Grow the batch buffers to hold `floats` inputs and `n` labels. */
int spti_trainer_reserve_batch(spti_trainer *t, int64_t floats, int64_t n);

/* Check that a dataset's examples fit the model's input and that a batch
 * of bs of them can be addressed (SPT_ERR_SIZE); *floats = bs * features. */
int spti_trainer_check_data(const spti_trainer *t, const spt_dataset *ds, int64_t bs, const char *func,
                            int64_t *floats);

/* FLOPs per example of one step as it will run now: 2 f_S plus each weight
 * layer's gradient cost (dense when the method asked for dense_grad). */
double spti_trainer_step_flops(const spti_trainer *t);

/* Re-prefix the message of a failing internal call with the public
 * function's name; returns rc (SPT_OK passes through). */
int spti_trainer_prefix(const char *func, int rc);

/* ---- data-parallel training (trainer_comm.c) ---- */

/* Whether a communicator of more than one rank is attached. */
bool spti_trainer_dp(const spti_trainer *t);
/* The gradients of one step on this rank's n examples (zero grads,
 * forward, loss, backward, the finite checks): spti_model_train_step, and
 * with a communicator the global batch's (the file comment of
 * trainer_comm.c), *loss and *correct the global batch's too. Collective. */
int spti_trainer_grads(spti_trainer *t, const float *x, const int32_t *labels, int64_t n, double *loss,
                       int64_t *correct);
/* In place of spti_trainer_grads when this rank has no batch (rc, its
 * failure): the other ranks learn of it. Collective. */
int spti_trainer_grads_failed(spti_trainer *t, int rc);
/* Collective (rc without a communicator): every rank passes its status;
 * all get the lowest failing rank's (with its message), or SPT_OK. */
int spti_trainer_dp_agree(spti_trainer *t, int rc);
/* After a step (rc: its status so far): spti_trainer_dp_agree, and when
 * the topology changed, the ranks' mask checksums compared (SPT_ERR_STATE
 * on every rank when they differ). */
int spti_trainer_dp_end(spti_trainer *t, int rc, bool topology_changed);

/* Monotonic clock in seconds. */
double spti_now_seconds(void);

#endif
