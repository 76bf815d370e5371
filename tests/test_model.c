/* The model container, the MLP and ResNet builders and the public model API. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/model.h"
#include "test_support.h"

static float *rand_buf(int64_t n, uint64_t seed, float scale) {
    spti_rng r;
    spti_rng_seed(&r, seed);
    float *v = malloc((size_t)n * sizeof(float));
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = scale * spti_rng_normal(&r);
    return v;
}

static int32_t *rand_labels(int64_t n, int64_t K, uint64_t seed) {
    spti_rng r;
    spti_rng_seed(&r, seed);
    int32_t *y = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)spti_rng_below(&r, (uint64_t)K);
    return y;
}

/* ---- MLP -------------------------------------------------------------------- */

static void test_mlp_structure(void **state) {
    (void)state;
    const int64_t widths[4] = {6, 8, 5, 3};
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 4, 1, &m), SPT_OK);
    int64_t n, c, h, w, k;
    assert_int_equal(spt_model_num_layers(m, &n), SPT_OK);
    assert_int_equal(n, 7);
    const char *names[7] = {"fc1", "relu1", "drop1", "fc2", "relu2", "drop2", "fc3"};
    const char *kinds[7] = {"linear", "relu", "dropout", "linear", "relu", "dropout", "linear"};
    for (int i = 0; i < 7; i++) {
        const char *nm, *kd;
        assert_int_equal(spt_model_layer_info(m, i, &nm, &kd), SPT_OK);
        assert_string_equal(nm, names[i]);
        assert_string_equal(kd, kinds[i]);
    }
    assert_int_equal(spt_model_input_shape(m, &c, &h, &w), SPT_OK);
    assert_true(c == 6 && h == 1 && w == 1);
    assert_int_equal(spt_model_num_classes(m, &k), SPT_OK);
    assert_int_equal(k, 3);
    /* The documented parameter order. */
    const char *pn[6] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};
    assert_int_equal(m->n_params, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(m->params[i]->name, pn[i]);
        assert_int_equal(m->params[i]->is_weight, i % 2 == 0);
        if (i % 2) /* biases start at 0 */
            for (int64_t j = 0; j < m->params[i]->n; j++) assert_true(m->params[i]->value[j] == 0.0f);
    }
    int64_t rows, cols, nnz, dense, nonzero;
    double density;
    assert_int_equal(spt_model_layer_weight(m, 3, &rows, &cols, &nnz, &density), SPT_OK);
    assert_true(rows == 5 && cols == 8 && nnz == 40 && density == 1.0);
    assert_int_equal(spt_model_layer_weight(m, 1, &rows, &cols, &nnz, &density), SPT_OK);
    assert_true(rows == 0 && cols == 0 && nnz == 0 && density == 0.0);
    assert_int_equal(spt_model_num_params(m, &dense, &nonzero), SPT_OK);
    assert_int_equal(dense, 6 * 8 + 8 + 8 * 5 + 5 + 5 * 3 + 3);
    assert_int_equal(nonzero, dense);
    double flops;
    assert_int_equal(spt_model_flops(m, 1, &flops), SPT_OK);
    assert_true(fabs(flops - 2.0 * (48 + 40 + 15)) < 1e-9);
    /* Sparsify fc1's weight at random positions: counts follow. */
    spti_param *w1 = m->params[0];
    int64_t pos[12];
    spti_rng r;
    spti_rng_seed(&r, 3);
    int64_t kept = 0;
    for (int64_t i = 0; i < 48 && kept < 12; i++)
        if (spti_rng_below(&r, (uint64_t)(48 - i)) < (uint64_t)(12 - kept)) pos[kept++] = i;
    assert_int_equal(kept, 12);
    assert_int_equal(spti_param_sparsify(w1, pos, 12), SPT_OK);
    assert_int_equal(spt_model_layer_weight(m, 0, &rows, &cols, &nnz, &density), SPT_OK);
    assert_true(rows == 8 && cols == 6 && nnz == 12 && fabs(density - 0.25) < 1e-12);
    assert_int_equal(spt_model_num_params(m, &dense, &nonzero), SPT_OK);
    assert_int_equal(nonzero, dense - 36);
    double sparse_flops;
    assert_int_equal(spt_model_flops(m, 0, &sparse_flops), SPT_OK);
    assert_true(fabs(sparse_flops - 2.0 * (12 + 40 + 15)) < 1e-9);
    /* A sparse model still runs forward and backward. */
    float *x = rand_buf(6 * 4, 5, 1.0f);
    int32_t y[4] = {0, 1, 2, 1};
    double loss;
    assert_int_equal(spti_model_train_step(m, x, y, 4, &loss, NULL), SPT_OK);
    assert_true(isfinite(loss) && loss > 0);
    free(x);
    spt_model_destroy(m);
}

/* Kaiming normal: std sqrt(2 / fan_in). */
static void test_mlp_init_statistics(void **state) {
    (void)state;
    const int64_t widths[3] = {500, 400, 10};
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 3, 7, &m), SPT_OK);
    spti_param *w = m->params[0];
    assert_true(w->init_pending); /* written when first needed */
    spti_model_materialize(m);
    assert_false(w->init_pending);
    double s = 0, q = 0;
    for (int64_t i = 0; i < w->n; i++) {
        s += w->value[i];
        q += (double)w->value[i] * w->value[i];
    }
    double mean = s / w->n, sd = sqrt(q / w->n - mean * mean), want = sqrt(2.0 / 500);
    assert_true(fabs(mean) < 0.01 * want * 10);
    assert_true(fabs(sd - want) < 0.02 * want); /* 200000 draws: sd of the estimate ~0.2% */
    spt_model_destroy(m);
}

/* Forward against a naive evaluation from the parameters. */
static void test_mlp_forward_reference(void **state) {
    (void)state;
    const int64_t widths[3] = {5, 7, 4}, N = 6;
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 3, 11, &m), SPT_OK);
    for (int i = 1; i < 4; i += 2) /* non-zero biases */
        for (int64_t j = 0; j < m->params[i]->n; j++) m->params[i]->value[j] = 0.1f * (float)(j + i);
    float *x = rand_buf(5 * N, 12, 1.0f), z[24];
    assert_int_equal(spt_model_forward(m, x, N, z), SPT_OK);
    const float *W1 = m->params[0]->value, *b1 = m->params[1]->value, *W2 = m->params[2]->value,
                *b2 = m->params[3]->value;
    for (int64_t n = 0; n < N; n++) {
        double hdn[7];
        for (int j = 0; j < 7; j++) {
            double a = b1[j];
            for (int i = 0; i < 5; i++) a += (double)W1[j * 5 + i] * x[i * N + n];
            hdn[j] = a > 0 ? a : 0;
        }
        for (int k = 0; k < 4; k++) {
            double a = b2[k];
            for (int j = 0; j < 7; j++) a += (double)W2[k * 7 + j] * hdn[j];
            assert_true(fabs(z[k * N + n] - a) < 1e-5 * (1 + fabs(a)));
        }
    }
    /* Predictions are the argmax of the logits; evaluate agrees with the loss. */
    int32_t pred[6], y[6] = {0, 1, 2, 3, 0, 1};
    assert_int_equal(spt_model_predict(m, x, N, pred), SPT_OK);
    int64_t hits = 0;
    for (int64_t n = 0; n < N; n++) {
        int arg = 0;
        for (int k = 1; k < 4; k++)
            if (z[k * N + n] > z[arg * N + n]) arg = k;
        assert_int_equal(pred[n], arg);
        hits += arg == y[n];
    }
    double loss, want;
    int64_t correct;
    assert_int_equal(spt_model_evaluate(m, x, y, N, &loss, &correct), SPT_OK);
    assert_int_equal(spti_softmax_xent(z, 4, N, y, NULL, &want, NULL), SPT_OK);
    assert_true(fabs(loss - want) < 1e-12);
    assert_int_equal(correct, hits);
    /* Growing and shrinking the batch: the same example gives the same logits. */
    float *xb = rand_buf(5 * 40, 13, 1.0f), zb[160], z1[4];
    assert_int_equal(spt_model_forward(m, xb, 40, zb), SPT_OK);
    float x1[5];
    for (int i = 0; i < 5; i++) x1[i] = xb[i * 40 + 17];
    assert_int_equal(spt_model_forward(m, x1, 1, z1), SPT_OK);
    for (int k = 0; k < 4; k++) assert_true(fabsf(z1[k] - zb[k * 40 + 17]) < 1e-5f * (1 + fabsf(z1[k])));
    free(x);
    free(xb);
    spt_model_destroy(m);
}

/* The gradients of a train step against finite differences of the loss. */
static void test_mlp_train_step_gradients(void **state) {
    (void)state;
    const int64_t widths[4] = {4, 6, 5, 3}, N = 5;
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 4, 21, &m), SPT_OK);
    float *x = rand_buf(4 * N, 22, 1.0f);
    int32_t *y = rand_labels(N, 3, 23);
    double loss, l2;
    int64_t correct;
    assert_int_equal(spti_model_train_step(m, x, y, N, &loss, &correct), SPT_OK);
    assert_int_equal(spti_model_eval_batch(m, x, y, N, &l2, NULL), SPT_OK);
    assert_true(fabs(loss - l2) < 1e-9);
    /* A second step gives the same gradients: grads are zeroed, not summed. */
    float g0 = m->params[0]->grad[3];
    assert_int_equal(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_OK);
    assert_true(m->params[0]->grad[3] == g0);
    for (int64_t p = 0; p < m->n_params; p++) {
        spti_param *q = m->params[p];
        for (int64_t k = 0; k < q->n; k++) {
            float keep = q->value[k];
            double lp, lm;
            q->value[k] = keep + 1e-2f;
            assert_int_equal(spti_model_eval_batch(m, x, y, N, &lp, NULL), SPT_OK);
            q->value[k] = keep - 1e-2f;
            assert_int_equal(spti_model_eval_batch(m, x, y, N, &lm, NULL), SPT_OK);
            q->value[k] = keep;
            double fd = (lp - lm) / (double)((keep + 1e-2f) - (keep - 1e-2f));
            if (fabs(q->grad[k] - fd) > 2e-3 + 2e-2 * fabs(fd))
                fail_msg("%s[%lld]: %g vs %g", q->name, (long long)k, q->grad[k], fd);
        }
    }
    free(x);
    free(y);
    spt_model_destroy(m);
}

static void test_mlp_determinism_and_dropout(void **state) {
    (void)state;
    const int64_t widths[3] = {10, 32, 4}, N = 8;
    spt_model *a, *b, *c;
    assert_int_equal(spt_model_create_mlp(widths, 3, 99, &a), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 99, &b), SPT_OK);
    assert_int_equal(spt_model_create_mlp(widths, 3, 100, &c), SPT_OK);
    float *x = rand_buf(10 * N, 1, 1.0f), za[32], zb[32], zc[32];
    assert_int_equal(spt_model_forward(a, x, N, za), SPT_OK);
    assert_int_equal(spt_model_forward(b, x, N, zb), SPT_OK);
    assert_int_equal(spt_model_forward(c, x, N, zc), SPT_OK);
    assert_memory_equal(za, zb, sizeof za);
    assert_true(memcmp(za, zc, sizeof za) != 0);
    /* Dropout: training steps draw from the model's rng, identically for the
     * same seed; evaluation is unaffected. */
    assert_int_equal(spt_model_set_dropout(a, 0.5), SPT_OK);
    assert_int_equal(spt_model_set_dropout(b, 0.5), SPT_OK);
    assert_true(spti_dropout_rate(a->leaves[2]) == 0.5f);
    int32_t *y = rand_labels(N, 4, 2);
    double la, lb, lc;
    assert_int_equal(spti_model_train_step(a, x, y, N, &la, NULL), SPT_OK);
    assert_int_equal(spti_model_train_step(b, x, y, N, &lb, NULL), SPT_OK);
    assert_true(la == lb);
    assert_memory_equal(a->params[0]->grad, b->params[0]->grad, a->params[0]->n * sizeof(float));
    assert_int_equal(spti_model_train_step(a, x, y, N, &lc, NULL), SPT_OK);
    assert_true(lc != la); /* the next step draws another mask */
    assert_int_equal(spt_model_forward(a, x, N, zc), SPT_OK);
    assert_memory_equal(za, zc, sizeof za);
    assert_status(spt_model_set_dropout(a, 1.0), SPT_ERR_INVALID);
    assert_status(spt_model_set_dropout(a, -0.5), SPT_ERR_INVALID);
    assert_status(spt_model_set_dropout(a, NAN), SPT_ERR_INVALID);
    assert_status(spt_model_set_dropout(NULL, 0.1), SPT_ERR_NULL);
    free(x);
    free(y);
    spt_model_destroy(a);
    spt_model_destroy(b);
    spt_model_destroy(c);
}

static void test_nonfinite(void **state) {
    (void)state;
    const int64_t widths[3] = {3, 4, 2}, N = 2;
    spt_model *m;
    assert_int_equal(spt_model_create_mlp(widths, 3, 5, &m), SPT_OK);
    float x[6] = {1, 2, 3, 4, NAN, 6};
    int32_t y[2] = {0, 1};
    double loss = 123;
    assert_status(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_ERR_NONFINITE);
    assert_non_null(strstr(spt_last_error(), "input"));
    assert_true(loss == 123);
    assert_status(spt_model_evaluate(m, x, y, N, &loss, NULL), SPT_ERR_NONFINITE);
    x[4] = 5;
    assert_int_equal(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_OK);
    /* A weight turned Inf: the message names the first layer it spoils. */
    m->params[2]->value[1] = INFINITY;
    assert_status(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_ERR_NONFINITE);
    assert_non_null(strstr(spt_last_error(), "fc2"));
    m->params[2]->value[1] = 0.5f;
    /* The gradient check names the parameter. */
    assert_int_equal(spti_model_check_grads(m), SPT_OK);
    m->params[3]->grad[0] = NAN;
    assert_status(spti_model_check_grads(m), SPT_ERR_NONFINITE);
    assert_non_null(strstr(spt_last_error(), "fc2.bias"));
    assert_int_equal(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_OK); /* zeroed again */
    /* Bad labels. */
    y[1] = 2;
    assert_status(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_ERR_INVALID);
    assert_status(spt_model_evaluate(m, x, y, N, &loss, NULL), SPT_ERR_INVALID);
    spt_model_destroy(m);
}

/* ---- ResNet ------------------------------------------------------------------ */

static void test_resnet_structure(void **state) {
    (void)state;
    spt_model *m;
    assert_int_equal(spt_model_create_resnet(3, 8, 8, 1, 1, 10, 1, &m), SPT_OK);
    int64_t n;
    assert_int_equal(spt_model_num_layers(m, &n), SPT_OK);
    assert_int_equal(n, 3 + 7 + 9 + 9 + 2); /* blocks: conv bn relu conv bn [conv bn] add relu */
    const char *name, *kind;
    assert_int_equal(spt_model_layer_info(m, 0, &name, &kind), SPT_OK);
    assert_string_equal(name, "conv1");
    assert_string_equal(kind, "conv2d");
    assert_int_equal(spt_model_layer_info(m, 3, &name, &kind), SPT_OK);
    assert_string_equal(name, "layer1.0.conv1");
    assert_int_equal(spt_model_layer_info(m, 16, &name, &kind), SPT_OK);
    assert_string_equal(name, "layer2.0.shortcut.bn");
    assert_string_equal(kind, "batchnorm");
    assert_int_equal(spt_model_layer_info(m, n - 1, &name, &kind), SPT_OK);
    assert_string_equal(name, "fc");
    assert_string_equal(kind, "linear");
    assert_status(spt_model_layer_info(m, n, &name, &kind), SPT_ERR_INVALID);
    assert_status(spt_model_layer_info(m, -1, &name, &kind), SPT_ERR_INVALID);
    int64_t rows, cols, nnz;
    assert_int_equal(spt_model_layer_weight(m, 0, &rows, &cols, &nnz, NULL), SPT_OK);
    assert_true(rows == 16 && cols == 27 && nnz == 16 * 27);
    assert_int_equal(spt_model_layer_weight(m, n - 1, &rows, &cols, NULL, NULL), SPT_OK);
    assert_true(rows == 10 && cols == 64);
    /* Parameter order: depth first, documented in model.h. */
    const char *first[10] = {"conv1.weight",         "bn1.weight",          "bn1.bias",
                             "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                             "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
                             "layer2.0.conv1.weight"};
    for (int i = 0; i < 10; i++) assert_string_equal(m->params[i]->name, first[i]);
    assert_string_equal(m->params[m->n_params - 1]->name, "fc.bias");
    int weights = 0;
    for (int64_t i = 0; i < m->n_params; i++) weights += m->params[i]->is_weight;
    assert_int_equal(weights, 1 + 2 + 3 + 3 + 1); /* stem, 2+3+3 block convs, fc */
    /* Dense parameter count of this tiny ResNet (w = 1, n = 1). */
    int64_t dense;
    assert_int_equal(spt_model_num_params(m, &dense, NULL), SPT_OK);
    int64_t want = 432 + 32 + (2304 + 32) * 2 + (4608 + 64 + 9216 + 64 + 512 + 64) +
                   (18432 + 128 + 36864 + 128 + 2048 + 128) + 640 + 10;
    assert_int_equal(dense, want);
    /* Dense flops: convs at 8x8 (stem, layer1), 4x4 (layer2), 2x2 (layer3), plus fc. */
    double flops, want_f = 2.0 * (432 * 64 + 2304 * 2 * 64 + (4608 + 9216 + 512) * 16 + (18432 + 36864 + 2048) * 4 + 640);
    assert_int_equal(spt_model_flops(m, 1, &flops), SPT_OK);
    assert_true(fabs(flops - want_f) < 1e-9 * want_f);
    assert_status(spt_model_set_dropout(m, 0.1), SPT_ERR_STATE);
    spt_model_destroy(m);
}

static void test_resnet_forward_backward(void **state) {
    (void)state;
    const int64_t N = 4;
    spt_model *a, *b;
    assert_int_equal(spt_model_create_resnet(3, 8, 8, 1, 1, 10, 3, &a), SPT_OK);
    assert_int_equal(spt_model_create_resnet(3, 8, 8, 1, 1, 10, 3, &b), SPT_OK);
    float *x = rand_buf(3 * 64 * N, 4, 1.0f), za[40], zb[40];
    int32_t *y = rand_labels(N, 10, 5);
    assert_int_equal(spt_model_forward(a, x, N, za), SPT_OK);
    assert_int_equal(spt_model_forward(b, x, N, zb), SPT_OK);
    assert_memory_equal(za, zb, sizeof za);
    for (int i = 0; i < 40; i++) assert_true(isfinite(za[i]));
    double la, lb;
    int64_t ca;
    assert_int_equal(spti_model_train_step(a, x, y, N, &la, &ca), SPT_OK);
    assert_int_equal(spti_model_train_step(b, x, y, N, &lb, NULL), SPT_OK);
    assert_true(la == lb && isfinite(la) && ca >= 0 && ca <= N);
    for (int64_t p = 0; p < a->n_params; p++) {
        assert_memory_equal(a->params[p]->grad, b->params[p]->grad, a->params[p]->n * sizeof(float));
        double s = 0;
        for (int64_t k = 0; k < a->params[p]->n; k++) s += fabs(a->params[p]->grad[k]);
        if (s == 0) fail_msg("%s has a zero gradient", a->params[p]->name);
    }
    /* Training updated the running statistics of the stem's BN. */
    float *rm;
    assert_int_equal(spti_batchnorm_running(a->leaves[1], &rm, NULL, NULL), SPT_OK);
    double s = 0;
    for (int i = 0; i < 16; i++) s += fabs(rm[i]);
    assert_true(s > 0);
    /* Gradients of a sample of every parameter against finite differences of
     * the training-mode loss (batch statistics; running stats don't enter). */
    spti_rng pick;
    spti_rng_seed(&pick, 6);
    /* ~260 tiny forwards: one thread keeps them fast on a loaded machine. */
    const int threads = spt_get_num_threads();
    spt_set_num_threads(1);
    double num = 0, den = 0;
    for (int64_t p = 0; p < a->n_params; p++) {
        spti_param *q = a->params[p];
        for (int t = 0; t < 4; t++) {
            int64_t k = (int64_t)spti_rng_below(&pick, (uint64_t)q->n);
            float keep = q->value[k];
            const float *z;
            double lp, lm;
            q->value[k] = keep + 1e-3f;
            assert_int_equal(spti_model_forward(a, x, N, true, &z), SPT_OK);
            assert_int_equal(spti_softmax_xent(z, 10, N, y, NULL, &lp, NULL), SPT_OK);
            q->value[k] = keep - 1e-3f;
            assert_int_equal(spti_model_forward(a, x, N, true, &z), SPT_OK);
            assert_int_equal(spti_softmax_xent(z, 10, N, y, NULL, &lm, NULL), SPT_OK);
            q->value[k] = keep;
            double fd = (lp - lm) / (double)((keep + 1e-3f) - (keep - 1e-3f));
            num += (q->grad[k] - fd) * (q->grad[k] - fd);
            den += fd * fd;
        }
    }
    /* Many ReLU kinks sit within reach of a probe in a deep net with BN (a
     * probe moves every value of a channel), which spoils single finite
     * differences; the sample is compared as one vector. */
    spt_set_num_threads(threads);
    if (sqrt(num) > 0.08 * sqrt(den)) fail_msg("relative gradient error %g", sqrt(num) / sqrt(den));
    /* Evaluation uses running stats: differs from the training-mode output. */
    float ze[40];
    assert_int_equal(spt_model_forward(a, x, N, ze), SPT_OK);
    assert_true(memcmp(ze, za, sizeof ze) != 0);
    /* NaN input. */
    x[7] = NAN;
    assert_status(spti_model_train_step(a, x, y, N, &la, NULL), SPT_ERR_NONFINITE);
    free(x);
    free(y);
    spt_model_destroy(a);
    spt_model_destroy(b);
}

/* Fused batch norm + ReLU and batch norm + addition + ReLU (the default)
 * against every node on its own: the plan fuses the stem and every block,
 * and logits, loss, every gradient and the running statistics are the same
 * bytes, for 1 and 2 threads (the logits also in evaluation), with the
 * generic kernels and the machine's SIMD ones (the same twice on a machine
 * without AVX-512; the fused backward takes the ReLU's mask from a x + b,
 * the unfused ReLU from its output). */
static void test_resnet_fused_matches_unfused(void **state) {
    (void)state;
    const int64_t N = 5;
    const int threads = spt_get_num_threads(), simd = spti_simd_level();
    for (int run = 0; run < 4; run++) {
        const int t = 1 + run % 2;
        assert_status(spt_set_num_threads(t), SPT_OK);
        assert_status(spt_set_simd_level(run < 2 ? 0 : simd), SPT_OK);
        spt_model *a, *b;
        assert_int_equal(spt_model_create_resnet(3, 8, 8, 2, 1, 10, 7, &a), SPT_OK);
        assert_int_equal(spt_model_create_resnet(3, 8, 8, 2, 1, 10, 7, &b), SPT_OK);
        assert_int_equal(spti_model_set_fusion(b, false), SPT_OK);
        int fused = 0, fused3 = 0;
        for (int i = 0; i < a->n_layers; i++) {
            fused += a->fuse[i] > 0;
            fused3 += a->fuse[i] == 2;
            assert_int_equal(b->fuse[i], 0);
        }
        /* stem, two per block (bn1 + relu1, bn2 + add + relu2) in 3 stages x 2 blocks */
        assert_int_equal(fused, 13);
        assert_int_equal(fused3, 6);
        float *x = rand_buf(3 * 64 * N, 8, 1.0f), za[50], zb[50];
        int32_t *y = rand_labels(N, 10, 9);
        for (int step = 0; step < 2; step++) {
            double la, lb;
            assert_int_equal(spti_model_train_step(a, x, y, N, &la, NULL), SPT_OK);
            assert_int_equal(spti_model_train_step(b, x, y, N, &lb, NULL), SPT_OK);
            assert_memory_equal(&la, &lb, sizeof la);
            for (int64_t p = 0; p < a->n_params; p++)
                assert_memory_equal(a->params[p]->grad, b->params[p]->grad, a->params[p]->n * sizeof(float));
            /* move the weights so that the next step differs */
            for (int64_t p = 0; p < a->n_params; p++)
                for (int64_t k = 0; k < a->params[p]->n; k++) {
                    a->params[p]->value[k] -= 0.05f * a->params[p]->grad[k];
                    b->params[p]->value[k] -= 0.05f * b->params[p]->grad[k];
                }
        }
        for (int i = 0; i < a->n_layers; i++) {
            float *ra, *rb, *va, *vb;
            int64_t c;
            if (!spti_layer_is_batchnorm(a->layers[i])) continue;
            assert_int_equal(spti_batchnorm_running(a->layers[i], &ra, &va, &c), SPT_OK);
            assert_int_equal(spti_batchnorm_running(b->layers[i], &rb, &vb, NULL), SPT_OK);
            assert_memory_equal(ra, rb, (size_t)c * sizeof(float));
            assert_memory_equal(va, vb, (size_t)c * sizeof(float));
        }
        assert_int_equal(spt_model_forward(a, x, N, za), SPT_OK);
        assert_int_equal(spt_model_forward(b, x, N, zb), SPT_OK);
        assert_memory_equal(za, zb, sizeof za);
        free(x);
        free(y);
        spt_model_destroy(a);
        spt_model_destroy(b);
    }
    assert_status(spt_set_num_threads(threads), SPT_OK);
    assert_status(spt_set_simd_level(simd), SPT_OK);
}

static void test_resnet_mnist_shape(void **state) {
    (void)state;
    spt_model *m;
    assert_int_equal(spt_model_create_resnet(1, 28, 28, 1, 2, 10, 8, &m), SPT_OK);
    int64_t rows, cols;
    assert_int_equal(spt_model_layer_weight(m, 0, &rows, &cols, NULL, NULL), SPT_OK);
    assert_true(rows == 32 && cols == 9); /* width 2: 16 * 2 channels */
    float *x = rand_buf(28 * 28 * 2, 9, 1.0f), z[20];
    assert_int_equal(spt_model_forward(m, x, 2, z), SPT_OK);
    for (int i = 0; i < 20; i++) assert_true(isfinite(z[i]));
    /* 28 -> 14 -> 7 spatially: the pooled map feeds fc with 128 features. */
    assert_int_equal(m->layers[m->n_layers - 2]->in_shape.h, 7);
    assert_int_equal(m->layers[m->n_layers - 1]->in_shape.c, 128);
    free(x);
    spt_model_destroy(m);
}

/* ---- public API argument checks, layout helpers, allocation failures ---------- */

static void test_api_arguments(void **state) {
    (void)state;
    spt_model *m = (spt_model *)&m;
    const int64_t ok[2] = {3, 2}, bad[2] = {3, 0};
    assert_status(spt_model_create_mlp(NULL, 2, 0, &m), SPT_ERR_NULL);
    assert_null(m);
    assert_status(spt_model_create_mlp(ok, 2, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_model_create_mlp(ok, 1, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_mlp(bad, 2, 0, &m), SPT_ERR_SIZE);
    assert_non_null(strstr(spt_last_error(), "spt_model_create_mlp"));
    assert_status(spt_model_create_resnet(3, 8, 8, 0, 1, 10, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_resnet(3, 8, 8, 1, 0, 10, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, 0, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_resnet(0, 8, 8, 1, 1, 10, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_resnet(3, -8, 8, 1, 1, 10, 0, &m), SPT_ERR_SIZE);
    assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, 10, 0, NULL), SPT_ERR_NULL);
    assert_null(m);
    spt_model_destroy(NULL);
    assert_int_equal(spt_model_create_mlp(ok, 2, 0, &m), SPT_OK);
    float x[6] = {0}, z[4];
    int32_t y[2] = {0, 1}, pred[2];
    int64_t v;
    assert_status(spt_model_forward(NULL, x, 2, z), SPT_ERR_NULL);
    assert_status(spt_model_forward(m, NULL, 2, z), SPT_ERR_NULL);
    assert_status(spt_model_forward(m, x, 2, NULL), SPT_ERR_NULL);
    assert_status(spt_model_forward(m, x, 0, z), SPT_ERR_SIZE);
    assert_status(spt_model_forward(m, x, INT64_MAX / 2, z), SPT_ERR_SIZE);
    assert_status(spt_model_predict(m, x, 2, NULL), SPT_ERR_NULL);
    assert_status(spt_model_predict(m, x, -1, pred), SPT_ERR_SIZE);
    assert_status(spt_model_evaluate(m, x, NULL, 2, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_model_evaluate(m, x, y, 0, NULL, NULL), SPT_ERR_SIZE);
    assert_int_equal(spt_model_evaluate(m, x, y, 2, NULL, NULL), SPT_OK);
    assert_status(spt_model_num_layers(NULL, &v), SPT_ERR_NULL);
    assert_status(spt_model_num_layers(m, NULL), SPT_ERR_NULL);
    assert_status(spt_model_num_classes(m, NULL), SPT_ERR_NULL);
    assert_status(spt_model_input_shape(NULL, &v, &v, &v), SPT_ERR_NULL);
    assert_status(spt_model_num_params(NULL, &v, &v), SPT_ERR_NULL);
    assert_status(spt_model_layer_weight(m, 5, &v, &v, &v, NULL), SPT_ERR_INVALID);
    assert_status(spt_model_flops(m, 1, NULL), SPT_ERR_NULL);
    /* The model survives failed calls. */
    assert_int_equal(spt_model_forward(m, x, 2, z), SPT_OK);
    spt_model_destroy(m);
}

static void test_layout_helpers(void **state) {
    (void)state;
    const int64_t N = 3, C = 2, H = 2, W = 3, F = C * H * W;
    float src[36], dst[36], back[36];
    for (int i = 0; i < 36; i++) src[i] = (float)i;
    assert_int_equal(spt_layout_nchw_to_chwn(src, N, C, H, W, dst), SPT_OK);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    assert_true(dst[((c * H + h) * W + w) * N + n] == src[((n * C + c) * H + h) * W + w]);
    assert_int_equal(spt_layout_chwn_to_nchw(dst, N, C, H, W, back), SPT_OK);
    assert_memory_equal(src, back, sizeof src);
    (void)F;
    assert_status(spt_layout_nchw_to_chwn(NULL, N, C, H, W, dst), SPT_ERR_NULL);
    assert_status(spt_layout_nchw_to_chwn(src, N, C, H, W, NULL), SPT_ERR_NULL);
    assert_status(spt_layout_nchw_to_chwn(src, 0, C, H, W, dst), SPT_ERR_SIZE);
    assert_status(spt_layout_chwn_to_nchw(src, N, C, -1, W, dst), SPT_ERR_SIZE);
    assert_status(spt_layout_chwn_to_nchw(src, INT64_MAX, 2, 2, 2, dst), SPT_ERR_SIZE);
}

static void test_nomem(void **state) {
    (void)state;
    const int64_t widths[4] = {5, 6, 4, 3};
    float *x = rand_buf(3 * 8 * 8 * 2, 1, 1.0f);
    int32_t y[2] = {1, 2};
    for (int arch = 0; arch < 2; arch++) {
        for (long k = 0;; k++) {
            spt_test_alloc_install();
            spt_test_alloc_fail_at(k);
            spt_model *m = NULL;
            int rc = arch == 0 ? spt_model_create_mlp(widths, 4, 1, &m)
                               : spt_model_create_resnet(3, 8, 8, 1, 1, 10, 1, &m);
            if (rc == SPT_OK) {
                spt_test_alloc_fail_at(-1);
                spt_model_destroy(m);
                assert_int_equal(spt_test_alloc_live(), 0);
                spt_test_alloc_uninstall();
                break;
            }
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_null(m);
            assert_int_equal(spt_test_alloc_live(), 0);
            spt_test_alloc_uninstall();
        }
        /* Failing allocations inside a train step: NOMEM, then it works. */
        spt_test_alloc_install();
        spt_model *m;
        assert_int_equal(arch == 0 ? spt_model_create_mlp(widths, 4, 1, &m)
                                   : spt_model_create_resnet(3, 8, 8, 1, 1, 10, 1, &m),
                         SPT_OK);
        for (long k = 0;; k++) {
            spt_test_alloc_fail_at(k);
            double loss;
            int rc = spti_model_train_step(m, x, y, 2, &loss, NULL);
            spt_test_alloc_fail_at(-1);
            if (rc == SPT_OK) break;
            assert_int_equal(rc, SPT_ERR_NOMEM);
        }
        spt_model_destroy(m);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
    }
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_structure),
        cmocka_unit_test(test_mlp_init_statistics),
        cmocka_unit_test(test_mlp_forward_reference),
        cmocka_unit_test(test_mlp_train_step_gradients),
        cmocka_unit_test(test_mlp_determinism_and_dropout),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_resnet_structure),
        cmocka_unit_test(test_resnet_forward_backward),
        cmocka_unit_test(test_resnet_fused_matches_unfused),
        cmocka_unit_test(test_resnet_mnist_shape),
        cmocka_unit_test(test_api_arguments),
        cmocka_unit_test(test_layout_helpers),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
