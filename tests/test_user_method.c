/* User methods (user_method.h): SET and RigL written as drop/grow criteria
 * give the built-ins' masks and weights bit for bit, on an MLP and on a
 * small ResNet (conv layers take the dense-gradient path); a failing
 * callback fails the step with nothing changed; the checkpoint of a user
 * run resumes only with the same method; bad arguments. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "test_support.h"
#include "train/trainer.h"

enum { F = 8, H = 40, K = 3, BATCH = 16, STEPS = 30, DT = 4 };

/* ---- criteria ------------------------------------------------------------ */

static int calls;

static int drop_magnitude(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                          const int64_t *row_ptr, const int32_t *col_idx, const float *values, uint64_t seed,
                          float *score) {
    (void)user, (void)layer, (void)step, (void)rows, (void)cols, (void)row_ptr, (void)col_idx, (void)seed;
    assert_int_equal(row_ptr[rows], nnz);
    for (int64_t j = 0; j < nnz; j++) score[j] = fabsf(values[j]);
    calls++;
    return 0;
}

static int grow_gradient(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                         const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *dense_grad,
                         uint64_t seed, float *score) {
    (void)user, (void)layer, (void)step, (void)nnz, (void)row_ptr, (void)col_idx, (void)values, (void)seed;
    assert_non_null(dense_grad);
    for (int64_t i = 0; i < rows * cols; i++) score[i] = fabsf(dense_grad[i]);
    calls++;
    return 0;
}

static int grow_fails(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                      const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *dense_grad,
                      uint64_t seed, float *score) {
    (void)user, (void)layer, (void)step, (void)rows, (void)cols, (void)nnz, (void)row_ptr, (void)col_idx;
    (void)values, (void)dense_grad, (void)seed, (void)score;
    return 7;
}

/* ---- runs ---------------------------------------------------------------- */

typedef struct run {
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t;
} run;

static void set_keys(spt_method_config *cfg) {
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, DT), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, 11), SPT_OK);
}

/* A run of the built-in `method` (u == NULL) or of the user method u. */
static run start(bool conv, int method, const spt_user_method *u) {
    run r = {0};
    if (conv) {
        assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, K, 5, &r.model), SPT_OK);
    } else {
        const int64_t widths[4] = {F, H, H, K};
        assert_status(spt_model_create_mlp(widths, 4, 5, &r.model), SPT_OK);
    }
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r.opt), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_method_config *cfg = NULL;
    if (u) assert_status(spt_method_config_create_user(u, &cfg), SPT_OK);
    else assert_status(spt_method_config_create(method, &cfg), SPT_OK);
    set_keys(cfg);
    assert_status(spt_trainer_create(r.model, r.opt, NULL, cfg, STEPS, 3, &r.t), SPT_OK);
    spt_method_config_destroy(cfg);
    return r;
}

static void finish(run *r) {
    spt_trainer_destroy(r->t);
    spt_optimizer_destroy(r->opt);
    spt_model_destroy(r->model);
}

static int64_t input_size(const run *r) {
    return spti_shape_size(r->t->model->in_shape);
}

static void batch(int64_t step, int64_t feat, float *x, int32_t *y) {
    spti_rng g;
    spti_rng_seed(&g, 100 + (uint64_t)step);
    for (int i = 0; i < BATCH; i++) {
        y[i] = (int32_t)spti_rng_below(&g, K);
        for (int64_t f = 0; f < feat; f++)
            x[f * BATCH + i] = (f % K == y[i] ? 1.0f : -0.5f) + 0.4f * spti_rng_normal(&g);
    }
}

/* Same forms, patterns and values in every weight, bit for bit. */
static void assert_same_weights(const run *a, const run *b) {
    const spti_trainer *ta = a->t, *tb = b->t;
    assert_int_equal(ta->n_weights, tb->n_weights);
    for (int l = 0; l < ta->n_weights; l++) {
        const spti_param *p = ta->weights[l], *q = tb->weights[l];
        assert_int_equal(p->kind, q->kind);
        assert_int_equal(p->n, q->n);
        assert_memory_equal(p->value, q->value, (size_t)p->n * sizeof(float));
        if (p->kind == SPTI_PARAM_SPARSE) {
            assert_memory_equal(p->csr->row_ptr, q->csr->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t));
            assert_memory_equal(p->csr->col_idx, q->csr->col_idx, (size_t)p->n * sizeof(int32_t));
        }
    }
}

/* Step both runs together; the patterns must agree after every step and
 * have changed at least once. */
static void lockstep(run *a, run *b) {
    const int64_t feat = input_size(a);
    float *x = test_malloc((size_t)(feat * BATCH) * sizeof(float));
    int32_t y[BATCH];
    int64_t updates_a = 0, updates_b = 0;
    for (int64_t s = 0; s < STEPS; s++) {
        batch(s, feat, x, y);
        assert_status(spt_trainer_step(a->t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_step(b->t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_same_weights(a, b);
    }
    assert_status(spt_trainer_last_update(a->t, NULL, &updates_a), SPT_OK);
    assert_status(spt_trainer_last_update(b->t, NULL, &updates_b), SPT_OK);
    assert_int_equal(updates_a, updates_b);
    assert_true(updates_a >= 3);
    test_free(x);
}

static spt_user_method *user_set(void) {
    spt_user_method *u = NULL;
    assert_status(spt_user_method_create("my-set", &u), SPT_OK);
    assert_status(spt_user_method_set_drop(u, drop_magnitude, NULL), SPT_OK);
    assert_status(spt_user_method_set_grow(u, SPT_GROW_RANDOM, NULL, NULL), SPT_OK);
    assert_status(spt_user_method_set_update(u, SPT_UPDATE_AFTER_STEP), SPT_OK);
    return u;
}

static spt_user_method *user_rigl(int grow_kind) {
    spt_user_method *u = NULL;
    assert_status(spt_user_method_create("my-rigl", &u), SPT_OK);
    assert_status(spt_user_method_set_drop(u, drop_magnitude, NULL), SPT_OK);
    assert_status(
        spt_user_method_set_grow(u, grow_kind, grow_kind == SPT_GROW_GRADIENT ? NULL : grow_gradient, NULL), SPT_OK);
    assert_status(spt_user_method_set_update(u, SPT_UPDATE_BEFORE_STEP), SPT_OK);
    return u;
}

static void compare(bool conv, int method, spt_user_method *u) {
    run a = start(conv, method, NULL), b = start(conv, 0, u);
    spt_user_method_destroy(u); /* the configuration kept a copy */
    calls = 0;
    lockstep(&a, &b);
    assert_true(calls > 0);
    finish(&a);
    finish(&b);
}

static void test_set_mlp(void **state) {
    (void)state;
    compare(false, SPT_METHOD_SET, user_set());
}

static void test_rigl_mlp_callback(void **state) {
    (void)state;
    compare(false, SPT_METHOD_RIGL, user_rigl(SPT_GROW_GRADIENT_SCORE));
}

static void test_rigl_mlp_streamed(void **state) {
    (void)state;
    compare(false, SPT_METHOD_RIGL, user_rigl(SPT_GROW_GRADIENT));
}

static void test_rigl_resnet(void **state) {
    (void)state;
    compare(true, SPT_METHOD_RIGL, user_rigl(SPT_GROW_GRADIENT_SCORE));
}

static void test_set_resnet(void **state) {
    (void)state;
    compare(true, SPT_METHOD_SET, user_set());
}

/* A callback that fails fails the update step: SPT_ERR_CALLBACK naming the
 * method and layer, weights and step count unchanged. */
static void test_callback_failure(void **state) {
    (void)state;
    spt_user_method *u = NULL;
    assert_status(spt_user_method_create("failing", &u), SPT_OK);
    assert_status(spt_user_method_set_grow(u, SPT_GROW_GRADIENT_SCORE, grow_fails, NULL), SPT_OK);
    assert_status(spt_user_method_set_update(u, SPT_UPDATE_BEFORE_STEP), SPT_OK);
    run r = start(false, 0, u), ref = start(false, 0, u);
    spt_user_method_destroy(u);
    const int64_t feat = input_size(&r);
    float x[F * BATCH];
    int32_t y[BATCH];
    assert_int_equal(feat, F);
    int64_t s = 0;
    for (; s < DT; s++) { /* steps 0 .. DT-1: no update (step 0 is none either) */
        batch(s, feat, x, y);
        assert_status(spt_trainer_step(r.t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_step(ref.t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    batch(s, feat, x, y);
    assert_status(spt_trainer_step(r.t, x, y, BATCH, NULL, NULL), SPT_ERR_CALLBACK);
    assert_non_null(strstr(spt_last_error(), "failing"));
    assert_non_null(strstr(spt_last_error(), "returned 7"));
    int64_t step;
    assert_status(spt_trainer_get_step(r.t, &step), SPT_OK);
    assert_int_equal(step, DT);
    assert_same_weights(&r, &ref);
    finish(&r);
    finish(&ref);
}

/* Save a user run mid-way, load it back with the same method and continue
 * in lock step with the uninterrupted run; other loads are refused. */
static void test_checkpoint(void **state) {
    (void)state;
    const char *path = "test_user_method.ckpt"; /* in the test's working directory */
    spt_user_method *u = user_rigl(SPT_GROW_GRADIENT_SCORE);
    run a = start(false, 0, u);
    float x[F * BATCH];
    int32_t y[BATCH];
    int64_t s = 0;
    for (; s < 2 * DT + 1; s++) {
        batch(s, F, x, y);
        assert_status(spt_trainer_step(a.t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    assert_status(spt_trainer_save(a.t, NULL, path), SPT_OK);
    run b = {0};
    assert_status(spt_trainer_load(path, &b.model, &b.t, NULL), SPT_ERR_STATE);
    assert_non_null(strstr(spt_last_error(), "spt_trainer_load_user"));
    spt_user_method *other = NULL;
    assert_status(spt_user_method_create("other", &other), SPT_OK);
    assert_status(spt_trainer_load_user(path, other, &b.model, &b.t, NULL), SPT_ERR_STATE);
    assert_null(b.model);
    assert_null(b.t);
    spt_user_method_destroy(other);
    assert_status(spt_trainer_load_user(path, NULL, &b.model, &b.t, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_load_user(path, u, &b.model, &b.t, NULL), SPT_OK);
    for (; s < STEPS; s++) {
        batch(s, F, x, y);
        assert_status(spt_trainer_step(a.t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_step(b.t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_same_weights(&a, &b);
    }
    spt_trainer_destroy(b.t);
    spt_model_destroy(b.model);
    finish(&a);
    /* A built-in run is not a user run. */
    run c = start(false, SPT_METHOD_RIGL, NULL);
    assert_status(spt_trainer_save(c.t, NULL, path), SPT_OK);
    assert_status(spt_trainer_load_user(path, u, &b.model, &b.t, NULL), SPT_ERR_STATE);
    finish(&c);
    spt_user_method_destroy(u);
    remove(path);
}

static void test_arguments(void **state) {
    (void)state;
    spt_user_method *u = (spt_user_method *)1;
    assert_status(spt_user_method_create(NULL, &u), SPT_ERR_NULL);
    assert_null(u);
    assert_status(spt_user_method_create("", &u), SPT_ERR_INVALID);
    assert_status(spt_user_method_create("a-name-that-is-far-too-long-for-the-48-byte-field", &u), SPT_ERR_INVALID);
    assert_status(spt_user_method_create("x", NULL), SPT_ERR_NULL);
    assert_status(spt_user_method_create("x", &u), SPT_OK);
    assert_status(spt_user_method_set_drop(NULL, drop_magnitude, NULL), SPT_ERR_NULL);
    assert_status(spt_user_method_set_drop(u, NULL, NULL), SPT_OK);
    assert_status(spt_user_method_set_grow(u, 4, NULL, NULL), SPT_ERR_INVALID);
    assert_status(spt_user_method_set_grow(u, -1, NULL, NULL), SPT_ERR_INVALID);
    assert_status(spt_user_method_set_grow(u, SPT_GROW_SCORE, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_user_method_set_grow(u, SPT_GROW_RANDOM, grow_gradient, NULL), SPT_ERR_INVALID);
    assert_status(spt_user_method_set_grow(NULL, SPT_GROW_RANDOM, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_user_method_set_update(u, 2), SPT_ERR_INVALID);
    assert_status(spt_user_method_set_update(NULL, 0), SPT_ERR_NULL);
    spt_method_config *c = (spt_method_config *)1;
    assert_status(spt_method_config_create_user(NULL, &c), SPT_ERR_NULL);
    assert_null(c);
    assert_status(spt_method_config_create_user(u, NULL), SPT_ERR_NULL);
    assert_status(spt_method_config_create_user(u, &c), SPT_OK);
    int method = -1;
    assert_status(spt_method_config_method(c, &method), SPT_OK);
    assert_int_equal(method, SPT_METHOD_USER);
    assert_string_equal(spt_method_name(SPT_METHOD_USER), "user");
    spt_method_config_destroy(c);
    spt_user_method_destroy(u);
    spt_user_method_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_mlp),          cmocka_unit_test(test_rigl_mlp_callback),
        cmocka_unit_test(test_rigl_mlp_streamed), cmocka_unit_test(test_rigl_resnet),
        cmocka_unit_test(test_set_resnet),       cmocka_unit_test(test_callback_failure),
        cmocka_unit_test(test_checkpoint),       cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
