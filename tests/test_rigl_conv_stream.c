/* RigL on convolutions streams its dense gradient (issue 17): a SPARSE
 * convolution asked for growth candidates computes dY . im2col(x)^T in the
 * blocks of the full dense_grad path (row blocks, or one group per block)
 * and feeds them to the growth collector instead of filling a rows x cols
 * buffer (nn/conv2d.c, kernels/grow_collector.c).
 *
 * Equality: whole RigL runs of a small ResNet and of a network of plain,
 * grouped, depthwise, pointwise and wide (several row blocks) convolutions
 * give the same bytes (patterns, values, optimizer slots) after every step
 * as the same runs through the full path, on 1 and 2 threads. The full path
 * is the one every convolution took before: the method's begin_step with
 * request.grow_k cleared on the convolutions, so that they fill dense_grad
 * and grow from it (spti_grow_by_score).
 *
 * Data-parallel: over a "mirror" engine (a rank 0 of 2 whose partner is its
 * exact copy, as in test_comm.c) the streamed run of the grouped network,
 * each block summed over the ranks, equals the plain run bit for bit; a
 * rank that failed before a grouped weight's stream makes the same sums
 * (spti_grow_collect_drain) as the stream.
 *
 * Memory: the update step of a wide convolution (1024 x 4608, five row
 * blocks) allocates about one block beyond its nonzeros' share, where the
 * full path allocates the whole rows x cols gradient. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "kernels/grow_collector.h"
#include "test_support.h"
#include "train/trainer.h"

enum { K = 3 };

/* ---- the full path, through the method's hooks ------------------------------- */

static const spti_method_ops *rigl_ops;
static spti_method_ops full_ops, checked_ops;
static int conv_streamed; /* convolutions the streamed runs saw streaming */

/* begin_step, then the convolutions as before streaming: dense_grad only. */
static int full_begin(spti_method *m, int64_t step) {
    const int rc = rigl_ops->begin_step(m, step);
    for (int l = 0; l < m->n_weights; l++)
        if (m->weights[l]->ndim == 4) m->weights[l]->request.grow_k = 0;
    return rc;
}

/* The streamed run's convolutions asked for candidates hold a filled
 * collector and no dense gradient. */
static int checked_after_backward(spti_method *m, int64_t step, bool *skip) {
    for (int l = 0; l < m->n_weights; l++) {
        const spti_param *p = m->weights[l];
        if (p->ndim != 4 || p->request.grow_k < 1) continue;
        assert_null(p->result.dense_grad);
        assert_non_null(p->result.grow);
        assert_true(p->result.grow->filled);
        assert_null(p->result.grow->lane[0].block); /* the stream's scratch is gone */
        conv_streamed++;
    }
    return rigl_ops->after_backward(m, step, skip);
}

/* ---- runs ----------------------------------------------------------------------- */

typedef struct run {
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t;
} run;

/* c1 3x3 16, c2 3x3 stride 2 in 2 groups, dw 3x3 depthwise, c3 1x1 to 256,
 * wide 3x3 256 -> 512 stride 2 (cols 2304: row blocks of 455, two of them),
 * then a linear classifier. */
static spt_model *conv_model(void) {
    spt_net *net = NULL;
    int64_t node;
    assert_status(spt_net_create(4, 8, 8, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c1", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 16), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r1", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c2", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 32), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_STRIDE, 2), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_GROUPS, 2), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r2", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "dw", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 64), SPT_OK); /* depth multiplier 2 */
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_GROUPS, 32), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r3", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c3", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 256), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_KERNEL, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r4", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "wide", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 512), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_STRIDE, 2), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r5", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, "flat", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, K), SPT_OK);
    spt_model *model = NULL;
    assert_status(spt_model_create(net, 5, &model), SPT_OK);
    spt_net_destroy(net);
    return model;
}

enum { BATCH = 16, STEPS = 14, DT = 3 };

/* A RigL run (delta_t 3, T_end 10: updates at 3, 6, 9) of a ResNet
 * (3 x 8 x 8, one block per stage) at 80% sparsity (ERK), or of conv_model
 * at densities 0.5, 0.4, 0.5, 0.3, 0.1 and a dense classifier; `full`: the
 * convolutions take the full path. */
static run start(bool resnet, bool full, double seed) {
    run r = {0};
    if (resnet) assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, K, 5, &r.model), SPT_OK);
    else r.model = conv_model();
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r.opt), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, DT), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, seed), SPT_OK);
    if (!resnet) { /* ERK would leave the small ones dense */
        const double dens[6] = {0.5, 0.4, 0.5, 0.3, 0.1, 1.0};
        assert_status(spt_method_config_set_densities(cfg, dens, 6), SPT_OK);
    }
    assert_status(spt_trainer_create(r.model, r.opt, NULL, cfg, STEPS, 3, &r.t), SPT_OK);
    spt_method_config_destroy(cfg);
    int sparse_convs = 0, grouped = 0;
    for (int l = 0; l < r.t->n_weights; l++) {
        const spti_param *p = r.t->weights[l];
        sparse_convs += p->ndim == 4 && p->kind == SPTI_PARAM_SPARSE;
        grouped += p->ndim == 4 && p->kind == SPTI_PARAM_SPARSE && p->groups > 1;
    }
    assert_true(sparse_convs >= (resnet ? 5 : 4));
    if (!resnet) assert_true(grouped >= 1);
    rigl_ops = r.t->method->ops;
    full_ops = *rigl_ops;
    full_ops.begin_step = full_begin;
    checked_ops = *rigl_ops;
    checked_ops.after_backward = checked_after_backward;
    r.t->method->ops = full ? &full_ops : &checked_ops;
    return r;
}

static void finish(run *r) {
    spt_trainer_destroy(r->t);
    spt_optimizer_destroy(r->opt);
    spt_model_destroy(r->model);
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

/* Same forms, patterns, values and optimizer slots in every parameter. */
static bool same_params(const run *a, const run *b) {
    const spti_model *ma = a->t->model, *mb = b->t->model;
    if (ma->n_params != mb->n_params) return false;
    for (int64_t l = 0; l < ma->n_params; l++) {
        const spti_param *p = ma->params[l], *q = mb->params[l];
        if (p->kind != q->kind || p->n != q->n || memcmp(p->value, q->value, (size_t)p->n * sizeof(float)) != 0)
            return false;
        for (int s = 0; s < SPTI_MAX_SLOTS; s++)
            if ((p->opt.slot[s] == NULL) != (q->opt.slot[s] == NULL) ||
                (p->opt.slot[s] && memcmp(p->opt.slot[s], q->opt.slot[s], (size_t)p->n * sizeof(float)) != 0))
                return false;
        if (p->kind == SPTI_PARAM_SPARSE &&
            (memcmp(p->csr->row_ptr, q->csr->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t)) != 0 ||
             memcmp(p->csr->col_idx, q->csr->col_idx, (size_t)p->n * sizeof(int32_t)) != 0))
            return false;
    }
    return true;
}

/* The streamed and the full path, step after step, on 1 and 2 threads. */
static void streamed_equals_full(bool resnet) {
    const int threads_before = spt_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        run a = start(resnet, false, 11), b = start(resnet, true, 11);
        const int64_t feat = spti_shape_size(a.t->model->in_shape);
        float *x = malloc((size_t)(feat * BATCH) * sizeof(float));
        int32_t y[BATCH];
        conv_streamed = 0;
        for (int64_t s = 0; s < STEPS; s++) {
            batch(s, feat, x, y);
            double la = 0.0, lb = 0.0;
            assert_status(spt_trainer_step(a.t, x, y, BATCH, &la, NULL), SPT_OK);
            assert_status(spt_trainer_step(b.t, x, y, BATCH, &lb, NULL), SPT_OK);
            assert_true(la == lb);
            assert_true(same_params(&a, &b));
        }
        int64_t ua = 0, ub = 0;
        assert_status(spt_trainer_last_update(a.t, NULL, &ua), SPT_OK);
        assert_status(spt_trainer_last_update(b.t, NULL, &ub), SPT_OK);
        assert_true(ua >= 3 && ua == ub);
        assert_true(conv_streamed >= 3 * (resnet ? 5 : 4));
        free(x);
        finish(&a);
        finish(&b);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

static void test_resnet_streamed_equals_full(void **state) {
    (void)state;
    streamed_equals_full(true);
}

static void test_grouped_streamed_equals_full(void **state) {
    (void)state;
    streamed_equals_full(false);
}

/* ---- data-parallel ------------------------------------------------------------------ */

/* A mirror engine: every sum doubles; the lengths of its float sums are
 * recorded. */
typedef struct mirror {
    int64_t len[256];
    int n;
} mirror;

static int m_f32(void *ctx, float *buf, int64_t n) {
    mirror *m = ctx;
    if (m->n < 256) m->len[m->n] = n;
    m->n++;
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

static void test_grouped_mirror_equals_plain(void **state) {
    (void)state;
    run a = start(false, false, 11), b = start(false, false, 11);
    mirror ctx = {0};
    spt_comm *c = NULL;
    assert_status(spt_comm_create(&MIRROR, &ctx, 0, 2, &c), SPT_OK);
    assert_status(spt_trainer_set_comm(b.t, c), SPT_OK);
    const int64_t feat = spti_shape_size(a.t->model->in_shape);
    float *x = malloc((size_t)(feat * BATCH) * sizeof(float));
    int32_t y[BATCH];
    for (int64_t s = 0; s < STEPS; s++) {
        batch(s, feat, x, y);
        assert_status(spt_trainer_step(a.t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_status(spt_trainer_step(b.t, x, y, BATCH, NULL, NULL), SPT_OK);
        assert_true(same_params(&a, &b));
    }
    assert_true(b.t->update_steps >= 3);
    free(x);
    finish(&a);
    finish(&b);
    spt_comm_destroy(c);
}

/* The drain of a grouped weight makes the stream's sums, of the same
 * lengths in the same order (the blocks' scores, then each block). */
static void test_grouped_drain(void **state) {
    (void)state;
    enum { G = 4, R = 6, C = 18, NC = 10 };
    const int64_t rows = G * R;
    int64_t pos[40];
    for (int i = 0; i < 40; i++) pos[i] = (int64_t)i * 11 % (rows * C);
    for (int i = 1; i < 40; i++) /* sorted */
        for (int j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
            const int64_t t = pos[j];
            pos[j] = pos[j - 1];
            pos[j - 1] = t;
        }
    spti_param *w = NULL;
    const int64_t shape[2] = {rows, C};
    assert_int_equal(spti_param_create("w", 2, shape, true, &w), SPT_OK);
    assert_int_equal(spti_param_sparsify(w, pos, 40), SPT_OK);
    float dy[G * R * NC], X[G * C * NC];
    spti_rng g;
    spti_rng_seed(&g, 3);
    for (int i = 0; i < G * R * NC; i++) dy[i] = spti_rng_normal(&g);
    for (int i = 0; i < G * C * NC; i++) X[i] = spti_rng_normal(&g);
    mirror a = {0}, b = {0};
    spt_comm *ca = NULL, *cb = NULL;
    assert_status(spt_comm_create(&MIRROR, &a, 0, 2, &ca), SPT_OK);
    assert_status(spt_comm_create(&MIRROR, &b, 0, 2, &cb), SPT_OK);
    const spti_reduce ra = {ca, 0.5f, false}, rb = {cb, 0.5f, false};
    spti_grow_collector *col = NULL;
    assert_int_equal(spti_grow_collect(&col, w->csr, 5, dy, X, NC, G, false, &ra, NULL), SPT_OK);
    assert_int_equal(col->block_rows, R);
    assert_int_equal(spti_grow_collect_drain(rows, C, G, &rb), SPT_OK);
    assert_int_equal(a.n, 1 + G);
    assert_int_equal(b.n, a.n);
    assert_int_equal(a.len[0], G);
    for (int i = 0; i < a.n; i++) assert_int_equal(a.len[i], b.len[i]);
    for (int i = 1; i < a.n; i++) assert_int_equal(a.len[i], R * C);
    spti_grow_collector_destroy(col);
    spti_param_destroy(w);
    spt_comm_destroy(ca);
    spt_comm_destroy(cb);
}

/* ---- memory of the update step of a wide convolution --------------------------- */

/* An allocator that counts the live bytes (a header holds each block's
 * size) and their peak while `watch` is set. */
static atomic_llong live, peak;

static void *counting_alloc(size_t size, void *user) {
    (void)user;
    unsigned char *p = malloc(size + 64);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    const long long now = atomic_fetch_add(&live, (long long)size) + (long long)size;
    long long cur = atomic_load(&peak);
    while (now > cur && !atomic_compare_exchange_weak(&peak, &cur, now)) {
    }
    return p + 64;
}

static void counting_free(void *ptr, void *user) {
    (void)user;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 64;
    size_t size;
    memcpy(&size, p, sizeof size);
    atomic_fetch_sub(&live, (long long)size);
    free(p);
}

enum { WC = 512, WO = 1024, WN = 4 };

/* 512 x 4 x 4 -> conv 3x3 1024 (pad 1; density 0.01: 1024 x 4608, 47,186
 * nonzeros, five row blocks of 227) -> linear; RigL, an update every 2nd
 * step. */
static run wide_run(bool full) {
    spt_net *net = NULL;
    int64_t node;
    assert_status(spt_net_create(WC, 4, 4, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "wide", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, WO), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, "flat", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, K), SPT_OK);
    run r = {0};
    assert_status(spt_model_create(net, 3, &r.model), SPT_OK);
    spt_net_destroy(net);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r.opt), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_LR, 0.01), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
    const double dens[2] = {0.01, 1.0};
    assert_status(spt_method_config_set_densities(cfg, dens, 2), SPT_OK);
    assert_status(spt_trainer_create(r.model, r.opt, NULL, cfg, 10, 1, &r.t), SPT_OK);
    spt_method_config_destroy(cfg);
    rigl_ops = r.t->method->ops;
    full_ops = *rigl_ops;
    full_ops.begin_step = full_begin;
    if (full) r.t->method->ops = &full_ops;
    return r;
}

/* Peak live bytes above those at the start of an ordinary (1) and of an
 * update step (2) of the wide run. */
static void wide_peaks(bool full, long long *ordinary, long long *update, const spti_param **w) {
    static float x[WC * 16 * WN];
    int32_t y[WN];
    spti_rng g;
    spti_rng_seed(&g, 7);
    run r = wide_run(full);
    *w = r.t->weights[0];
    assert_true((*w)->kind == SPTI_PARAM_SPARSE && (*w)->rows == WO && (*w)->cols == WC * 9);
    for (int s = 0; s < 3; s++) {
        /* A new batch each step (a batch seen twice is learnt: its gradient vanishes) */
        for (int i = 0; i < WC * 16 * WN; i++) x[i] = 0.1f * spti_rng_normal(&g);
        for (int i = 0; i < WN; i++) y[i] = (int32_t)spti_rng_below(&g, K);
        const long long base = atomic_load(&live);
        atomic_store(&peak, base);
        assert_status(spt_trainer_step(r.t, x, y, WN, NULL, NULL), SPT_OK);
        if (s == 1) *ordinary = atomic_load(&peak) - base;
        if (s == 2) *update = atomic_load(&peak) - base;
    }
    int updated = 0;
    assert_status(spt_trainer_last_update(r.t, &updated, NULL), SPT_OK);
    assert_true(updated);
    finish(&r);
}

static void test_wide_update_memory(void **state) {
    (void)state;
    const int threads_before = spt_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        assert_int_equal(spt_set_allocator(counting_alloc, counting_free, NULL), SPT_OK);
        long long ord_s = 0, upd_s = 0, ord_f = 0, upd_f = 0;
        const spti_param *w = NULL;
        wide_peaks(false, &ord_s, &upd_s, &w);
        const long long cells = (long long)WO * WC * 9, nnz = (long long)(0.01 * (double)cells + 0.5);
        const long long block = (long long)spti_grad_block_rows(WC * 9) * WC * 9 * (long long)sizeof(float);
        wide_peaks(true, &ord_f, &upd_f, &w);
        assert_int_equal(spt_set_allocator(NULL, NULL, NULL), SPT_OK);
        print_message("threads %d: ordinary step %lld B, update step %lld B streamed, %lld B full "
                      "(rows x cols: %lld B, one block: %lld B, nnz %lld)\n",
                      threads, ord_s, upd_s, upd_f, cells * 4, block, nnz);
        /* The full path holds the rows x cols gradient; the stream one
         * block, its candidates (~4k of them, 12 bytes each), the active
         * gradient and the update's O(nnz) lists. */
        assert_true(upd_f - ord_f >= cells * 4);
        assert_true(upd_s - ord_s <= block + 64 * nnz + (1 << 20));
        assert_true(upd_s - ord_s < cells * 4 / 2);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet_streamed_equals_full),
        cmocka_unit_test(test_grouped_streamed_equals_full),
        cmocka_unit_test(test_grouped_mirror_equals_plain),
        cmocka_unit_test(test_grouped_drain),
        cmocka_unit_test(test_wide_update_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
