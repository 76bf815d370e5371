/* The non-weight layers: batch norm, ReLU, dropout, pooling, flatten
 * (residual blocks: tests/test_net.c). Forward against naive references, backward against
 * central finite differences of L = sum(r .* y) for a fixed random r. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/layers.h"
#include "test_support.h"

/* ---- helpers ------------------------------------------------------------- */

static float *rand_buf(int64_t n, spti_rng *r, float scale) {
    float *v = malloc((size_t)n * sizeof(float));
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = scale * spti_rng_normal(r);
    return v;
}

static int64_t in_elems(const spti_layer *L, int64_t N) { return spti_shape_size(L->in_shape) * N; }
static int64_t out_elems(const spti_layer *L, int64_t N) { return spti_shape_size(L->out_shape) * N; }

/* L(x) = sum r .* f(x), in double. `seed` fixes the rng every forward sees. */
static double probe_loss(spti_layer *L, const float *x, const float *r, int64_t N, bool training, uint64_t seed) {
    int64_t no = out_elems(L, N);
    float *y = malloc((size_t)no * sizeof(float));
    spti_rng g;
    spti_rng_seed(&g, seed);
    spti_fwd_ctx ctx = {training, &g, NULL};
    assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
    double s = 0.0;
    for (int64_t i = 0; i < no; i++) s += (double)r[i] * y[i];
    free(y);
    return s;
}

/* Compare backward's dx and parameter gradients with central differences.
 * Returns the largest error |a - fd| / (atol + |fd|) seen (should be < 1). */
static void gradcheck_layer(spti_layer *L, int64_t N, bool training, double eps, double atol, double rtol,
                            uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    int64_t ni = in_elems(L, N), no = out_elems(L, N);
    float *x = rand_buf(ni, &rng, 1.0f), *r = rand_buf(no, &rng, 1.0f);
    float *y = malloc((size_t)no * sizeof(float)), *dx = malloc((size_t)ni * sizeof(float));
    for (int p = 0; p < L->n_params; p++) {
        spti_param *q = L->params[p];
        for (int64_t k = 0; k < q->n; k++) q->value[k] += 0.3f * spti_rng_normal(&rng);
        memset(q->grad, 0, (size_t)q->n * sizeof(float));
    }
    spti_rng g;
    spti_rng_seed(&g, seed + 1);
    spti_fwd_ctx ctx = {training, &g, NULL};
    assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
    assert_int_equal(L->ops->backward(L, x, y, r, dx, N), SPT_OK);
    for (int64_t i = 0; i < ni; i++) {
        float keep = x[i];
        x[i] = keep + (float)eps;
        double lp = probe_loss(L, x, r, N, training, seed + 1);
        x[i] = keep - (float)eps;
        double lm = probe_loss(L, x, r, N, training, seed + 1);
        x[i] = keep;
        double fd = (lp - lm) / (2 * eps);
        if (fabs(dx[i] - fd) > atol + rtol * fabs(fd)) fail_msg("%s dx[%lld]: %g vs fd %g", L->name, (long long)i, dx[i], fd);
    }
    for (int p = 0; p < L->n_params; p++) {
        spti_param *q = L->params[p];
        for (int64_t k = 0; k < q->n; k++) {
            float keep = q->value[k];
            q->value[k] = keep + (float)eps;
            double lp = probe_loss(L, x, r, N, training, seed + 1);
            q->value[k] = keep - (float)eps;
            double lm = probe_loss(L, x, r, N, training, seed + 1);
            q->value[k] = keep;
            double fd = (lp - lm) / (2 * eps);
            if (fabs(q->grad[k] - fd) > atol + rtol * fabs(fd))
                fail_msg("%s grad[%lld]: %g vs fd %g", q->name, (long long)k, q->grad[k], fd);
        }
    }
    /* dx == NULL: the parameter gradients are still accumulated (added). */
    float *g0 = NULL;
    if (L->n_params) {
        spti_param *q = L->params[0];
        g0 = malloc((size_t)q->n * sizeof(float));
        memcpy(g0, q->grad, (size_t)q->n * sizeof(float));
        spti_rng_seed(&g, seed + 1);
        assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_int_equal(L->ops->backward(L, x, y, r, NULL, N), SPT_OK);
        for (int64_t k = 0; k < q->n; k++) assert_true(fabsf(q->grad[k] - 2 * g0[k]) <= 1e-4f * (1 + fabsf(g0[k])));
    }
    free(g0);
    free(x);
    free(r);
    free(y);
    free(dx);
}

static void run_fwd(spti_layer *L, const float *x, float *y, int64_t N, bool training, uint64_t seed) {
    spti_rng g;
    spti_rng_seed(&g, seed);
    spti_fwd_ctx ctx = {training, &g, NULL};
    assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
}

/* ---- batch norm ------------------------------------------------------------ */

static void test_batchnorm_forward_and_running(void **state) {
    (void)state;
    const int64_t C = 3, H = 2, W = 3, N = 5, M = H * W * N;
    spti_layer *L;
    assert_int_equal(spti_batchnorm2d_create("bn", C, H, W, &L), SPT_OK);
    assert_string_equal(L->ops->kind, "batchnorm");
    assert_int_equal(L->n_params, 2);
    assert_string_equal(L->params[0]->name, "bn.weight");
    assert_string_equal(L->params[1]->name, "bn.bias");
    assert_false(L->params[0]->is_weight);
    assert_true(L->params[0]->no_weight_decay && L->params[1]->no_weight_decay);
    float *rm, *rv;
    int64_t c;
    assert_int_equal(spti_batchnorm_running(L, &rm, &rv, &c), SPT_OK);
    assert_int_equal(c, C);
    for (int64_t i = 0; i < C; i++) assert_true(rm[i] == 0.0f && rv[i] == 1.0f && L->params[0]->value[i] == 1.0f);
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    float *x = rand_buf(C * M, &rng, 2.0f), *y = malloc(C * M * sizeof(float));
    for (int64_t i = 0; i < C * M; i++) x[i] += 3.0f; /* non-zero mean */
    for (int64_t i = 0; i < C; i++) {
        L->params[0]->value[i] = 0.5f + (float)i;
        L->params[1]->value[i] = -1.0f + (float)i;
    }
    run_fwd(L, x, y, N, true, 0);
    double mean[3], var[3];
    for (int64_t ch = 0; ch < C; ch++) {
        double s = 0, q = 0;
        /* index through (c, h, w, n) explicitly */
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t n = 0; n < N; n++) s += x[((ch * H + h) * W + w) * N + n];
        mean[ch] = s / M;
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t n = 0; n < N; n++) {
                    double d = x[((ch * H + h) * W + w) * N + n] - mean[ch];
                    q += d * d;
                }
        var[ch] = q / M;
        for (int64_t i = 0; i < M; i++) {
            double ref = (0.5 + ch) * (x[ch * M + i] - mean[ch]) / sqrt(var[ch] + 1e-5) + (-1.0 + ch);
            assert_true(fabs(y[ch * M + i] - ref) < 1e-4 * (1 + fabs(ref)));
        }
        assert_true(fabs(rm[ch] - 0.1 * mean[ch]) < 1e-5 * (1 + fabs(mean[ch])));
        assert_true(fabs(rv[ch] - (0.9 + 0.1 * var[ch] * M / (M - 1))) < 1e-5 * (1 + var[ch]));
    }
    /* Evaluation uses the running statistics and leaves them alone. */
    float rm0 = rm[1], rv0 = rv[1];
    run_fwd(L, x, y, N, false, 0);
    assert_true(rm[1] == rm0 && rv[1] == rv0);
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t i = 0; i < M; i++) {
            double ref = (0.5 + ch) * (x[ch * M + i] - rm[ch]) / sqrt(rv[ch] + 1e-5) + (-1.0 + ch);
            assert_true(fabs(y[ch * M + i] - ref) < 1e-4 * (1 + fabs(ref)));
        }
    /* Many training steps on the same batch: running stats converge to it. */
    for (int k = 0; k < 200; k++) run_fwd(L, x, y, N, true, 0);
    for (int64_t ch = 0; ch < C; ch++) {
        assert_true(fabs(rm[ch] - mean[ch]) < 1e-3 * (1 + fabs(mean[ch])));
        assert_true(fabs(rv[ch] - var[ch] * M / (M - 1)) < 1e-3 * (1 + var[ch]));
    }
    spti_batchnorm_reset_running(L);
    assert_true(rm[0] == 0.0f && rv[0] == 1.0f);
    /* Training with one value per channel is refused. */
    spti_layer *B1;
    assert_int_equal(spti_batchnorm1d_create("bn1d", 4, &B1), SPT_OK);
    assert_int_equal(B1->in_shape.c, 4);
    assert_int_equal(B1->in_shape.h * B1->in_shape.w, 1);
    spti_fwd_ctx tr = {true, &rng, NULL};
    assert_status(B1->ops->forward(B1, x, y, 1, &tr), SPT_ERR_SIZE);
    spti_fwd_ctx ev = {false, &rng, NULL};
    assert_int_equal(B1->ops->forward(B1, x, y, 1, &ev), SPT_OK);
    assert_status(spti_batchnorm_running(B1 == L ? NULL : L->ops == B1->ops ? B1 : NULL, NULL, NULL, NULL), SPT_OK);
    spti_layer *relu;
    assert_int_equal(spti_relu_create("r", (spti_shape){2, 1, 1}, &relu), SPT_OK);
    assert_status(spti_batchnorm_running(relu, &rm, &rv, &c), SPT_ERR_INVALID);
    spti_layer_destroy(relu);
    spti_layer_destroy(B1);
    spti_layer_destroy(L);
    free(x);
    free(y);
}

static void test_batchnorm_gradients(void **state) {
    (void)state;
    spti_layer *L;
    assert_int_equal(spti_batchnorm2d_create("bn", 3, 2, 3, &L), SPT_OK);
    gradcheck_layer(L, 4, true, 1e-3, 2e-3, 2e-2, 11);
    gradcheck_layer(L, 4, false, 1e-3, 2e-3, 2e-2, 12);
    spti_layer_destroy(L);
    assert_int_equal(spti_batchnorm1d_create("bn1d", 5, &L), SPT_OK);
    gradcheck_layer(L, 7, true, 1e-3, 2e-3, 2e-2, 13);
    spti_layer_destroy(L);
}

/* ---- ReLU ---------------------------------------------------------------- */

static void test_relu(void **state) {
    (void)state;
    spti_layer *L;
    assert_int_equal(spti_relu_create("relu", (spti_shape){2, 3, 3}, &L), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, 3);
    const int64_t N = 4, n = 2 * 9 * N;
    float *x = rand_buf(n, &rng, 1.0f), *y = malloc(n * sizeof(float)), *dy = rand_buf(n, &rng, 1.0f);
    float *dx = malloc(n * sizeof(float));
    run_fwd(L, x, y, N, true, 0);
    assert_int_equal(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
    for (int64_t i = 0; i < n; i++) {
        assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f));
        assert_true(dx[i] == (x[i] > 0 ? dy[i] : 0.0f));
    }
    assert_int_equal(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
    assert_true(L->ops->flops(L, true) == 0.0);
    gradcheck_layer(L, 3, true, 1e-3, 1e-3, 1e-2, 4);
    spti_layer_destroy(L);
    free(x);
    free(y);
    free(dy);
    free(dx);
}

/* ---- dropout --------------------------------------------------------------- */

static void test_dropout(void **state) {
    (void)state;
    spti_layer *L;
    const spti_shape s = {50, 2, 2};
    const int64_t N = 100, n = 200 * N;
    assert_int_equal(spti_dropout_create("drop", s, 0.3f, &L), SPT_OK);
    assert_true(spti_dropout_rate(L) == 0.3f);
    float *x = malloc(n * sizeof(float)), *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
    float *dx = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        x[i] = 1.0f + (float)(i % 7);
        dy[i] = 2.0f;
    }
    run_fwd(L, x, y1, N, true, 42);
    run_fwd(L, x, y2, N, true, 42);
    assert_memory_equal(y1, y2, n * sizeof(float)); /* same rng state, same mask */
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y1[i] != 0.0f) {
            kept++;
            assert_true(fabsf(y1[i] - x[i] / 0.7f) <= 1e-6f * y1[i]);
        }
    }
    double frac = (double)kept / n; /* 20000 Bernoulli(0.7): sd 0.0032 */
    assert_true(frac > 0.68 && frac < 0.72);
    assert_int_equal(L->ops->backward(L, x, y1, dy, dx, N), SPT_OK);
    for (int64_t i = 0; i < n; i++) assert_true(dx[i] == (y1[i] != 0.0f ? 2.0f / 0.7f : 0.0f));
    run_fwd(L, x, y2, N, true, 43);
    assert_true(memcmp(y1, y2, n * sizeof(float)) != 0); /* another seed, another mask */
    /* Evaluation, and rate 0: identity in both directions. */
    run_fwd(L, x, y2, N, false, 42);
    assert_memory_equal(x, y2, n * sizeof(float));
    assert_int_equal(L->ops->backward(L, x, y2, dy, dx, N), SPT_OK);
    assert_memory_equal(dx, dy, n * sizeof(float));
    assert_int_equal(spti_dropout_set_rate(L, 0.0f), SPT_OK);
    run_fwd(L, x, y2, N, true, 42);
    assert_memory_equal(x, y2, n * sizeof(float));
    /* Training with p > 0 needs an rng. */
    assert_int_equal(spti_dropout_set_rate(L, 0.5f), SPT_OK);
    spti_fwd_ctx no_rng = {true, NULL, NULL};
    assert_status(L->ops->forward(L, x, y2, N, &no_rng), SPT_ERR_NULL);
    /* Invalid rates. */
    assert_status(spti_dropout_set_rate(L, 1.0f), SPT_ERR_INVALID);
    assert_status(spti_dropout_set_rate(L, -0.1f), SPT_ERR_INVALID);
    assert_status(spti_dropout_set_rate(L, NAN), SPT_ERR_INVALID);
    assert_true(spti_dropout_rate(L) == 0.5f);
    spti_layer *bad;
    assert_status(spti_dropout_create("d", s, 1.0f, &bad), SPT_ERR_INVALID);
    assert_null(bad);
    spti_layer *relu;
    assert_int_equal(spti_relu_create("r", s, &relu), SPT_OK);
    assert_status(spti_dropout_set_rate(relu, 0.1f), SPT_ERR_INVALID);
    assert_true(spti_dropout_rate(relu) < 0.0f);
    spti_layer_destroy(relu);
    /* Backward of the training forward matches finite differences with the
     * same mask (the rng is reseeded for every probe). */
    spti_layer *small;
    assert_int_equal(spti_dropout_create("ds", (spti_shape){3, 2, 1}, 0.4f, &small), SPT_OK);
    gradcheck_layer(small, 3, true, 1e-3, 1e-3, 1e-2, 9);
    spti_layer_destroy(small);
    spti_layer_destroy(L);
    free(x);
    free(y1);
    free(y2);
    free(dx);
    free(dy);
}

/* ---- pooling ---------------------------------------------------------------- */

/* Naive pooling straight from the definition, one output element at a time. */
static void ref_pool(bool is_max, const float *x, int64_t C, int64_t H, int64_t W, int64_t N, int64_t k, int64_t s,
                     int64_t p, float *y, int64_t OH, int64_t OW) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                for (int64_t n = 0; n < N; n++) {
                    double acc = is_max ? -INFINITY : 0.0;
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++) {
                            int64_t h = oh * s + i - p, w = ow * s + j - p;
                            bool inside = h >= 0 && h < H && w >= 0 && w < W;
                            double v = inside ? x[((c * H + h) * W + w) * N + n] : 0.0;
                            if (is_max) {
                                if (inside && v > acc) acc = v;
                            } else {
                                acc += v;
                            }
                        }
                    y[((c * OH + oh) * OW + ow) * N + n] = (float)(is_max ? acc : acc / (double)(k * k));
                }
}

static void check_pool(bool is_max, int64_t C, int64_t H, int64_t W, int64_t N, int64_t k, int64_t s, int64_t p,
                       int64_t OH, int64_t OW) {
    spti_layer *L;
    int rc = is_max ? spti_maxpool2d_create("pool", C, H, W, k, s, p, &L)
                    : spti_avgpool2d_create("pool", C, H, W, k, s, p, &L);
    assert_int_equal(rc, SPT_OK);
    assert_int_equal(L->out_shape.c, C);
    assert_int_equal(L->out_shape.h, OH);
    assert_int_equal(L->out_shape.w, OW);
    spti_rng rng;
    spti_rng_seed(&rng, (uint64_t)(H * 100 + k));
    int64_t ni = C * H * W * N, no = C * OH * OW * N;
    float *x = rand_buf(ni, &rng, 1.0f), *y = malloc(no * sizeof(float)), *ref = malloc(no * sizeof(float));
    run_fwd(L, x, y, N, true, 0);
    ref_pool(is_max, x, C, H, W, N, k, s, p, ref, OH, OW);
    assert_true(spt_test_max_rel_err(y, ref, no) < 1e-6);
    gradcheck_layer(L, N, true, 1e-3, 1e-3, 1e-2, 21);
    spti_layer_destroy(L);
    free(x);
    free(y);
    free(ref);
}

static void test_pooling(void **state) {
    (void)state;
    check_pool(true, 2, 5, 7, 3, 3, 2, 1, 3, 4);  /* odd sizes, padding */
    check_pool(false, 2, 5, 7, 3, 3, 2, 1, 3, 4);
    check_pool(true, 3, 4, 4, 2, 2, 2, 0, 2, 2);  /* the classic 2x2/2 */
    check_pool(false, 1, 6, 5, 2, 3, 1, 0, 4, 3); /* stride 1, overlapping windows */
    check_pool(true, 1, 1, 1, 2, 3, 1, 1, 1, 1);  /* 1x1 input, all-but-one cells padding */
    check_pool(false, 2, 3, 3, 1, 2, 3, 1, 2, 2); /* stride > kernel */
    /* Max pooling never picks a padded zero when the real cells are negative. */
    spti_layer *L;
    assert_int_equal(spti_maxpool2d_create("mp", 1, 2, 2, 3, 1, 1, &L), SPT_OK);
    float x[4] = {-4, -3, -2, -1}, y[4];
    run_fwd(L, x, y, 1, false, 0);
    for (int i = 0; i < 4; i++) assert_true(y[i] == -1.0f);
    spti_layer_destroy(L);
    /* Invalid geometry. */
    assert_status(spti_maxpool2d_create("p", 1, 4, 4, 0, 1, 0, &L), SPT_ERR_INVALID);
    assert_null(L);
    assert_status(spti_maxpool2d_create("p", 1, 4, 4, 2, 0, 0, &L), SPT_ERR_INVALID);
    assert_status(spti_avgpool2d_create("p", 1, 4, 4, 3, 1, 2, &L), SPT_ERR_INVALID); /* pad > k/2 */
    assert_status(spti_avgpool2d_create("p", 1, 4, 4, 2, 1, -1, &L), SPT_ERR_INVALID);
    assert_status(spti_avgpool2d_create("p", 1, 2, 2, 5, 1, 1, &L), SPT_ERR_SIZE); /* window > padded input */
    assert_status(spti_avgpool2d_create("p", 0, 2, 2, 1, 1, 0, &L), SPT_ERR_SIZE);
    assert_status(spti_avgpool2d_create("p", INT64_MAX, 2, 2, 1, 1, 0, &L), SPT_ERR_SIZE);
    assert_status(spti_avgpool2d_create(NULL, 1, 2, 2, 1, 1, 0, &L), SPT_ERR_NULL);
    assert_status(spti_avgpool2d_create("p", 1, 2, 2, 1, 1, 0, NULL), SPT_ERR_NULL);
}

static void test_global_avgpool_and_flatten(void **state) {
    (void)state;
    const int64_t C = 3, H = 3, W = 5, N = 4;
    spti_layer *G, *F;
    assert_int_equal(spti_global_avgpool_create("gap", C, H, W, &G), SPT_OK);
    assert_true(G->out_shape.c == C && G->out_shape.h == 1 && G->out_shape.w == 1);
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    float *x = rand_buf(C * H * W * N, &rng, 1.0f), y[12];
    run_fwd(G, x, y, N, true, 0);
    for (int64_t c = 0; c < C; c++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) s += x[((c * H + h) * W + w) * N + n];
            assert_true(fabs(y[c * N + n] - s / (H * W)) < 1e-6);
        }
    gradcheck_layer(G, N, true, 1e-3, 1e-4, 1e-2, 6);
    assert_int_equal(spti_flatten_create("flat", (spti_shape){C, H, W}, &F), SPT_OK);
    assert_true(F->out_shape.c == C * H * W && F->out_shape.h == 1 && F->out_shape.w == 1);
    float *z = malloc(C * H * W * N * sizeof(float));
    run_fwd(F, x, z, N, true, 0);
    assert_memory_equal(x, z, C * H * W * N * sizeof(float));
    gradcheck_layer(F, N, true, 1e-3, 1e-4, 1e-2, 7);
    spti_layer_destroy(F);
    assert_status(spti_flatten_create("f", (spti_shape){0, 1, 1}, &F), SPT_ERR_SIZE);
    assert_status(spti_global_avgpool_create("g", 1, 0, 1, &F), SPT_ERR_SIZE);
    spti_layer_destroy(G);
    free(x);
    free(z);
}

/* ---- invalid arguments and allocation failures ---------------------------- */

static void test_invalid_args(void **state) {
    (void)state;
    spti_layer *L = (spti_layer *)&L;
    assert_status(spti_batchnorm2d_create("bn", 0, 1, 1, &L), SPT_ERR_SIZE);
    assert_null(L);
    assert_status(spti_batchnorm2d_create("bn", 2, -1, 1, &L), SPT_ERR_SIZE);
    assert_status(spti_batchnorm2d_create("bn", INT64_MAX / 2, 4, 4, &L), SPT_ERR_SIZE);
    assert_status(spti_batchnorm2d_create(NULL, 2, 1, 1, &L), SPT_ERR_NULL);
    assert_status(spti_batchnorm1d_create("bn", 0, &L), SPT_ERR_SIZE);
    assert_status(spti_batchnorm2d_create("bn", 2, 1, 1, NULL), SPT_ERR_NULL);
    assert_status(spti_relu_create("r", (spti_shape){1, 0, 1}, &L), SPT_ERR_SIZE);
    assert_status(spti_relu_create(NULL, (spti_shape){1, 1, 1}, &L), SPT_ERR_NULL);
    assert_status(spti_dropout_create("d", (spti_shape){1, 1, -2}, 0.1f, &L), SPT_ERR_SIZE);
    assert_null(L);
}

/* Every allocation of every constructor fails in turn: NOMEM, nothing leaks. */
static int make_layer(int which, spti_layer **L) {
    switch (which) {
    case 0: return spti_batchnorm2d_create("bn", 3, 2, 2, L);
    case 1: return spti_relu_create("r", (spti_shape){3, 2, 2}, L);
    case 2: return spti_dropout_create("d", (spti_shape){3, 2, 2}, 0.2f, L);
    case 3: return spti_maxpool2d_create("m", 3, 4, 4, 2, 2, 0, L);
    case 4: return spti_global_avgpool_create("g", 3, 4, 4, L);
    default: return spti_flatten_create("f", (spti_shape){3, 2, 2}, L);
    }
}

static void test_nomem(void **state) {
    (void)state;
    for (int which = 0; which < 6; which++) {
        for (long k = 0;; k++) {
            spt_test_alloc_install();
            spt_test_alloc_fail_at(k);
            spti_layer *L = NULL;
            int rc = make_layer(which, &L);
            if (rc == SPT_OK) {
                /* Forward / backward buffers: fail their allocations too. */
                spti_shape in = L->in_shape;
                int64_t ni = spti_shape_size(in) * 3, no = spti_shape_size(L->out_shape) * 3;
                float *x = calloc(ni, sizeof(float)), *y = calloc(no, sizeof(float));
                for (long j = 0;; j++) {
                    spt_test_alloc_fail_at(j);
                    spti_rng g;
                    spti_rng_seed(&g, 1);
                    spti_fwd_ctx ctx = {true, &g, NULL};
                    int frc = L->ops->forward(L, x, y, 3, &ctx);
                    if (frc == SPT_OK) break;
                    assert_int_equal(frc, SPT_ERR_NOMEM);
                }
                spt_test_alloc_fail_at(-1);
                free(x);
                free(y);
                spti_layer_destroy(L);
                assert_int_equal(spt_test_alloc_live(), 0);
                spt_test_alloc_uninstall();
                break;
            }
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_null(L);
            assert_int_equal(spt_test_alloc_live(), 0);
            spt_test_alloc_uninstall();
        }
    }
}

/* ---- the shared checker (tests/support/gradcheck.h): also verifies the
 * layer contract (grads added, dx written, x untouched) ----------------------- */

/* ReLU: skip inputs within reach of the kink. */
static bool skip_near_zero(const spt_gc_point *pt, double eps, void *user) {
    (void)user;
    return pt->p == NULL && fabs(pt->x[pt->index]) < 2 * eps;
}

static void shared_check(spti_layer *L, int64_t N, bool training, spt_gc_skip_fn skip, uint64_t seed) {
    float *x = rand_buf(in_elems(L, N), &(spti_rng){{seed, seed + 1, seed + 2, seed + 3}}, 1.0f);
    spt_gc_opts o = {1e-3, 1e-2, 0, seed, training, skip, NULL};
    spt_gc_result res;
    assert_int_equal(spt_gradcheck(L, x, N, &o, &res), SPT_OK);
    if (res.failed) fail_msg("%s: %lld of %lld points failed: %s", L->name, (long long)res.failed,
                             (long long)res.checked, res.worst);
    assert_true(res.checked > 0);
    free(x);
}

/* The fused block of the model (batch norm's forward_act / backward_act)
 * as a layer of its own for the checker: input = x (C channels) and the
 * residual (C more channels), output relu?(bn(x) + res); the batch norm is
 * its child, so its gamma and beta are checked too. */
typedef struct fused_state {
    bool relu, res;
} fused_state;

static int64_t fused_half(const spti_layer *L, int64_t N) { return spti_shape_size(L->out_shape) * N; }

static int fused_forward(spti_layer *L, const float *x, float *y, int64_t N, const spti_fwd_ctx *ctx) {
    const fused_state *f = L->state;
    spti_layer *bn = L->children[0];
    return bn->ops->forward_act(bn, x, f->res ? x + fused_half(L, N) : NULL, f->relu, y, N, ctx);
}

static int fused_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    const fused_state *f = L->state;
    spti_layer *bn = L->children[0];
    float *dres = dx && f->res ? dx + fused_half(L, N) : NULL;
    int rc = bn->ops->backward_act(bn, x, y, dy, f->relu, dx, dres, N);
    if (rc == SPT_OK && dx && !f->res) /* the unused residual half has no gradient */
        memset(dx + fused_half(L, N), 0, (size_t)fused_half(L, N) * sizeof(float));
    return rc;
}

static const spti_layer_ops fused_ops = {.kind = "fused_bn", .forward = fused_forward, .backward = fused_backward,
                                         .destroy = spti_layer_free};

/* Skip points within reach of a ReLU kink: a point moves every
 * pre-activation of its channel (x, gamma, beta) or one (the residual). */
static bool skip_fused_kink(const spt_gc_point *pt, double eps, void *user) {
    (void)eps;
    const spti_layer *L = pt->L;
    const fused_state *f = L->state;
    if (!f->relu) return false;
    const int64_t N = pt->N, half = fused_half(L, N), M = half / L->out_shape.c;
    float *pre = malloc((size_t)half * sizeof(float));
    assert_non_null(pre);
    spti_layer *bn = L->children[0];
    spti_fwd_ctx ctx = {*(const bool *)user, NULL, NULL};
    assert_int_equal(bn->ops->forward_act(bn, pt->x, f->res ? pt->x + half : NULL, false, pre, N, &ctx), SPT_OK);
    int64_t lo, hi;
    if (pt->p == NULL && pt->index >= half) {
        lo = pt->index - half;
        hi = lo + 1;
    } else {
        const int64_t c = pt->p == NULL ? pt->index / M : pt->index;
        lo = c * M;
        hi = lo + M;
    }
    bool near = false;
    for (int64_t i = lo; i < hi; i++) near |= fabsf(pre[i]) < 0.05f;
    free(pre);
    return near;
}

static void test_fused_batchnorm_gradcheck(void **state) {
    (void)state;
    for (int relu = 0; relu <= 1; relu++)
        for (int res = 0; res <= 1; res++)
            for (int training = 0; training <= 1; training++) {
                spti_layer *bn, *L;
                assert_int_equal(spti_batchnorm2d_create("bn", 3, 2, 3, &bn), SPT_OK);
                for (int c = 0; c < 3; c++) {
                    bn->params[0]->value[c] = 0.5f + 0.4f * (float)c;
                    bn->params[1]->value[c] = 0.3f * (float)c - 0.2f;
                }
                L = spti_layer_new(&fused_ops, "fused", (spti_shape){6, 2, 3}, (spti_shape){3, 2, 3},
                                   sizeof(fused_state));
                assert_non_null(L);
                L->children = spti_alloc(1, sizeof *L->children);
                assert_non_null(L->children);
                L->children[0] = bn;
                L->n_children = 1;
                ((fused_state *)L->state)->relu = relu;
                ((fused_state *)L->state)->res = res;
                const int64_t N = 4;
                spti_rng r;
                spti_rng_seed(&r, 40 + 4 * relu + 2 * res + training);
                float *x = rand_buf(in_elems(L, N), &r, 1.0f);
                bool tr = training;
                if (!training) { /* evaluation: running statistics from a training forward */
                    float *y = malloc((size_t)out_elems(L, N) * sizeof(float));
                    spti_fwd_ctx ctx = {true, NULL, NULL};
                    assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                    free(y);
                }
                spt_gc_opts o = {1e-3, 1e-2, 0, 77, tr, skip_fused_kink, &tr};
                spt_gc_result out;
                assert_int_equal(spt_gradcheck(L, x, N, &o, &out), SPT_OK);
                if (out.failed)
                    fail_msg("relu %d res %d training %d: %lld of %lld points failed: %s", relu, res, training,
                             (long long)out.failed, (long long)out.checked, out.worst);
                assert_true(out.checked > 40);
                free(x);
                spti_layer_destroy(L);
            }
}

static void test_shared_gradcheck(void **state) {
    (void)state;
    spti_layer *L;
    assert_int_equal(spti_batchnorm2d_create("bn", 2, 3, 2, &L), SPT_OK);
    shared_check(L, 3, true, NULL, 1);
    shared_check(L, 3, false, NULL, 2);
    spti_layer_destroy(L);
    assert_int_equal(spti_relu_create("relu", (spti_shape){2, 2, 2}, &L), SPT_OK);
    shared_check(L, 3, true, skip_near_zero, 3);
    spti_layer_destroy(L);
    assert_int_equal(spti_dropout_create("drop", (spti_shape){4, 1, 1}, 0.5f, &L), SPT_OK);
    shared_check(L, 5, true, NULL, 4);
    shared_check(L, 5, false, NULL, 5);
    spti_layer_destroy(L);
    assert_int_equal(spti_avgpool2d_create("avg", 2, 5, 4, 3, 2, 1, &L), SPT_OK);
    shared_check(L, 2, true, NULL, 6);
    spti_layer_destroy(L);
    assert_int_equal(spti_maxpool2d_create("max", 2, 5, 4, 3, 2, 1, &L), SPT_OK);
    shared_check(L, 2, true, NULL, 7);
    spti_layer_destroy(L);
    assert_int_equal(spti_global_avgpool_create("gap", 3, 2, 3, &L), SPT_OK);
    shared_check(L, 2, true, NULL, 8);
    spti_layer_destroy(L);
    assert_int_equal(spti_flatten_create("flat", (spti_shape){2, 2, 2}, &L), SPT_OK);
    shared_check(L, 2, true, NULL, 9);
    spti_layer_destroy(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_forward_and_running),
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_fused_batchnorm_gradcheck),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_global_avgpool_and_flatten),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_shared_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
