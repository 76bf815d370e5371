/** @file
 * Optimizers and learning-rate schedules.
 *
 * An #spt_optimizer holds the kind (SGD or Adam), its hyper-parameters and a
 * step counter; the per-weight state (momentum buffers, Adam moments) lives
 * with the model's parameters, so one optimizer handle is attached to one
 * model by the training code. An #spt_lr_schedule maps a step number to a
 * learning rate; it is a pure function of the step and holds no progress.
 *
 * Hyper-parameters are set and read one at a time through an enum key
 * (values pinned: they are ABI), so new ones can be added without changing
 * any signature. Every value is checked against its domain when it is set.
 *
 * Thread-safety: as in core.h (one handle, one thread at a time; distinct
 * handles are independent).
 */
#ifndef SPARSETRAIN_OPTIM_H
#define SPARSETRAIN_OPTIM_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== optimizers ================================================================= */

/** Optimizer handle (opaque). */
typedef struct spt_optimizer spt_optimizer;

/** Optimizer kinds (pinned values). */
typedef enum spt_optimizer_kind {
    /** Stochastic gradient descent with optional (Nesterov) momentum, PyTorch
     *  convention: g += wd*w; buf = momentum*buf + g; w -= lr*buf
     *  (Nesterov: w -= lr*(g + momentum*buf)). */
    SPT_OPTIMIZER_SGD = 0,
    /** Adam (Kingma & Ba 2015) with bias correction:
     *  m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
     *  w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). Weight decay is
     *  added to g (L2), or with SPT_OPT_DECOUPLED_WEIGHT_DECAY = 1 applied as
     *  w -= lr*wd*w before the update (AdamW, Loshchilov & Hutter). */
    SPT_OPTIMIZER_ADAM = 1
} spt_optimizer_kind;

/** Optimizer hyper-parameters (pinned values). "SGD" / "Adam" say which kind
 *  accepts the key; setting or reading a key of the other kind fails with
 *  SPT_ERR_INVALID. Flags are passed as the doubles 0 or 1. */
typedef enum spt_optimizer_param {
    /** Both. Learning rate used when no schedule drives the training: finite,
     *  > 0. Default 0.1 (SGD), 0.001 (Adam). */
    SPT_OPT_LR = 0,
    /** SGD. Momentum in [0, 1); 0 = plain SGD (no buffer). Default 0. */
    SPT_OPT_MOMENTUM = 1,
    /** SGD. Nesterov momentum flag, 0 or 1. Default 0. */
    SPT_OPT_NESTEROV = 2,
    /** Both. Weight decay, finite, >= 0. Never applied to biases and
     *  normalisation parameters. Default 0. */
    SPT_OPT_WEIGHT_DECAY = 3,
    /** Adam. Decay of the first moment, in [0, 1). Default 0.9. */
    SPT_OPT_BETA1 = 4,
    /** Adam. Decay of the second moment, in [0, 1). Default 0.999. */
    SPT_OPT_BETA2 = 5,
    /** Adam. Denominator term, finite, > 0. Default 1e-8. */
    SPT_OPT_EPS = 6,
    /** Adam. Decoupled weight decay flag (AdamW), 0 or 1. Default 0. */
    SPT_OPT_DECOUPLED_WEIGHT_DECAY = 7
} spt_optimizer_param;

/**
 * Create an optimizer of the given kind with default hyper-parameters and a
 * step count of 0.
 * @param kind an spt_optimizer_kind value.
 * @param[out] out receives the new handle (NULL on failure); the caller owns it
 *             and frees it with spt_optimizer_destroy().
 * @return SPT_OK; SPT_ERR_NULL if out is NULL; SPT_ERR_INVALID for an
 *         unknown kind; SPT_ERR_NOMEM.
 */
SPT_API int spt_optimizer_create(int kind, spt_optimizer **out);

/**
 * Free an optimizer. Accepts NULL. Parameters it has stepped keep their
 * slots (they belong to the model).
 * @param opt the handle, or NULL.
 */
SPT_API void spt_optimizer_destroy(spt_optimizer *opt);

/**
 * Set one hyper-parameter. The value is checked against the domain stated at
 * its key; on failure the optimizer is unchanged.
 * @param opt   the optimizer.
 * @param param an spt_optimizer_param key valid for this optimizer's kind.
 * @param value the new value (flags: 0 or 1).
 * @return SPT_OK; SPT_ERR_NULL if opt is NULL; SPT_ERR_INVALID for an
 *         unknown key, a key of the other kind, or a value outside its
 *         domain (NaN and Inf included).
 */
SPT_API int spt_optimizer_set_param(spt_optimizer *opt, int param, double value);

/**
 * Read one hyper-parameter.
 * @param opt   the optimizer.
 * @param param an spt_optimizer_param key valid for this optimizer's kind.
 * @param[out] value receives the value (flags as 0 or 1); unchanged on failure.
 * @return SPT_OK; SPT_ERR_NULL if opt or value is NULL; SPT_ERR_INVALID for
 *         an unknown key or a key of the other kind.
 */
SPT_API int spt_optimizer_get_param(const spt_optimizer *opt, int param, double *value);

/**
 * The optimizer's kind.
 * @param opt  the optimizer.
 * @param[out] kind receives an spt_optimizer_kind value.
 * @return SPT_OK; SPT_ERR_NULL if an argument is NULL.
 */
SPT_API int spt_optimizer_get_kind(const spt_optimizer *opt, int *kind);

/**
 * Number of optimizer steps completed (Adam's bias correction uses it).
 * @param opt  the optimizer.
 * @param[out] step receives the count.
 * @return SPT_OK; SPT_ERR_NULL if an argument is NULL.
 */
SPT_API int spt_optimizer_get_step(const spt_optimizer *opt, int64_t *step);

/**
 * Size in bytes of the serialised scalar state written by
 * spt_optimizer_save_state() (fixed for a library version). Thread-safe.
 * @return the size (72 in this version).
 */
SPT_API int64_t spt_optimizer_state_bytes(void);

/**
 * Serialise the optimizer's scalar state (kind, hyper-parameters, step count)
 * into a caller buffer, little-endian, fixed width, with a magic and a format
 * version. The per-weight slots are not included: they are saved with the
 * model's parameters.
 * @param opt     the optimizer.
 * @param[out] buf destination of at least spt_optimizer_state_bytes() bytes.
 * @param cap     size of buf in bytes.
 * @param[out] written receives the number of bytes written; may be NULL.
 * @return SPT_OK; SPT_ERR_NULL if opt or buf is NULL; SPT_ERR_SIZE if cap is
 *         too small (nothing written).
 */
SPT_API int spt_optimizer_save_state(const spt_optimizer *opt, void *buf, int64_t cap, int64_t *written);

/**
 * Restore the scalar state written by spt_optimizer_save_state(), replacing
 * the kind, every hyper-parameter and the step count. All fields are
 * validated first; on failure the optimizer is unchanged.
 * @param opt the optimizer to overwrite.
 * @param buf the serialised state (not kept after the call).
 * @param len its length in bytes.
 * @return SPT_OK; SPT_ERR_NULL if opt or buf is NULL; SPT_ERR_FORMAT for a
 *         short buffer, a wrong magic or an out-of-domain field;
 *         SPT_ERR_VERSION if written by a newer format version.
 */
SPT_API int spt_optimizer_load_state(spt_optimizer *opt, const void *buf, int64_t len);

/* ==== learning-rate schedules ===================================================== */

/** Learning-rate schedule handle (opaque). */
typedef struct spt_lr_schedule spt_lr_schedule;

/** Schedule kinds (pinned values). Every kind may start with a linear
 *  warm-up over SPT_LR_WARMUP_STEPS = W steps: for t < W,
 *  lr(t) = base * (s + (1 - s) * t / W) with s = SPT_LR_WARMUP_START_FACTOR,
 *  reaching base at t = W. All step numbers are absolute (counted from the
 *  first step, warm-up included). */
typedef enum spt_lr_schedule_kind {
    /** lr(t) = base for t >= W. */
    SPT_LR_CONSTANT = 0,
    /** lr(t) = base * gamma^k for t >= W, k = number of milestones <= t. */
    SPT_LR_STEP = 1,
    /** Cosine decay from base at t = W to base*floor at t = T
     *  (SPT_LR_TOTAL_STEPS), then base*floor:
     *  lr(t) = base*(floor + (1-floor)*(1 + cos(pi*(t-W)/(T-W)))/2). */
    SPT_LR_COSINE = 2
} spt_lr_schedule_kind;

/** Schedule settings (pinned values). Integer settings are passed as
 *  doubles holding an integer. */
typedef enum spt_lr_param {
    /** All. Base (peak) learning rate, finite, > 0. Default 0.1. */
    SPT_LR_BASE = 0,
    /** All. Warm-up length W, an integer >= 0 (0 = no warm-up). Default 0. */
    SPT_LR_WARMUP_STEPS = 1,
    /** All. Warm-up start factor s in [0, 1]; 0 ramps from 0. Default 0. */
    SPT_LR_WARMUP_START_FACTOR = 2,
    /** STEP. Factor applied at each milestone, finite, > 0. Default 0.1. */
    SPT_LR_GAMMA = 3,
    /** COSINE. Step T at which the floor is reached, an integer >= 1 and
     *  > W when evaluated. No default: must be set. */
    SPT_LR_TOTAL_STEPS = 4,
    /** COSINE. Final learning rate as a fraction of base, in [0, 1].
     *  Default 0. */
    SPT_LR_FLOOR_FACTOR = 5
} spt_lr_param;

/**
 * Create a schedule of the given kind with default settings (a STEP schedule
 * starts with no milestones).
 * @param kind an spt_lr_schedule_kind value.
 * @param[out] out receives the new handle (NULL on failure); the caller owns it
 *             and frees it with spt_lr_schedule_destroy().
 * @return SPT_OK; SPT_ERR_NULL if out is NULL; SPT_ERR_INVALID for an
 *         unknown kind; SPT_ERR_NOMEM.
 */
SPT_API int spt_lr_schedule_create(int kind, spt_lr_schedule **out);

/**
 * Free a schedule. Accepts NULL.
 * @param s the handle, or NULL.
 */
SPT_API void spt_lr_schedule_destroy(spt_lr_schedule *s);

/**
 * Set one setting, checked against the domain stated at its key; on failure
 * the schedule is unchanged.
 * @param s     the schedule.
 * @param param an spt_lr_param key valid for this schedule's kind.
 * @param value the new value (integer settings: a double holding an integer).
 * @return SPT_OK; SPT_ERR_NULL if s is NULL; SPT_ERR_INVALID for an unknown
 *         key, a key of another kind or an out-of-domain value.
 */
SPT_API int spt_lr_schedule_set_param(spt_lr_schedule *s, int param, double value);

/**
 * Read one setting.
 * @param s     the schedule.
 * @param param an spt_lr_param key valid for this schedule's kind.
 * @param[out] value receives the value (SPT_LR_TOTAL_STEPS: 0 while unset);
 *              unchanged on failure.
 * @return SPT_OK; SPT_ERR_NULL if s or value is NULL; SPT_ERR_INVALID for an
 *         unknown key or a key of another kind.
 */
SPT_API int spt_lr_schedule_get_param(const spt_lr_schedule *s, int param, double *value);

/**
 * The schedule's kind.
 * @param s    the schedule.
 * @param[out] kind receives an spt_lr_schedule_kind value.
 * @return SPT_OK; SPT_ERR_NULL if an argument is NULL.
 */
SPT_API int spt_lr_schedule_get_kind(const spt_lr_schedule *s, int *kind);

/**
 * STEP schedules: replace the milestones, the absolute steps at which the
 * learning rate is multiplied by SPT_LR_GAMMA. The array is copied.
 * @param s     a STEP schedule.
 * @param steps n strictly increasing steps, each >= 0 (may be NULL when n = 0,
 *              which clears the milestones).
 * @param n     number of milestones, 0 to 1024.
 * @return SPT_OK; SPT_ERR_NULL if s is NULL, or steps is NULL with n > 0;
 *         SPT_ERR_INVALID if s is not a STEP schedule or the steps are not
 *         strictly increasing and >= 0; SPT_ERR_SIZE if n is out of range;
 *         SPT_ERR_NOMEM. The schedule is unchanged on failure.
 */
SPT_API int spt_lr_schedule_set_milestones(spt_lr_schedule *s, const int64_t *steps, int64_t n);

/**
 * STEP schedules: read the milestones.
 * @param s     a STEP schedule.
 * @param[out] steps receives min(n, cap) milestones; may be NULL when cap = 0.
 * @param cap   capacity of steps (>= 0).
 * @param[out] n receives the number of milestones set (may exceed cap).
 * @return SPT_OK; SPT_ERR_NULL if s or n is NULL, or steps is NULL with
 *         cap > 0; SPT_ERR_SIZE if cap < 0; SPT_ERR_INVALID if s is not a
 *         STEP schedule.
 */
SPT_API int spt_lr_schedule_get_milestones(const spt_lr_schedule *s, int64_t *steps, int64_t cap, int64_t *n);

/**
 * The learning rate at step t (0 = the first step). A pure function of t and
 * the settings.
 * @param s    the schedule.
 * @param step the step number, >= 0.
 * @param[out] lr receives the learning rate (>= 0).
 * @return SPT_OK; SPT_ERR_NULL if s or lr is NULL; SPT_ERR_INVALID if
 *         step < 0; SPT_ERR_STATE for a COSINE schedule whose
 *         SPT_LR_TOTAL_STEPS is unset or not greater than the warm-up.
 */
SPT_API int spt_lr_schedule_at(const spt_lr_schedule *s, int64_t step, double *lr);

#ifdef __cplusplus
}
#endif
#endif
