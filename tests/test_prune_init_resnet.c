/* The methods that prune at initialisation (SNIP, GraSP, SynFlow) on a
 * ResNet, through the public API: spt_trainer_prepare() prunes, and the
 * achieved sparsity is the target exactly - globally the planned count
 * round((1 - S) * total), layer-wise each layer's allocator count. SynFlow
 * used to leave every layer that its last iteration did not prune DENSE
 * (with all its weights), reaching about 0.69 for a target of 0.9 on a
 * ResNet-8. Also: every pruned layer is sparse, no layer is emptied, and
 * the pruned network trains (a finite step). */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "test_support.h"

enum { C = 3, HW = 8, CLASSES = 10, EXAMPLES = 16, BATCH = 8, MAX_LAYERS = 32 };

typedef struct fixture {
    spt_model *model;
    spt_optimizer *opt;
    spt_dataset *ds;
    spt_batcher *b;
    spt_trainer *t;
} fixture;

static void make_data(fixture *f) {
    float *x = malloc((size_t)EXAMPLES * C * HW * HW * sizeof(float));
    int32_t y[EXAMPLES];
    spti_rng r;
    spti_rng_seed(&r, 17);
    for (int64_t i = 0; i < (int64_t)EXAMPLES * C * HW * HW; i++) x[i] = spti_rng_normal(&r);
    for (int i = 0; i < EXAMPLES; i++) y[i] = i % CLASSES;
    assert_status(spt_dataset_from_float(x, y, EXAMPLES, C, HW, HW, CLASSES, &f->ds), SPT_OK);
    assert_status(spt_batcher_create(f->ds, BATCH, SPT_BATCH_SHUFFLE, 3, &f->b), SPT_OK);
    free(x);
}

/* A ResNet (6 blocks_per_stage + 2 layers) on 3x8x8 pruned by `method` at
 * sparsity s, ranking globally or per layer at uniform densities. */
static void build(fixture *f, int method, int64_t blocks_per_stage, double s, int global) {
    assert_status(spt_model_create_resnet(C, HW, HW, blocks_per_stage, 1, CLASSES, 5, &f->model), SPT_OK);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &f->opt), SPT_OK);
    assert_status(spt_optimizer_set_param(f->opt, SPT_OPT_LR, 0.01), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(method, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, s), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_GLOBAL, global), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_UNIFORM), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SYNFLOW_ITERS, 7), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, 2), SPT_OK);
    assert_status(spt_trainer_create(f->model, f->opt, NULL, cfg, 10, 1, &f->t), SPT_OK);
    spt_method_config_destroy(cfg);
    make_data(f);
}

static void teardown(fixture *f) {
    spt_trainer_destroy(f->t);
    spt_batcher_destroy(f->b);
    spt_dataset_destroy(f->ds);
    spt_optimizer_destroy(f->opt);
    spt_model_destroy(f->model);
}

static void check_target(int method, int64_t blocks_per_stage, double s, int global) {
    fixture f = {0};
    build(&f, method, blocks_per_stage, s, global);
    int64_t n_layers, nnz0, dense;
    assert_status(spt_trainer_num_weight_layers(f.t, &n_layers), SPT_OK);
    assert_true(n_layers == 6 * blocks_per_stage + 2 + 2 && n_layers <= MAX_LAYERS); /* + 2 shortcut convs */
    assert_status(spt_trainer_sparsity(f.t, NULL, &nnz0, &dense), SPT_OK);
    assert_int_equal(nnz0, dense); /* nothing pruned before prepare */
    assert_status(spt_trainer_prepare(f.t, f.b), SPT_OK);

    int64_t nnz, size[MAX_LAYERS], k[MAX_LAYERS];
    double sp;
    assert_status(spt_trainer_sparsity(f.t, &sp, &nnz, NULL), SPT_OK);
    for (int64_t l = 0; l < n_layers; l++) {
        assert_status(spt_trainer_layer_density(f.t, l, NULL, &k[l], &size[l], NULL), SPT_OK);
        assert_true(k[l] >= 1); /* no layer collapses */
    }
    if (global) {
        /* one pool over every layer: exactly round((1 - S) * total) */
        assert_int_equal(nnz, llround((1.0 - s) * (double)dense));
    } else {
        /* each layer exactly at its uniform allocator count */
        int32_t ndim[MAX_LAYERS];
        int64_t shape[4 * MAX_LAYERS] = {0}, want[MAX_LAYERS]; /* 4 entries per layer */
        double density[MAX_LAYERS];
        for (int64_t l = 0; l < n_layers; l++) {
            ndim[l] = 2;
            shape[4 * l] = 1;
            shape[4 * l + 1] = size[l];
        }
        assert_status(spt_sparsity_allocate(SPT_DISTRIBUTION_UNIFORM, s, n_layers, ndim, shape, NULL, density, want,
                                            NULL),
                      SPT_OK);
        for (int64_t l = 0; l < n_layers; l++) assert_int_equal(k[l], want[l]);
        assert_true(llabs(nnz - llround((1.0 - s) * (double)dense)) <= n_layers); /* one weight per layer */
    }
    assert_true(fabs(sp - (1.0 - (double)nnz / (double)dense)) < 1e-12);
    /* the pruned layers are sparse in the model too, and the network trains */
    int64_t model_dense, model_nonzero;
    assert_status(spt_model_num_params(f.model, &model_dense, &model_nonzero), SPT_OK);
    assert_true(model_nonzero < model_dense);
    float x[C * HW * HW * BATCH];
    int32_t y[BATCH];
    int64_t got;
    assert_status(spt_batcher_next(f.b, x, C * HW * HW * BATCH, y, BATCH, &got), SPT_OK);
    double loss;
    assert_status(spt_trainer_step(f.t, x, y, got, &loss, NULL), SPT_OK);
    assert_true(isfinite(loss));
    int64_t after;
    assert_status(spt_trainer_sparsity(f.t, NULL, &after, NULL), SPT_OK);
    assert_int_equal(after, nnz);
    teardown(&f);
}

static void test_synflow(void **state) {
    (void)state;
    check_target(SPT_METHOD_SYNFLOW, 1, 0.9, 1);
    check_target(SPT_METHOD_SYNFLOW, 1, 0.98, 1);
    check_target(SPT_METHOD_SYNFLOW, 2, 0.9, 1);
    check_target(SPT_METHOD_SYNFLOW, 1, 0.9, 0);
}

static void test_snip(void **state) {
    (void)state;
    check_target(SPT_METHOD_SNIP, 1, 0.9, 1);
    check_target(SPT_METHOD_SNIP, 1, 0.98, 1);
    check_target(SPT_METHOD_SNIP, 1, 0.9, 0);
}

static void test_grasp(void **state) {
    (void)state;
    check_target(SPT_METHOD_GRASP, 1, 0.9, 1);
    check_target(SPT_METHOD_GRASP, 1, 0.98, 1);
    check_target(SPT_METHOD_GRASP, 1, 0.9, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synflow),
        cmocka_unit_test(test_snip),
        cmocka_unit_test(test_grasp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
