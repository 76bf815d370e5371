/* One training step (the flow of sparsity/method.h), the learning rate of a
 * step, and the deferred initialisation of methods that score on data. */
#include <math.h>

#include "../data/dataset.h"
#include "trainer.h"
#include "../kernels/grow_collector.h"
#include "../kernels/grow_sample.h"

int spti_trainer_lr_at(const spti_trainer *t, int64_t step, double *lr) {
    if (!t->sched) {
        *lr = t->opt.lr;
        return SPT_OK;
    }
    return spti_lr_schedule_at(t->sched, step - t->round_start, lr);
}

int spti_trainer_run_init(spti_trainer *t, spti_grad_source *src) {
    spti_method *m = t->method;
    double t0 = spti_now_seconds();
    int rc = m->ops->init ? m->ops->init(m, m->weights, m->n_weights, src) : SPT_OK;
    t->s_init_seconds += spti_now_seconds() - t0;
    if (rc == SPT_OK) t->init_pending = false;
    return rc;
}

double spti_trainer_step_flops(const spti_trainer *t) {
    const spti_model *m = t->model;
    double f = 0.0;
    for (int i = 0; i < m->n_leaves; i++) {
        const spti_layer *L = m->leaves[i];
        double fs = L->ops->flops(L, false);
        const spti_param *w = (L->n_params > 0 && L->params[0]->is_weight) ? L->params[0] : NULL;
        /* forward + input gradient at the sparse cost; the weight gradient
         * dense when the method asked for it this step, or at the active
         * entries and the sampled positions (unless the dense product
         * serves the sample, kernels/grow_sample.h). */
        double fw = fs;
        if (w && w->request.dense_grad) {
            fw = L->ops->flops(L, true);
        } else if (w && w->request.sample && w->kind == SPTI_PARAM_SPARSE) {
            const int64_t cells = w->rows * w->cols, n = w->request.sample->n;
            const double fd = L->ops->flops(L, true);
            fw = spti_grow_sample_dense(cells, w->n, n) ? fd : fs + fd * ((double)n / (double)cells);
        }
        f += 2.0 * fs + fw;
    }
    return f;
}

/* Grad source over one fixed batch: the batch of the step that found the
 * initialisation still pending. Every scoring pass uses it. */
typedef struct batch_source {
    spti_trainer *t;
    const float *x;
    const int32_t *labels;
    int64_t n;
} batch_source;

static int batch_compute(void *ctx, float *loss) {
    batch_source *s = ctx;
    double l;
    SPTI_TRY(spti_trainer_grads(s->t, s->x, s->labels, s->n, &l, NULL));
    if (loss) *loss = (float)l;
    return SPT_OK;
}

/* Grad source over the next batches of a batcher (an ended epoch is
 * continued by the next one). */
typedef struct batcher_source {
    spti_trainer *t;
    spt_batcher *b;
    int64_t epoch, pos; /* batcher state when the source was made (reset) */
    uint64_t seed;
} batcher_source;

static int batcher_compute(void *ctx, float *loss) {
    batcher_source *s = ctx;
    spti_trainer *t = s->t;
    int64_t B = 0;
    int rc = SPT_OK;
    for (int tries = 0; tries < 2 && B == 0 && rc == SPT_OK; tries++)
        rc = spt_batcher_next(s->b, t->xbuf, t->xcap, t->ybuf, t->ycap, &B);
    if (rc == SPT_OK && B == 0) rc = spti_fail(SPT_ERR_INTERNAL, "trainer: the batcher gave an empty epoch");
    if (rc != SPT_OK) return spti_trainer_grads_failed(t, rc); /* the other ranks' forward meets it */
    double l;
    SPTI_TRY(spti_trainer_grads(t, t->xbuf, t->ybuf, B, &l, NULL));
    if (loss) *loss = (float)l;
    return SPT_OK;
}

/* Back to the first batch the source gave (GraSP scores each batch twice). */
static int batcher_reset(void *ctx) {
    batcher_source *s = ctx;
    return spt_batcher_set_state(s->b, s->epoch, s->pos, s->seed);
}

int spt_trainer_prepare(spt_trainer *t, spt_batcher *b) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(b);
    if (!t->init_pending) return SPT_OK;
    int64_t bs, floats;
    const spt_dataset *ds;
    spti_batcher_info(b, &bs, &ds);
    SPTI_TRY(spti_trainer_check_data(t, ds, bs, __func__, &floats));
    SPTI_TRY(spti_trainer_prefix(__func__, spti_trainer_reserve_batch(t, floats, bs)));
    int64_t epoch, pos;
    uint64_t seed;
    SPTI_TRY(spt_batcher_get_state(b, &epoch, &pos, &seed));
    batcher_source s = {t, b, epoch, pos, seed};
    spti_grad_source src = {batcher_compute, &s, batcher_reset};
    int rc = spti_trainer_run_init(t, &src);
    int rc2 = batcher_reset(&s); /* training sees the batches it would have seen */
    return spti_trainer_prefix(__func__, rc != SPT_OK ? rc : rc2);
}

/* dense_grad of the weights the method asked it for must be finite too:
 * it drives growth. */
static int check_dense_grads(const spti_trainer *t) {
    for (int i = 0; i < t->n_weights; i++) {
        const spti_param *p = t->weights[i];
        if (p->request.grow_k > 0 && p->result.grow && p->result.grow->filled && p->result.grow->nonfinite >= 0) /* streamed */
            return spti_fail(SPT_ERR_NONFINITE, "trainer: dense gradient of %s is not finite (entry %lld)", p->name,
                             (long long)p->result.grow->nonfinite);
        if (p->request.sample && p->result.sample) /* sampled: the gradient at the active entries is grad's */
            for (int64_t j = 0; j < p->result.sample->n; j++)
                if (!isfinite(p->result.sample->grad[j]))
                    return spti_fail(SPT_ERR_NONFINITE,
                                     "trainer: gradient of %s is not finite (sampled position %lld of %lld)", p->name,
                                     (long long)j, (long long)p->result.sample->n);
        if (!p->request.dense_grad || !p->result.dense_grad) continue;
        int64_t n = p->rows * p->cols;
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(p->result.dense_grad[k]))
                return spti_fail(SPT_ERR_NONFINITE, "trainer: dense gradient of %s is not finite (entry %lld)",
                                 p->name, (long long)k);
    }
    return SPT_OK;
}

/* Time of a per-step hook of the method (whole run and this object). */
static void add_hook_time(spti_trainer *t, double t0) {
    const double dt = spti_now_seconds() - t0;
    t->method_seconds += dt;
    t->s_hook_seconds += dt;
}

/* A per-step method hook, timed. */
#define TIMED_HOOK(t, call)                           \
    do {                                              \
        double hook_t0_ = spti_now_seconds();         \
        int hook_rc_ = (call);                        \
        add_hook_time((t), hook_t0_);                 \
        if (hook_rc_ != SPT_OK) return hook_rc_;      \
    } while (0)

/* Everything after the argument checks. Returns before the optimizer
 * update on every failure that must leave the weights as they were. */
static int run_step(spti_trainer *t, const float *x, const int32_t *labels, int64_t n, double lr, double *loss,
                    int64_t *correct) {
    spti_method *m = t->method;
    if (t->init_pending) {
        batch_source s = {t, x, labels, n};
        spti_grad_source src = {.compute = batch_compute, .ctx = &s, .reset = NULL}; /* one batch: nothing to restart */
        SPTI_TRY(spti_trainer_run_init(t, &src));
    }
    const int64_t step = t->step, updates_before = m ? m->topology_updates : 0;
    if (m && m->ops->begin_step) TIMED_HOOK(t, m->ops->begin_step(m, step));
    const double flops = spti_trainer_step_flops(t);
    double l;
    int64_t c;
    SPTI_TRY(spti_trainer_grads(t, x, labels, n, &l, &c));
    /* With a communicator: the same sums on every rank, so the same
     * verdicts and the same updates below; dp_end checks it. */
    SPTI_TRY(check_dense_grads(t));
    bool skip = false;
    int rc = SPT_OK;
    if (m && m->ops->after_backward) {
        double t0 = spti_now_seconds();
        rc = m->ops->after_backward(m, step, &skip);
        add_hook_time(t, t0);
    }
    if (rc == SPT_OK && !skip) rc = spti_optimizer_step(&t->opt, t->model->params, t->model->n_params, lr);
    if (rc == SPT_OK) {
        /* The weights have moved: the step counts as done whatever after_step says. */
        t->step = step + 1;
        t->train_flops_sum += flops;
        if (m && m->ops->after_step) {
            double t0 = spti_now_seconds();
            rc = m->ops->after_step(m, step);
            add_hook_time(t, t0);
        }
        t->last_update = m && m->topology_updates != updates_before;
        if (t->last_update) t->update_steps++;
        if (loss) *loss = l;
        if (correct) *correct = c;
    }
    return spti_trainer_dp_end(t, rc, t->step > step && t->last_update);
}

/* The step's arguments against the trainer's state (NULLs checked). */
static int check_step(spti_trainer *t, const float *x, const int32_t *labels, int64_t n) {
    (void)x;
    if (n < 1) return spti_fail(SPT_ERR_SIZE, "batch size (%lld) must be >= 1", (long long)n);
    if (t->step >= t->total_steps)
        return spti_fail(SPT_ERR_STATE,
                         "the run is complete (total_steps = %lld steps done); a longer run needs a trainer "
                         "created with a larger total_steps",
                         (long long)t->total_steps);
    /* Sizes first (overflow, memory): the labels are read only then. */
    SPTI_TRY(spti_model_reserve(t->model, n));
    const int64_t classes = t->model->classes;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return spti_fail(SPT_ERR_INVALID, "label %d of example %lld is outside [0, %lld)", (int)labels[i],
                             (long long)i, (long long)classes);
    return SPT_OK;
}

int spt_trainer_step(spt_trainer *t, const float *x, const int32_t *labels, int64_t n, double *loss,
                     int64_t *correct) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(x);
    SPTI_CHECK_NULL(labels);
    if (t->dp_diverged)
        return spti_fail(SPT_ERR_STATE, "%s: the ranks' models differ after a failed step; load a checkpoint into a "
                                        "new trainer", __func__);
    SPTI_TRY(spti_trainer_prefix(__func__, spti_trainer_dp_agree(t, check_step(t, x, labels, n))));
    double lr;
    SPTI_TRY(spti_trainer_prefix(__func__, spti_trainer_lr_at(t, t->step, &lr)));
    double t0 = spti_now_seconds();
    const int64_t step_before = t->step;
    const double init_before = t->s_init_seconds;
    const spti_rng rng_before = t->rng;
    spti_model_step_state_save(t->model, &t->undo);
    int rc = run_step(t, x, labels, n, lr, loss, correct);
    if (t->step == step_before) {
        /* Failed before the update: the forward pass may have drawn dropout
         * masks and moved running statistics before a later layer failed.
         * Put them back, so that the failed step changes nothing. */
        t->rng = rng_before;
        spti_model_step_state_restore(t->model, &t->undo);
    }
    /* A deferred initialisation of the method (SNIP...) counts as
     * initialisation, not as step time. */
    const double dt = spti_now_seconds() - t0 - (t->s_init_seconds - init_before);
    t->step_seconds += dt;
    t->s_step_seconds += dt;
    if (t->step != step_before) { /* a completed step */
        t->timed_steps++;
        if (t->last_update) {
            t->timed_update_steps++;
            t->update_step_seconds += dt;
        }
    }
    return spti_trainer_prefix(__func__, rc);
}
