/* The trainer with the library's sparse methods, through the public API:
 * the topology is sampled at creation, the sparsity stays put while
 * training, RigL updates the topology exactly on its update steps, and the
 * FLOP getters follow the method's accounting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sparsity/method_config.h"
#include "test_support.h"
#include "train/trainer.h"

enum { F = 8, H = 48, K = 3, BATCH = 32, STEPS = 40, DT = 5 };

static void make_batch(spti_rng *r, float *x, int32_t *y) {
    for (int i = 0; i < BATCH; i++) {
        int k = (int)spti_rng_below(r, K);
        y[i] = k;
        for (int f = 0; f < F; f++) x[f * BATCH + i] = (f % K == k ? 1.5f : -0.5f) + 0.3f * spti_rng_normal(r);
    }
}

static spt_trainer *make_trainer(int method, double sparsity, spt_model **model, spt_optimizer **opt) {
    int64_t widths[4] = {F, H, H, K};
    assert_status(spt_model_create_mlp(widths, 4, 31, model), SPT_OK);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, opt), SPT_OK);
    assert_status(spt_optimizer_set_param(*opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(*opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(method, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, sparsity), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, DT), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, 4), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(*model, *opt, NULL, cfg, STEPS, 1, &t), SPT_OK);
    spt_method_config_destroy(cfg);
    return t;
}

static void test_static_keeps_sparsity(void **state) {
    (void)state;
    spt_model *m;
    spt_optimizer *o;
    spt_trainer *t = make_trainer(SPT_METHOD_STATIC, 0.8, &m, &o);
    double sp;
    int64_t nnz0, dense, nnz;
    assert_status(spt_trainer_sparsity(t, &sp, &nnz0, &dense), SPT_OK);
    assert_int_equal(dense, F * H + H * H + H * K);
    assert_true(fabs(sp - 0.8) <= 3.0 / (double)dense); /* one weight per layer */
    spti_rng r;
    spti_rng_seed(&r, 2);
    float x[F * BATCH];
    int32_t y[BATCH];
    double first = 0.0, last = 0.0, loss;
    for (int s = 0; s < STEPS; s++) {
        make_batch(&r, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, &loss, NULL), SPT_OK);
        if (s < 5) first += loss;
        if (s >= STEPS - 5) last += loss;
        int upd;
        assert_status(spt_trainer_last_update(t, &upd, NULL), SPT_OK);
        assert_int_equal(upd, 0);
    }
    assert_true(last < first);
    assert_status(spt_trainer_sparsity(t, NULL, &nnz, NULL), SPT_OK);
    assert_int_equal(nnz, nnz0);
    double fd, fs, tr;
    assert_status(spt_trainer_flops(t, &fd, &fs, &tr, NULL), SPT_OK);
    assert_true(fs < fd);
    assert_true(fabs(tr - 3.0 * fs) <= 1e-9 * tr);
    spt_trainer_destroy(t);
    /* The model outlives the trainer and keeps its sparse weights. */
    int64_t model_nnz;
    assert_status(spt_model_num_params(m, NULL, &model_nnz), SPT_OK);
    assert_true(model_nnz < dense);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

static void test_rigl_updates_on_schedule(void **state) {
    (void)state;
    spt_model *m;
    spt_optimizer *o;
    spt_trainer *t = make_trainer(SPT_METHOD_RIGL, 0.8, &m, &o);
    int64_t nnz0, nnz, layers;
    assert_status(spt_trainer_sparsity(t, NULL, &nnz0, NULL), SPT_OK);
    assert_status(spt_trainer_num_weight_layers(t, &layers), SPT_OK);
    assert_int_equal(layers, 3);
    int64_t layer_nnz0[3];
    for (int l = 0; l < 3; l++) assert_status(spt_trainer_layer_density(t, l, NULL, &layer_nnz0[l], NULL, NULL), SPT_OK);
    spti_rng r;
    spti_rng_seed(&r, 3);
    float x[F * BATCH];
    int32_t y[BATCH];
    int64_t updates = 0;
    const int64_t t_end = (int64_t)(0.75 * STEPS); /* the default T_end fraction */
    for (int64_t s = 0; s < STEPS; s++) {
        make_batch(&r, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
        int upd, is_update;
        assert_status(spt_trainer_last_update(t, &upd, NULL), SPT_OK);
        assert_status(spt_drop_is_update_step(DT, t_end, s, &is_update), SPT_OK);
        if (upd) assert_true(is_update); /* changes only on update steps */
        updates += upd;
        for (int l = 0; l < 3; l++) { /* RigL keeps every layer's count */
            int64_t k;
            assert_status(spt_trainer_layer_density(t, l, NULL, &k, NULL, NULL), SPT_OK);
            assert_int_equal(k, layer_nnz0[l]);
        }
    }
    int64_t count;
    assert_status(spt_trainer_last_update(t, NULL, &count), SPT_OK);
    assert_int_equal(count, updates);
    assert_true(updates >= 3); /* update steps 5, 10, 15, 20, 25 */
    assert_status(spt_trainer_sparsity(t, NULL, &nnz, NULL), SPT_OK);
    assert_int_equal(nnz, nnz0);
    double fd, fs, tr, tm, want;
    assert_status(spt_trainer_flops(t, &fd, &fs, &tr, &tm), SPT_OK);
    assert_status(spt_flops_train(SPT_METHOD_RIGL, fd, fs, DT, &want), SPT_OK);
    assert_true(fabs(tr - want) <= 1e-9 * want);
    /* Measured: 3 f_S on ordinary steps, 2 f_S + f_D on the update steps
     * (the dense layers cost the same either way). */
    const double n_upd = 5.0;
    const double expect = (3.0 * fs * (STEPS - n_upd) + (2.0 * fs + fd) * n_upd) / STEPS;
    assert_true(fabs(tm - expect) <= 1e-9 * expect);
    double ss, ms;
    assert_status(spt_trainer_times(t, &ss, &ms), SPT_OK);
    assert_true(ms > 0.0);
    /* The update steps' own time: counted for exactly the steps that changed
     * the topology, and part of the steps' time. */
    double us;
    int64_t n_us, n_steps;
    assert_status(spt_trainer_update_times(t, &us, &n_us, &n_steps), SPT_OK);
    assert_int_equal(n_us, updates);
    assert_int_equal(n_steps, STEPS);
    assert_true(us > 0.0 && us <= ss);
    assert_status(spt_trainer_update_times(NULL, &us, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_update_times(t, NULL, NULL, NULL), SPT_OK);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

static void test_unknown_or_missing_method(void **state) {
    (void)state;
    int64_t widths[2] = {F, K};
    spt_model *m = NULL;
    assert_status(spt_model_create_mlp(widths, 2, 1, &m), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &cfg), SPT_OK);
    /* Explicit densities for a different number of layers than the model has. */
    double d[3] = {0.5, 0.5, 0.5};
    assert_status(spt_method_config_set_densities(cfg, d, 3), SPT_OK);
    spt_trainer *t = (spt_trainer *)1;
    int rc = spt_trainer_create(m, o, NULL, cfg, 10, 1, &t);
    assert_true(rc != SPT_OK);
    assert_null(t);
    assert_true(spt_last_error()[0] != '\0');
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}


/* GMP's training cost is the average over its pruning schedule for the
 * whole run. The trainer is given the configuration directly (the method
 * itself is not needed to count). */
static void test_gmp_flops_follow_schedule(void **state) {
    (void)state;
    spt_model *m;
    spt_optimizer *o;
    spt_trainer *t = make_trainer(SPT_METHOD_DENSE, 0.0, &m, &o);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_GMP, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 2), SPT_OK);
    spt_method_config_destroy(t->cfg);
    t->cfg = cfg; /* owned by the trainer from here */
    double tr, fd;
    assert_status(spt_trainer_flops(t, &fd, NULL, &tr, NULL), SPT_OK);
    const int32_t ndim[3] = {2, 2, 2};
    const int64_t shape[12] = {H, F, 0, 0, H, H, 0, 0, K, H, 0, 0};
    double dens[3], want;
    int64_t nnz[3];
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.8, 3, ndim, shape, NULL, dens, nnz, NULL), SPT_OK);
    /* t0 = 10% of 40 steps, last pruning step 75%: (30 - 4) / 2 = 13 intervals. */
    assert_status(spt_flops_train_gmp(3, ndim, shape, NULL, NULL, dens, 4, 13, 2, STEPS, &want), SPT_OK);
    assert_true(fabs(tr - want) <= 1e-9 * want);
    assert_true(tr < 3.0 * fd && tr > 3.0 * 0.2 * fd);
    /* Explicit start / end and a kept-dense last layer. */
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_START, 0), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_END, 20), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DENSE_LAST, 1), SPT_OK);
    assert_status(spt_trainer_flops(t, NULL, NULL, &tr, NULL), SPT_OK);
    const uint8_t keep[3] = {0, 0, 1};
    assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_ERK, 0.8, 3, ndim, shape, keep, dens, nnz, NULL), SPT_OK);
    const double init[3] = {1.0, 1.0, 1.0};
    assert_status(spt_flops_train_gmp(3, ndim, shape, NULL, init, dens, 0, 10, 2, STEPS, &want), SPT_OK);
    assert_true(fabs(tr - want) <= 1e-9 * want);
    spt_trainer_destroy(t);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_keeps_sparsity),
        cmocka_unit_test(test_rigl_updates_on_schedule),
        cmocka_unit_test(test_unknown_or_missing_method),
        cmocka_unit_test(test_gmp_flops_follow_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
