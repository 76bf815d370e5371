/* The trainer handle: creation (copies of the settings, the method built
 * and, for methods that start sparse, initialised), destruction, and the
 * small helpers the other trainer files share. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../data/dataset.h"
#include "trainer.h"

double spti_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int spti_trainer_prefix(const char *func, int rc) {
    if (rc == SPT_OK) return rc;
    const char *last = spt_last_error();
    if (strncmp(last, func, strlen(func)) == 0) return rc; /* already names it */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", last);
    return spti_fail(rc, "%s: %s", func, msg);
}

int spti_trainer_collect_weights(const spti_model *m, spti_param ***out, int *n) {
    int count = 0;
    for (int64_t i = 0; i < m->n_params; i++)
        if (m->params[i]->is_weight) count++;
    spti_param **w = spti_alloc_or_fail(count, sizeof *w, "trainer: weight list");
    if (!w) return SPT_ERR_NOMEM;
    count = 0;
    for (int64_t i = 0; i < m->n_params; i++)
        if (m->params[i]->is_weight) w[count++] = m->params[i];
    *out = w;
    *n = count;
    return SPT_OK;
}

/* Deep copy of a schedule; a cosine schedule without its total takes the
 * run's. The copy must give a learning rate at step 0. */
static int copy_schedule(const spti_lr_schedule *s, int64_t total_steps, spti_lr_schedule **out) {
    *out = NULL;
    spti_lr_schedule *c = spti_alloc_or_fail(1, sizeof *c, "trainer: schedule copy");
    if (!c) return SPT_ERR_NOMEM;
    *c = *s;
    c->milestones = NULL;
    if (s->n_milestones > 0) {
        c->milestones = spti_alloc_or_fail(s->n_milestones, sizeof *c->milestones, "trainer: schedule milestones");
        if (!c->milestones) {
            spti_free(c);
            return SPT_ERR_NOMEM;
        }
        memcpy(c->milestones, s->milestones, (size_t)s->n_milestones * sizeof *c->milestones);
    }
    if (c->kind == SPT_LR_COSINE && c->total_steps == 0) c->total_steps = total_steps;
    double lr;
    int rc = spti_lr_schedule_at(c, 0, &lr);
    if (rc != SPT_OK) {
        spt_lr_schedule_destroy(c);
        return rc;
    }
    *out = c;
    return SPT_OK;
}

/* A trainer without its method: the copies and the weight list. */
static int trainer_alloc(spti_model *model, const spti_optimizer *opt, const spti_lr_schedule *schedule,
                         int64_t total_steps, uint64_t seed, spti_trainer **out) {
    *out = NULL;
    spti_trainer *t = spti_calloc_or_fail(1, sizeof *t, "trainer");
    if (!t) return SPT_ERR_NOMEM;
    t->model = model;
    model->has_trainer = true;
    t->opt = *opt;
    t->opt.step = 0;
    t->total_steps = total_steps;
    t->seed = seed;
    spti_rng_seed(&t->rng, seed);
    int rc = schedule ? copy_schedule(schedule, total_steps, &t->sched) : SPT_OK;
    if (rc == SPT_OK) rc = spti_trainer_collect_weights(model, &t->weights, &t->n_weights);
    if (rc == SPT_OK) rc = spti_model_step_state_init(model, &t->undo);
    if (rc != SPT_OK) {
        spt_trainer_destroy(t);
        return rc;
    }
    *out = t;
    return SPT_OK;
}

/* Last step of creation: initialise a method that needs no data, then
 * derive the model's dropout stream from the trainer's. */
static int trainer_start(spti_trainer *t, bool needs_data) {
    spti_method *m = t->method;
    if (m && needs_data) t->init_pending = true;
    /* A method whose init only sparsifies writes a weight's pending dense
     * init at its active entries alone (param.h): a weight that starts
     * sparse never occupies its dense size. Everything else sees written
     * weights. */
    if (!(!needs_data && spti_method_has(m, SPTI_METHOD_INIT_SPARSIFIES))) SPTI_TRY(spti_model_materialize(t->model));
    if (m && !needs_data && m->ops->init) {
        double t0 = spti_now_seconds();
        int rc = m->ops->init(m, m->weights, m->n_weights, NULL);
        t->s_init_seconds += spti_now_seconds() - t0;
        if (rc != SPT_OK) return rc;
    }
    SPTI_TRY(spti_model_materialize(t->model));
    for (int64_t i = 0; i < t->model->n_params; i++) t->model->params[i]->loaded = false; /* param.h */
    spti_rng_split(&t->rng, &t->model->rng);
    return SPT_OK;
}

static int check_create_args(const char *func, const spti_model *model, const spti_optimizer *opt,
                             int64_t total_steps, spti_trainer **out) {
    if (!out) return spti_fail(SPT_ERR_NULL, "%s: out is NULL", func);
    *out = NULL;
    if (!model) return spti_fail(SPT_ERR_NULL, "%s: model is NULL", func);
    if (!opt) return spti_fail(SPT_ERR_NULL, "%s: opt is NULL", func);
    if (total_steps < 1)
        return spti_fail(SPT_ERR_INVALID, "%s: total_steps (%lld) must be >= 1", func, (long long)total_steps);
    /* A second trainer would re-sample or re-prune the weights the first one
     * trains (and both would move them): one trainer per model at a time. */
    if (model->has_trainer)
        return spti_fail(SPT_ERR_STATE, "%s: the model already has a trainer; destroy it before creating another",
                         func);
    return SPT_OK;
}

int spt_trainer_create(spt_model *model, const spt_optimizer *opt, const spt_lr_schedule *schedule,
                       const spt_method_config *method, int64_t total_steps, uint64_t seed, spt_trainer **out) {
    SPTI_TRY(check_create_args(__func__, model, opt, total_steps, out));
    spti_trainer *t;
    SPTI_TRY(trainer_alloc(model, opt, schedule, total_steps, seed, &t));
    int rc = SPT_OK;
    if (method) {
        rc = spti_method_config_clone(method, &t->cfg);
        if (rc == SPT_OK) {
            t->owns_method = true;
            rc = spti_method_create(t->cfg, t->weights, t->n_weights, total_steps, &t->method);
        }
    }
    if (rc == SPT_OK) rc = trainer_start(t, spti_method_has(t->method, SPTI_METHOD_NEEDS_DATA));
    if (rc != SPT_OK) {
        spt_trainer_destroy(t);
        return rc;
    }
    *out = t;
    return SPT_OK;
}

int spti_trainer_create_with_method(spti_model *model, const spti_optimizer *opt, const spti_lr_schedule *schedule,
                                    spti_method *method, bool needs_data, int64_t total_steps, uint64_t seed,
                                    spti_trainer **out) {
    SPTI_TRY(check_create_args(__func__, model, opt, total_steps, out));
    spti_trainer *t;
    SPTI_TRY(trainer_alloc(model, opt, schedule, total_steps, seed, &t));
    t->method = method;
    t->owns_method = false;
    int rc = trainer_start(t, needs_data);
    if (rc != SPT_OK) {
        spt_trainer_destroy(t);
        return rc;
    }
    *out = t;
    return SPT_OK;
}

void spt_trainer_destroy(spt_trainer *t) {
    if (!t) return;
    t->model->has_trainer = false;
    if (t->owns_method) spti_method_destroy(t->method);
    spt_lr_schedule_destroy(t->sched);
    spt_method_config_destroy(t->cfg);
    spti_free(t->weights);
    spti_model_step_state_free(&t->undo);
    spti_free(t->xbuf);
    spti_free(t->ybuf);
    spti_free(t->cbuf);
    spti_model_step_state_free(&t->dp_running);
    spti_free(t);
}

int spti_trainer_reserve_batch(spti_trainer *t, int64_t floats, int64_t n) {
    if (floats > t->xcap) {
        float *x = spti_alloc_or_fail(floats, sizeof *x, "trainer: batch buffer");
        if (!x) return SPT_ERR_NOMEM;
        spti_free(t->xbuf);
        t->xbuf = x;
        t->xcap = floats;
    }
    if (n > t->ycap) {
        int32_t *y = spti_alloc_or_fail(n, sizeof *y, "trainer: label buffer");
        if (!y) return SPT_ERR_NOMEM;
        spti_free(t->ybuf);
        t->ybuf = y;
        t->ycap = n;
    }
    return SPT_OK;
}

int spti_trainer_check_data(const spti_trainer *t, const spt_dataset *ds, int64_t bs, const char *func,
                            int64_t *floats) {
    int64_t need = spti_shape_size(t->model->in_shape);
    if (ds->feat != need)
        return spti_fail(SPT_ERR_SIZE, "%s: examples of %lld x %lld x %lld = %lld values do not fit the model's input of %lld",
                         func, (long long)ds->c, (long long)ds->h, (long long)ds->w, (long long)ds->feat,
                         (long long)need);
    if (!spti_mul_i64(bs, ds->feat, floats))
        return spti_fail(SPT_ERR_SIZE, "%s: a batch of %lld examples overflows", func, (long long)bs);
    return SPT_OK;
}
