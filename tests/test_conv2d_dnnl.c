/* The dense convolution path through oneDNN (kernels/conv_dnnl.c, when the
 * build has it; otherwise the im2col path runs the same checks): forward, dX
 * and dW of a DENSE weight against a naive direct convolution at ResNet-like
 * channel counts (blocked layouts), counts that are not multiples of 16,
 * odd spatial sizes, strides 1 and 2, padding, batch 1 and odd batches;
 * gradients accumulate; MASKED weights keep zero gradients where inactive;
 * the same bytes on every run at a given thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv_dnnl.h"
#include "nn/layers.h"
#include "test_support.h"

static const spti_conv2d_spec SHAPES[] = {
    /* c_in h  w  c_out kh kw s  p  bias groups */
    {16, 9, 9, 16, 3, 3, 1, 1, false, 1},  /* ResNet stage, odd size */
    {16, 11, 7, 32, 3, 3, 2, 1, false, 1}, /* downsampling, odd and non-square */
    {3, 10, 10, 16, 3, 3, 1, 1, true, 1},  /* first layer: 3 channels, bias */
    {20, 7, 8, 24, 3, 3, 1, 1, true, 1},   /* channels not a multiple of 16 */
    {5, 9, 9, 7, 5, 5, 2, 2, false, 1},    /* 5x5 stride 2 pad 2 */
    {6, 6, 7, 5, 3, 2, 1, 0, true, 1},     /* non-square kernel, no padding */
    {8, 6, 6, 8, 3, 3, 3, 1, false, 1},    /* stride 3 */
    {64, 4, 4, 64, 3, 3, 1, 1, false, 1},  /* last stage */
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };
static const int64_t BATCHES[] = {1, 3, 17};

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

static double xat(const spti_conv2d_spec *s, const float *x, int64_t N, int64_t ci, int64_t ih, int64_t iw, int64_t n) {
    if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) return 0.0;
    return x[((ci * s->h + ih) * s->w + iw) * N + n];
}

/* y = conv(W, x) + b, dW, dx and db for dy, in double. */
static void naive(const spti_conv2d_spec *s, const float *W, const float *b, const float *x, const float *dy,
                  int64_t N, float *y, float *dW, float *dx, float *db) {
    const int64_t ho = out_dim(s->h, s->kh, s->stride, s->pad), wo = out_dim(s->w, s->kw, s->stride, s->pad);
    const int64_t K = s->c_in * s->kh * s->kw, nin = s->c_in * s->h * s->w * N;
    double *ddx = calloc((size_t)nin, sizeof(double));
    assert_non_null(ddx);
    for (int64_t co = 0; co < s->c_out; co++) {
        double bsum = 0.0;
        for (int64_t e = 0; e < ho * wo * N; e++) bsum += dy[co * ho * wo * N + e];
        if (db) db[co] = (float)bsum;
        for (int64_t oh = 0; oh < ho; oh++)
            for (int64_t ow = 0; ow < wo; ow++)
                for (int64_t n = 0; n < N; n++) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t c = 0; c < K; c++) {
                        const int64_t ci = c / (s->kh * s->kw), i = (c / s->kw) % s->kh, j = c % s->kw;
                        acc += (double)W[co * K + c] *
                               xat(s, x, N, ci, oh * s->stride + i - s->pad, ow * s->stride + j - s->pad, n);
                    }
                    y[((co * ho + oh) * wo + ow) * N + n] = (float)acc;
                }
        for (int64_t c = 0; c < K; c++) {
            const int64_t ci = c / (s->kh * s->kw), i = (c / s->kw) % s->kh, j = c % s->kw;
            double acc = 0.0;
            for (int64_t oh = 0; oh < ho; oh++)
                for (int64_t ow = 0; ow < wo; ow++) {
                    const int64_t ih = oh * s->stride + i - s->pad, iw = ow * s->stride + j - s->pad;
                    for (int64_t n = 0; n < N; n++) {
                        const double g = dy[((co * ho + oh) * wo + ow) * N + n];
                        acc += g * xat(s, x, N, ci, ih, iw, n);
                        if (ih >= 0 && ih < s->h && iw >= 0 && iw < s->w)
                            ddx[((ci * s->h + ih) * s->w + iw) * N + n] += g * W[co * K + c];
                    }
                }
            dW[co * K + c] = (float)acc;
        }
    }
    for (int64_t e = 0; e < nin; e++) dx[e] = (float)ddx[e];
    free(ddx);
}

static float *random_buf(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)(n + 1) * sizeof(float));
    assert_non_null(v);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) v[i] = spti_rng_normal(&rng);
    return v;
}

static spti_layer *make_conv(const spti_conv2d_spec *s, uint64_t seed) {
    spti_layer *L;
    assert_status(spti_conv2d_create("conv", s, &L), SPT_OK);
    spti_param *W = L->params[0];
    assert_status(spti_param_materialize(W), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < W->n; i++) W->value[i] = spti_rng_normal(&rng);
    if (s->bias)
        for (int64_t i = 0; i < s->c_out; i++) L->params[1]->value[i] = spti_rng_normal(&rng);
    return L;
}

static spti_conv_geom geom(const spti_conv2d_spec *s) {
    return (spti_conv_geom){s->c_in, s->h, s->w, s->c_out, s->kh, s->kw, s->stride, s->pad,
                            out_dim(s->h, s->kh, s->stride, s->pad), out_dim(s->w, s->kw, s->stride, s->pad), 1};
}

/* Forward, then backward twice (the gradients accumulate: 2x the reference). */
static void test_matches_naive(void **state) {
    (void)state;
    for (int si = 0; si < N_SHAPES; si++)
        for (int bi = 0; bi < 3; bi++) {
            const spti_conv2d_spec *s = &SHAPES[si];
            const int64_t N = BATCHES[bi];
            spti_layer *L = make_conv(s, 10 + si);
            spti_param *W = L->params[0];
            const int64_t nin = spti_shape_size(L->in_shape) * N, nout = spti_shape_size(L->out_shape) * N;
            float *x = random_buf(nin, 3 + si), *dy = random_buf(nout, 4 + si);
            float *y = malloc((size_t)nout * sizeof(float)), *dx = malloc((size_t)nin * sizeof(float));
            float *y_ref = malloc((size_t)nout * sizeof(float)), *dx_ref = malloc((size_t)nin * sizeof(float));
            float *dW_ref = malloc((size_t)W->n * sizeof(float)), *db_ref = malloc((size_t)s->c_out * sizeof(float));
            naive(s, W->value, s->bias ? L->params[1]->value : NULL, x, dy, N, y_ref, dW_ref, dx_ref, db_ref);
            spti_fwd_ctx ctx = {true, NULL, NULL};
            /* float sums of K = c_in*kh*kw products (576 in the last shape)
             * against double ones: the bound grows with K. */
            const double tol = 1e-5 * (1.0 + (double)W->cols / 256.0);
            for (int rep = 1; rep <= 2; rep++) {
                assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                double ey = spt_test_max_rel_err(y, y_ref, nout);
                if (ey >= tol) print_error("shape %d N %lld: y err %g\n", si, (long long)N, ey);
                assert_true(ey < tol);
                memset(dx, 0xff, (size_t)nin * sizeof(float)); /* NaN: dx is written, not added to */
                assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
                double err = spt_test_max_rel_err(dx, dx_ref, nin);
                if (err >= tol) print_error("shape %d N %lld: dx err %g\n", si, (long long)N, err);
                assert_true(err < tol);
                for (int64_t i = 0; i < W->n; i++)
                    assert_true(fabsf(W->grad[i] - rep * dW_ref[i]) <= 1e-4f * (1.0f + fabsf(rep * dW_ref[i])));
                if (s->bias)
                    for (int64_t i = 0; i < s->c_out; i++)
                        assert_true(fabsf(L->params[1]->grad[i] - rep * db_ref[i]) <=
                                    1e-4f * (1.0f + fabsf(rep * db_ref[i])));
            }
            /* No dx wanted: the weight gradient alone. */
            memset(W->grad, 0, (size_t)W->n * sizeof(float));
            assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
            for (int64_t i = 0; i < W->n; i++)
                assert_true(fabsf(W->grad[i] - dW_ref[i]) <= 1e-4f * (1.0f + fabsf(dW_ref[i])));
            free(x);
            free(dy);
            free(y);
            free(dx);
            free(y_ref);
            free(dx_ref);
            free(dW_ref);
            free(db_ref);
            spti_layer_destroy(L);
        }
}

/* A batch size that changes between calls rebuilds the primitives. */
static void test_batch_changes(void **state) {
    (void)state;
    const spti_conv2d_spec *s = &SHAPES[1];
    spti_layer *L = make_conv(s, 5);
    spti_param *W = L->params[0];
    for (int k = 0; k < 4; k++) {
        const int64_t N = BATCHES[k % 3];
        const int64_t nin = spti_shape_size(L->in_shape) * N, nout = spti_shape_size(L->out_shape) * N;
        float *x = random_buf(nin, 30 + k), *dy = random_buf(nout, 40 + k), *y = malloc((size_t)nout * sizeof(float));
        float *dx = malloc((size_t)nin * sizeof(float)), *y_ref = malloc((size_t)nout * sizeof(float));
        float *dx_ref = malloc((size_t)nin * sizeof(float)), *dW_ref = malloc((size_t)W->n * sizeof(float));
        naive(s, W->value, NULL, x, dy, N, y_ref, dW_ref, dx_ref, NULL);
        spti_fwd_ctx ctx = {true, NULL, NULL};
        memset(W->grad, 0, (size_t)W->n * sizeof(float));
        assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
        assert_true(spt_test_max_rel_err(y, y_ref, nout) < 1e-5);
        assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
        for (int64_t i = 0; i < W->n; i++)
            assert_true(fabsf(W->grad[i] - dW_ref[i]) <= 1e-4f * (1.0f + fabsf(dW_ref[i])));
        free(x);
        free(dy);
        free(y);
        free(dx);
        free(y_ref);
        free(dx_ref);
        free(dW_ref);
    }
    spti_layer_destroy(L);
}

/* A MASKED weight: the product over its values (0 where inactive), the
 * gradient 0 at inactive entries. */
static void test_masked(void **state) {
    (void)state;
    const spti_conv2d_spec *s = &SHAPES[0];
    const int64_t N = 3;
    spti_layer *L = make_conv(s, 8);
    spti_param *W = L->params[0];
    int64_t *pos = malloc((size_t)W->n * sizeof(int64_t)), nnz = 0;
    for (int64_t i = 0; i < W->n; i += 3) pos[nnz++] = i;
    assert_status(spti_param_mask(W, pos, nnz), SPT_OK);
    free(pos);
    const int64_t nin = spti_shape_size(L->in_shape) * N, nout = spti_shape_size(L->out_shape) * N;
    float *x = random_buf(nin, 1), *dy = random_buf(nout, 2), *y = malloc((size_t)nout * sizeof(float));
    float *dx = malloc((size_t)nin * sizeof(float)), *y_ref = malloc((size_t)nout * sizeof(float));
    float *dx_ref = malloc((size_t)nin * sizeof(float)), *dW_ref = malloc((size_t)W->n * sizeof(float));
    naive(s, W->value, NULL, x, dy, N, y_ref, dW_ref, dx_ref, NULL);
    spti_fwd_ctx ctx = {true, NULL, NULL};
    assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
    assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
    assert_true(spt_test_max_rel_err(y, y_ref, nout) < 1e-5);
    assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
    for (int64_t i = 0; i < W->n; i++) {
        const float want = i % 3 == 0 ? dW_ref[i] : 0.0f;
        assert_true(fabsf(W->grad[i] - want) <= 1e-4f * (1.0f + fabsf(want)));
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(y_ref);
    free(dx_ref);
    free(dW_ref);
    spti_layer_destroy(L);
}

/* The same bytes on every run at a given thread count (1 and 2), through a
 * fresh layer each time; and oneDNN runs where the build has it. */
static void test_reproducible(void **state) {
    (void)state;
    const spti_conv2d_spec s = {16, 12, 12, 32, 3, 3, 1, 1, false, 1};
    const int64_t N = 24;
    const spti_conv_geom g = geom(&s);
#ifdef SPT_HAVE_DNNL
    assert_true(spti_conv_dnnl_supports(&g));
#else
    assert_false(spti_conv_dnnl_supports(&g));
#endif
    const int threads_before = spt_get_num_threads();
    float *x = random_buf(s.c_in * s.h * s.w * N, 1);
    float *dy = random_buf(s.c_out * g.h_out * g.w_out * N, 2);
    for (int t = 1; t <= 2; t++) {
        assert_status(spt_set_num_threads(t), SPT_OK);
        float *out[2][3];
        for (int run = 0; run < 2; run++) {
            spti_layer *L = make_conv(&s, 77);
            const int64_t nin = spti_shape_size(L->in_shape) * N, nout = spti_shape_size(L->out_shape) * N;
            float *y = malloc((size_t)nout * sizeof(float)), *dx = malloc((size_t)nin * sizeof(float));
            float *gw = malloc((size_t)L->params[0]->n * sizeof(float));
            spti_fwd_ctx ctx = {true, NULL, NULL};
            assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
            assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
            memcpy(gw, L->params[0]->grad, (size_t)L->params[0]->n * sizeof(float));
            out[run][0] = y;
            out[run][1] = dx;
            out[run][2] = gw;
            if (run == 1) {
                assert_memory_equal(out[0][0], y, (size_t)nout * sizeof(float));
                assert_memory_equal(out[0][1], dx, (size_t)nin * sizeof(float));
                assert_memory_equal(out[0][2], gw, (size_t)L->params[0]->n * sizeof(float));
            }
            spti_layer_destroy(L);
        }
        for (int run = 0; run < 2; run++)
            for (int k = 0; k < 3; k++) free(out[run][k]);
    }
    assert_status(spt_set_num_threads(threads_before), SPT_OK);
    free(x);
    free(dy);
}

/* Geometries oneDNN is not asked to run: grouped and 1x1. */
static void test_routing(void **state) {
    (void)state;
    const spti_conv2d_spec grouped = {8, 6, 6, 8, 3, 3, 1, 1, false, 4}, pw = {8, 6, 6, 8, 1, 1, 2, 0, false, 1};
    spti_conv_geom g = geom(&grouped);
    g.groups = 4;
    assert_false(spti_conv_dnnl_supports(&g));
    g = geom(&pw);
    assert_false(spti_conv_dnnl_supports(&g));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive), cmocka_unit_test(test_batch_changes), cmocka_unit_test(test_masked),
        cmocka_unit_test(test_reproducible),  cmocka_unit_test(test_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
