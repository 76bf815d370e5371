/* Learning: a small MLP and a tiny ResNet, dense and with sparse weights
 * (random fixed patterns through spti_param_sparsify), learn synthetic
 * separable tasks with SGD (src/optim) within a few hundred steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "optim/optim.h"
#include "test_support.h"

/* ---- tasks ------------------------------------------------------------------ */

/* Gaussian blobs: 4 classes in 16-d around fixed random centres. */
enum { BLOB_F = 16, BLOB_K = 4 };
static float centres[BLOB_K][BLOB_F];

static void blobs_init(void) {
    spti_rng r;
    spti_rng_seed(&r, 1234);
    for (int k = 0; k < BLOB_K; k++)
        for (int f = 0; f < BLOB_F; f++) centres[k][f] = 1.5f * spti_rng_normal(&r);
}

/* x: F x N (feature-major), y: N. */
static void blobs_batch(spti_rng *r, int64_t N, float *x, int32_t *y) {
    for (int64_t n = 0; n < N; n++) {
        int k = (int)spti_rng_below(r, BLOB_K);
        y[n] = k;
        for (int f = 0; f < BLOB_F; f++) x[f * N + n] = centres[k][f] + spti_rng_normal(r);
    }
}

/* Images 3 x 8 x 8 of noise with a bright 3x3 square in the quadrant given
 * by the class (4 classes), at a random offset inside the quadrant. */
enum { IMG_C = 3, IMG_H = 8, IMG_K = 4 };

static void squares_batch(spti_rng *r, int64_t N, float *x, int32_t *y) {
    for (int64_t n = 0; n < N; n++) {
        int k = (int)spti_rng_below(r, IMG_K);
        y[n] = k;
        int64_t h0 = (k / 2) * 4 + (int64_t)spti_rng_below(r, 2), w0 = (k % 2) * 4 + (int64_t)spti_rng_below(r, 2);
        for (int64_t c = 0; c < IMG_C; c++)
            for (int64_t h = 0; h < IMG_H; h++)
                for (int64_t w = 0; w < IMG_H; w++) {
                    float v = 0.5f * spti_rng_normal(r);
                    if (h >= h0 && h < h0 + 3 && w >= w0 && w < w0 + 3) v += 2.0f;
                    x[((c * IMG_H + h) * IMG_H + w) * N + n] = v;
                }
    }
}

typedef void (*batch_fn)(spti_rng *r, int64_t N, float *x, int32_t *y);

/* ---- helpers ------------------------------------------------------------------- */

/* Make every weight param with fan-in >= min_cols SPARSE at `density`, with
 * uniformly random positions (selection sampling: sorted, distinct). */
static void sparsify_weights(spti_model *m, double density, int64_t min_cols, uint64_t seed) {
    spti_rng r;
    spti_rng_seed(&r, seed);
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        if (!p->is_weight || p->cols < min_cols) continue;
        int64_t cells = p->rows * p->cols, want = (int64_t)(density * (double)cells), got = 0;
        int64_t *pos = malloc((size_t)want * sizeof(int64_t));
        for (int64_t c = 0; c < cells && got < want; c++)
            if (spti_rng_below(&r, (uint64_t)(cells - c)) < (uint64_t)(want - got)) pos[got++] = c;
        assert_int_equal(got, want);
        assert_int_equal(spti_param_sparsify(p, pos, want), SPT_OK);
        free(pos);
    }
}

/* Train `steps` SGD steps (momentum 0.9) on fresh batches; return the test
 * accuracy on `test_n` held-out examples. */
static double train_and_test(spti_model *m, batch_fn gen, int64_t in_size, int64_t steps, int64_t B, double lr,
                             int64_t test_n) {
    spt_optimizer *opt;
    assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_int_equal(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spti_rng data;
    spti_rng_seed(&data, 77);
    float *x = malloc((size_t)(in_size * (B > test_n ? B : test_n)) * sizeof(float));
    int32_t *y = malloc((size_t)(B > test_n ? B : test_n) * sizeof(int32_t));
    double first = 0, last = 0;
    for (int64_t s = 0; s < steps; s++) {
        gen(&data, B, x, y);
        double loss;
        assert_int_equal(spti_model_train_step(m, x, y, B, &loss, NULL), SPT_OK);
        assert_int_equal(spti_optimizer_step(opt, m->params, m->n_params, lr), SPT_OK);
        if (s == 0) first = loss;
        last = loss;
    }
    assert_true(last < first);
    spti_rng test;
    spti_rng_seed(&test, 4321);
    gen(&test, test_n, x, y);
    int64_t correct;
    assert_int_equal(spti_model_eval_batch(m, x, y, test_n, NULL, &correct), SPT_OK);
    spt_optimizer_destroy(opt);
    free(x);
    free(y);
    return (double)correct / (double)test_n;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_mlp_learns(void **state) {
    (void)state;
    blobs_init();
    const int64_t widths[3] = {BLOB_F, 32, BLOB_K};
    for (int sparse = 0; sparse < 2; sparse++) {
        spti_model *m;
        assert_int_equal(spt_model_create_mlp(widths, 3, 5, &m), SPT_OK);
        if (sparse) sparsify_weights(m, 0.3, 1, 6);
        int64_t nz0;
        assert_int_equal(spt_model_num_params(m, NULL, &nz0), SPT_OK);
        double acc = train_and_test(m, blobs_batch, BLOB_F, 200, 32, 0.05, 1000);
        print_message("%s MLP accuracy %.3f\n", sparse ? "sparse" : "dense", acc);
        if (acc < 0.85) fail_msg("%s MLP accuracy %.3f (chance 0.25)", sparse ? "sparse" : "dense", acc);
        int64_t nz1;
        assert_int_equal(spt_model_num_params(m, NULL, &nz1), SPT_OK);
        assert_int_equal(nz0, nz1); /* the pattern stayed fixed */
        spt_model_destroy(m);
    }
}

static void test_resnet_learns(void **state) {
    (void)state;
    for (int sparse = 0; sparse < 2; sparse++) {
        spti_model *m;
        assert_int_equal(spt_model_create_resnet(IMG_C, IMG_H, IMG_H, 1, 1, IMG_K, 8, &m), SPT_OK);
        /* every convolution except the 27-input stem, and the classifier */
        if (sparse) sparsify_weights(m, 0.5, 64, 9);
        double acc = train_and_test(m, squares_batch, IMG_C * IMG_H * IMG_H, 120, 16, 0.05, 256);
        print_message("%s ResNet accuracy %.3f\n", sparse ? "sparse" : "dense", acc);
        if (acc < 0.75) fail_msg("%s ResNet accuracy %.3f (chance 0.25)", sparse ? "sparse" : "dense", acc);
        spt_model_destroy(m);
    }
}

int main(void) {
    /* One thread: this suite checks learning, not threading, and the products
     * here are tiny; on a loaded shared machine a thread team of small
     * regions can be slower than one thread by orders of magnitude. */
    spt_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_learns),
        cmocka_unit_test(test_resnet_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
