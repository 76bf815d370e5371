/*
 * Optimizers and learning-rate schedules (internal view).
 *
 * The public handles spt_optimizer and spt_lr_schedule (sparsetrain/optim.h)
 * are these structs; a trainer or model reaches their fields through this
 * header. An optimizer updates an array of parameters (nn/param.h): in every
 * form value, grad and slots have the same length n in the same order, so a
 * step is one loop over n. Slot use:
 *
 *   SGD, momentum > 0   slot[0] = momentum buffer
 *   Adam                slot[0] = first moment m, slot[1] = second moment v
 *
 * Slots are allocated on the first step that needs them (zeroed); a sparse
 * method that moves nonzeros carries them through spti_param_repattern()
 * (new positions start at 0), so a step never has to know about topology.
 */
#ifndef SPTI_OPTIM_H
#define SPTI_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../nn/param.h"

struct spt_optimizer {
    int kind;            /* SPT_OPTIMIZER_SGD or SPT_OPTIMIZER_ADAM */
    double lr;           /* default learning rate (a schedule may replace it per step) */
    double momentum;     /* SGD: [0, 1) */
    bool nesterov;       /* SGD */
    double weight_decay; /* >= 0; skipped for params with no_weight_decay */
    double beta1, beta2; /* Adam: [0, 1) */
    double eps;          /* Adam: > 0 */
    bool decoupled;      /* Adam: AdamW-style decoupled weight decay */
    int64_t step;        /* completed steps (Adam's bias correction uses step + 1) */
};
typedef struct spt_optimizer spti_optimizer;

enum { SPTI_LR_MAX_MILESTONES = 1024 };

struct spt_lr_schedule {
    int kind;              /* SPT_LR_CONSTANT, SPT_LR_STEP or SPT_LR_COSINE */
    double base;           /* peak learning rate */
    int64_t warmup_steps;  /* W: linear ramp over steps [0, W) */
    double warmup_start;   /* ramp starts at base * warmup_start */
    double gamma;          /* STEP: factor applied at each milestone */
    int64_t *milestones;   /* STEP: strictly increasing absolute steps */
    int64_t n_milestones;
    int64_t total_steps;   /* COSINE: absolute step at which the floor is reached (0 = unset) */
    double floor_factor;   /* COSINE: final lr = base * floor_factor */
};
typedef struct spt_lr_schedule spti_lr_schedule;

/* Update every parameter with learning rate `lr` (finite, >= 0; 0 is a valid
 * warm-up step) and count one step. Validates everything (NULLs, lr, finite
 * gradients) and allocates missing slots before touching any value, so on
 * failure no value, slot or counter has changed (slots allocated by the
 * failing call are released again). MASKED parameters: the gradient of an
 * inactive entry is ignored, its value is written as +0 and its slots (zeroed
 * by spti_param_mask) stay 0. Threads: one OpenMP loop per parameter. */
int spti_optimizer_step(spti_optimizer *opt, spti_param *const *params, int64_t n_params, double lr);

/* SPT_ERR_NONFINITE naming the first parameter (and entry) whose gradient
 * holds a NaN or Inf; SPT_OK otherwise. Reads only. */
int spti_params_check_finite(spti_param *const *params, int64_t n_params);

/* Kernels over one parameter (no validation; slots present). mask may be
 * NULL (every entry active). Hyper-parameters already resolved for this
 * parameter and this step (wd = 0 for no-decay parameters). */
typedef struct spti_sgd_args {
    float lr, momentum, wd;
    bool nesterov;
} spti_sgd_args;
void spti_sgd_update(const spti_sgd_args *a, int64_t n, float *w, const float *g, float *buf, const uint8_t *mask);

typedef struct spti_adam_args {
    float decay_mul;   /* 1 - lr*wd (decoupled decay) */
    float step_size;   /* lr / (1 - beta1^t) */
    float inv_sqrt_bc2; /* 1 / sqrt(1 - beta2^t) */
    float beta1, beta2, eps, wd;
    float one_minus_beta1, one_minus_beta2; /* rounded once from double: 1 - (float)0.999 is off by 1e-5 */
    bool decoupled;
} spti_adam_args;
void spti_adam_update(const spti_adam_args *a, int64_t n, float *w, const float *g, float *m, float *v,
                      const uint8_t *mask);
/* The same, bit for bit, 16 lanes at a time; only when spti_simd_level() >= 2
 * (spti_adam_update dispatches to it). */
void spti_adam_update_avx512(const spti_adam_args *a, int64_t n, float *w, const float *g, float *m, float *v,
                             const uint8_t *mask);
enum { SPTI_ADAM_PAR_MIN = 1 << 15 }; /* entries below which the Adam loop runs on one thread */

/* Checkpoint hooks: the optimizer's scalar state (kind, hyper-parameters,
 * step count) as SPTI_OPTIMIZER_STATE_BYTES little-endian bytes. The slots
 * belong to the parameters and are saved with them. Layout (offsets):
 *   0 magic "SPTO"   4 u32 format version (1)   8 u32 kind   12 u32 flags
 *   (bit 0 nesterov, bit 1 decoupled)   16 f64 lr   24 f64 momentum
 *   32 f64 weight_decay   40 f64 beta1   48 f64 beta2   56 f64 eps
 *   64 i64 step. */
enum { SPTI_OPTIMIZER_STATE_BYTES = 72, SPTI_OPTIMIZER_STATE_VERSION = 1 };
void spti_optimizer_encode(const spti_optimizer *opt, uint8_t out[SPTI_OPTIMIZER_STATE_BYTES]);
/* Parse and validate; *opt is written only on success. */
int spti_optimizer_decode(const uint8_t *buf, int64_t len, spti_optimizer *opt);

/* Validate `value` for hyper-parameter `which` (spt_optimizer_param) on an
 * optimizer of `kind` and store it. Nothing changes on failure. */
int spti_optimizer_set(spti_optimizer *opt, int which, double value, const char *caller);

/* lr(t) for step t >= 0: a pure function of t and the settings. */
int spti_lr_schedule_at(const spti_lr_schedule *s, int64_t t, double *lr);

#endif
