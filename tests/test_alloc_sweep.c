/* Allocation-failure sweep (issue 19): one short training run as a user
 * writes it (data, batcher, model, optimizer, schedule, method, trainer, an
 * epoch, evaluation, a checkpoint save, a load, an epoch of the loaded run,
 * the getters), with the n-th allocation failing for every n until the run
 * completes. Every failure must be reported as SPT_ERR_NOMEM with a
 * message, by the call that met it, and once everything made so far is
 * destroyed nothing may be left allocated (the counting allocator here; ASan
 * in the sanitizer build sees everything else).
 *
 * A second sweep checks what a failing step promises: for every n, the
 * step that meets the failure reports SPT_ERR_NOMEM, leaves the step count,
 * the weights and the topology as they were, and when the same batch is
 * retried the run ends bit for bit where a run without failures ends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "test_support.h"
#include "train/trainer.h"

enum { N = 48, N_TEST = 24, BATCH = 12, K = 3 };

typedef enum {
    KIND_RIGL_MLP,
    KIND_SET_RESNET,
    KIND_SNIP_MLP,
    KIND_GMP_MLP,
    KIND_LOTTERY_MLP,
    KIND_SNFS_MLP,
    KIND_SET_CONVNET /* a small residual net with batch norm and dropout, from a description */
} kind;

static const char *kind_name(kind k) {
    static const char *names[] = {"RigL MLP", "SET ResNet", "SNIP MLP", "GMP MLP", "lottery MLP", "SNFS MLP",
                                  "SET conv net"};
    return names[k];
}

static bool is_conv(kind k) { return k == KIND_SET_RESNET || k == KIND_SET_CONVNET; }

/* conv-bn-relu, conv-bn, + the first relu, relu, dropout, pool, linear. */
static int conv_net(spt_model **out) {
    spt_net *net = NULL;
    int64_t n, skip;
    int rc = spt_net_create(3, 6, 6, &net);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_CONV2D, "c1", &n);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_OUT, 4);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_PADDING, 1);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_BATCHNORM, "bn1", NULL);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_RELU, "r1", &skip);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_CONV2D, "c2", &n);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_OUT, 4);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_PADDING, 1);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_BATCHNORM, "bn2", NULL);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_ADD, "add", &n);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_INPUT, (double)skip);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_RELU, "r2", NULL);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_DROPOUT, "drop", &n);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_RATE, 0.1);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_GLOBAL_AVGPOOL, "pool", NULL);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_FLATTEN, "flat", NULL);
    if (rc == SPT_OK) rc = spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &n);
    if (rc == SPT_OK) rc = spt_net_set(net, n, SPT_LP_OUT, K);
    if (rc == SPT_OK) rc = spt_model_create(net, 5, out);
    spt_net_destroy(net);
    return rc;
}

static char g_dir[64];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything one run makes; run_free destroys what exists. */
typedef struct run {
    float *img;
    int32_t *lab;
    spt_dataset *ds, *test;
    spt_batcher *b, *b2;
    spt_model *m, *m2;
    spt_optimizer *o;
    spt_lr_schedule *s;
    spt_method_config *cfg;
    spt_trainer *t, *t2;
} run;

static void run_free(run *r) {
    spt_trainer_destroy(r->t2);
    spt_model_destroy(r->m2);
    spt_trainer_destroy(r->t);
    spt_model_destroy(r->m);
    spt_method_config_destroy(r->cfg);
    spt_lr_schedule_destroy(r->s);
    spt_optimizer_destroy(r->o);
    spt_batcher_destroy(r->b);
    spt_batcher_destroy(r->b2);
    spt_dataset_destroy(r->ds);
    spt_dataset_destroy(r->test);
    free(r->img);
    free(r->lab);
    memset(r, 0, sizeof *r);
}

/* K blobs, example-major, labels in [0, K) (plain malloc: the caller's). */
static void make_data(run *r, int64_t feat) {
    r->img = malloc((size_t)(N * feat) * sizeof *r->img);
    r->lab = malloc(N * sizeof *r->lab);
    assert_non_null(r->img);
    assert_non_null(r->lab);
    spti_rng g;
    spti_rng_seed(&g, 7);
    for (int64_t i = 0; i < N; i++) {
        r->lab[i] = (int32_t)(i % K);
        for (int64_t f = 0; f < feat; f++)
            r->img[i * feat + f] = (float)((r->lab[i] + 1) * ((f % 3) - 1)) * 0.5f + 0.3f * spti_rng_normal(&g);
    }
}

#define CALL(what, expr)          \
    do {                          \
        int rc_ = (expr);         \
        if (rc_ != SPT_OK) {      \
            *where = (what);      \
            return rc_;           \
        }                         \
    } while (0)

/* Data, model, optimizer, schedule, method and trainer of a run of `k`. */
static int setup(kind k, run *r, const char **where) {
    const int64_t c = is_conv(k) ? 3 : 8, hw = is_conv(k) ? 6 : 1;
    make_data(r, c * hw * hw);
    CALL("spt_dataset_from_float", spt_dataset_from_float(r->img, r->lab, N, c, hw, hw, K, &r->ds));
    CALL("spt_dataset_from_float (test)", spt_dataset_from_float(r->img, r->lab, N_TEST, c, hw, hw, K, &r->test));
    CALL("spt_batcher_create", spt_batcher_create(r->ds, BATCH, SPT_BATCH_SHUFFLE, 17, &r->b));
    if (k == KIND_SET_CONVNET) {
        CALL("spt_model_create (conv net)", conv_net(&r->m));
    } else if (k == KIND_SET_RESNET) {
        CALL("spt_model_create_resnet", spt_model_create_resnet(3, 6, 6, 1, 1, K, 5, &r->m));
    } else {
        int64_t widths[4] = {8, 24, 16, K};
        CALL("spt_model_create_mlp", spt_model_create_mlp(widths, 4, 5, &r->m));
        CALL("spt_model_set_dropout", spt_model_set_dropout(r->m, 0.1));
    }
    const bool adam = k == KIND_RIGL_MLP || k == KIND_SNFS_MLP;
    CALL("spt_optimizer_create", spt_optimizer_create(adam ? SPT_OPTIMIZER_ADAM : SPT_OPTIMIZER_SGD, &r->o));
    CALL("spt_optimizer_set_param", spt_optimizer_set_param(r->o, SPT_OPT_LR, adam ? 0.01 : 0.05));
    if (!adam) CALL("spt_optimizer_set_param", spt_optimizer_set_param(r->o, SPT_OPT_MOMENTUM, 0.9));
    CALL("spt_lr_schedule_create", spt_lr_schedule_create(is_conv(k) ? SPT_LR_STEP : SPT_LR_COSINE, &r->s));
    if (is_conv(k)) {
        int64_t ms[2] = {3, 6};
        CALL("spt_lr_schedule_set_milestones", spt_lr_schedule_set_milestones(r->s, ms, 2));
    } else {
        CALL("spt_lr_schedule_set_param", spt_lr_schedule_set_param(r->s, SPT_LR_WARMUP_STEPS, 2));
    }
    static const int method[] = {SPT_METHOD_RIGL, SPT_METHOD_SET, SPT_METHOD_SNIP, SPT_METHOD_GMP,
                                 SPT_METHOD_LOTTERY, SPT_METHOD_SNFS, SPT_METHOD_SET};
    CALL("spt_method_config_create", spt_method_config_create(method[k], &r->cfg));
    CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_SPARSITY, 0.6));
    if (k == KIND_RIGL_MLP || is_conv(k) || k == KIND_SNFS_MLP) {
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_DELTA_T, 2));
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_T_END_FRACTION, 1.0));
    }
    if (k == KIND_GMP_MLP) {
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_PRUNE_START, 1));
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_PRUNE_END, 7));
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_PRUNE_FREQ, 2));
    }
    if (k == KIND_LOTTERY_MLP)
        CALL("spt_method_config_set", spt_method_config_set(r->cfg, SPT_MP_LOTTERY_ROUNDS, 1));
    /* Two epochs of 4 batches (the lottery: one round of each). */
    CALL("spt_trainer_create", spt_trainer_create(r->m, r->o, r->s, r->cfg, 8, 23, &r->t));
    return SPT_OK;
}

/* The whole short run: setup, an epoch, evaluation, getters, save, load
 * into a new model and trainer over a second batcher, the second epoch. */
static int short_run(kind k, const char *path, run *r, const char **where) {
    int rc = setup(k, r, where);
    if (rc != SPT_OK) return rc;
    double loss, acc, f[4], sp;
    CALL("spt_trainer_train_epoch", spt_trainer_train_epoch(r->t, r->b, NULL, NULL, &loss, &acc));
    if (k == KIND_LOTTERY_MLP) CALL("spt_trainer_end_round", spt_trainer_end_round(r->t));
    CALL("spt_trainer_evaluate", spt_trainer_evaluate(r->t, r->test, 10, &loss, &acc));
    CALL("spt_trainer_flops", spt_trainer_flops(r->t, &f[0], &f[1], &f[2], &f[3]));
    CALL("spt_trainer_sparsity", spt_trainer_sparsity(r->t, &sp, NULL, NULL));
    CALL("spt_trainer_save", spt_trainer_save(r->t, r->b, path));
    CALL("spt_batcher_create (resume)", spt_batcher_create(r->ds, BATCH, SPT_BATCH_SHUFFLE, 17, &r->b2));
    CALL("spt_trainer_load", spt_trainer_load(path, &r->m2, &r->t2, r->b2));
    CALL("spt_trainer_train_epoch (loaded)", spt_trainer_train_epoch(r->t2, r->b2, NULL, NULL, &loss, &acc));
    CALL("spt_trainer_evaluate (loaded)", spt_trainer_evaluate(r->t2, r->test, 10, &loss, &acc));
    return SPT_OK;
}

/* Fail allocation n for every n from 0 until the run completes. */
static void sweep_kind(kind k) {
    char path[96];
    snprintf(path, sizeof path, "%s/sweep.ckpt", g_dir);
    const double t0 = now_s();
    spt_test_alloc_install();
    long failures = 0;
    for (long n = 0;; n++) {
        run r = {0};
        const char *where = "";
        spt_test_alloc_fail_at(n);
        int rc = short_run(k, path, &r, &where);
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK && rc != SPT_ERR_NOMEM)
            fail_msg("%s, allocation %ld failing: %s returned %d (%s), not SPT_ERR_NOMEM", kind_name(k), n, where, rc,
                     spt_last_error());
        if (rc == SPT_ERR_NOMEM && strstr(spt_last_error(), "out of memory") == NULL)
            fail_msg("%s, allocation %ld failing: %s's message does not say so: %s", kind_name(k), n, where,
                     spt_last_error());
        run_free(&r);
        if (spt_test_alloc_live() != 0)
            fail_msg("%s, allocation %ld failing (in %s): %ld blocks left allocated", kind_name(k), n,
                     rc == SPT_OK ? "no call" : where, spt_test_alloc_live());
        if (rc == SPT_OK) break;
        failures++;
    }
    spt_test_alloc_uninstall();
    remove(path);
    printf("# %s: %ld allocation failures, each reported and clean (%.1f s)\n", kind_name(k), failures, now_s() - t0);
    assert_true(failures > 100);
}

static void test_sweep_rigl_mlp(void **state) {
    (void)state;
    sweep_kind(KIND_RIGL_MLP);
}
static void test_sweep_set_resnet(void **state) {
    (void)state;
    sweep_kind(KIND_SET_RESNET);
}
static void test_sweep_snip_mlp(void **state) {
    (void)state;
    sweep_kind(KIND_SNIP_MLP);
}
static void test_sweep_gmp_mlp(void **state) {
    (void)state;
    sweep_kind(KIND_GMP_MLP);
}
static void test_sweep_lottery_mlp(void **state) {
    (void)state;
    sweep_kind(KIND_LOTTERY_MLP);
}
static void test_sweep_snfs_mlp(void **state) {
    (void)state;
    sweep_kind(KIND_SNFS_MLP);
}

/* ---- a failing step changes nothing; retrying it continues the run exactly ---- */

/* A growing byte buffer (plain malloc: the test's, not the library's). */
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n);
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* Everything a later step depends on: every parameter's values, CSR pattern
 * and optimizer slots, batch-norm running statistics, the random states,
 * the optimizer's step count and the method's saved state. */
static uint8_t *run_bytes(const spti_trainer *t, size_t *len) {
    const spti_model *m = t->model;
    const long allocs = spt_test_alloc_count(); /* must not take an allocation of the sweep */
    bytes b = {0};
    for (int64_t i = 0; i < m->n_params; i++) {
        const spti_param *p = m->params[i];
        put(&b, p->value, (size_t)p->n * sizeof(float));
        for (int s = 0; s < p->opt.n_slots; s++) put(&b, p->opt.slot[s], (size_t)p->n * sizeof(float));
        if (p->kind == SPTI_PARAM_SPARSE) {
            put(&b, p->csr->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t));
            put(&b, p->csr->col_idx, (size_t)p->n * sizeof(int32_t));
        }
    }
    for (int i = 0; i < m->n_leaves; i++) {
        float *mean, *var;
        int64_t c;
        if (strcmp(m->leaves[i]->ops->kind, "batchnorm") != 0) continue;
        assert_status(spti_batchnorm_running(m->leaves[i], &mean, &var, &c), SPT_OK);
        put(&b, mean, (size_t)c * sizeof(float));
        put(&b, var, (size_t)c * sizeof(float));
    }
    put(&b, &m->rng, sizeof m->rng);
    put(&b, &t->rng, sizeof t->rng);
    put(&b, &t->opt.step, sizeof t->opt.step);
    if (t->method) {
        int64_t n = 0;
        assert_status(t->method->ops->save(t->method, NULL, 0, &n), SPT_OK);
        uint8_t *st = malloc((size_t)n + 1);
        assert_non_null(st);
        assert_status(t->method->ops->save(t->method, st, n, &n), SPT_OK);
        put(&b, st, (size_t)n);
        free(st);
    }
    assert_int_equal(spt_test_alloc_count(), allocs);
    *len = b.n;
    return b.p;
}

/* What happened in a run of steps with one allocation failing. */
typedef enum { NONE_FAILED, RETRIED, FAILED_AFTER_UPDATE } outcome;

/* The steps of a run of `k` one by one, from its batcher. With fail_at >= 0
 * the allocation fail_at counted from the first step fails. A step that
 * meets it must fail with SPT_ERR_NOMEM and either change nothing (it is
 * then retried on the same batch) or, when the failure is in the method's
 * after-step hook (GMP pruning, SET/SNFS updates), count as done with the
 * optimizer's update made, as the header documents; the run then goes on.
 * Returns the final run bytes. */
static uint8_t *steps_with_retry(kind k, long fail_at, size_t *len, outcome *what) {
    run r = {0};
    const char *where = "";
    assert_int_equal(setup(k, &r, &where), SPT_OK);
    const int64_t feat = spti_shape_size(r.m->in_shape);
    float *x = malloc((size_t)(feat * BATCH) * sizeof *x);
    int32_t *y = malloc(BATCH * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    *what = NONE_FAILED;
    spt_test_alloc_fail_at(fail_at);
    /* The first step (buffers made lazily) and topology updates (delta_t 2). */
    for (int s = 0; s < 8; s++) {
        int64_t B = 0;
        assert_status(spt_batcher_next(r.b, x, feat * BATCH, y, BATCH, &B), SPT_OK);
        if (B == 0) assert_status(spt_batcher_next(r.b, x, feat * BATCH, y, BATCH, &B), SPT_OK);
        size_t n0, n1;
        uint8_t *before = run_bytes(r.t, &n0);
        int64_t step0, upd0, step1, upd1;
        assert_status(spt_trainer_get_step(r.t, &step0), SPT_OK);
        assert_status(spt_trainer_last_update(r.t, NULL, &upd0), SPT_OK);
        int rc = spt_trainer_step(r.t, x, y, B, NULL, NULL);
        if (rc != SPT_OK) {
            if (rc != SPT_ERR_NOMEM)
                fail_msg("%s, allocation %ld failing: step %d returned %d (%s)", kind_name(k), fail_at, s, rc,
                         spt_last_error());
            spt_test_alloc_fail_at(-1);
            uint8_t *after = run_bytes(r.t, &n1);
            assert_status(spt_trainer_get_step(r.t, &step1), SPT_OK);
            assert_status(spt_trainer_last_update(r.t, NULL, &upd1), SPT_OK);
            const bool same = n1 == n0 && memcmp(before, after, n0) == 0;
            if (step1 == step0 + 1 && (k == KIND_GMP_MLP || is_conv(k) || k == KIND_SNFS_MLP)) {
                *what = FAILED_AFTER_UPDATE; /* the step is done; its topology update is not */
            } else if (step1 != step0 || upd1 != upd0 || !same) {
                fail_msg("%s, allocation %ld failing: step %d failed (%s) but changed the run (step %lld -> %lld, "
                         "updates %lld -> %lld, state %s)",
                         kind_name(k), fail_at, s, spt_last_error(), (long long)step0, (long long)step1,
                         (long long)upd0, (long long)upd1, same ? "unchanged" : "changed");
            } else {
                *what = RETRIED;
                assert_status(spt_trainer_step(r.t, x, y, B, NULL, NULL), SPT_OK); /* the same batch again */
            }
            free(after);
        }
        free(before);
    }
    spt_test_alloc_fail_at(-1);
    uint8_t *out = run_bytes(r.t, len);
    double sparsity;
    assert_status(spt_trainer_sparsity(r.t, &sparsity, NULL, NULL), SPT_OK);
    assert_true(sparsity >= 0.0 && sparsity < 1.0);
    free(x);
    free(y);
    run_free(&r);
    assert_int_equal(spt_test_alloc_live(), 0);
    return out;
}

/* Every allocation of the steps failing in turn: a retried step ends the run
 * bit for bit where the run without failures ends. */
static void retry_kind(kind k) {
    const double t0 = now_s();
    spt_test_alloc_install();
    size_t ref_len;
    outcome what;
    uint8_t *ref = steps_with_retry(k, -1, &ref_len, &what);
    long retried = 0, after_update = 0;
    for (long n = 0;; n++) {
        size_t len;
        uint8_t *got = steps_with_retry(k, n, &len, &what);
        if (what == RETRIED && (len != ref_len || memcmp(got, ref, len) != 0))
            fail_msg("%s: with allocation %ld of the steps failing and the step retried, the run ends elsewhere",
                     kind_name(k), n);
        free(got);
        if (what == NONE_FAILED) break;
        retried += what == RETRIED;
        after_update += what == FAILED_AFTER_UPDATE;
    }
    free(ref);
    spt_test_alloc_uninstall();
    printf("# %s: %ld failing steps retried to the same end, %ld failures in the after-step hook (%.1f s)\n",
           kind_name(k), retried, after_update, now_s() - t0);
    assert_true(retried > 0);
}

static void test_retry_rigl_mlp(void **state) {
    (void)state;
    retry_kind(KIND_RIGL_MLP);
}
static void test_sweep_set_convnet(void **state) {
    (void)state;
    sweep_kind(KIND_SET_CONVNET);
}
static void test_retry_set_convnet(void **state) {
    (void)state;
    retry_kind(KIND_SET_CONVNET);
}
static void test_retry_snfs_mlp(void **state) {
    (void)state;
    retry_kind(KIND_SNFS_MLP);
}
static void test_retry_gmp_mlp(void **state) {
    (void)state;
    retry_kind(KIND_GMP_MLP);
}

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/spt_sweep_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/sweep.ckpt", g_dir);
    remove(path);
    snprintf(path, sizeof path, "%s/sweep.ckpt.tmp", g_dir);
    remove(path);
    return rmdir(g_dir);
}

int main(void) {
    /* One thread: the allocations come in the same order in every run, and
     * the many tiny parallel regions of these small models do not wait on
     * busy cores (the sweep runs each model thousands of times). */
    if (spt_set_num_threads(1) != SPT_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_rigl_mlp),    cmocka_unit_test(test_sweep_set_resnet),
        cmocka_unit_test(test_sweep_snip_mlp),    cmocka_unit_test(test_sweep_gmp_mlp),
        cmocka_unit_test(test_sweep_lottery_mlp), cmocka_unit_test(test_sweep_snfs_mlp),
        cmocka_unit_test(test_sweep_set_convnet), cmocka_unit_test(test_retry_rigl_mlp),
        cmocka_unit_test(test_retry_set_convnet),
        cmocka_unit_test(test_retry_snfs_mlp),    cmocka_unit_test(test_retry_gmp_mlp),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
