/* Data-parallel training over MPI (sparsetrain/comm.h, sparsetrain/mpi.h),
 * run as `mpirun -np 2 test_mpi`: every rank runs every test in the same
 * order (the trainer's calls are collective).
 *
 *   equivalence   2 ranks x batch B/2 against 1 rank x batch B (each rank
 *                 also trains the 1-rank reference itself): the same masks
 *                 after every step of a RigL run, weights within 1e-4
 *                 after 300 steps; the ranks hold the same bits
 *   traffic       an ordinary step sums 4 bytes per stored value
 *   set_comm      ranks built from different seeds are refused
 *   mismatch      ranks whose drop fractions differ stop at the first update
 *   failing rank  a NaN or a bad label on one rank fails every rank with its
 *                 message, changes nothing, and training goes on
 *   epoch, eval, conv + batch norm, SNIP: the ranks stay identical
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sparsetrain.h"
#include "sparsetrain/mpi.h"
#include "../../src/train/trainer.h"

static spt_comm *comm;
static int rank, size;

enum { F = 32, K = 10, NEX = 1024, B = 32 };
static float images[NEX * F];
static int32_t labels[NEX];

/* Ten noisy clusters: learnable, the same on every rank. */
static void make_data(void) {
    uint64_t s = 12345;
    float centre[K][F];
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            centre[k][f] = (float)((s >> 40) % 2001) / 1000.0f - 1.0f;
        }
    for (int i = 0; i < NEX; i++) {
        labels[i] = i % K;
        for (int f = 0; f < F; f++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            images[i * F + f] = centre[i % K][f] + ((float)((s >> 40) % 2001) / 1000.0f - 1.0f) * 0.8f;
        }
    }
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
    memset(r, 0, sizeof *r);
}

/* An MLP F-64-48-K (no batch norm) under `method` at 80% sparsity. */
static void make_mlp(run *r, int method, uint64_t seed, double alpha, int64_t steps) {
    const int64_t widths[] = {F, 64, 48, K};
    assert_int_equal(spt_model_create_mlp(widths, 4, seed, &r->model), SPT_OK);
    assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r->opt), SPT_OK);
    spt_optimizer_set_param(r->opt, SPT_OPT_LR, 0.05);
    spt_optimizer_set_param(r->opt, SPT_OPT_MOMENTUM, 0.9);
    assert_int_equal(spt_method_config_create(method, &r->cfg), SPT_OK);
    if (method != SPT_METHOD_DENSE) {
        assert_int_equal(spt_method_config_set(r->cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
        /* (the sparse layers' masks and values come from the method's seed) */
        assert_int_equal(spt_method_config_set(r->cfg, SPT_MP_SEED, (double)seed), SPT_OK);
        if (method == SPT_METHOD_RIGL || method == SPT_METHOD_SET) {
            assert_int_equal(spt_method_config_set(r->cfg, SPT_MP_DELTA_T, 25), SPT_OK);
            assert_int_equal(spt_method_config_set(r->cfg, SPT_MP_ALPHA, alpha), SPT_OK);
        }
    }
    assert_int_equal(spt_trainer_create(r->model, r->opt, NULL, r->cfg, steps, seed, &r->tr), SPT_OK);
}

/* The masks of two trainers' models are the same. */
static bool same_masks(const spt_trainer *a, const spt_trainer *b) {
    const spti_model *ma = a->model, *mb = b->model;
    for (int64_t i = 0; i < ma->n_params; i++) {
        const spti_param *p = ma->params[i], *q = mb->params[i];
        if (p->kind != q->kind || p->n != q->n) return false;
        if (p->kind == SPTI_PARAM_SPARSE &&
            (memcmp(p->csr->row_ptr, q->csr->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t)) != 0 ||
             memcmp(p->csr->col_idx, q->csr->col_idx, (size_t)p->csr->nnz * sizeof(int32_t)) != 0))
            return false;
    }
    return true;
}

static double max_weight_diff(const spt_trainer *a, const spt_trainer *b) {
    double worst = 0.0;
    for (int64_t i = 0; i < a->model->n_params; i++) {
        const spti_param *p = a->model->params[i], *q = b->model->params[i];
        for (int64_t j = 0; j < p->n; j++) {
            double d = fabs((double)p->value[j] - (double)q->value[j]) / (1e-3 + fabs((double)q->value[j]));
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

/* A hash of every rank's weights, masks and running statistics: the same
 * on every rank (checked with MPI directly, not through the library). */
static uint64_t model_bytes_hash(const spt_trainer *t) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < t->model->n_params; i++) {
        const spti_param *p = t->model->params[i];
        const unsigned char *b = (const unsigned char *)p->value;
        for (size_t k = 0; k < (size_t)p->n * sizeof(float); k++) h = (h ^ b[k]) * 1099511628211ull;
    }
    return h;
}

static void assert_ranks_equal(uint64_t h) {
    uint64_t lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    assert_true(lo == hi);
}

/* Examples [lo, lo + m) of rows of `feat` floats, as the trainer takes a
 * batch: feature-major, "F x m". */
static void gather(const float *rows, int64_t feat, int64_t lo, int64_t m, float *dst) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t f = 0; f < feat; f++) dst[f * m + i] = rows[(lo + i) * feat + f];
}

/* The examples [at, at + n) of the data, this rank's share when sharded. */
static void batch_at(int64_t at, int64_t n, bool shard, const float **x, const int32_t **y, int64_t *m) {
    static float buf[B * F];
    int64_t lo = at, hi = at + n;
    if (shard) lo = at + n * rank / size, hi = at + n * (rank + 1) / size;
    gather(images, F, lo, hi - lo, buf);
    *x = buf;
    *y = labels + lo;
    *m = hi - lo;
}

static void test_equivalence(void **state) {
    (void)state;
    const int64_t steps = 300;
    run ref = {0}, dp = {0};
    make_mlp(&ref, SPT_METHOD_RIGL, 7, 0.3, steps);
    make_mlp(&dp, SPT_METHOD_RIGL, 7, 0.3, steps);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
    int updates = 0;
    for (int64_t s = 0; s < steps; s++) {
        const int64_t at = (s * B) % NEX;
        const float *x;
        const int32_t *y;
        int64_t m;
        double l_ref, l_dp;
        int64_t c_ref, c_dp;
        batch_at(at, B, false, &x, &y, &m);
        assert_int_equal(spt_trainer_step(ref.tr, x, y, m, &l_ref, &c_ref), SPT_OK);
        batch_at(at, B, true, &x, &y, &m);
        assert_int_equal(m, B / size);
        int rc = spt_trainer_step(dp.tr, x, y, m, &l_dp, &c_dp);
        if (rc != SPT_OK) fail_msg("step %lld: %s", (long long)s, spt_last_error());
        if (!(fabs(l_ref - l_dp) <= 1e-4 * (1.0 + fabs(l_ref))))
            fail_msg("step %lld: loss %.6f (1 rank) vs %.6f (%d ranks)", (long long)s, l_ref, l_dp, size);
        assert_int_equal(c_ref, c_dp);
        updates += ref.tr->last_update;
        if (!same_masks(ref.tr, dp.tr)) fail_msg("masks differ after step %lld", (long long)s);
    }
    assert_true(updates >= 5);
    const double d = max_weight_diff(dp.tr, ref.tr);
    if (rank == 0) printf("equivalence: %d topology updates, masks equal at every step, max weight diff %.3g\n", updates, d);
    assert_true(d < 1e-4);
    assert_ranks_equal(model_bytes_hash(dp.tr));
    /* The whole data set's evaluation, each rank a share. */
    spt_dataset *ds;
    assert_int_equal(spt_dataset_from_float(images, labels, NEX, F, 1, 1, K, &ds), SPT_OK);
    double la, aa, lb, ab;
    assert_int_equal(spt_trainer_evaluate(ref.tr, ds, 100, &la, &aa), SPT_OK);
    assert_int_equal(spt_trainer_evaluate(dp.tr, ds, 100, &lb, &ab), SPT_OK);
    assert_true(fabs(la - lb) < 1e-3);
    assert_true(fabs(aa - ab) < 2.0 / NEX);
    assert_true(aa > 0.5);
    spt_dataset_destroy(ds);
    run_free(&ref);
    run_free(&dp);
}

static void test_traffic(void **state) {
    (void)state;
    run dp = {0};
    make_mlp(&dp, SPT_METHOD_STATIC, 3, 0.3, 10);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
    int64_t stored = 0;
    for (int64_t i = 0; i < dp.tr->model->n_params; i++) stored += dp.tr->model->params[i]->n;
    const float *x;
    const int32_t *y;
    int64_t m;
    batch_at(0, B, true, &x, &y, &m);
    spt_comm_reset_stats(comm);
    assert_int_equal(spt_trainer_step(dp.tr, x, y, m, NULL, NULL), SPT_OK);
    spt_comm_stats st;
    assert_int_equal(spt_comm_get_stats(comm, &st), SPT_OK);
    /* the stored values' gradients, the loss, the correct count, a flag */
    assert_int_equal(st.f32_bytes, 4 * (stored + 3));
    assert_true(st.u64_bytes <= 64);
    double sp;
    int64_t nnz, dense;
    assert_int_equal(spt_trainer_sparsity(dp.tr, &sp, &nnz, &dense), SPT_OK);
    assert_true(stored < dense / 3); /* 80% sparse: far less than the dense size */
    run_free(&dp);
}

static void test_set_comm_refuses_different_models(void **state) {
    (void)state;
    run dp = {0};
    make_mlp(&dp, SPT_METHOD_RIGL, 100 + (uint64_t)rank, 0.3, 10);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_ERR_STATE);
    assert_non_null(strstr(spt_last_error(), "differ"));
    spt_comm *c = (spt_comm *)1;
    assert_int_equal(spt_trainer_get_comm(dp.tr, &c), SPT_OK);
    assert_null(c);
    run_free(&dp);
}

static void test_mismatch_caught(void **state) {
    (void)state;
    run dp = {0};
    make_mlp(&dp, SPT_METHOD_RIGL, 9, rank == 0 ? 0.3 : 0.5, 100);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
    int rc = SPT_OK;
    int64_t s = 0;
    for (; s < 100 && rc == SPT_OK; s++) {
        const float *x;
        const int32_t *y;
        int64_t m;
        batch_at((s * B) % NEX, B, true, &x, &y, &m);
        rc = spt_trainer_step(dp.tr, x, y, m, NULL, NULL);
    }
    assert_int_equal(rc, SPT_ERR_STATE);
    assert_int_equal(s, 26); /* the step of the first update (delta_t 25), which failed */
    assert_non_null(strstr(spt_last_error(), "masks differ"));
    const float *x;
    const int32_t *y;
    int64_t m;
    batch_at(0, B, true, &x, &y, &m);
    assert_int_equal(spt_trainer_step(dp.tr, x, y, m, NULL, NULL), SPT_ERR_STATE); /* and stays stopped */
    run_free(&dp);
}

static void test_failing_rank(void **state) {
    (void)state;
    run dp = {0};
    make_mlp(&dp, SPT_METHOD_RIGL, 11, 0.3, 100);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
    float x[B * F];
    int32_t y[B];
    const float *px;
    const int32_t *py;
    int64_t m;
    batch_at(0, B, true, &px, &py, &m);
    memcpy(x, px, (size_t)(m * F) * sizeof(float));
    memcpy(y, py, (size_t)m * sizeof(int32_t));
    assert_int_equal(spt_trainer_step(dp.tr, x, y, m, NULL, NULL), SPT_OK);
    const uint64_t before = model_bytes_hash(dp.tr);
    /* A NaN on the last rank: every rank fails with its message. */
    if (rank == size - 1) x[3] = NAN;
    int rc = spt_trainer_step(dp.tr, x, y, m, NULL, NULL);
    assert_int_equal(rc, SPT_ERR_NONFINITE);
    if (rank != size - 1) {
        char want[64];
        snprintf(want, sizeof want, "rank %d of %d: ", size - 1, size);
        assert_non_null(strstr(spt_last_error(), want));
    }
    assert_true(model_bytes_hash(dp.tr) == before);
    int64_t step;
    spt_trainer_get_step(dp.tr, &step);
    assert_int_equal(step, 1);
    if (rank == size - 1) batch_at(0, B, true, &px, &py, &m), x[3] = px[3];
    /* A label out of range on rank 0: refused everywhere before the forward. */
    if (rank == 0) y[0] = 99;
    assert_int_equal(spt_trainer_step(dp.tr, x, y, m, NULL, NULL), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "label 99"));
    y[0] = py[0];
    /* Then training goes on. */
    assert_int_equal(spt_trainer_step(dp.tr, x, y, m, NULL, NULL), SPT_OK);
    assert_ranks_equal(model_bytes_hash(dp.tr));
    run_free(&dp);
}

/* train_epoch over a sharded batcher; a batcher without the shard is refused. */
static void test_epoch(void **state) {
    (void)state;
    spt_dataset *ds;
    assert_int_equal(spt_dataset_from_float(images, labels, NEX, F, 1, 1, K, &ds), SPT_OK);
    run dp = {0};
    make_mlp(&dp, SPT_METHOD_SET, 5, 0.3, 2 * NEX / B);
    assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
    spt_batcher *b;
    assert_int_equal(spt_batcher_create(ds, B, SPT_BATCH_SHUFFLE, 1, &b), SPT_OK);
    double loss, acc;
    assert_int_equal(spt_trainer_train_epoch(dp.tr, b, NULL, NULL, &loss, &acc), SPT_ERR_STATE);
    assert_non_null(strstr(spt_last_error(), "spt_batcher_set_shard"));
    assert_int_equal(spt_batcher_set_shard(b, rank, size), SPT_OK);
    for (int e = 0; e < 2; e++) assert_int_equal(spt_trainer_train_epoch(dp.tr, b, NULL, NULL, &loss, &acc), SPT_OK);
    assert_true(acc > 0.3);
    assert_ranks_equal(model_bytes_hash(dp.tr));
    spt_batcher_destroy(b);
    spt_dataset_destroy(ds);
    run_free(&dp);
}

/* A small ResNet (batch norm, convolutions' dense gradients for RigL) and
 * SNIP (scores on data): the ranks stay identical. */
static void test_conv_and_snip(void **state) {
    (void)state;
    enum { C = 3, H = 8, N = 64 };
    static float img[N * C * H * H];
    static int32_t lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = i % K;
        for (int j = 0; j < C * H * H; j++) img[i * C * H * H + j] = (float)((i * 7 + j * 13) % 17) / 17.0f - 0.5f + 0.1f * (float)(i % K);
    }
    const int methods[] = {SPT_METHOD_RIGL, SPT_METHOD_SNIP};
    for (int k = 0; k < 2; k++) {
        run r = {0};
        assert_int_equal(spt_model_create_resnet(C, H, H, 1, 1, K, 3, &r.model), SPT_OK);
        assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r.opt), SPT_OK);
        spt_optimizer_set_param(r.opt, SPT_OPT_LR, 0.05);
        assert_int_equal(spt_method_config_create(methods[k], &r.cfg), SPT_OK);
        spt_method_config_set(r.cfg, SPT_MP_SPARSITY, 0.8);
        if (methods[k] == SPT_METHOD_RIGL) spt_method_config_set(r.cfg, SPT_MP_DELTA_T, 5);
        assert_int_equal(spt_trainer_create(r.model, r.opt, NULL, r.cfg, 20, 3, &r.tr), SPT_OK);
        assert_int_equal(spt_trainer_set_comm(r.tr, comm), SPT_OK);
        for (int s = 0; s < 20; s++) {
            const int64_t lo = 16 * rank / size, hi = 16 * (rank + 1) / size, at = (s * 16) % N;
            static float xb[16 * C * H * H];
            gather(img, C * H * H, at + lo, hi - lo, xb);
            int rc = spt_trainer_step(r.tr, xb, lab + at + lo, hi - lo, NULL, NULL);
            if (rc != SPT_OK) fail_msg("%s step %d: %s", spt_method_name(methods[k]), s, spt_last_error());
        }
        assert_true(r.tr->update_steps > 0 || methods[k] == SPT_METHOD_SNIP);
        assert_ranks_equal(model_bytes_hash(r.tr));
        run_free(&r);
    }
}

/* Synchronised batch norm: 2 ranks of B/2 train a ResNet as 1 process of B
 * does (up to rounding); with each rank's own statistics they do not. */
static void test_sync_batchnorm(void **state) {
    (void)state;
    enum { C = 3, H = 8, NB = 16, STEPS = 8 };
    static float img[NB * STEPS * C * H * H];
    static int32_t lab[NB * STEPS];
    for (int i = 0; i < NB * STEPS; i++) {
        lab[i] = i % K;
        for (int j = 0; j < C * H * H; j++)
            img[i * C * H * H + j] = (float)((i * 31 + j * 17) % 23) / 23.0f - 0.5f + 0.15f * (float)(i % K);
    }
    double worst[2] = {0, 0};
    for (int sync = 0; sync < 2; sync++) {
        run ref = {0}, dp = {0};
        for (int k = 0; k < 2; k++) {
            run *r = k ? &dp : &ref;
            assert_int_equal(spt_model_create_resnet(C, H, H, 1, 1, K, 3, &r->model), SPT_OK);
            assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r->opt), SPT_OK);
            spt_optimizer_set_param(r->opt, SPT_OPT_LR, 0.05);
            assert_int_equal(spt_method_config_create(SPT_METHOD_DENSE, &r->cfg), SPT_OK);
            assert_int_equal(spt_trainer_create(r->model, r->opt, NULL, r->cfg, STEPS, 3, &r->tr), SPT_OK);
        }
        assert_int_equal(spt_trainer_set_comm(dp.tr, comm), SPT_OK);
        assert_int_equal(spt_trainer_set_sync_batchnorm(dp.tr, sync), SPT_OK);
        static float xb[NB * C * H * H];
        for (int s = 0; s < STEPS; s++) {
            double la, lb;
            gather(img, C * H * H, s * NB, NB, xb);
            assert_int_equal(spt_trainer_step(ref.tr, xb, lab + s * NB, NB, &la, NULL), SPT_OK);
            const int64_t lo = NB * rank / size, hi = NB * (rank + 1) / size;
            gather(img, C * H * H, s * NB + lo, hi - lo, xb);
            int rc = spt_trainer_step(dp.tr, xb, lab + s * NB + lo, hi - lo, &lb, NULL);
            if (rc != SPT_OK) fail_msg("sync %d step %d: %s", sync, s, spt_last_error());
            const double d = fabs(la - lb) / fabs(la);
            worst[sync] = d > worst[sync] ? d : worst[sync];
        }
        assert_ranks_equal(model_bytes_hash(dp.tr));
        run_free(&ref);
        run_free(&dp);
    }
    if (rank == 0) printf("sync batch norm: loss vs 1 process within %.2g (own statistics: %.2g)\n", worst[1], worst[0]);
    assert_true(worst[1] < 1e-4);
    assert_true(worst[0] > 10 * worst[1]);
}

int main(void) {
    if (spt_comm_create_mpi_world(&comm) != SPT_OK) {
        fprintf(stderr, "test_mpi: %s\n", spt_last_error());
        return 1;
    }
    rank = spt_comm_rank(comm);
    size = spt_comm_size(comm);
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equivalence),
        cmocka_unit_test(test_traffic),
        cmocka_unit_test(test_set_comm_refuses_different_models),
        cmocka_unit_test(test_mismatch_caught),
        cmocka_unit_test(test_failing_rank),
        cmocka_unit_test(test_epoch),
        cmocka_unit_test(test_conv_and_snip),
        cmocka_unit_test(test_sync_batchnorm),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* Every rank's verdict: a failure on any rank fails the test everywhere. */
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    spt_comm_destroy(comm);
    return failed ? 1 : 0;
}
