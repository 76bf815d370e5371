/* Softmax cross-entropy: value against a naive log-softmax, stability with
 * huge logits, gradient by finite differences, argument checks. */
#include <math.h>
#include <stdlib.h>

#include "nn/model.h"
#include "test_support.h"

/* Naive per-example loss, in long double, without the max trick. */
static double ref_loss(const float *z, int64_t K, int64_t N, const int32_t *y, int64_t *correct) {
    long double total = 0;
    *correct = 0;
    for (int64_t n = 0; n < N; n++) {
        long double s = 0;
        int64_t arg = 0;
        for (int64_t k = 0; k < K; k++) {
            s += expl((long double)z[k * N + n]);
            if (z[k * N + n] > z[arg * N + n]) arg = k;
        }
        total += -logl(expl((long double)z[y[n] * N + n]) / s);
        *correct += arg == y[n];
    }
    return (double)(total / N);
}

static void test_loss_value(void **state) {
    (void)state;
    const int64_t K = 7, N = 9;
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    float z[63], dz[63];
    int32_t y[9];
    for (int i = 0; i < 63; i++) z[i] = 3.0f * spti_rng_normal(&rng);
    for (int n = 0; n < 9; n++) y[n] = (int32_t)spti_rng_below(&rng, K);
    double loss;
    int64_t correct, want_correct;
    assert_int_equal(spti_softmax_xent(z, K, N, y, dz, &loss, &correct), SPT_OK);
    double want = ref_loss(z, K, N, y, &want_correct);
    assert_true(fabs(loss - want) < 1e-9 * (1 + want));
    assert_int_equal(correct, want_correct);
    /* Gradient columns sum to 0; the label entry is the only negative one. */
    for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++) {
            s += dz[k * N + n];
            assert_true((dz[k * N + n] < 0) == (k == y[n]));
        }
        assert_true(fabs(s) < 1e-7);
    }
    /* Finite differences of the loss in double. */
    for (int64_t i = 0; i < K * N; i++) {
        float keep = z[i];
        double lp, lm;
        z[i] = keep + 1e-2f;
        assert_int_equal(spti_softmax_xent(z, K, N, y, NULL, &lp, NULL), SPT_OK);
        z[i] = keep - 1e-2f;
        assert_int_equal(spti_softmax_xent(z, K, N, y, NULL, &lm, NULL), SPT_OK);
        z[i] = keep;
        double fd = (lp - lm) / (double)((keep + 1e-2f) - (keep - 1e-2f));
        assert_true(fabs(dz[i] - fd) < 1e-5 + 1e-3 * fabs(fd));
    }
    /* Optional outputs. */
    assert_int_equal(spti_softmax_xent(z, K, N, y, NULL, NULL, NULL), SPT_OK);
}

static void test_loss_huge_logits(void **state) {
    (void)state;
    /* K = 3, N = 4: logits around +-1e4 overflow a naive exp(). */
    const int64_t K = 3, N = 4;
    float z[12] = {1e4f, -1e4f, 0.0f, 1e4f,   /* class 0 */
                   1e4f - 2.0f, 1e4f, 0.0f, -1e4f, /* class 1 */
                   -1e4f, 0.0f, 0.0f, 1e4f};  /* class 2 */
    int32_t y[4] = {1, 1, 2, 0};
    float dz[12];
    double loss;
    int64_t correct;
    assert_int_equal(spti_softmax_xent(z, K, N, y, dz, &loss, &correct), SPT_OK);
    assert_true(isfinite(loss));
    /* per example: log(1 + e^2) + 2 ~ 2.1269; ~0; log 3; log 2 (tie 0 / 2) */
    double want = (log1p(exp(-2.0)) + 2.0 + log1p(exp(-2e4)) + log(3.0) + log(2.0)) / 4.0;
    assert_true(fabs(loss - want) < 1e-6);
    /* correct: ex 1 (argmax 1), ex 3 (first max is class 0) -> 2; ex 2: tie, first is 0 != 2 */
    assert_int_equal(correct, 2);
    for (int i = 0; i < 12; i++) assert_true(isfinite(dz[i]) && fabsf(dz[i]) <= 0.25f + 1e-7f);
    assert_true(fabs(dz[0 * N + 1]) < 1e-30);          /* e^-2e4 underflows to 0 */
    assert_true(fabs(dz[1 * N + 1]) < 1e-30);          /* p = 1 for the label */
    assert_true(fabs(dz[0 * N + 3] - (0.5 - 1.0) / 4) < 1e-7);
    assert_true(fabs(dz[2 * N + 3] - 0.5 / 4) < 1e-7);
    assert_true(fabs(dz[2 * N + 2] - (1.0 / 3 - 1.0) / 4) < 1e-7);
}

static void test_loss_invalid(void **state) {
    (void)state;
    float z[6] = {0}, dz[6] = {7, 7, 7, 7, 7, 7};
    int32_t y[2] = {0, 3};
    double loss = -1;
    assert_status(spti_softmax_xent(z, 3, 2, y, dz, &loss, NULL), SPT_ERR_INVALID);
    assert_true(loss == -1 && dz[0] == 7); /* nothing written */
    y[1] = -1;
    assert_status(spti_softmax_xent(z, 3, 2, y, dz, &loss, NULL), SPT_ERR_INVALID);
    y[1] = 2;
    assert_int_equal(spti_softmax_xent(z, 3, 2, y, dz, &loss, NULL), SPT_OK);
    assert_true(fabs(loss - log(3.0)) < 1e-9);
    assert_status(spti_softmax_xent(NULL, 3, 2, y, dz, &loss, NULL), SPT_ERR_NULL);
    assert_status(spti_softmax_xent(z, 3, 2, NULL, dz, &loss, NULL), SPT_ERR_NULL);
    assert_status(spti_softmax_xent(z, 0, 2, y, dz, &loss, NULL), SPT_ERR_SIZE);
    assert_status(spti_softmax_xent(z, 3, 0, y, dz, &loss, NULL), SPT_ERR_SIZE);
    assert_status(spti_softmax_xent(z, INT64_MAX, 2, y, dz, &loss, NULL), SPT_ERR_SIZE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_value),
        cmocka_unit_test(test_loss_huge_logits),
        cmocka_unit_test(test_loss_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
