/* Learning-rate schedules: constant, step and cosine, each with an optional
 * linear warm-up. lr(t) is a pure function of the step t and the settings. */
#include <math.h>
#include <string.h>

#include "optim.h"

#define SPTI_PI 3.14159265358979323846

int spt_lr_schedule_create(int kind, spt_lr_schedule **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    if (kind != SPT_LR_CONSTANT && kind != SPT_LR_STEP && kind != SPT_LR_COSINE)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown schedule kind %d", __func__, kind);
    spti_lr_schedule *s = spti_calloc_or_fail(1, sizeof *s, "learning-rate schedule");
    if (!s) return SPT_ERR_NOMEM;
    s->kind = kind;
    s->base = 0.1;
    s->warmup_steps = 0;
    s->warmup_start = 0.0;
    s->gamma = 0.1;
    s->milestones = NULL;
    s->n_milestones = 0;
    s->total_steps = 0;
    s->floor_factor = 0.0;
    *out = s;
    return SPT_OK;
}

void spt_lr_schedule_destroy(spt_lr_schedule *s) {
    if (!s) return;
    spti_free(s->milestones);
    spti_free(s);
}

static const char *kind_name(int kind) {
    return kind == SPT_LR_CONSTANT ? "constant" : kind == SPT_LR_STEP ? "step" : "cosine";
}

static int check_key(const spti_lr_schedule *s, int which, const char *caller) {
    switch (which) {
    case SPT_LR_BASE:
    case SPT_LR_WARMUP_STEPS:
    case SPT_LR_WARMUP_START_FACTOR: return SPT_OK;
    case SPT_LR_GAMMA:
        if (s->kind == SPT_LR_STEP) return SPT_OK;
        break;
    case SPT_LR_TOTAL_STEPS:
    case SPT_LR_FLOOR_FACTOR:
        if (s->kind == SPT_LR_COSINE) return SPT_OK;
        break;
    default: return spti_fail(SPT_ERR_INVALID, "%s: unknown schedule parameter %d", caller, which);
    }
    return spti_fail(SPT_ERR_INVALID, "%s: parameter %d does not apply to a %s schedule", caller, which,
                     kind_name(s->kind));
}

/* An integer >= lo held exactly by a double (|x| <= 2^53). */
static bool is_step_count(double v, double lo) { return v >= lo && v <= 9007199254740992.0 && v == floor(v); }

int spt_lr_schedule_set_param(spt_lr_schedule *s, int param, double value) {
    SPTI_CHECK_NULL(s);
    SPTI_TRY(check_key(s, param, __func__));
    bool ok;
    const char *domain;
    switch (param) {
    case SPT_LR_BASE:
    case SPT_LR_GAMMA:
        ok = isfinite(value) && value > 0.0;
        domain = "finite and > 0";
        break;
    case SPT_LR_WARMUP_STEPS:
        ok = is_step_count(value, 0.0);
        domain = "an integer >= 0";
        break;
    case SPT_LR_TOTAL_STEPS:
        ok = is_step_count(value, 1.0);
        domain = "an integer >= 1";
        break;
    default: /* the two factors */
        ok = value >= 0.0 && value <= 1.0;
        domain = "in [0, 1]";
        break;
    }
    if (!ok) return spti_fail(SPT_ERR_INVALID, "%s: parameter %d = %g must be %s", __func__, param, value, domain);
    switch (param) {
    case SPT_LR_BASE: s->base = value; break;
    case SPT_LR_WARMUP_STEPS: s->warmup_steps = (int64_t)value; break;
    case SPT_LR_WARMUP_START_FACTOR: s->warmup_start = value; break;
    case SPT_LR_GAMMA: s->gamma = value; break;
    case SPT_LR_TOTAL_STEPS: s->total_steps = (int64_t)value; break;
    default: s->floor_factor = value; break;
    }
    return SPT_OK;
}

int spt_lr_schedule_get_param(const spt_lr_schedule *s, int param, double *value) {
    SPTI_CHECK_NULL(s);
    SPTI_CHECK_NULL(value);
    SPTI_TRY(check_key(s, param, __func__));
    switch (param) {
    case SPT_LR_BASE: *value = s->base; break;
    case SPT_LR_WARMUP_STEPS: *value = (double)s->warmup_steps; break;
    case SPT_LR_WARMUP_START_FACTOR: *value = s->warmup_start; break;
    case SPT_LR_GAMMA: *value = s->gamma; break;
    case SPT_LR_TOTAL_STEPS: *value = (double)s->total_steps; break;
    default: *value = s->floor_factor; break;
    }
    return SPT_OK;
}

int spt_lr_schedule_get_kind(const spt_lr_schedule *s, int *kind) {
    SPTI_CHECK_NULL(s);
    SPTI_CHECK_NULL(kind);
    *kind = s->kind;
    return SPT_OK;
}

int spt_lr_schedule_set_milestones(spt_lr_schedule *s, const int64_t *steps, int64_t n) {
    SPTI_CHECK_NULL(s);
    if (s->kind != SPT_LR_STEP)
        return spti_fail(SPT_ERR_INVALID, "%s: milestones need a step schedule, not %s", __func__, kind_name(s->kind));
    if (n < 0 || n > SPTI_LR_MAX_MILESTONES)
        return spti_fail(SPT_ERR_SIZE, "%s: n (%lld) must be in [0, %d]", __func__, (long long)n,
                         SPTI_LR_MAX_MILESTONES);
    if (n > 0) SPTI_CHECK_NULL(steps);
    for (int64_t i = 0; i < n; i++)
        if (steps[i] < 0 || (i > 0 && steps[i] <= steps[i - 1]))
            return spti_fail(SPT_ERR_INVALID, "%s: milestones must be >= 0 and strictly increasing (steps[%lld] = %lld)",
                             __func__, (long long)i, (long long)steps[i]);
    int64_t *copy = NULL;
    if (n > 0) {
        copy = spti_alloc_or_fail(n, sizeof *copy, "schedule milestones");
        if (!copy) return SPT_ERR_NOMEM;
        memcpy(copy, steps, (size_t)n * sizeof *copy);
    }
    spti_free(s->milestones);
    s->milestones = copy;
    s->n_milestones = n;
    return SPT_OK;
}

int spt_lr_schedule_get_milestones(const spt_lr_schedule *s, int64_t *steps, int64_t cap, int64_t *n) {
    SPTI_CHECK_NULL(s);
    SPTI_CHECK_NULL(n);
    if (cap < 0) return spti_fail(SPT_ERR_SIZE, "%s: cap (%lld) must be >= 0", __func__, (long long)cap);
    if (cap > 0) SPTI_CHECK_NULL(steps);
    if (s->kind != SPT_LR_STEP)
        return spti_fail(SPT_ERR_INVALID, "%s: milestones need a step schedule, not %s", __func__, kind_name(s->kind));
    int64_t m = s->n_milestones < cap ? s->n_milestones : cap;
    if (m > 0) memcpy(steps, s->milestones, (size_t)m * sizeof *steps);
    *n = s->n_milestones;
    return SPT_OK;
}

/* Number of milestones <= t (they are sorted). */
static int64_t milestones_passed(const spti_lr_schedule *s, int64_t t) {
    int64_t lo = 0, hi = s->n_milestones;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s->milestones[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int spti_lr_schedule_at(const spti_lr_schedule *s, int64_t t, double *lr) {
    if (t < 0) return spti_fail(SPT_ERR_INVALID, "%s: step (%lld) must be >= 0", __func__, (long long)t);
    const int64_t W = s->warmup_steps;
    if (s->kind == SPT_LR_COSINE && s->total_steps <= W)
        return spti_fail(SPT_ERR_STATE, "%s: cosine total steps (%lld) must be set and greater than the warm-up (%lld)",
                         __func__, (long long)s->total_steps, (long long)W);
    if (t < W) {
        *lr = s->base * (s->warmup_start + (1.0 - s->warmup_start) * ((double)t / (double)W));
        return SPT_OK;
    }
    switch (s->kind) {
    case SPT_LR_CONSTANT: *lr = s->base; break;
    case SPT_LR_STEP: *lr = s->base * pow(s->gamma, (double)milestones_passed(s, t)); break;
    default: {
        const int64_t T = s->total_steps;
        double f = s->floor_factor;
        if (t >= T) {
            *lr = s->base * f;
        } else {
            double progress = (double)(t - W) / (double)(T - W);
            *lr = s->base * (f + (1.0 - f) * 0.5 * (1.0 + cos(SPTI_PI * progress)));
        }
        break;
    }
    }
    return SPT_OK;
}

int spt_lr_schedule_at(const spt_lr_schedule *s, int64_t step, double *lr) {
    SPTI_CHECK_NULL(s);
    SPTI_CHECK_NULL(lr);
    return spti_lr_schedule_at(s, step, lr);
}
