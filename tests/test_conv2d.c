/* Conv2d layer and the convolution kernels: forward and backward against a
 * naive direct convolution, finite differences, dense gradients, form
 * changes, invalid arguments and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "kernels/conv.h"
#include "nn/layers.h"
#include "test_support.h"

typedef enum { FORM_DENSE, FORM_MASKED, FORM_SPARSE } form;

static const spti_conv2d_spec SHAPES[] = {
    /* c_in h  w  c_out kh kw s  p  bias */
    {3, 7, 5, 4, 3, 3, 1, 1, true, 1},   /* 3x3 same padding, odd sizes */
    {3, 8, 8, 4, 3, 3, 2, 1, false, 1},  /* stride 2 */
    {2, 6, 7, 5, 1, 1, 1, 0, true, 1},   /* pointwise */
    {4, 5, 5, 3, 1, 1, 2, 0, false, 1},  /* 1x1 stride 2 (downsampling shortcut) */
    {2, 5, 6, 3, 3, 2, 1, 0, true, 1},   /* non-square kernel, no padding */
    {3, 9, 9, 4, 5, 5, 2, 2, false, 1},  /* 5x5 stride 2 pad 2 */
    {2, 4, 4, 2, 6, 6, 1, 1, true, 1},   /* kernel = the padded input: 1x1 output */
    {2, 3, 7, 3, 3, 3, 3, 1, true, 1},   /* stride 3 */
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

/* ---- naive references (double accumulation) ---------------------------------- */

static double xat(const spti_conv2d_spec *s, const float *x, int64_t N, int64_t ci, int64_t ih, int64_t iw, int64_t n) {
    if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) return 0.0;
    return x[((ci * s->h + ih) * s->w + iw) * N + n];
}

/* y = conv(Wd, x) + b; Wd dense (c_out, c_in, kh, kw). */
static void naive_fwd(const spti_conv2d_spec *s, const float *Wd, const float *b, const float *x, int64_t N, float *y) {
    int64_t ho = out_dim(s->h, s->kh, s->stride, s->pad), wo = out_dim(s->w, s->kw, s->stride, s->pad);
    for (int64_t co = 0; co < s->c_out; co++)
        for (int64_t oh = 0; oh < ho; oh++)
            for (int64_t ow = 0; ow < wo; ow++)
                for (int64_t n = 0; n < N; n++) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t ci = 0; ci < s->c_in; ci++)
                        for (int64_t i = 0; i < s->kh; i++)
                            for (int64_t j = 0; j < s->kw; j++)
                                acc += (double)Wd[((co * s->c_in + ci) * s->kh + i) * s->kw + j] *
                                       xat(s, x, N, ci, oh * s->stride + i - s->pad, ow * s->stride + j - s->pad, n);
                    y[((co * ho + oh) * wo + ow) * N + n] = (float)acc;
                }
}

/* Full dense dW, dx and db for output gradient dy. */
static void naive_bwd(const spti_conv2d_spec *s, const float *Wd, const float *x, const float *dy, int64_t N, float *dW,
                      float *dx, float *db) {
    int64_t ho = out_dim(s->h, s->kh, s->stride, s->pad), wo = out_dim(s->w, s->kw, s->stride, s->pad);
    int64_t K = s->c_in * s->kh * s->kw;
    double *ddx = calloc((size_t)(s->c_in * s->h * s->w * N), sizeof(double));
    assert_non_null(ddx);
    for (int64_t co = 0; co < s->c_out; co++) {
        double bsum = 0.0;
        for (int64_t e = 0; e < ho * wo * N; e++) bsum += dy[co * ho * wo * N + e];
        if (db) db[co] = (float)bsum;
        for (int64_t c = 0; c < K; c++) {
            int64_t ci = c / (s->kh * s->kw), i = (c / s->kw) % s->kh, j = c % s->kw;
            double acc = 0.0;
            for (int64_t oh = 0; oh < ho; oh++)
                for (int64_t ow = 0; ow < wo; ow++) {
                    int64_t ih = oh * s->stride + i - s->pad, iw = ow * s->stride + j - s->pad;
                    for (int64_t n = 0; n < N; n++) {
                        double g = dy[((co * ho + oh) * wo + ow) * N + n];
                        acc += g * xat(s, x, N, ci, ih, iw, n);
                        if (ih >= 0 && ih < s->h && iw >= 0 && iw < s->w)
                            ddx[((ci * s->h + ih) * s->w + iw) * N + n] += g * Wd[co * K + c];
                    }
                }
            dW[co * K + c] = (float)acc;
        }
    }
    for (int64_t e = 0; e < s->c_in * s->h * s->w * N; e++) dx[e] = (float)ddx[e];
    free(ddx);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static void fill_normal(float *v, int64_t n, spti_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = spti_rng_normal(rng);
}

/* A conv layer with random weights in the given form: MASKED/SPARSE keep
 * about 40% of the entries, with row 0 (and, when there are enough rows,
 * row 2) empty. */
static spti_layer *make_conv(const spti_conv2d_spec *s, form f, uint64_t seed) {
    spti_layer *L;
    assert_status(spti_conv2d_create("conv", s, &L), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    spti_param *W = L->params[0];
    assert_status(spti_param_materialize(W), SPT_OK); /* born without storage */
    fill_normal(W->value, W->n, &rng);
    if (s->bias) fill_normal(L->params[1]->value, L->params[1]->n, &rng);
    if (f == FORM_DENSE) return L;
    int64_t *pos = malloc((size_t)W->n * sizeof(int64_t)), nnz = 0;
    assert_non_null(pos);
    for (int64_t i = 0; i < W->n; i++) {
        int64_t r = i / W->cols;
        if (r == 0 || (r == 2 && W->rows > 3)) continue;
        if (spti_rng_uniform(&rng) < 0.4f) pos[nnz++] = i;
    }
    if (f == FORM_MASKED)
        assert_status(spti_param_mask(W, pos, nnz), SPT_OK);
    else
        assert_status(spti_param_sparsify(W, pos, nnz), SPT_OK);
    free(pos);
    return L;
}

static int64_t in_size(const spti_layer *L, int64_t N) { return spti_shape_size(L->in_shape) * N; }
static int64_t out_size(const spti_layer *L, int64_t N) { return spti_shape_size(L->out_shape) * N; }

static float *random_buf(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)(n + 1) * sizeof(float));
    assert_non_null(v);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    fill_normal(v, n, &rng);
    return v;
}

static float *dense_weight(const spti_param *W) {
    float *d = malloc((size_t)(W->rows * W->cols) * sizeof(float));
    assert_non_null(d);
    spti_param_to_dense(W, d);
    return d;
}

static const spti_conv_path PATHS[] = {SPTI_CONV_AUTO, SPTI_CONV_DIRECT, SPTI_CONV_IM2COL};

/* ---- forward ------------------------------------------------------------------------ */

static void test_forward_matches_naive(void **state) {
    (void)state;
    const int64_t batches[] = {1, 5};
    for (int si = 0; si < N_SHAPES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int pi = 0; pi < 3; pi++)
                for (int bi = 0; bi < 2; bi++) {
                    const spti_conv2d_spec *s = &SHAPES[si];
                    int64_t N = batches[bi];
                    spti_layer *L = make_conv(s, (form)f, 100 + si);
                    assert_status(spti_conv2d_set_path(L, PATHS[pi]), SPT_OK);
                    float *x = random_buf(in_size(L, N), 7 + si), *y = random_buf(out_size(L, N), 1);
                    float *ref = malloc((size_t)out_size(L, N) * sizeof(float));
                    float *Wd = dense_weight(L->params[0]);
                    naive_fwd(s, Wd, s->bias ? L->params[1]->value : NULL, x, N, ref);
                    spti_fwd_ctx ctx = {true, NULL, NULL};
                    assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                    double err = spt_test_max_rel_err(y, ref, out_size(L, N));
                    if (err > 1e-5) print_error("shape %d form %d path %d N %lld: err %g\n", si, f, pi, (long long)N, err);
                    assert_true(err <= 1e-5);
                    free(x);
                    free(y);
                    free(ref);
                    free(Wd);
                    spti_layer_destroy(L);
                }
}

/* The kernels in isolation: direct sparse vs im2col over a CSR with
 * several empty rows and an empty input channel, at every SIMD level. */
static void test_direct_kernels_match_im2col(void **state) {
    (void)state;
    const spti_conv2d_spec s = {5, 9, 8, 6, 3, 3, 2, 1, false, 1};
    spti_layer *L = make_conv(&s, FORM_SPARSE, 5);
    const spt_csr *W = L->params[0]->csr;
    spti_conv_geom g = {s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride, s.pad,
                        out_dim(s.h, s.kh, s.stride, s.pad), out_dim(s.w, s.kw, s.stride, s.pad), 1};
    const int64_t N = 3, K = s.c_in * 9, PN = g.h_out * g.w_out * N, nin = s.c_in * s.h * s.w * N;
    float *x = random_buf(nin, 11), *dy = random_buf(s.c_out * PN, 12);
    float *col = malloc((size_t)(K * PN) * sizeof(float)), *y_ref = malloc((size_t)(s.c_out * PN) * sizeof(float));
    float *dx_ref = malloc((size_t)nin * sizeof(float)), *dw_ref = malloc((size_t)(W->nnz + 1) * sizeof(float));
    spti_im2col(&g, x, N, col);
    spti_ref_spmm(W, col, PN, NULL, y_ref);
    spti_ref_sddmm(W, dy, col, PN, dw_ref, false);
    spti_ref_spmm_t(W, dy, PN, col, false);
    spti_col2im(&g, col, N, dx_ref);
    void *scratch = malloc((size_t)spti_conv_sparse_scratch(&g, W->nnz));
    assert_non_null(scratch);
    for (int level = 0; level <= 2; level++) {
        assert_status(spt_set_simd_level(level), SPT_OK);
        float *y = random_buf(s.c_out * PN, 1), *dx = random_buf(nin, 2), *dw = random_buf(W->nnz, 3);
        spti_conv_sparse_fwd(&g, W, x, N, NULL, y, scratch);
        spti_conv_sparse_dx(&g, W, dy, N, dx, scratch);
        spti_conv_sparse_dw(&g, W, x, dy, N, dw, false, scratch);
        assert_true(spt_test_max_rel_err(y, y_ref, s.c_out * PN) < 1e-5);
        assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
        assert_true(spt_test_max_rel_err(dw, dw_ref, W->nnz) < 1e-5);
        /* accumulate adds */
        float *dw2 = malloc((size_t)(W->nnz + 1) * sizeof(float));
        for (int64_t k = 0; k < W->nnz; k++) dw2[k] = 1.0f;
        spti_conv_sparse_dw(&g, W, x, dy, N, dw2, true, scratch);
        for (int64_t k = 0; k < W->nnz; k++) assert_true(fabsf(dw2[k] - 1.0f - dw[k]) <= 1e-4f * (1.0f + fabsf(dw[k])));
        free(dw2);
        free(y);
        free(dx);
        free(dw);
    }
    assert_status(spt_set_simd_level(2), SPT_OK);
    free(scratch);
    free(x);
    free(dy);
    free(col);
    free(y_ref);
    free(dx_ref);
    free(dw_ref);
    spti_layer_destroy(L);
}

/* The register-blocked direct kernels (AVX-512, one group) through
 * the layer on the direct path, against the naive forward and backward: row
 * lengths W_out*N below, at and above a 256-float tile (with a tail), batch
 * 1, odd and multiple-of-16 batches, strides 1-3; patterns: 40% with empty rows, a single
 * nonzero, every entry (density 1), none. Results are bit-identical on 1,
 * 2 and 3 threads. */
typedef enum { PAT_RANDOM, PAT_SINGLE, PAT_FULL, PAT_EMPTY } pattern;

static spti_layer *make_conv_pattern(const spti_conv2d_spec *s, pattern pat, uint64_t seed) {
    spti_layer *L = make_conv(s, pat == PAT_RANDOM ? FORM_SPARSE : FORM_DENSE, seed);
    if (pat == PAT_RANDOM) return L;
    spti_param *W = L->params[0];
    int64_t *pos = malloc((size_t)W->n * sizeof(int64_t)), nnz = 0;
    assert_non_null(pos);
    if (pat == PAT_SINGLE)
        pos[nnz++] = W->n / 2 + 1 < W->n ? W->n / 2 + 1 : 0;
    else if (pat == PAT_FULL)
        for (int64_t i = 0; i < W->n; i++) pos[nnz++] = i;
    assert_status(spti_param_sparsify(W, pos, nnz), SPT_OK);
    free(pos);
    return L;
}

static void test_blocked_kernels(void **state) {
    (void)state;
    static const spti_conv2d_spec shapes[] = {
        {3, 7, 5, 4, 3, 3, 1, 1, true, 1},  /* 3x3 same, odd sizes */
        {4, 6, 9, 5, 3, 3, 1, 1, false, 1}, /* rows of 9 cells: several tiles at N >= 32 */
        {2, 5, 6, 3, 3, 2, 1, 0, true, 1},  /* no padding, non-square */
        {3, 6, 5, 2, 5, 5, 1, 2, false, 1}, /* 5x5 pad 2 */
        {2, 4, 4, 2, 6, 6, 1, 1, true, 1},  /* 1x1 output */
        {3, 5, 7, 4, 1, 1, 1, 1, true, 1},  /* 1x1 with padding (not pointwise) */
        {2, 9, 3, 3, 3, 1, 1, 2, false, 1}, /* wider padding than the kernel needs */
        /* strided (the two-half tiles at N = 128, 256; other batches the unblocked kernels) */
        {3, 8, 8, 4, 3, 3, 2, 1, false, 1}, /* 3x3 stride 2 */
        {4, 5, 5, 3, 1, 1, 2, 0, true, 1},  /* 1x1 stride 2: odd output width (a one-half tile) */
        {3, 9, 9, 4, 5, 5, 2, 2, false, 1}, /* 5x5 stride 2 pad 2 */
        {2, 3, 7, 3, 3, 3, 3, 1, true, 1},  /* stride 3 */
    };
    const int64_t batches[] = {1, 3, 16, 37, 128, 256};
    const int threads_before = spt_get_num_threads();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int pat = PAT_RANDOM; pat <= PAT_EMPTY; pat++)
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                const spti_conv2d_spec *s = &shapes[si];
                const int64_t N = batches[bi];
                spti_layer *L = make_conv_pattern(s, (pattern)pat, 300 + si);
                assert_status(spti_conv2d_set_path(L, SPTI_CONV_DIRECT), SPT_OK);
                spti_param *W = L->params[0];
                const int64_t nin = in_size(L, N), nout = out_size(L, N), cells = W->rows * W->cols;
                float *x = random_buf(nin, 3 + si), *dy = random_buf(nout, 4 + bi);
                float *y_ref = malloc((size_t)nout * sizeof(float)), *dx_ref = malloc((size_t)nin * sizeof(float));
                float *dW_ref = malloc((size_t)cells * sizeof(float)), *db_ref = malloc((size_t)s->c_out * sizeof(float));
                float *Wd = dense_weight(W);
                naive_fwd(s, Wd, s->bias ? L->params[1]->value : NULL, x, N, y_ref);
                naive_bwd(s, Wd, x, dy, N, dW_ref, dx_ref, db_ref);
                float *y[3], *dx[3], *dw[3];
                for (int t = 0; t < 3; t++) {
                    assert_status(spt_set_num_threads(t + 1), SPT_OK);
                    y[t] = random_buf(nout, 1);
                    dx[t] = random_buf(nin, 2);
                    memset(W->grad, 0, (size_t)W->n * sizeof(float));
                    spti_fwd_ctx ctx = {true, NULL, NULL};
                    assert_status(L->ops->forward(L, x, y[t], N, &ctx), SPT_OK);
                    assert_status(L->ops->backward(L, x, y[t], dy, dx[t], N), SPT_OK);
                    dw[t] = malloc((size_t)(W->n + 1) * sizeof(float));
                    memcpy(dw[t], W->grad, (size_t)W->n * sizeof(float));
                }
                assert_true(spt_test_max_rel_err(y[0], y_ref, nout) < 1e-5);
                assert_true(spt_test_max_rel_err(dx[0], dx_ref, nin) < 1e-5);
                for (int64_t r = 0; r < W->rows; r++)
                    for (int64_t k = W->csr->row_ptr[r]; k < W->csr->row_ptr[r + 1]; k++) {
                        const float want = dW_ref[r * W->cols + W->csr->col_idx[k]];
                        assert_true(fabsf(dw[0][k] - want) <= 1e-4f * (1.0f + fabsf(want)));
                    }
                for (int t = 1; t < 3; t++) {
                    assert_memory_equal(y[t], y[0], (size_t)nout * sizeof(float));
                    assert_memory_equal(dx[t], dx[0], (size_t)nin * sizeof(float));
                    assert_memory_equal(dw[t], dw[0], (size_t)W->n * sizeof(float));
                }
                for (int t = 0; t < 3; t++) {
                    free(y[t]);
                    free(dx[t]);
                    free(dw[t]);
                }
                free(x);
                free(dy);
                free(y_ref);
                free(dx_ref);
                free(dW_ref);
                free(db_ref);
                free(Wd);
                spti_layer_destroy(L);
            }
    assert_status(spt_set_num_threads(threads_before), SPT_OK);
}

/* ---- backward ------------------------------------------------------------------------ */

/* grads, dx and db against the naive backward, for every shape, form and path. */
static void test_backward_matches_naive(void **state) {
    (void)state;
    const int64_t N = 3;
    for (int si = 0; si < N_SHAPES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int pi = 0; pi < 3; pi++) {
                const spti_conv2d_spec *s = &SHAPES[si];
                spti_layer *L = make_conv(s, (form)f, 200 + si);
                assert_status(spti_conv2d_set_path(L, PATHS[pi]), SPT_OK);
                spti_param *W = L->params[0];
                const int64_t nin = in_size(L, N), nout = out_size(L, N), cells = W->rows * W->cols;
                float *x = random_buf(nin, 3), *y = malloc((size_t)nout * sizeof(float)), *dy = random_buf(nout, 4);
                float *dx = random_buf(nin, 5), *dx_ref = malloc((size_t)nin * sizeof(float));
                float *dW_ref = malloc((size_t)cells * sizeof(float)), *db_ref = malloc((size_t)s->c_out * sizeof(float));
                float *Wd = dense_weight(W), *gd = malloc((size_t)cells * sizeof(float));
                naive_bwd(s, Wd, x, dy, N, dW_ref, dx_ref, db_ref);
                spti_fwd_ctx ctx = {true, NULL, NULL};
                assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
                assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
                /* grad, scattered to dense, equals the reference at active
                 * entries and 0 elsewhere */
                if (W->kind == SPTI_PARAM_SPARSE) {
                    float *save = W->csr->values;
                    W->csr->values = W->grad;
                    spti_param_to_dense(W, gd);
                    W->csr->values = save;
                } else {
                    memcpy(gd, W->grad, (size_t)cells * sizeof(float));
                }
                int64_t *pos = malloc((size_t)cells * sizeof(int64_t));
                char *active = calloc((size_t)cells, 1);
                int64_t na = spti_param_active_positions(W, pos);
                for (int64_t k = 0; k < na; k++) active[pos[k]] = 1;
                for (int64_t i = 0; i < cells; i++) {
                    float want = active[i] ? dW_ref[i] : 0.0f;
                    assert_true(fabsf(gd[i] - want) <= 1e-4f * (1.0f + fabsf(want)));
                }
                free(pos);
                free(active);
                if (s->bias) assert_true(spt_test_max_rel_err(L->params[1]->grad, db_ref, s->c_out) < 1e-5);
                free(x);
                free(y);
                free(dy);
                free(dx);
                free(dx_ref);
                free(dW_ref);
                free(db_ref);
                free(Wd);
                free(gd);
                spti_layer_destroy(L);
            }
}

static void test_gradcheck(void **state) {
    (void)state;
    const int shapes[] = {0, 1, 2, 3, 6};
    for (int a = 0; a < 5; a++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int pi = 0; pi < 3; pi++) {
                const spti_conv2d_spec *s = &SHAPES[shapes[a]];
                spti_layer *L = make_conv(s, (form)f, 300 + a);
                assert_status(spti_conv2d_set_path(L, PATHS[pi]), SPT_OK);
                const int64_t N = 2;
                float *x = random_buf(in_size(L, N), 9);
                spt_gc_opts o = {.eps = 1e-2, .tol = 2e-3, .max_points = 40, .seed = 17 + (uint64_t)a, .training = true};
                spt_gc_result res;
                assert_status(spt_gradcheck(L, x, N, &o, &res), SPT_OK);
                if (res.failed) print_error("shape %d form %d path %d: %s\n", shapes[a], f, pi, res.worst);
                assert_int_equal(res.failed, 0);
                assert_true(res.checked >= 40);
                free(x);
                spti_layer_destroy(L);
            }
}

/* The check itself must catch a wrong gradient. */
static bool skip_never(const spt_gc_point *pt, double eps, void *user) {
    (void)pt;
    (void)eps;
    (void)user;
    return false;
}

/* A backward that writes dx = 0 and no param gradient. */
static int broken_backward(spti_layer *L, const float *x, const float *y, const float *dy, float *dx, int64_t N) {
    (void)x;
    (void)y;
    (void)dy;
    for (int64_t i = 0; i < spti_shape_size(L->in_shape) * N; i++) dx[i] = 0.0f;
    return SPT_OK;
}

static void test_gradcheck_detects_errors(void **state) {
    (void)state;
    spti_layer *L = make_conv(&SHAPES[0], FORM_DENSE, 1);
    spti_layer_ops ops = *L->ops;
    const spti_layer_ops *orig = L->ops;
    ops.backward = broken_backward;
    L->ops = &ops;
    float *x = random_buf(in_size(L, 2), 9);
    spt_gc_opts o = {.max_points = 10, .seed = 3, .skip = skip_never};
    spt_gc_result res;
    assert_status(spt_gradcheck(L, x, 2, &o, &res), SPT_OK);
    assert_true(res.failed > 0);
    assert_true(res.worst[0] != '\0');
    L->ops = orig;
    free(x);
    spti_layer_destroy(L);
}

/* RigL's dense gradient: every position, whatever the form and path; grad
 * still gets only the active entries. */
static void test_dense_grad(void **state) {
    (void)state;
    const int64_t N = 2;
    for (int si = 0; si < N_SHAPES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int pi = 0; pi < 3; pi++) {
                const spti_conv2d_spec *s = &SHAPES[si];
                spti_layer *L = make_conv(s, (form)f, 400 + si);
                assert_status(spti_conv2d_set_path(L, PATHS[pi]), SPT_OK);
                spti_param *W = L->params[0];
                const int64_t nin = in_size(L, N), nout = out_size(L, N), cells = W->rows * W->cols;
                float *x = random_buf(nin, 3), *y = malloc((size_t)nout * sizeof(float)), *dy = random_buf(nout, 4);
                float *dx_ref = malloc((size_t)nin * sizeof(float)), *dW_ref = malloc((size_t)cells * sizeof(float));
                float *Wd = dense_weight(W), *grad_plain = malloc((size_t)(W->n + 1) * sizeof(float));
                naive_bwd(s, Wd, x, dy, N, dW_ref, dx_ref, NULL);
                spti_fwd_ctx ctx = {true, NULL, NULL};
                assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                /* a plain step first, for the grad to compare with */
                assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
                memcpy(grad_plain, W->grad, (size_t)W->n * sizeof(float));
                memset(W->grad, 0, (size_t)W->n * sizeof(float));
                W->request.dense_grad = true;
                assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
                assert_non_null(W->result.dense_grad);
                assert_true(spt_test_max_rel_err(W->result.dense_grad, dW_ref, cells) < 1e-5);
                assert_true(spt_test_max_rel_err(W->grad, grad_plain, W->n) < 1e-5);
                /* overwritten, not accumulated, on the next dense step */
                assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
                assert_true(spt_test_max_rel_err(W->result.dense_grad, dW_ref, cells) < 1e-5);
                free(x);
                free(y);
                free(dy);
                free(dx_ref);
                free(dW_ref);
                free(Wd);
                free(grad_plain);
                spti_layer_destroy(L);
            }
}

/* dx == NULL: the input product is skipped, the param grads are unchanged. */
static void test_null_dx(void **state) {
    (void)state;
    const int64_t N = 4;
    for (int si = 0; si < N_SHAPES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++) {
            const spti_conv2d_spec *s = &SHAPES[si];
            spti_layer *L = make_conv(s, (form)f, 500 + si);
            spti_param *W = L->params[0];
            float *x = random_buf(in_size(L, N), 3), *y = malloc((size_t)out_size(L, N) * sizeof(float));
            float *dy = random_buf(out_size(L, N), 4), *dx = malloc((size_t)in_size(L, N) * sizeof(float));
            float *g1 = malloc((size_t)(W->n + 1) * sizeof(float));
            spti_fwd_ctx ctx = {true, NULL, NULL};
            assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
            assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
            memcpy(g1, W->grad, (size_t)W->n * sizeof(float));
            memset(W->grad, 0, (size_t)W->n * sizeof(float));
            assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
            assert_memory_equal(g1, W->grad, (size_t)W->n * sizeof(float));
            free(x);
            free(y);
            free(dy);
            free(dx);
            free(g1);
            spti_layer_destroy(L);
        }
}

/* The weight changes form between steps: dense -> masked -> sparse ->
 * repatterned; each forward matches the reference. */
static void test_form_changes(void **state) {
    (void)state;
    const spti_conv2d_spec s = {3, 6, 6, 4, 3, 3, 1, 1, true, 1};
    const int64_t N = 2;
    spti_layer *L = make_conv(&s, FORM_DENSE, 9);
    spti_param *W = L->params[0];
    float *x = random_buf(in_size(L, N), 1), *y = malloc((size_t)out_size(L, N) * sizeof(float));
    float *ref = malloc((size_t)out_size(L, N) * sizeof(float));
    int64_t pos_a[] = {0, 5, 30, 31, 50, 80, 107}, pos_b[] = {1, 5, 31, 60, 61, 62, 100, 106};
    spti_fwd_ctx ctx = {true, NULL, NULL};
    for (int step = 0; step < 4; step++) {
        if (step == 1) assert_status(spti_param_mask(W, pos_a, 7), SPT_OK);
        if (step == 2) assert_status(spti_param_sparsify(W, pos_a, 7), SPT_OK);
        if (step == 3) {
            assert_status(spti_param_repattern(W, pos_b, 8), SPT_OK);
            for (int64_t k = 0; k < W->n; k++) W->value[k] = 0.5f + (float)k; /* new entries start at 0 */
        }
        float *Wd = dense_weight(W);
        naive_fwd(&s, Wd, L->params[1]->value, x, N, ref);
        assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_true(spt_test_max_rel_err(y, ref, out_size(L, N)) < 1e-5);
        free(Wd);
    }
    free(x);
    free(y);
    free(ref);
    spti_layer_destroy(L);
}

/* Same input, same bytes; the direct kernels also across thread counts. */
static void test_deterministic(void **state) {
    (void)state;
    const spti_conv2d_spec s = {8, 10, 10, 8, 3, 3, 1, 1, false, 1};
    const int64_t N = 6;
    spti_layer *L = make_conv(&s, FORM_SPARSE, 3);
    assert_status(spti_conv2d_set_path(L, SPTI_CONV_DIRECT), SPT_OK);
    const int64_t nin = in_size(L, N), nout = out_size(L, N), nnz = L->params[0]->n;
    float *x = random_buf(nin, 1), *dy = random_buf(nout, 2);
    float *y[2], *dx[2], *g[2];
    int threads_before = spt_get_num_threads();
    spti_fwd_ctx ctx = {true, NULL, NULL};
    for (int t = 0; t < 2; t++) {
        assert_status(spt_set_num_threads(t + 1), SPT_OK);
        y[t] = malloc((size_t)nout * sizeof(float));
        dx[t] = malloc((size_t)nin * sizeof(float));
        g[t] = malloc((size_t)nnz * sizeof(float));
        memset(L->params[0]->grad, 0, (size_t)nnz * sizeof(float));
        assert_status(L->ops->forward(L, x, y[t], N, &ctx), SPT_OK);
        assert_status(L->ops->backward(L, x, y[t], dy, dx[t], N), SPT_OK);
        memcpy(g[t], L->params[0]->grad, (size_t)nnz * sizeof(float));
    }
    assert_status(spt_set_num_threads(threads_before), SPT_OK);
    assert_memory_equal(y[0], y[1], (size_t)nout * sizeof(float));
    assert_memory_equal(dx[0], dx[1], (size_t)nin * sizeof(float));
    assert_memory_equal(g[0], g[1], (size_t)nnz * sizeof(float));
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(g[t]);
    }
    free(x);
    free(dy);
    spti_layer_destroy(L);
}

/* ---- construction ------------------------------------------------------------------ */

static void test_create(void **state) {
    (void)state;
    const spti_conv2d_spec s = {3, 32, 30, 16, 3, 3, 2, 1, false, 1};
    spti_layer *L;
    assert_status(spti_conv2d_create("layer1.0.conv1", &s, &L), SPT_OK);
    assert_string_equal(L->ops->kind, "conv2d");
    assert_int_equal(L->out_shape.c, 16);
    assert_int_equal(L->out_shape.h, 16);
    assert_int_equal(L->out_shape.w, 15);
    assert_int_equal(L->n_params, 1);
    spti_param *W = L->params[0];
    assert_string_equal(W->name, "layer1.0.conv1.weight");
    assert_int_equal(W->ndim, 4);
    assert_int_equal(W->rows, 16);
    assert_int_equal(W->cols, 27);
    assert_true(W->is_weight);
    assert_true(L->ops->flops(L, true) == 2.0 * 16 * 27 * 16 * 15);
    int64_t pos[] = {0, 1, 100};
    assert_status(spti_param_sparsify(W, pos, 3), SPT_OK);
    assert_true(L->ops->flops(L, false) == 2.0 * 3 * 16 * 15);
    assert_true(L->ops->flops(L, true) == 2.0 * 16 * 27 * 16 * 15);
    spti_layer_destroy(L);

    spti_conv2d_spec b = s;
    b.bias = true;
    assert_status(spti_conv2d_create("c", &b, &L), SPT_OK);
    assert_int_equal(L->n_params, 2);
    assert_string_equal(L->params[1]->name, "c.bias");
    assert_true(L->params[1]->no_weight_decay);
    assert_false(L->params[1]->is_weight);
    spti_layer_destroy(L);
    spti_layer_destroy(NULL);
}

static void test_create_invalid(void **state) {
    (void)state;
    const spti_conv2d_spec ok = {3, 8, 8, 4, 3, 3, 1, 1, false, 1};
    spti_layer *L = (spti_layer *)&L;
    assert_status(spti_conv2d_create("c", &ok, NULL), SPT_ERR_NULL);
    assert_status(spti_conv2d_create(NULL, &ok, &L), SPT_ERR_NULL);
    assert_null(L);
    assert_status(spti_conv2d_create("c", NULL, &L), SPT_ERR_NULL);
    struct {
        spti_conv2d_spec s;
        int status;
    } bad[] = {
        {{0, 8, 8, 4, 3, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 0, 8, 4, 3, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 8, -2, 4, 3, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 8, 8, 0, 3, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 8, 8, 4, 0, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 8, 8, 4, 3, -1, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{3, 8, 8, 4, 3, 3, 0, 1, false, 1}, SPT_ERR_INVALID},
        {{3, 8, 8, 4, 3, 3, -1, 1, false, 1}, SPT_ERR_INVALID},
        {{3, 8, 8, 4, 3, 3, 1, -1, false, 1}, SPT_ERR_SIZE},
        {{3, 2, 8, 4, 5, 3, 1, 1, false, 1}, SPT_ERR_SIZE},  /* kh 5 > 2 + 2 */
        {{3, 8, 2, 4, 3, 3, 1, 0, false, 1}, SPT_ERR_SIZE},  /* kw 3 > 2 */
        {{1LL << 40, 8, 8, 4, 3, 3, 1, 1, false, 1}, SPT_ERR_SIZE},
        {{1 << 22, 1 << 22, 1 << 22, 4, 1, 1, 1, 0, false, 1}, SPT_ERR_SIZE}, /* input overflows */
        {{1 << 24, 4, 4, 1, 16, 16, 1, 6, false, 1}, SPT_ERR_SIZE},           /* K above 2^31 */
        {{3, 8, 8, 4, 3, 3, 1, 1LL << 40, false, 1}, SPT_ERR_SIZE},
        {{1, 1 << 30, 1, 1, 1, 1, 1, 1 << 30, false, 1}, SPT_ERR_SIZE}, /* H_out above 2^31 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        L = (spti_layer *)&L;
        int rc = spti_conv2d_create("c", &bad[i].s, &L);
        if (rc != bad[i].status) print_error("bad spec %zu: status %d\n", i, rc);
        assert_status(rc, bad[i].status);
        assert_null(L);
    }
    /* set_path rejects other layers and unknown paths */
    assert_status(spti_conv2d_create("c", &ok, &L), SPT_OK);
    assert_status(spti_conv2d_set_path(L, (spti_conv_path)7), SPT_ERR_INVALID);
    assert_status(spti_conv2d_set_path(NULL, SPTI_CONV_AUTO), SPT_ERR_NULL);
    spti_layer *lin;
    assert_status(spti_linear_create("fc", 4, 2, true, &lin), SPT_OK);
    assert_status(spti_conv2d_set_path(lin, SPTI_CONV_DIRECT), SPT_ERR_INVALID);
    /* negative batch */
    float x[3 * 64], y[4 * 64];
    memset(x, 0, sizeof x);
    spti_fwd_ctx ctx = {true, NULL, NULL};
    assert_status(L->ops->forward(L, x, y, -1, &ctx), SPT_ERR_SIZE);
    assert_status(L->ops->backward(L, x, y, y, NULL, -1), SPT_ERR_SIZE);
    assert_status(L->ops->forward(L, x, y, INT64_MAX / 8, &ctx), SPT_ERR_SIZE);
    assert_status(L->ops->forward(L, x, y, 1LL << 26, &ctx), SPT_ERR_SIZE); /* 8*8*N above INT32_MAX */
    assert_status(L->ops->backward(L, x, y, y, NULL, 1LL << 26), SPT_ERR_SIZE);
    spti_layer_destroy(lin);
    spti_layer_destroy(L);
}

/* ---- allocation failures -------------------------------------------------------------- */

/* One create + forward + backward (+ dense grad) with allocation number
 * `fail` failing. Returns the first failing status (or SPT_OK); the layer
 * is always destroyed. */
static int run_with_failure(const spti_conv2d_spec *s, form f, spti_conv_path path, bool dense_grad, long fail) {
    spt_test_alloc_fail_at(fail);
    spti_layer *L;
    int rc = spti_conv2d_create("c", s, &L);
    if (rc != SPT_OK) {
        assert_null(L);
        return rc;
    }
    rc = spti_param_materialize(L->params[0]); /* the weight is born without storage */
    spt_test_alloc_fail_at(-1);
    if (rc != SPT_OK) {
        assert_true(spti_param_unallocated(L->params[0]));
        spti_layer_destroy(L);
        return rc;
    }
    spti_param *W = L->params[0];
    for (int64_t i = 0; i < W->n; i++) W->value[i] = (float)(i % 7) - 3.0f;
    if (f != FORM_DENSE) {
        int64_t pos[] = {1, 3, 4};
        rc = f == FORM_MASKED ? spti_param_mask(W, pos, 3) : spti_param_sparsify(W, pos, 3);
        assert_int_equal(rc, SPT_OK);
    }
    assert_status(spti_conv2d_set_path(L, path), SPT_OK);
    W->request.dense_grad = dense_grad;
    const int64_t N = 2;
    float *x = random_buf(in_size(L, N), 1), *y = malloc((size_t)out_size(L, N) * sizeof(float));
    float *dx = malloc((size_t)in_size(L, N) * sizeof(float));
    float *g0 = malloc((size_t)(W->n + 1) * sizeof(float));
    memcpy(g0, W->grad, (size_t)W->n * sizeof(float));
    spti_fwd_ctx ctx = {true, NULL, NULL};
    spt_test_alloc_fail_at(fail);
    rc = L->ops->forward(L, x, y, N, &ctx);
    if (rc == SPT_OK) {
        rc = L->ops->backward(L, x, y, y, dx, N);
        /* a failed backward leaves the gradients untouched */
        if (rc != SPT_OK) assert_memory_equal(g0, W->grad, (size_t)W->n * sizeof(float));
    }
    spt_test_alloc_fail_at(-1);
    free(x);
    free(y);
    free(dx);
    free(g0);
    spti_layer_destroy(L);
    return rc;
}

static void test_nomem(void **state) {
    (void)state;
    const spti_conv2d_spec shapes[] = {{3, 6, 6, 2, 3, 3, 1, 1, true, 1}, {3, 5, 5, 2, 1, 1, 1, 0, true, 1}};
    for (int si = 0; si < 2; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int pi = 0; pi < 3; pi++)
                for (int dg = 0; dg < 2; dg++) {
                    int failures = 0;
                    for (long n = 0;; n++) {
                        spt_test_alloc_install();
                        int rc = run_with_failure(&shapes[si], (form)f, PATHS[pi], dg != 0, n);
                        long live = spt_test_alloc_live();
                        spt_test_alloc_uninstall();
                        assert_int_equal(live, 0);
                        if (rc == SPT_OK) break;
                        assert_int_equal(rc, SPT_ERR_NOMEM);
                        failures++;
                        assert_true(n < 100);
                    }
                    assert_true(failures >= 1);
                }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_direct_kernels_match_im2col),
        cmocka_unit_test(test_blocked_kernels),
        cmocka_unit_test(test_backward_matches_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_detects_errors),
        cmocka_unit_test(test_dense_grad),
        cmocka_unit_test(test_null_dx),
        cmocka_unit_test(test_form_changes),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
