/* Leaky ReLU, tanh and GELU layers: values against libm in double, NaN and
 * infinities, finite differences, the same bytes for any thread count and
 * between the vector body and the scalar tail, invalid arguments and
 * allocation failures. (ReLU: test_layers.c.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/layers.h"
#include "test_support.h"

typedef enum { ACT_LEAKY, ACT_TANH, ACT_GELU, N_ACTS } act;

static spti_layer *make_act(act a, spti_shape s, float slope) {
    spti_layer *L = NULL;
    switch (a) {
    case ACT_LEAKY: assert_status(spti_leaky_relu_create("act", s, slope, &L), SPT_OK); break;
    case ACT_TANH: assert_status(spti_tanh_create("act", s, &L), SPT_OK); break;
    default: assert_status(spti_gelu_create("act", s, &L), SPT_OK); break;
    }
    assert_true(L->ops->flops(L, true) == 0.0);
    return L;
}

/* The function and its derivative in double. */
static double ref_f(act a, double x, double slope) {
    switch (a) {
    case ACT_LEAKY: return x >= 0 ? x : slope * x;
    case ACT_TANH: return tanh(x);
    default: return 0.5 * x * erfc(-x / sqrt(2.0));
    }
}

static double ref_df(act a, double x, double slope) {
    switch (a) {
    case ACT_LEAKY: return x > 0 ? 1.0 : slope;
    case ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    default: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
    }
}

/* x = a grid over [-lim, lim] (+ exact 0). */
static float *grid(int64_t n, float lim) {
    float *x = malloc((size_t)(n + 1) * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = -lim + 2.0f * lim * (float)i / (float)(n - 1);
    x[n / 2] = 0.0f;
    return x;
}

/* |got - want| within tol relative to max(|want|, floor). */
static void assert_close(double got, double want, double tol, double floor, const char *what, double x) {
    double err = fabs(got - want) / fmax(fabs(want), floor);
    if (!(err <= tol)) fail_msg("%s at x = %.9g: got %.9g, want %.9g (err %.3g)", what, x, got, want, err);
}

static void test_values(void **state) {
    (void)state;
    const int64_t n = 20001;
    float *x = grid(n, 12.0f), *y = malloc((size_t)n * sizeof(float)), *dy = malloc((size_t)n * sizeof(float));
    float *dx = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) dy[i] = 1.0f;
    spti_fwd_ctx ctx = {true, NULL, NULL};
    const float slopes[] = {SPTI_LEAKY_RELU_SLOPE, 0.2f, -0.5f, 0.0f};
    for (int a = 0; a < N_ACTS; a++)
        for (int si = 0; si < (a == ACT_LEAKY ? 4 : 1); si++) {
            spti_layer *L = make_act((act)a, (spti_shape){n, 1, 1}, slopes[si]);
            assert_status(L->ops->forward(L, x, y, 1, &ctx), SPT_OK);
            assert_status(L->ops->backward(L, x, y, dy, dx, 1), SPT_OK);
            for (int64_t i = 0; i < n; i++) {
                const double xd = x[i], s = slopes[si];
                if (a == ACT_LEAKY) { /* exact */
                    assert_true(y[i] == (x[i] >= 0.0f ? x[i] : slopes[si] * x[i]));
                    assert_true(dx[i] == (x[i] > 0.0f ? 1.0f : slopes[si]));
                    continue;
                }
                /* a few ulp; GELU's left tail is conditioned by ~x^2 */
                const double cond = a == ACT_GELU ? 1.0 + xd * xd : 1.0;
                assert_close(y[i], ref_f((act)a, xd, s), 4e-7 * cond, 1e-37, "forward", xd);
                if (a == ACT_TANH) /* 1 - y^2 from the rounded y: absolute error ~ulp(1) */
                    assert_close(dx[i], ref_df((act)a, xd, s), 2.5e-7, 1.0, "backward", xd);
                else
                    assert_close(dx[i], ref_df((act)a, xd, s), 1e-6 * cond, 0.05, "backward", xd); /* a zero near -0.75 */
            }
            spti_layer_destroy(L);
        }
    free(x);
    free(y);
    free(dy);
    free(dx);
}

/* NaN in, NaN out (forward; backward of tanh and GELU); infinities saturate. */
static void test_nonfinite(void **state) {
    (void)state;
    float x[4] = {NAN, INFINITY, -INFINITY, 1.0f}, y[4], dy[4] = {1.0f, 1.0f, 1.0f, NAN}, dx[4];
    spti_fwd_ctx ctx = {true, NULL, NULL};
    for (int a = 0; a < N_ACTS; a++) {
        spti_layer *L = make_act((act)a, (spti_shape){1, 2, 2}, SPTI_LEAKY_RELU_SLOPE);
        assert_status(L->ops->forward(L, x, y, 1, &ctx), SPT_OK);
        assert_status(L->ops->backward(L, x, y, dy, dx, 1), SPT_OK);
        assert_true(isnan(y[0]));
        /* leaky ReLU's derivative at NaN is the slope, as ReLU's is 0 (PyTorch's too) */
        assert_true(a == ACT_LEAKY ? dx[0] == SPTI_LEAKY_RELU_SLOPE : isnan(dx[0]));
        assert_true(isnan(dx[3])); /* NaN gradients propagate too */
        if (y[1] != (a == ACT_TANH ? 1.0f : INFINITY)) fail_msg("act %d: f(inf) = %g", a, y[1]);
        if (a == ACT_TANH) assert_true(y[2] == -1.0f);
        if (a == ACT_LEAKY) assert_true(y[2] == -INFINITY);
        spti_layer_destroy(L);
    }
}

/* Kinks: leaky ReLU at 0 (skip inputs within reach of it). */
static bool skip_kink(const spt_gc_point *pt, double eps, void *user) {
    (void)user;
    return pt->p == NULL && fabs(pt->x[pt->index]) < 2 * eps;
}

static void test_gradcheck(void **state) {
    (void)state;
    const spti_shape shapes[] = {{2, 3, 3}, {5, 1, 1}, {1, 7, 5}};
    const int64_t batches[] = {3, 1, 2};
    for (int a = 0; a < N_ACTS; a++)
        for (int si = 0; si < 3; si++) {
            spti_layer *L = make_act((act)a, shapes[si], si == 2 ? 0.3f : SPTI_LEAKY_RELU_SLOPE);
            const int64_t N = batches[si], n = spti_shape_size(shapes[si]) * N;
            float *x = malloc((size_t)n * sizeof(float));
            spti_rng rng;
            spti_rng_seed(&rng, 40 + (uint64_t)(a * 3 + si));
            for (int64_t i = 0; i < n; i++) x[i] = 2.0f * spti_rng_normal(&rng); /* tails included */
            spt_gc_opts o = {.eps = 1e-3, .tol = 1e-2, .seed = 7, .training = true, .skip = skip_kink};
            spt_gc_result res;
            assert_status(spt_gradcheck(L, x, N, &o, &res), SPT_OK);
            if (res.failed) fail_msg("act %d shape %d: %s", a, si, res.worst);
            assert_true(res.checked > n / 2);
            free(x);
            spti_layer_destroy(L);
        }
}

/* Forward and backward bytes: 1 vs 2 threads over a size that runs in
 * parallel, and each element against a one-element call (scalar path). */
static void test_deterministic(void **state) {
    (void)state;
    const spti_shape s = {8, 32, 32};
    const int64_t N = 9, n = spti_shape_size(s) * N; /* above the parallel threshold */
    float *x = malloc((size_t)n * sizeof(float)), *dy = malloc((size_t)n * sizeof(float));
    float *y[2], *dx[2];
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    for (int64_t i = 0; i < n; i++) {
        x[i] = 4.0f * spti_rng_normal(&rng);
        dy[i] = spti_rng_normal(&rng);
    }
    const int threads_before = spt_get_num_threads();
    spti_fwd_ctx ctx = {true, NULL, NULL};
    for (int a = 0; a < N_ACTS; a++) {
        spti_layer *L = make_act((act)a, s, SPTI_LEAKY_RELU_SLOPE);
        for (int t = 0; t < 2; t++) {
            assert_status(spt_set_num_threads(t + 1), SPT_OK);
            y[t] = malloc((size_t)n * sizeof(float));
            dx[t] = malloc((size_t)n * sizeof(float));
            assert_status(L->ops->forward(L, x, y[t], N, &ctx), SPT_OK);
            assert_status(L->ops->backward(L, x, y[t], dy, dx[t], N), SPT_OK);
        }
        assert_memory_equal(y[0], y[1], (size_t)n * sizeof(float));
        assert_memory_equal(dx[0], dx[1], (size_t)n * sizeof(float));
        spti_layer *one = make_act((act)a, (spti_shape){1, 1, 1}, SPTI_LEAKY_RELU_SLOPE);
        for (int64_t i = 0; i < n; i += 97) {
            float y1, dx1;
            assert_status(one->ops->forward(one, &x[i], &y1, 1, &ctx), SPT_OK);
            assert_status(one->ops->backward(one, &x[i], &y1, &dy[i], &dx1, 1), SPT_OK);
            assert_memory_equal(&y1, &y[0][i], sizeof y1);
            assert_memory_equal(&dx1, &dx[0][i], sizeof dx1);
        }
        assert_status(L->ops->backward(L, x, y[0], dy, NULL, N), SPT_OK); /* dx NULL: nothing to do */
        for (int t = 0; t < 2; t++) {
            free(y[t]);
            free(dx[t]);
        }
        spti_layer_destroy(one);
        spti_layer_destroy(L);
    }
    assert_status(spt_set_num_threads(threads_before), SPT_OK);
    free(x);
    free(dy);
}

static void test_invalid_args(void **state) {
    (void)state;
    spti_layer *L = (spti_layer *)&L;
    const spti_shape ok = {1, 2, 3};
    assert_status(spti_leaky_relu_create("l", ok, NAN, &L), SPT_ERR_INVALID);
    assert_null(L);
    assert_status(spti_leaky_relu_create("l", ok, INFINITY, &L), SPT_ERR_INVALID);
    assert_status(spti_leaky_relu_create("l", (spti_shape){0, 1, 1}, 0.1f, &L), SPT_ERR_SIZE);
    assert_status(spti_leaky_relu_create(NULL, ok, 0.1f, &L), SPT_ERR_NULL);
    assert_status(spti_leaky_relu_create("l", ok, 0.1f, NULL), SPT_ERR_NULL);
    assert_status(spti_tanh_create("t", (spti_shape){1, -1, 1}, &L), SPT_ERR_SIZE);
    assert_status(spti_tanh_create(NULL, ok, &L), SPT_ERR_NULL);
    assert_status(spti_gelu_create("g", (spti_shape){INT64_MAX / 2, 4, 4}, &L), SPT_ERR_SIZE);
    assert_status(spti_gelu_create("g", ok, NULL), SPT_ERR_NULL);
    assert_null(L);
    assert_status(spti_leaky_relu_create("l", ok, 0.25f, &L), SPT_OK);
    assert_true(spti_leaky_relu_slope(L) == 0.25f);
    spti_layer_destroy(L);
    assert_status(spti_tanh_create("t", ok, &L), SPT_OK);
    assert_true(isnan(spti_leaky_relu_slope(L)));
    assert_string_equal(L->ops->kind, "tanh");
    spti_layer_destroy(L);
}

/* Each allocation of each constructor fails in turn: NOMEM, nothing leaks. */
static void test_nomem(void **state) {
    (void)state;
    for (int a = 0; a < N_ACTS; a++)
        for (long k = 0;; k++) {
            spt_test_alloc_install();
            spt_test_alloc_fail_at(k);
            spti_layer *L = NULL;
            int rc = a == ACT_LEAKY  ? spti_leaky_relu_create("l", (spti_shape){2, 2, 2}, 0.1f, &L)
                     : a == ACT_TANH ? spti_tanh_create("t", (spti_shape){2, 2, 2}, &L)
                                     : spti_gelu_create("g", (spti_shape){2, 2, 2}, &L);
            spt_test_alloc_fail_at(-1);
            const bool done = rc == SPT_OK;
            if (!done) {
                assert_int_equal(rc, SPT_ERR_NOMEM);
                assert_null(L);
            }
            spti_layer_destroy(L);
            assert_int_equal(spt_test_alloc_live(), 0);
            spt_test_alloc_uninstall();
            if (done) break;
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
