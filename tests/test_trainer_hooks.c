/* The trainer drives a method through its hooks in the documented order
 * (sparsity/method.h): a test-only method records every call and checks
 * what it sees: gradients present after backward, values not yet updated
 * before the optimizer, updated (or not, when it asked to skip) after. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "sparsity/method.h"
#include "test_support.h"
#include "train/trainer.h"

enum { F = 6, K = 3, HID = 10, BATCH = 16, MAXV = 1024 };

typedef struct probe {
    char log[512];
    spti_model *model;
    float snap[MAXV];      /* every param value at begin_step */
    int64_t skip_step;     /* after_backward asks to skip the optimizer here (-1 never) */
    int64_t update_step;   /* after_step reports a topology change here (-1 never) */
    int64_t fail_begin;    /* begin_step fails here (-1 never) */
    int64_t dense_step;    /* begin_step asks for the first weight's dense gradient here */
    int init_computes;     /* grad-source passes init runs */
    bool reset_same;       /* after reset, the source gave the first batch again */
    bool init_saw_source, init_grads_nonzero;
    float init_loss;
    bool grads_seen[16], unchanged_at_backward[16], moved_at_step[16], dense_ok[16];
    int end_round_calls;
    int fail_end_round;
    int sleep_init_ms, sleep_hook_ms, sleep_round_ms; /* time the hooks take (test_time_split) */
} probe;

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void logf_(probe *p, const char *ev, int64_t step) {
    size_t len = strlen(p->log);
    snprintf(p->log + len, sizeof p->log - len, "%s%s%lld", len ? " " : "", ev, (long long)step);
}

static int64_t take_snapshot(const spti_model *m, float *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *q = m->params[i];
        if (out) memcpy(out + n, q->value, (size_t)q->n * sizeof *out);
        n += q->n;
    }
    return n;
}

static bool values_equal(const spti_model *m, const float *snap) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *q = m->params[i];
        if (memcmp(snap + n, q->value, (size_t)q->n * sizeof *snap) != 0) return false;
        n += q->n;
    }
    return true;
}

static bool any_grad(const spti_model *m) {
    for (int64_t i = 0; i < m->n_params; i++)
        for (int64_t k = 0; k < m->params[i]->n; k++)
            if (m->params[i]->grad[k] != 0.0f) return true;
    return false;
}

static int p_init(spti_method *m, spti_param **weights, int n, spti_grad_source *grads) {
    probe *p = m->state;
    assert_ptr_equal(weights, m->weights);
    assert_int_equal(n, m->n_weights);
    p->init_saw_source = grads != NULL;
    sleep_ms(p->sleep_init_ms);
    for (int i = 0; grads && i < p->init_computes; i++) {
        float loss = -1.0f;
        assert_int_equal(grads->compute(grads->ctx, &loss), SPT_OK);
        p->init_loss = loss;
        p->init_grads_nonzero = any_grad(p->model);
    }
    if (grads && grads->reset) { /* restart: the first batch comes again */
        float first = 0.0f, again = 1.0f;
        assert_int_equal(grads->reset(grads->ctx), SPT_OK);
        assert_int_equal(grads->compute(grads->ctx, &first), SPT_OK);
        assert_int_equal(grads->reset(grads->ctx), SPT_OK);
        assert_int_equal(grads->compute(grads->ctx, &again), SPT_OK);
        p->reset_same = first == again;
    }
    logf_(p, "I", 0);
    return SPT_OK;
}

static int p_begin(spti_method *m, int64_t step) {
    probe *p = m->state;
    if (step == p->fail_begin) return spti_fail(SPT_ERR_INTERNAL, "probe: begin_step fails at %lld", (long long)step);
    logf_(p, "B", step);
    take_snapshot(p->model, p->snap);
    m->weights[0]->request.dense_grad = step == p->dense_step;
    return SPT_OK;
}

static int p_after_backward(spti_method *m, int64_t step, bool *skip) {
    probe *p = m->state;
    logf_(p, "A", step);
    p->grads_seen[step] = any_grad(p->model);
    p->unchanged_at_backward[step] = values_equal(p->model, p->snap);
    if (m->weights[0]->request.dense_grad) {
        const spti_param *w = m->weights[0];
        bool ok = w->result.dense_grad != NULL;
        for (int64_t k = 0; ok && k < w->n; k++) ok = w->result.dense_grad[k] == w->grad[k]; /* DENSE: the same gradient */
        p->dense_ok[step] = ok;
    }
    *skip = step == p->skip_step;
    return SPT_OK;
}

static int p_after_step(spti_method *m, int64_t step) {
    probe *p = m->state;
    logf_(p, "S", step);
    sleep_ms(p->sleep_hook_ms);
    p->moved_at_step[step] = !values_equal(p->model, p->snap);
    m->weights[0]->request.dense_grad = false;
    if (step == p->update_step) m->topology_updates++;
    return SPT_OK;
}

static int p_end_round(spti_method *m, int64_t step) {
    probe *p = m->state;
    if (p->fail_end_round) return spti_fail(SPT_ERR_INTERNAL, "probe: end_round fails");
    logf_(p, "R", step);
    sleep_ms(p->sleep_round_ms);
    p->end_round_calls++;
    return SPT_OK;
}

static const spti_method_ops PROBE_OPS = {
    .name = "probe",
    .init = p_init,
    .begin_step = p_begin,
    .after_backward = p_after_backward,
    .after_step = p_after_step,
    .end_round = p_end_round,
};

typedef struct fixture {
    spt_model *model;
    spt_optimizer *opt;
    spti_method method;
    probe probe;
    spti_param **weights;
    int n_weights;
    float x[F * BATCH];
    int32_t y[BATCH];
} fixture;

static void fixture_init(fixture *f, double momentum) {
    memset(f, 0, sizeof *f);
    int64_t widths[3] = {F, HID, K};
    assert_status(spt_model_create_mlp(widths, 3, 21, &f->model), SPT_OK);
    assert_true(take_snapshot(f->model, NULL) <= MAXV);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &f->opt), SPT_OK);
    assert_status(spt_optimizer_set_param(f->opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(f->opt, SPT_OPT_MOMENTUM, momentum), SPT_OK);
    assert_status(spti_trainer_collect_weights(f->model, &f->weights, &f->n_weights), SPT_OK);
    f->probe = (probe){.model = f->model, .skip_step = -1, .update_step = -1, .fail_begin = -1, .dense_step = -1};
    f->method = (spti_method){.ops = &PROBE_OPS, .weights = f->weights, .n_weights = f->n_weights,
                              .state = &f->probe};
    spti_rng r;
    spti_rng_seed(&r, 5);
    for (int i = 0; i < F * BATCH; i++) f->x[i] = spti_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) f->y[i] = (int32_t)spti_rng_below(&r, K);
}

static void fixture_free(fixture *f) {
    spti_free(f->weights);
    spt_optimizer_destroy(f->opt);
    spt_model_destroy(f->model);
}

static void test_hook_order_and_skip(void **state) {
    (void)state;
    fixture *f = malloc(sizeof *f);
    fixture_init(f, 0.0);
    f->probe.skip_step = 1;
    f->probe.update_step = 2;
    f->probe.dense_step = 2;
    spti_trainer *t = NULL;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, NULL, &f->method, false, 10, 1, &t), SPT_OK);
    assert_string_equal(f->probe.log, "I0"); /* a method that starts sparse: init at creation */
    assert_false(f->probe.init_saw_source);
    int upd[3];
    for (int s = 0; s < 3; s++) {
        assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_last_update(t, &upd[s], NULL), SPT_OK);
    }
    assert_string_equal(f->probe.log, "I0 B0 A0 S0 B1 A1 S1 B2 A2 S2");
    for (int s = 0; s < 3; s++) {
        assert_true(f->probe.grads_seen[s]);
        assert_true(f->probe.unchanged_at_backward[s]);
    }
    assert_true(f->probe.moved_at_step[0]);
    assert_false(f->probe.moved_at_step[1]); /* skipped: the parameters did not move */
    assert_true(f->probe.moved_at_step[2]);
    assert_true(f->probe.dense_ok[2]);
    assert_int_equal(t->opt.step, 2); /* the optimizer counts only the updates it made */
    assert_int_equal(t->step, 3);
    assert_int_equal(upd[0], 0);
    assert_int_equal(upd[1], 0);
    assert_int_equal(upd[2], 1);
    int64_t count;
    assert_status(spt_trainer_last_update(t, NULL, &count), SPT_OK);
    assert_int_equal(count, 1);

    /* A failing hook before the update: nothing moves, the step stays. */
    f->probe.fail_begin = 3;
    float before[MAXV];
    take_snapshot(f->model, before);
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_ERR_INTERNAL);
    assert_non_null(strstr(spt_last_error(), "spt_trainer_step"));
    assert_true(values_equal(f->model, before));
    assert_int_equal(t->step, 3);
    f->probe.fail_begin = -1;
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_int_equal(t->step, 4);
    double ss, ms;
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ms > 0.0 && ms <= ss);
    spt_trainer_destroy(t);
    fixture_free(f);
    free(f);
}

static void test_init_on_first_step(void **state) {
    (void)state;
    fixture *f = malloc(sizeof *f);
    fixture_init(f, 0.0);
    f->probe.init_computes = 2;
    spti_trainer *t = NULL;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, NULL, &f->method, true, 10, 1, &t), SPT_OK);
    assert_string_equal(f->probe.log, ""); /* waits for data */
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_string_equal(f->probe.log, "I0 B0 A0 S0");
    assert_true(f->probe.init_saw_source);
    assert_true(f->probe.init_grads_nonzero);
    assert_true(f->probe.init_loss > 0.0f && isfinite(f->probe.init_loss));
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_string_equal(f->probe.log, "I0 B0 A0 S0 B1 A1 S1"); /* once only */
    spt_trainer_destroy(t);
    fixture_free(f);
    free(f);
}

static void test_prepare_restores_batcher(void **state) {
    (void)state;
    fixture *f = malloc(sizeof *f);
    fixture_init(f, 0.0);
    f->probe.init_computes = 5; /* more batches than an epoch holds */
    enum { N = 40 };
    float img[N * F];
    int32_t lab[N];
    spti_rng r;
    spti_rng_seed(&r, 9);
    for (int i = 0; i < N * F; i++) img[i] = spti_rng_normal(&r);
    for (int i = 0; i < N; i++) lab[i] = (int32_t)spti_rng_below(&r, K);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, N, F, 1, 1, K, &ds), SPT_OK);
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, 16, SPT_BATCH_SHUFFLE, 3, &b), SPT_OK);
    int64_t B;
    float xb[F * 16];
    int32_t yb[16];
    assert_status(spt_batcher_next(b, xb, F * 16, yb, 16, &B), SPT_OK); /* mid-epoch */
    spti_trainer *t = NULL;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, NULL, &f->method, true, 10, 1, &t), SPT_OK);
    assert_status(spt_trainer_prepare(t, b), SPT_OK);
    assert_string_equal(f->probe.log, "I0");
    assert_true(f->probe.init_grads_nonzero);
    assert_true(f->probe.reset_same);
    int64_t epoch, pos;
    assert_status(spt_batcher_get_state(b, &epoch, &pos, NULL), SPT_OK);
    assert_int_equal(epoch, 0);
    assert_int_equal(pos, 16);
    assert_status(spt_trainer_prepare(t, b), SPT_OK); /* already initialised: nothing */
    assert_string_equal(f->probe.log, "I0");
    /* The epoch continues where the batcher stood: 2 batches (16 + 8). */
    double loss;
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, &loss, NULL), SPT_OK);
    assert_string_equal(f->probe.log, "I0 B0 A0 S0 B1 A1 S1");
    spt_trainer_destroy(t);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    fixture_free(f);
    free(f);
}

static void test_end_round(void **state) {
    (void)state;
    fixture *f = malloc(sizeof *f);
    fixture_init(f, 0.9);
    spt_lr_schedule *s = NULL;
    assert_status(spt_lr_schedule_create(SPT_LR_STEP, &s), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, 0.1), SPT_OK);
    int64_t ms[1] = {2};
    assert_status(spt_lr_schedule_set_milestones(s, ms, 1), SPT_OK);
    spti_trainer *t = NULL;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, s, &f->method, false, 10, 1, &t), SPT_OK);
    for (int i = 0; i < 3; i++) assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    double lr;
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(fabs(lr - 0.01) < 1e-15);
    const spti_param *w = f->model->params[0];
    bool any = false;
    for (int64_t k = 0; k < w->n; k++) any |= w->opt.slot[0][k] != 0.0f;
    assert_true(any);

    f->probe.fail_end_round = 1; /* a failing hook resets nothing */
    assert_status(spt_trainer_end_round(t), SPT_ERR_INTERNAL);
    assert_int_equal(t->opt.step, 3);
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(fabs(lr - 0.01) < 1e-15);
    f->probe.fail_end_round = 0;

    assert_status(spt_trainer_end_round(t), SPT_OK);
    assert_int_equal(f->probe.end_round_calls, 1);
    assert_non_null(strstr(f->probe.log, "S2 R3"));
    assert_int_equal(t->opt.step, 0);
    for (int64_t i = 0; i < f->model->n_params; i++) {
        const spti_param *p = f->model->params[i];
        for (int64_t k = 0; k < p->n; k++) assert_true(p->opt.slot[0][k] == 0.0f);
    }
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(lr == 0.1); /* the schedule restarts */
    int64_t step, round;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_status(spt_trainer_get_round(t, &round), SPT_OK);
    assert_int_equal(step, 3);
    assert_int_equal(round, 1);
    for (int i = 0; i < 2; i++) assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(fabs(lr - 0.01) < 1e-15); /* milestone 2 of the new round */
    assert_non_null(strstr(f->probe.log, "R3 B3 A3 S3 B4"));
    spt_trainer_destroy(t);

    /* Dense training (no method) may end rounds too: only the resets. */
    assert_status(spti_trainer_create_with_method(f->model, f->opt, s, NULL, false, 10, 1, &t), SPT_OK);
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_status(spt_trainer_end_round(t), SPT_OK);
    assert_int_equal(t->opt.step, 0);
    spt_trainer_destroy(t);
    spt_lr_schedule_destroy(s);
    fixture_free(f);
    free(f);
}

/* Each time figure counts what its name says: the method's initialisation
 * (at creation, or deferred to the first step) is outside the steps' time;
 * the per-step hooks are a part of it; end-of-round work is outside it.
 * The hooks sleep known times so that the split can be checked. */
static void test_time_split(void **state) {
    (void)state;
    fixture *f = malloc(sizeof *f);
    fixture_init(f, 0.0);
    f->probe.sleep_init_ms = 40;
    spti_trainer *t = NULL;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, NULL, &f->method, false, 10, 1, &t), SPT_OK);
    double init, step, hook, round, ss, ms;
    assert_status(spt_trainer_session_times(t, &init, &step, &hook, &round), SPT_OK);
    assert_true(init >= 0.04);
    assert_true(step == 0.0 && hook == 0.0 && round == 0.0);
    /* Before any step the run has spent nothing in steps or their hooks
     * (the initial topology is not "mask update" time). */
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ss == 0.0 && ms == 0.0);

    f->probe.sleep_hook_ms = 5;
    for (int i = 0; i < 3; i++) assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    double init2;
    assert_status(spt_trainer_session_times(t, &init2, &step, &hook, &round), SPT_OK);
    assert_true(init2 == init);
    assert_true(hook >= 0.015 && hook <= step);
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ss == step && ms == hook);

    f->probe.sleep_round_ms = 20;
    assert_status(spt_trainer_end_round(t), SPT_OK);
    double step2, hook2;
    assert_status(spt_trainer_session_times(t, NULL, &step2, &hook2, &round), SPT_OK);
    assert_true(round >= 0.02);
    assert_true(step2 == step && hook2 == hook);
    int64_t n_upd, n_steps;
    double upd_s;
    assert_status(spt_trainer_update_times(t, &upd_s, &n_upd, &n_steps), SPT_OK);
    assert_int_equal(n_steps, 3);
    assert_int_equal(n_upd, 0);
    assert_true(upd_s == 0.0);
    assert_status(spt_trainer_session_times(NULL, &init, NULL, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_session_times(t, NULL, NULL, NULL, NULL), SPT_OK);
    spt_trainer_destroy(t);

    /* Deferred to the first step (a method that scores on data): counted as
     * initialisation, not as the step's time. */
    memset(f->probe.log, 0, sizeof f->probe.log);
    f->probe.sleep_init_ms = 100;
    f->probe.sleep_hook_ms = 0;
    f->probe.sleep_round_ms = 0;
    assert_status(spti_trainer_create_with_method(f->model, f->opt, NULL, &f->method, true, 10, 1, &t), SPT_OK);
    assert_status(spt_trainer_session_times(t, &init, NULL, NULL, NULL), SPT_OK);
    assert_true(init == 0.0);
    assert_status(spt_trainer_step(t, f->x, f->y, BATCH, NULL, NULL), SPT_OK);
    assert_string_equal(f->probe.log, "I0 B0 A0 S0");
    assert_status(spt_trainer_session_times(t, &init, &step, &hook, NULL), SPT_OK);
    assert_true(init >= 0.1);
    assert_true(step < 0.1 && hook <= step);
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ss < 0.1 && ms <= ss);
    spt_trainer_destroy(t);
    fixture_free(f);
    free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_order_and_skip),
        cmocka_unit_test(test_init_on_first_step),
        cmocka_unit_test(test_prepare_restores_batcher),
        cmocka_unit_test(test_end_round),
        cmocka_unit_test(test_time_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
