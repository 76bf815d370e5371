/* Communicators without MPI (sparsetrain/comm.h): argument checks, the
 * batcher's shards, and the whole data-parallel path of the trainer over a
 * "mirror" engine, a rank 0 of 2 whose partner is its exact copy (every
 * sum doubles, every max and broadcast keeps). Each rank then weighs its
 * gradients by n / N = 1/2 and the sum gives back exactly this rank's
 * gradient, so a data-parallel run must equal a plain run on the same
 * batches bit for bit: this checks the packing, the streamed growth sums,
 * the running statistics, the agreements and the checksums in every build
 * (ASan included) without MPI (tests/mpi/test_mpi.c runs real ranks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "test_support.h"
#include "train/trainer.h"

typedef struct mirror {
    int fail_f32_at; /* fail the n-th float sum (0: never) */
    int f32_calls;
} mirror;

static int m_f32(void *ctx, float *buf, int64_t n) {
    mirror *m = ctx;
    if (++m->f32_calls == m->fail_f32_at) return spt_set_error(SPT_ERR_CALLBACK, "mirror: link down");
    for (int64_t i = 0; i < n; i++) buf[i] += buf[i];
    return 0;
}
static int m_u64(void *ctx, uint64_t *buf, int64_t n, int op) {
    (void)ctx;
    if (op == SPT_COMM_SUM)
        for (int64_t i = 0; i < n; i++) buf[i] += buf[i];
    return 0;
}
static int m_bcast(void *ctx, void *buf, int64_t bytes, int root) {
    (void)ctx, (void)buf, (void)bytes, (void)root;
    return 0;
}
static const spt_comm_ops MIRROR = {m_f32, m_u64, m_bcast, NULL};

static void test_create_checks(void **state) {
    (void)state;
    mirror ctx = {0};
    spt_comm *c = (spt_comm *)1;
    assert_status(spt_comm_create(NULL, &ctx, 0, 2, &c), SPT_ERR_NULL);
    assert_null(c);
    spt_comm_ops no_sum = MIRROR;
    no_sum.allreduce_f32 = NULL;
    assert_status(spt_comm_create(&no_sum, &ctx, 0, 2, &c), SPT_ERR_NULL);
    assert_status(spt_comm_create(&MIRROR, &ctx, 0, 0, &c), SPT_ERR_INVALID);
    assert_status(spt_comm_create(&MIRROR, &ctx, 2, 2, &c), SPT_ERR_INVALID);
    assert_status(spt_comm_create(&MIRROR, &ctx, -1, 2, &c), SPT_ERR_INVALID);
    assert_status(spt_comm_create(&MIRROR, &ctx, 0, 2, NULL), SPT_ERR_NULL);
    assert_int_equal(spt_comm_rank(NULL), -1);
    assert_int_equal(spt_comm_size(NULL), -1);
    spt_comm_destroy(NULL);
    spt_comm_reset_stats(NULL);
    assert_status(spt_comm_create(&MIRROR, &ctx, 1, 3, &c), SPT_OK);
    assert_int_equal(spt_comm_rank(c), 1);
    assert_int_equal(spt_comm_size(c), 3);
    spt_comm_stats st;
    assert_status(spt_comm_get_stats(c, NULL), SPT_ERR_NULL);
    assert_status(spt_comm_get_stats(c, &st), SPT_OK);
    assert_int_equal(st.calls, 0);
    spt_comm_destroy(c);
    assert_status(spt_trainer_set_comm(NULL, NULL), SPT_ERR_NULL);
}

/* The shards of a batch, in rank order, are the batch; the position moves
 * by the whole batch; a batch too small for the ranks is refused. */
static void test_batcher_shards(void **state) {
    (void)state;
    enum { N = 50, F = 3, B = 16 };
    float img[N * F];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = i % 4;
        for (int f = 0; f < F; f++) img[i * F + f] = (float)(i * F + f);
    }
    spt_dataset *ds;
    assert_status(spt_dataset_from_float(img, lab, N, F, 1, 1, 4, &ds), SPT_OK);
    spt_batcher *whole, *part[3];
    assert_status(spt_batcher_create(ds, B, SPT_BATCH_SHUFFLE, 9, &whole), SPT_OK);
    for (int r = 0; r < 3; r++) {
        assert_status(spt_batcher_create(ds, B, SPT_BATCH_SHUFFLE, 9, &part[r]), SPT_OK);
        assert_status(spt_batcher_set_shard(part[r], r, 3), SPT_OK);
    }
    assert_status(spt_batcher_set_shard(whole, 3, 3), SPT_ERR_INVALID);
    assert_status(spt_batcher_set_shard(whole, 0, 17), SPT_ERR_SIZE);
    assert_status(spt_batcher_set_shard(NULL, 0, 1), SPT_ERR_NULL);
    float xw[B * F], xp[B * F];
    int32_t yw[B], yp[B];
    for (int b = 0; b < 5; b++) { /* 4 batches (the last of 2), then the epoch's end */
        int64_t nw, got = 0;
        assert_status(spt_batcher_next(whole, xw, B * F, yw, B, &nw), SPT_OK);
        for (int r = 0; r < 3; r++) {
            int64_t np;
            int rc = spt_batcher_next(part[r], xp, B * F, yp, B, &np);
            if (nw == 2 && r == 0) { /* 2 examples over 3 ranks: rank 0 gets none */
                assert_status(rc, SPT_ERR_SIZE);
                continue;
            }
            if (nw == 2) continue;
            assert_status(rc, SPT_OK);
            if (nw == 0) {
                assert_int_equal(np, 0);
                continue;
            }
            assert_int_equal(np, nw * (r + 1) / 3 - nw * r / 3);
            for (int64_t i = 0; i < np; i++) {
                assert_int_equal(yp[i], yw[got + i]);
                for (int f = 0; f < F; f++) assert_true(xp[f * np + i] == xw[f * nw + got + i]);
            }
            got += np;
        }
        if (nw > 2) assert_int_equal(got, nw);
        if (nw == 2) break;
    }
    for (int r = 0; r < 3; r++) spt_batcher_destroy(part[r]);
    spt_batcher_destroy(whole);
    spt_dataset_destroy(ds);
}

typedef struct run {
    spt_model *model;
    spt_trainer *tr;
    spt_optimizer *opt;
    spt_method_config *cfg;
} run;

static void run_free(run *r) {
    spt_trainer_destroy(r->tr);
    spt_model_destroy(r->model);
    spt_optimizer_destroy(r->opt);
    spt_method_config_destroy(r->cfg);
}

enum { C = 2, H = 6, K = 4, N = 8 };

static void make(run *r, bool resnet, int method, int64_t steps) {
    memset(r, 0, sizeof *r);
    if (resnet) {
        assert_status(spt_model_create_resnet(C, H, H, 1, 1, K, 5, &r->model), SPT_OK);
    } else {
        const int64_t widths[] = {C * H * H, 40, 24, K};
        assert_status(spt_model_create_mlp(widths, 4, 5, &r->model), SPT_OK);
    }
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r->opt), SPT_OK);
    spt_optimizer_set_param(r->opt, SPT_OPT_LR, 0.05);
    spt_optimizer_set_param(r->opt, SPT_OPT_MOMENTUM, 0.9);
    assert_status(spt_method_config_create(method, &r->cfg), SPT_OK);
    if (method != SPT_METHOD_DENSE) spt_method_config_set(r->cfg, SPT_MP_SPARSITY, 0.7);
    if (method == SPT_METHOD_RIGL || method == SPT_METHOD_SNFS) spt_method_config_set(r->cfg, SPT_MP_DELTA_T, 4);
    assert_status(spt_trainer_create(r->model, r->opt, NULL, r->cfg, steps, 5, &r->tr), SPT_OK);
}

static void batch(int s, float *x, int32_t *y) {
    for (int i = 0; i < N; i++) {
        y[i] = (s + i) % K;
        for (int j = 0; j < C * H * H; j++) x[j * N + i] = (float)((i * 7 + j * 3 + s) % 13) / 13.0f - 0.4f + 0.2f * (float)y[i];
    }
}

static bool same_bytes(const spt_trainer *a, const spt_trainer *b) {
    for (int64_t i = 0; i < a->model->n_params; i++) {
        const spti_param *p = a->model->params[i], *q = b->model->params[i];
        if (p->n != q->n || memcmp(p->value, q->value, (size_t)p->n * sizeof(float)) != 0) return false;
        if (p->kind == SPTI_PARAM_SPARSE &&
            memcmp(p->csr->col_idx, q->csr->col_idx, (size_t)p->n * sizeof(int32_t)) != 0)
            return false;
    }
    return true;
}

/* A run through the data-parallel path equals a plain run, bit for bit,
 * for RigL (streamed growth sums), SNFS (dense gradients every step), SNIP
 * (scoring passes), on an MLP and on a ResNet (batch norm, convolutions).
 * (With dropout the runs part by design: each rank draws its own masks.) */
static void test_mirror_equals_plain(void **state) {
    (void)state;
    const struct {
        bool resnet;
        int method;
    } cases[] = {{false, SPT_METHOD_RIGL}, {false, SPT_METHOD_SNFS}, {false, SPT_METHOD_SNIP}, {true, SPT_METHOD_RIGL}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t steps = 14;
        run plain, dp;
        make(&plain, cases[k].resnet, cases[k].method, steps);
        make(&dp, cases[k].resnet, cases[k].method, steps);
        mirror ctx = {0};
        spt_comm *c;
        assert_status(spt_comm_create(&MIRROR, &ctx, 0, 2, &c), SPT_OK);
        assert_status(spt_trainer_set_comm(dp.tr, c), SPT_OK);
        float x[N * C * H * H];
        int32_t y[N];
        for (int s = 0; s < steps; s++) {
            batch(s, x, y);
            double la, lb;
            int64_t ca, cb;
            assert_status(spt_trainer_step(plain.tr, x, y, N, &la, &ca), SPT_OK);
            int rc = spt_trainer_step(dp.tr, x, y, N, &lb, &cb);
            if (rc != SPT_OK) fail_msg("case %zu step %d: %s", k, s, spt_last_error());
            assert_true(fabs(la - lb) <= 1e-6 * fabs(la));
            assert_int_equal(cb, 2 * ca); /* the global batch: this rank and its mirror */
            if (!same_bytes(plain.tr, dp.tr)) fail_msg("case %zu: the runs differ after step %d", k, s);
        }
        if (cases[k].method == SPT_METHOD_RIGL) assert_true(dp.tr->update_steps > 0);
        spt_comm_stats st;
        assert_status(spt_comm_get_stats(c, &st), SPT_OK);
        assert_true(st.f32_bytes > 0 && st.calls >= 3 * steps);
        run_free(&plain);
        run_free(&dp);
        spt_comm_destroy(c);
    }
}

/* An engine that fails mid-step fails the step with its message and
 * changes nothing; a detached trainer trains alone. */
static void test_mirror_mlp_exact_and_engine_failure(void **state) {
    (void)state;
    run plain, dp;
    make(&plain, false, SPT_METHOD_RIGL, 20);
    make(&dp, false, SPT_METHOD_RIGL, 20);
    mirror ctx = {0};
    spt_comm *c;
    assert_status(spt_comm_create(&MIRROR, &ctx, 0, 2, &c), SPT_OK);
    assert_status(spt_trainer_set_comm(dp.tr, c), SPT_OK);
    float x[N * C * H * H];
    int32_t y[N];
    for (int s = 0; s < 12; s++) {
        batch(s, x, y);
        assert_status(spt_trainer_step(plain.tr, x, y, N, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_step(dp.tr, x, y, N, NULL, NULL), SPT_OK);
        assert_true(same_bytes(plain.tr, dp.tr));
    }
    assert_true(dp.tr->update_steps >= 2);
    /* The next float sum fails: the step fails, naming the engine's reason. */
    ctx.fail_f32_at = ctx.f32_calls + 1;
    batch(12, x, y);
    assert_status(spt_trainer_step(dp.tr, x, y, N, NULL, NULL), SPT_ERR_CALLBACK);
    assert_non_null(strstr(spt_last_error(), "link down"));
    int64_t step;
    spt_trainer_get_step(dp.tr, &step);
    assert_int_equal(step, 12);
    assert_true(same_bytes(plain.tr, dp.tr));
    /* Detached, the trainer trains alone. */
    assert_status(spt_trainer_set_comm(dp.tr, NULL), SPT_OK);
    assert_status(spt_trainer_step(dp.tr, x, y, N, NULL, NULL), SPT_OK);
    run_free(&plain);
    run_free(&dp);
    spt_comm_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_checks),
        cmocka_unit_test(test_batcher_shards),
        cmocka_unit_test(test_mirror_equals_plain),
        cmocka_unit_test(test_mirror_mlp_exact_and_engine_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
