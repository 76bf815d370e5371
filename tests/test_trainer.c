/* The trainer over dense training: the loss falls on a separable task,
 * failures change nothing, runs are reproducible, the learning rate follows
 * the schedule, epochs over a batcher, evaluation, getters, NOMEM paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "test_support.h"
#include "train/trainer.h"

static const double PI = 3.14159265358979323846;

enum { F = 8, K = 3, HID = 16, POOL = 512, BATCH = 32 };

/* A separable task: K Gaussian blobs around random centres in F dims.
 * x_fn: F x n (the library's layout), x_nf: n x F (may be NULL). */
static void make_blobs(uint64_t seed, int64_t n, float *x_fn, float *x_nf, int32_t *y) {
    spti_rng r;
    spti_rng_seed(&r, 12345); /* the same centres for every call */
    float centre[K][F];
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) centre[k][f] = 2.0f * (2.0f * spti_rng_uniform(&r) - 1.0f);
    spti_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)spti_rng_below(&r, K);
        y[i] = k;
        for (int f = 0; f < F; f++) {
            float v = centre[k][f] + 0.3f * spti_rng_normal(&r);
            x_fn[f * n + i] = v;
            if (x_nf) x_nf[i * F + f] = v;
        }
    }
}

static spt_model *mlp(uint64_t seed) {
    int64_t widths[3] = {F, HID, K};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 3, seed, &m), SPT_OK);
    return m;
}

static spt_optimizer *sgd(double lr, double momentum) {
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    assert_status(spt_optimizer_set_param(o, SPT_OPT_LR, lr), SPT_OK);
    assert_status(spt_optimizer_set_param(o, SPT_OPT_MOMENTUM, momentum), SPT_OK);
    return o;
}

/* Every parameter value of the model, concatenated (caller frees). */
static float *snapshot(const spti_model *m, int64_t *len) {
    assert_int_equal(spti_model_materialize((spti_model *)m), SPT_OK); /* weights are born without storage */
    int64_t n = 0;
    for (int64_t i = 0; i < m->n_params; i++) n += m->params[i]->n;
    float *s = malloc((size_t)n * sizeof *s);
    assert_non_null(s);
    n = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        memcpy(s + n, m->params[i]->value, (size_t)m->params[i]->n * sizeof *s);
        n += m->params[i]->n;
    }
    *len = n;
    return s;
}

static bool same_params(const spti_model *m, const float *snap, int64_t len) {
    int64_t n2;
    float *now = snapshot(m, &n2);
    bool same = n2 == len && memcmp(now, snap, (size_t)len * sizeof *now) == 0;
    free(now);
    return same;
}

/* Batch b of a pool of POOL examples (F x POOL): columns b*BATCH ... */
static void take_batch(const float *pool_x, const int32_t *pool_y, int64_t b, float *x, int32_t *y) {
    int64_t start = (b * BATCH) % POOL;
    for (int64_t i = 0; i < BATCH; i++) {
        y[i] = pool_y[start + i];
        for (int f = 0; f < F; f++) x[f * BATCH + i] = pool_x[f * POOL + start + i];
    }
}

static void test_dense_loss_falls(void **state) {
    (void)state;
    static float px[F * POOL], x[F * BATCH];
    static int32_t py[POOL], y[BATCH];
    make_blobs(1, POOL, px, NULL, py);
    spt_model *m = mlp(7);
    spt_optimizer *o = sgd(0.05, 0.9);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, NULL, 300, 3, &t), SPT_OK);
    double first = 0.0, last = 0.0;
    for (int64_t s = 0; s < 300; s++) {
        take_batch(px, py, s, x, y);
        double loss;
        int64_t correct;
        assert_status(spt_trainer_step(t, x, y, BATCH, &loss, &correct), SPT_OK);
        assert_true(correct >= 0 && correct <= BATCH);
        if (s < 10) first += loss / 10.0;
        if (s >= 290) last += loss / 10.0;
    }
    assert_true(last < 0.2 * first);
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 300);
    /* Held-out examples of the same task. */
    static float tx[F * 256];
    static int32_t ty[256];
    make_blobs(2, 256, tx, NULL, ty);
    int64_t correct;
    assert_status(spt_model_evaluate(m, tx, ty, 256, NULL, &correct), SPT_OK);
    assert_true(correct >= 240);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

static void test_nonfinite_changes_nothing(void **state) {
    (void)state;
    static float px[F * POOL], x[F * BATCH];
    static int32_t py[POOL], y[BATCH];
    make_blobs(3, POOL, px, NULL, py);
    spt_model *m = mlp(8);
    spt_optimizer *o = sgd(0.05, 0.9);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, NULL, 10, 1, &t), SPT_OK);
    for (int s = 0; s < 3; s++) {
        take_batch(px, py, s, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    int64_t len;
    float *before = snapshot(m, &len);
    float *slot_before = malloc((size_t)m->params[0]->n * sizeof(float));
    memcpy(slot_before, m->params[0]->opt.slot[0], (size_t)m->params[0]->n * sizeof(float));
    take_batch(px, py, 3, x, y);
    x[5 * BATCH + 7] = NAN;
    double loss = -1.0;
    assert_status(spt_trainer_step(t, x, y, BATCH, &loss, NULL), SPT_ERR_NONFINITE);
    assert_non_null(strstr(spt_last_error(), "spt_trainer_step"));
    assert_non_null(strstr(spt_last_error(), "input"));
    assert_true(loss == -1.0);
    assert_true(same_params(m, before, len));
    assert_memory_equal(slot_before, m->params[0]->opt.slot[0], (size_t)m->params[0]->n * sizeof(float));
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 3);
    assert_int_equal(t->opt.step, 3);
    /* An Inf works the same way; a finite batch afterwards trains again. */
    x[5 * BATCH + 7] = INFINITY;
    assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_ERR_NONFINITE);
    assert_true(same_params(m, before, len));
    x[5 * BATCH + 7] = 0.5f;
    assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    assert_false(same_params(m, before, len));
    free(before);
    free(slot_before);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

/* n steps of Adam with dropout from the given seeds; returns the params. */
static float *run_seeded(uint64_t model_seed, uint64_t trainer_seed, int n, int64_t *len) {
    static float px[F * POOL], x[F * BATCH];
    static int32_t py[POOL], y[BATCH];
    make_blobs(4, POOL, px, NULL, py);
    spt_model *m = mlp(model_seed);
    assert_status(spt_model_set_dropout(m, 0.25), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_ADAM, &o), SPT_OK);
    spt_lr_schedule *s = NULL;
    assert_status(spt_lr_schedule_create(SPT_LR_COSINE, &s), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, 0.01), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, s, NULL, n, trainer_seed, &t), SPT_OK);
    for (int i = 0; i < n; i++) {
        take_batch(px, py, i, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    float *p = snapshot(m, len);
    spt_trainer_destroy(t);
    spt_lr_schedule_destroy(s);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
    return p;
}

static void test_same_seed_same_bytes(void **state) {
    (void)state;
    int64_t la, lb, lc;
    float *a = run_seeded(5, 11, 25, &la);
    float *b = run_seeded(5, 11, 25, &lb);
    float *c = run_seeded(5, 12, 25, &lc); /* another dropout stream */
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, (size_t)la * sizeof *a);
    assert_int_equal(la, lc);
    assert_true(memcmp(a, c, (size_t)la * sizeof *a) != 0);
    free(a);
    free(b);
    free(c);
}

static void test_lr_follows_schedule(void **state) {
    (void)state;
    static float px[F * POOL], x[F * BATCH];
    static int32_t py[POOL], y[BATCH];
    make_blobs(5, POOL, px, NULL, py);
    spt_model *m = mlp(9);
    spt_optimizer *o = sgd(1.0, 0.0); /* the schedule replaces this lr */
    spt_lr_schedule *s = NULL;
    assert_status(spt_lr_schedule_create(SPT_LR_STEP, &s), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, 0.2), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_GAMMA, 0.5), SPT_OK);
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_WARMUP_STEPS, 2), SPT_OK);
    int64_t ms[2] = {4, 6};
    assert_status(spt_lr_schedule_set_milestones(s, ms, 2), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, s, NULL, 8, 1, &t), SPT_OK);
    /* Later changes to the caller's schedule do not reach the trainer. */
    assert_status(spt_lr_schedule_set_param(s, SPT_LR_BASE, 5.0), SPT_OK);
    const double expect[8] = {0.0, 0.1, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05};
    for (int i = 0; i < 8; i++) {
        double lr;
        assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
        assert_true(fabs(lr - expect[i]) < 1e-12);
        int64_t len;
        float *before = snapshot(m, &len);
        take_batch(px, py, i, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
        /* Plain SGD: w_new = w_old - lr * g, with g left in grad by the step. */
        int64_t off = 0;
        double worst = 0.0;
        for (int64_t k = 0; k < m->n_params; k++) {
            const spti_param *p = m->params[k];
            for (int64_t j = 0; j < p->n; j++) {
                double want = (double)before[off + j] - expect[i] * (double)p->grad[j];
                double err = fabs((double)p->value[j] - want);
                if (err > worst) worst = err;
            }
            off += p->n;
        }
        assert_true(worst < 1e-6);
        free(before);
    }
    spt_trainer_destroy(t);
    /* A cosine schedule without its total takes the run's. */
    spt_lr_schedule *c = NULL;
    assert_status(spt_lr_schedule_create(SPT_LR_COSINE, &c), SPT_OK);
    assert_status(spt_lr_schedule_set_param(c, SPT_LR_BASE, 0.4), SPT_OK);
    assert_status(spt_trainer_create(m, o, c, NULL, 4, 1, &t), SPT_OK);
    const double cexp[5] = {0.4, 0.2 * (1.0 + cos(PI / 4.0)), 0.2, 0.2 * (1.0 + cos(3.0 * PI / 4.0)), 0.0};
    for (int i = 0; i < 5; i++) {
        double lr;
        assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
        assert_true(fabs(lr - cexp[i]) < 1e-12);
        take_batch(px, py, i, x, y);
        /* The fifth step is past the run's total: refused (test_step_past_total). */
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), i < 4 ? SPT_OK : SPT_ERR_STATE);
    }
    spt_trainer_destroy(t);
    /* Without a schedule: the optimizer's lr. */
    assert_status(spt_trainer_create(m, o, NULL, NULL, 4, 1, &t), SPT_OK);
    double lr;
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(lr == 1.0);
    spt_trainer_destroy(t);
    spt_lr_schedule_destroy(c);
    spt_lr_schedule_destroy(s);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

/* Steps past total_steps are refused with SPT_ERR_STATE and change nothing:
 * no weight, no topology, no step count, no batch drawn; the learning rate
 * of the end of the run stays readable. */
static void test_step_past_total(void **state) {
    (void)state;
    enum { TOTAL = 5 };
    float px[F * POOL], x[F * BATCH];
    int32_t py[POOL], y[BATCH];
    make_blobs(5, POOL, px, NULL, py);
    spt_model *m = mlp(3);
    spt_optimizer *o = sgd(0.1, 0.9);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_SET, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 1), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_T_END_FRACTION, 1.0), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, TOTAL, 1, &t), SPT_OK);
    for (int i = 0; i < TOTAL; i++) {
        take_batch(px, py, i, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    int64_t len, updates0, updates1, step;
    float *before = snapshot(m, &len);
    assert_status(spt_trainer_last_update(t, NULL, &updates0), SPT_OK);
    for (int i = 0; i < 3; i++) {
        take_batch(px, py, TOTAL + i, x, y);
        double loss = -1.0;
        assert_status(spt_trainer_step(t, x, y, BATCH, &loss, NULL), SPT_ERR_STATE);
        assert_non_null(strstr(spt_last_error(), "spt_trainer_step"));
        assert_non_null(strstr(spt_last_error(), "total_steps = 5"));
        assert_true(loss == -1.0);
    }
    assert_true(same_params(m, before, len));
    assert_status(spt_trainer_last_update(t, NULL, &updates1), SPT_OK);
    assert_int_equal(updates1, updates0);
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, TOTAL);
    double lr;
    assert_status(spt_trainer_get_lr(t, &lr), SPT_OK);
    assert_true(lr == 0.1);
    /* An epoch over a finished run: refused before a batch is drawn. */
    spt_dataset *ds = NULL;
    float xnf[POOL * F];
    make_blobs(5, POOL, px, xnf, py);
    assert_status(spt_dataset_from_float(xnf, py, POOL, F, 1, 1, K, &ds), SPT_OK);
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, BATCH, SPT_BATCH_SHUFFLE, 9, &b), SPT_OK);
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, NULL, NULL), SPT_ERR_STATE);
    assert_non_null(strstr(spt_last_error(), "spt_trainer_train_epoch"));
    int64_t epoch, pos;
    assert_status(spt_batcher_get_state(b, &epoch, &pos, NULL), SPT_OK);
    assert_true(epoch == 0 && pos == 0);
    assert_true(same_params(m, before, len));
    spt_trainer_destroy(t);
    /* A run that ends inside an epoch: the epoch trains up to the end and
     * then refuses; the batcher stays at the first batch not trained. */
    assert_status(spt_trainer_create(m, o, NULL, NULL, 3, 1, &t), SPT_OK);
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, NULL, NULL), SPT_ERR_STATE);
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 3);
    assert_status(spt_batcher_get_state(b, &epoch, &pos, NULL), SPT_OK);
    assert_true(epoch == 0 && pos == 3 * BATCH);
    spt_trainer_destroy(t);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    free(before);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

/* One trainer per model at a time: a second one is refused with
 * SPT_ERR_STATE and the first keeps its sparsity and its weights; once the
 * first is destroyed a new trainer may be created over the weights as the
 * first left them. */
static void test_second_trainer_refused(void **state) {
    (void)state;
    float px[F * POOL], x[F * BATCH];
    int32_t py[POOL], y[BATCH];
    make_blobs(6, POOL, px, NULL, py);
    spt_model *m = mlp(4);
    spt_optimizer *o = sgd(0.05, 0.0);
    spt_method_config *c80 = NULL, *c50 = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &c80), SPT_OK);
    assert_status(spt_method_config_set(c80, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &c50), SPT_OK);
    assert_status(spt_method_config_set(c50, SPT_MP_SPARSITY, 0.5), SPT_OK);
    spt_trainer *a = NULL, *b = (spt_trainer *)1;
    assert_status(spt_trainer_create(m, o, NULL, c80, 20, 1, &a), SPT_OK);
    for (int i = 0; i < 3; i++) {
        take_batch(px, py, i, x, y);
        assert_status(spt_trainer_step(a, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    double sa0, sa1;
    int64_t len;
    assert_status(spt_trainer_sparsity(a, &sa0, NULL, NULL), SPT_OK);
    float *before = snapshot(m, &len);
    assert_status(spt_trainer_create(m, o, NULL, c50, 20, 2, &b), SPT_ERR_STATE);
    assert_null(b);
    assert_non_null(strstr(spt_last_error(), "already has a trainer"));
    assert_status(spt_trainer_create(m, o, NULL, NULL, 20, 2, &b), SPT_ERR_STATE); /* dense too */
    assert_null(b);
    assert_status(spt_trainer_sparsity(a, &sa1, NULL, NULL), SPT_OK);
    assert_true(sa1 == sa0);
    assert_true(same_params(m, before, len));
    take_batch(px, py, 3, x, y);
    assert_status(spt_trainer_step(a, x, y, BATCH, NULL, NULL), SPT_OK); /* the first trains on */
    spt_trainer_destroy(a);
    /* Detached: a new trainer (here static at 50%) starts from the weights
     * the first left. */
    free(before);
    before = snapshot(m, &len);
    assert_status(spt_trainer_create(m, o, NULL, c50, 20, 2, &b), SPT_OK);
    double sb;
    assert_status(spt_trainer_sparsity(b, &sb, NULL, NULL), SPT_OK);
    assert_true(fabs(sb - 0.5) < 0.02);
    assert_true(sb < sa0);
    for (int i = 0; i < 3; i++) {
        take_batch(px, py, i, x, y);
        assert_status(spt_trainer_step(b, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    spt_trainer_destroy(b);
    assert_status(spt_trainer_create(m, o, NULL, NULL, 20, 2, &b), SPT_OK);
    spt_trainer_destroy(b);
    free(before);
    spt_method_config_destroy(c80);
    spt_method_config_destroy(c50);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    static float x[F * BATCH];
    static int32_t y[BATCH];
    make_blobs(6, BATCH, x, NULL, y);
    spt_model *m = mlp(10);
    spt_optimizer *o = sgd(0.1, 0.9);
    spt_trainer *t = (spt_trainer *)1;
    assert_status(spt_trainer_create(NULL, o, NULL, NULL, 10, 1, &t), SPT_ERR_NULL);
    assert_null(t);
    assert_status(spt_trainer_create(m, NULL, NULL, NULL, 10, 1, &t), SPT_ERR_NULL);
    assert_status(spt_trainer_create(m, o, NULL, NULL, 10, 1, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_create(m, o, NULL, NULL, 0, 1, &t), SPT_ERR_INVALID);
    assert_status(spt_trainer_create(m, o, NULL, NULL, -5, 1, &t), SPT_ERR_INVALID);
    assert_null(t);
    spt_lr_schedule *bad = NULL; /* cosine total not above its warm-up */
    assert_status(spt_lr_schedule_create(SPT_LR_COSINE, &bad), SPT_OK);
    assert_status(spt_lr_schedule_set_param(bad, SPT_LR_WARMUP_STEPS, 20), SPT_OK);
    assert_status(spt_trainer_create(m, o, bad, NULL, 10, 1, &t), SPT_ERR_STATE);
    assert_null(t);
    spt_lr_schedule_destroy(bad);

    assert_status(spt_trainer_create(m, o, NULL, NULL, 10, 1, &t), SPT_OK);
    int64_t len;
    float *before = snapshot(m, &len);
    spti_rng rng_before = m->rng;
    assert_status(spt_trainer_step(NULL, x, y, BATCH, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_step(t, NULL, y, BATCH, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_step(t, x, NULL, BATCH, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_step(t, x, y, 0, NULL, NULL), SPT_ERR_SIZE);
    assert_status(spt_trainer_step(t, x, y, -3, NULL, NULL), SPT_ERR_SIZE);
    assert_status(spt_trainer_step(t, x, y, INT64_MAX, NULL, NULL), SPT_ERR_SIZE);
    y[4] = K;
    assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_ERR_INVALID);
    y[4] = -1;
    assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_ERR_INVALID);
    y[4] = 0;
    assert_true(same_params(m, before, len));
    assert_memory_equal(&rng_before, &m->rng, sizeof rng_before);
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 0);
    assert_int_equal(t->opt.step, 0);

    /* Getters and the other entry points. */
    assert_status(spt_trainer_get_step(NULL, &step), SPT_ERR_NULL);
    assert_status(spt_trainer_get_step(t, NULL), SPT_ERR_NULL);
    double d;
    assert_status(spt_trainer_get_lr(NULL, &d), SPT_ERR_NULL);
    assert_status(spt_trainer_sparsity(NULL, &d, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_layer_density(t, 2, NULL, NULL, NULL, &d), SPT_ERR_INVALID);
    assert_status(spt_trainer_layer_density(t, -1, NULL, NULL, NULL, &d), SPT_ERR_INVALID);
    assert_status(spt_trainer_flops(NULL, &d, NULL, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_times(NULL, &d, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_last_update(NULL, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_end_round(NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_train_epoch(NULL, NULL, NULL, NULL, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_train_epoch(t, NULL, NULL, NULL, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_prepare(t, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_evaluate(t, NULL, 4, &d, &d), SPT_ERR_NULL);

    /* Data of the wrong shape. */
    static float img[5 * 9];
    int32_t lab[5] = {0, 1, 2, 0, 1};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(img, lab, 5, 1, 3, 3, K, &ds), SPT_OK);
    assert_status(spt_trainer_evaluate(t, ds, 4, &d, &d), SPT_ERR_SIZE);
    assert_status(spt_trainer_evaluate(t, ds, 0, &d, &d), SPT_ERR_SIZE);
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, 2, 0, 1, &b), SPT_OK);
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, &d, &d), SPT_ERR_SIZE);
    assert_true(same_params(m, before, len));
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    free(before);
    spt_trainer_destroy(t);
    spt_trainer_destroy(NULL);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

typedef struct progress_log {
    int calls;
    int64_t steps[16], index[16], batches;
    double loss[16];
    int stop_at; /* batch index whose callback asks to stop, -1 never */
} progress_log;

static int on_progress(void *user, int64_t step, int64_t batch_index, int64_t batches, double loss, double acc) {
    progress_log *p = user;
    assert_true(p->calls < 16);
    assert_true(acc >= 0.0 && acc <= 1.0);
    p->steps[p->calls] = step;
    p->index[p->calls] = batch_index;
    p->loss[p->calls] = loss;
    p->batches = batches;
    p->calls++;
    return batch_index == p->stop_at;
}

static void test_epoch_over_batcher(void **state) {
    (void)state;
    enum { N = 100 };
    static float fn[F * N], nf[N * F];
    static int32_t y[N];
    make_blobs(7, N, fn, nf, y);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(nf, y, N, F, 1, 1, K, &ds), SPT_OK);
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, BATCH, SPT_BATCH_SHUFFLE, 9, &b), SPT_OK);
    spt_model *m = mlp(11);
    spt_optimizer *o = sgd(0.05, 0.9);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, NULL, 40 * 4, 1, &t), SPT_OK);

    progress_log log = {.stop_at = -1};
    double mean_loss, acc;
    assert_status(spt_trainer_train_epoch(t, b, on_progress, &log, &mean_loss, &acc), SPT_OK);
    assert_int_equal(log.calls, 4);
    assert_int_equal(log.batches, 4);
    const int64_t sizes[4] = {32, 32, 32, 4};
    double weighted = 0.0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(log.index[i], i);
        assert_int_equal(log.steps[i], i + 1);
        weighted += log.loss[i] * (double)sizes[i];
    }
    assert_true(fabs(mean_loss - weighted / N) < 1e-12);
    int64_t epoch, pos;
    assert_status(spt_batcher_get_state(b, &epoch, &pos, NULL), SPT_OK);
    assert_int_equal(epoch, 1);
    assert_int_equal(pos, 0);
    const double first_loss = mean_loss;

    for (int e = 1; e < 30; e++) assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, &mean_loss, &acc), SPT_OK);
    assert_true(mean_loss < 0.2 * first_loss);
    assert_true(acc > 0.95);

    /* Cancelling after the second batch leaves the batcher mid-epoch. */
    log = (progress_log){.stop_at = 1};
    assert_status(spt_trainer_train_epoch(t, b, on_progress, &log, NULL, NULL), SPT_OK);
    assert_int_equal(log.calls, 2);
    assert_status(spt_batcher_get_state(b, &epoch, &pos, NULL), SPT_OK);
    assert_int_equal(pos, 64);
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 30 * 4 + 2);
    /* The next call finishes that epoch: two more batches. */
    log = (progress_log){.stop_at = -1};
    assert_status(spt_trainer_train_epoch(t, b, on_progress, &log, NULL, NULL), SPT_OK);
    assert_int_equal(log.calls, 2);
    assert_int_equal(log.index[0], 2);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
}

static void test_evaluate_matches_manual_loop(void **state) {
    (void)state;
    enum { N = 70, EB = 32 };
    static float fn[F * N], nf[N * F], x[F * EB];
    static int32_t y[N], yb[EB];
    make_blobs(8, N, fn, nf, y);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(nf, y, N, F, 1, 1, K, &ds), SPT_OK);
    spt_model *m = mlp(12);
    assert_status(spt_model_set_dropout(m, 0.5), SPT_OK); /* evaluation ignores it */
    spt_optimizer *o = sgd(0.05, 0.0);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, NULL, 10, 1, &t), SPT_OK);
    for (int s = 0; s < 5; s++) assert_status(spt_trainer_step(t, fn, y, N, NULL, NULL), SPT_OK);
    int64_t len;
    float *before = snapshot(m, &len);
    spti_rng rng_before = m->rng;
    double loss, acc;
    assert_status(spt_trainer_evaluate(t, ds, EB, &loss, &acc), SPT_OK);
    assert_true(same_params(m, before, len));
    assert_memory_equal(&rng_before, &m->rng, sizeof rng_before);
    double ref_loss = 0.0;
    int64_t ref_correct = 0;
    for (int64_t start = 0; start < N; start += EB) {
        int64_t B = N - start < EB ? N - start : EB;
        int64_t idx[EB];
        for (int64_t i = 0; i < B; i++) idx[i] = start + i;
        assert_status(spt_dataset_gather(ds, idx, B, x, F * EB, yb), SPT_OK);
        double l;
        int64_t c;
        assert_status(spt_model_evaluate(m, x, yb, B, &l, &c), SPT_OK);
        ref_loss += l * (double)B;
        ref_correct += c;
    }
    assert_true(fabs(loss - ref_loss / N) < 1e-12);
    assert_true(fabs(acc - (double)ref_correct / N) < 1e-12);
    /* One batch larger than the data gives the same numbers up to rounding. */
    double loss2, acc2;
    assert_status(spt_trainer_evaluate(t, ds, 1000, &loss2, &acc2), SPT_OK);
    assert_true(fabs(loss2 - loss) < 1e-5);
    assert_true(acc2 == acc);
    free(before);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
    spt_dataset_destroy(ds);
}

static void test_getters_dense(void **state) {
    (void)state;
    static float x[F * BATCH];
    static int32_t y[BATCH];
    make_blobs(9, BATCH, x, NULL, y);
    spt_model *m = mlp(13);
    spt_optimizer *o = sgd(0.05, 0.0);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_DENSE, &cfg), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 10, 1, &t), SPT_OK);
    spt_method_config_destroy(cfg); /* the trainer keeps its own copy */
    double sp, fd, fs, tr, tm;
    int64_t nnz, dense, n;
    assert_status(spt_trainer_sparsity(t, &sp, &nnz, &dense), SPT_OK);
    assert_true(sp == 0.0);
    assert_int_equal(nnz, F * HID + HID * K);
    assert_int_equal(dense, F * HID + HID * K);
    assert_status(spt_trainer_num_weight_layers(t, &n), SPT_OK);
    assert_int_equal(n, 2);
    const char *name;
    double dens;
    int64_t size;
    assert_status(spt_trainer_layer_density(t, 1, &name, &nnz, &size, &dens), SPT_OK);
    assert_int_equal(size, HID * K);
    assert_int_equal(nnz, HID * K);
    assert_true(dens == 1.0);
    assert_non_null(strstr(name, "weight"));
    assert_status(spt_trainer_flops(t, &fd, &fs, &tr, &tm), SPT_OK);
    assert_true(fd == 2.0 * (F * HID + HID * K));
    assert_true(fs == fd);
    assert_true(tr == 3.0 * fd);
    assert_true(tm == 0.0);
    for (int s = 0; s < 3; s++) assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    assert_status(spt_trainer_flops(t, NULL, NULL, NULL, &tm), SPT_OK);
    assert_true(fabs(tm - 3.0 * fd) < 1e-9);
    double ss, ms;
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ss > 0.0);
    assert_true(ms == 0.0);
    int upd;
    int64_t count;
    assert_status(spt_trainer_last_update(t, &upd, &count), SPT_OK);
    assert_int_equal(upd, 0);
    assert_int_equal(count, 0);
    int64_t round;
    assert_status(spt_trainer_get_round(t, &round), SPT_OK);
    assert_int_equal(round, 0);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

static void test_create_nomem_leaks_nothing(void **state) {
    (void)state;
    spt_test_alloc_install();
    spt_model *m = mlp(14);
    spt_optimizer *o = sgd(0.1, 0.9);
    spt_lr_schedule *s = NULL;
    assert_status(spt_lr_schedule_create(SPT_LR_STEP, &s), SPT_OK);
    int64_t ms[3] = {2, 5, 9};
    assert_status(spt_lr_schedule_set_milestones(s, ms, 3), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_DENSE, &cfg), SPT_OK);
    double dens[2] = {1.0, 1.0};
    assert_status(spt_method_config_set_densities(cfg, dens, 2), SPT_OK);
    int64_t len;
    float *before = snapshot(m, &len); /* (writes the weights' storage first) */
    const long live = spt_test_alloc_live();
    spti_rng rng_before = m->rng;
    int failures = 0;
    for (long k = 0;; k++) {
        spt_trainer *t = (spt_trainer *)1;
        spt_test_alloc_fail_at(k);
        int rc = spt_trainer_create(m, o, s, cfg, 10, 1, &t);
        spt_test_alloc_fail_at(-1);
        if (rc == SPT_OK) {
            spt_trainer_destroy(t);
            break;
        }
        assert_int_equal(rc, SPT_ERR_NOMEM);
        assert_null(t);
        assert_int_equal(spt_test_alloc_live(), live);
        assert_true(same_params(m, before, len));
        assert_memory_equal(&rng_before, &m->rng, sizeof rng_before);
        failures++;
    }
    assert_true(failures >= 4); /* trainer, schedule, milestones, config, densities, weights */
    assert_int_equal(spt_test_alloc_live(), live);

    /* Evaluation and epochs under failing allocations: NOMEM, nothing leaked. */
    enum { N = 40 };
    static float fn[F * N], nf[N * F];
    static int32_t y[N];
    make_blobs(10, N, fn, nf, y);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_from_float(nf, y, N, F, 1, 1, K, &ds), SPT_OK);
    spt_batcher *b = NULL;
    assert_status(spt_batcher_create(ds, 16, 0, 1, &b), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, NULL, 10, 1, &t), SPT_OK);
    const long live2 = spt_test_alloc_live();
    double loss;
    spt_test_alloc_fail_at(0);
    assert_status(spt_trainer_evaluate(t, ds, 16, &loss, NULL), SPT_ERR_NOMEM);
    spt_test_alloc_fail_at(-1);
    assert_int_equal(spt_test_alloc_live(), live2);
    spt_test_alloc_fail_at(0);
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, &loss, NULL), SPT_ERR_NOMEM);
    spt_test_alloc_fail_at(-1);
    assert_int_equal(spt_test_alloc_live(), live2);
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 0);
    assert_status(spt_trainer_train_epoch(t, b, NULL, NULL, &loss, NULL), SPT_OK);
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    assert_int_equal(step, 3);
    spt_trainer_destroy(t);
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    free(before);
    spt_method_config_destroy(cfg);
    spt_lr_schedule_destroy(s);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_loss_falls),
        cmocka_unit_test(test_nonfinite_changes_nothing),
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_lr_follows_schedule),
        cmocka_unit_test(test_step_past_total),
        cmocka_unit_test(test_second_trainer_refused),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_epoch_over_batcher),
        cmocka_unit_test(test_evaluate_matches_manual_loop),
        cmocka_unit_test(test_getters_dense),
        cmocka_unit_test(test_create_nomem_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
