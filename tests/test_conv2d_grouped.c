/* Grouped and depthwise Conv2d (spti_conv2d_spec.groups): forward, dX, dW,
 * the bias and RigL's dense gradient against a naive grouped convolution,
 * on every path (DENSE, MASKED, SPARSE direct/auto/im2col) and SIMD level;
 * finite differences; groups = 1 and 0 give the ordinary convolution's
 * bytes; thread-count determinism; shapes, FLOPs, fan_in, invalid groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "kernels/conv.h"
#include "nn/layers.h"
#include "test_support.h"

typedef enum { FORM_DENSE, FORM_MASKED, FORM_SPARSE } form;

static const spti_conv2d_spec SHAPES[] = {
    /* c_in h  w  c_out kh kw s  p  bias  groups */
    {4, 7, 5, 6, 3, 3, 1, 1, true, 2},  /* 2 groups, same padding, odd sizes */
    {4, 8, 8, 4, 3, 3, 2, 1, false, 4}, /* depthwise, stride 2 */
    {3, 6, 7, 6, 3, 3, 1, 0, true, 3},  /* depthwise x2 channels, no padding */
    {6, 5, 5, 9, 1, 1, 1, 0, false, 3}, /* grouped pointwise */
    {4, 9, 9, 8, 5, 5, 2, 2, true, 2},  /* 5x5 stride 2 pad 2 */
    {2, 3, 7, 2, 3, 3, 3, 1, true, 2},  /* depthwise stride 3 */
    {6, 5, 6, 6, 3, 2, 1, 1, false, 6}, /* depthwise non-square kernel */
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };
static const spti_conv_path PATHS[] = {SPTI_CONV_AUTO, SPTI_CONV_DIRECT, SPTI_CONV_IM2COL};

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

/* ---- the naive grouped reference (double accumulation) ----------------------- */

typedef struct ref {
    const spti_conv2d_spec *s;
    int64_t G, cig, cog, K, ho, wo, N;
} ref;

static ref ref_of(const spti_conv2d_spec *s, int64_t N) {
    ref r = {s, s->groups, s->c_in / s->groups, s->c_out / s->groups, 0, 0, 0, N};
    r.K = r.cig * s->kh * s->kw;
    r.ho = out_dim(s->h, s->kh, s->stride, s->pad);
    r.wo = out_dim(s->w, s->kw, s->stride, s->pad);
    return r;
}

/* Index of input (channel ci of the group of co, local column c) read by
 * output (oh, ow, n), or -1 in the padding. */
static int64_t x_index(const ref *r, int64_t co, int64_t c, int64_t oh, int64_t ow, int64_t n) {
    const spti_conv2d_spec *s = r->s;
    const int64_t kk = s->kh * s->kw, ci = (co / r->cog) * r->cig + c / kk, i = (c % kk) / s->kw, j = c % s->kw;
    const int64_t ih = oh * s->stride + i - s->pad, iw = ow * s->stride + j - s->pad;
    if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) return -1;
    return ((ci * s->h + ih) * s->w + iw) * r->N + n;
}

static void naive_fwd(const ref *r, const float *Wd, const float *b, const float *x, float *y) {
    for (int64_t co = 0; co < r->s->c_out; co++)
        for (int64_t e = 0; e < r->ho * r->wo * r->N; e++) {
            const int64_t oh = e / (r->wo * r->N), ow = (e / r->N) % r->wo, n = e % r->N;
            double acc = b ? b[co] : 0.0;
            for (int64_t c = 0; c < r->K; c++) {
                const int64_t xi = x_index(r, co, c, oh, ow, n);
                if (xi >= 0) acc += (double)Wd[co * r->K + c] * x[xi];
            }
            y[co * r->ho * r->wo * r->N + e] = (float)acc;
        }
}

/* Full dense dW (C_out x K), dx and db (db may be NULL). */
static void naive_bwd(const ref *r, const float *Wd, const float *x, const float *dy, float *dW, float *dx,
                      float *db) {
    const int64_t nin = r->s->c_in * r->s->h * r->s->w * r->N, PN = r->ho * r->wo * r->N;
    double *ddx = calloc((size_t)nin, sizeof(double));
    assert_non_null(ddx);
    for (int64_t co = 0; co < r->s->c_out; co++) {
        double bsum = 0.0;
        for (int64_t e = 0; e < PN; e++) bsum += dy[co * PN + e];
        if (db) db[co] = (float)bsum;
        for (int64_t c = 0; c < r->K; c++) {
            double acc = 0.0;
            for (int64_t e = 0; e < PN; e++) {
                const int64_t xi = x_index(r, co, c, e / (r->wo * r->N), (e / r->N) % r->wo, e % r->N);
                if (xi < 0) continue;
                acc += (double)dy[co * PN + e] * x[xi];
                ddx[xi] += (double)dy[co * PN + e] * Wd[co * r->K + c];
            }
            dW[co * r->K + c] = (float)acc;
        }
    }
    for (int64_t e = 0; e < nin; e++) dx[e] = (float)ddx[e];
    free(ddx);
}

/* ---- fixtures ------------------------------------------------------------------ */

static float *random_buf(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)(n + 1) * sizeof(float));
    assert_non_null(v);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) v[i] = spti_rng_normal(&rng);
    return v;
}

/* Random weights in the given form: MASKED/SPARSE keep about 40% of the
 * entries, row 1 empty when there are more than 2 rows. */
static spti_layer *make_conv(const spti_conv2d_spec *s, form f, uint64_t seed) {
    spti_layer *L;
    assert_status(spti_conv2d_create("gconv", s, &L), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    spti_param *W = L->params[0];
    assert_status(spti_param_materialize(W), SPT_OK); /* born without storage */
    for (int64_t i = 0; i < W->n; i++) W->value[i] = spti_rng_normal(&rng);
    if (s->bias)
        for (int64_t i = 0; i < s->c_out; i++) L->params[1]->value[i] = spti_rng_normal(&rng);
    if (f == FORM_DENSE) return L;
    int64_t *pos = malloc((size_t)W->n * sizeof(int64_t)), nnz = 0;
    assert_non_null(pos);
    for (int64_t i = 0; i < W->n; i++)
        if (!(i / W->cols == 1 && W->rows > 2) && spti_rng_uniform(&rng) < 0.4f) pos[nnz++] = i;
    if (f == FORM_MASKED)
        assert_status(spti_param_mask(W, pos, nnz), SPT_OK);
    else
        assert_status(spti_param_sparsify(W, pos, nnz), SPT_OK);
    free(pos);
    return L;
}

static int64_t in_size(const spti_layer *L, int64_t N) { return spti_shape_size(L->in_shape) * N; }
static int64_t out_size(const spti_layer *L, int64_t N) { return spti_shape_size(L->out_shape) * N; }

static float *dense_weight(const spti_param *W) {
    float *d = malloc((size_t)(W->rows * W->cols) * sizeof(float));
    assert_non_null(d);
    spti_param_to_dense(W, d);
    return d;
}

/* grad (stored order) against the dense reference dW at the active entries. */
static void check_grad(const spti_param *W, const float *dW_ref) {
    int64_t *pos = malloc((size_t)(W->rows * W->cols + 1) * sizeof(int64_t));
    float *active = malloc((size_t)(W->rows * W->cols + 1) * sizeof(float));
    const int64_t n = spti_param_active_positions(W, pos);
    for (int64_t k = 0; k < n; k++) active[k] = dW_ref[pos[k]];
    if (W->kind == SPTI_PARAM_SPARSE) {
        assert_int_equal(n, W->n);
        assert_true(spt_test_max_rel_err(W->grad, active, n) < 1e-5);
    } else {
        for (int64_t k = 0; k < W->n; k++) /* inactive MASKED entries stay 0 */
            if (W->kind == SPTI_PARAM_MASKED && !W->mask[k]) assert_true(W->grad[k] == 0.0f);
        for (int64_t k = 0; k < n; k++) assert_true(fabsf(W->grad[pos[k]] - active[k]) <= 1e-5f * (1.0f + fabsf(active[k])));
    }
    free(pos);
    free(active);
}

/* ---- forward and backward against the reference ---------------------------------- */

/* One forward + backward (with and without dense_grad) of L against the
 * reference, at SIMD level `level`. */
static void check_layer(spti_layer *L, const spti_conv2d_spec *s, int64_t N, uint64_t seed) {
    const ref r = ref_of(s, N);
    spti_param *W = L->params[0];
    const int64_t nin = in_size(L, N), nout = out_size(L, N), cells = W->rows * W->cols;
    float *x = random_buf(nin, seed), *dy = random_buf(nout, seed + 1), *y = malloc((size_t)nout * sizeof(float));
    float *dx = malloc((size_t)nin * sizeof(float)), *Wd = dense_weight(W);
    float *y_ref = malloc((size_t)nout * sizeof(float)), *dx_ref = malloc((size_t)nin * sizeof(float));
    float *dW_ref = malloc((size_t)cells * sizeof(float)), *db_ref = malloc((size_t)s->c_out * sizeof(float));
    naive_fwd(&r, Wd, s->bias ? L->params[1]->value : NULL, x, y_ref);
    naive_bwd(&r, Wd, x, dy, dW_ref, dx_ref, db_ref);
    spti_fwd_ctx ctx = {true, NULL, NULL};
    assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
    assert_true(spt_test_max_rel_err(y, y_ref, nout) < 1e-5);
    memset(W->grad, 0, (size_t)W->n * sizeof(float));
    if (s->bias) memset(L->params[1]->grad, 0, (size_t)s->c_out * sizeof(float));
    assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
    assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
    check_grad(W, dW_ref);
    if (s->bias) assert_true(spt_test_max_rel_err(L->params[1]->grad, db_ref, s->c_out) < 1e-5);
    /* RigL's dense gradient: every position; grad again gets the active ones */
    memset(W->grad, 0, (size_t)W->n * sizeof(float));
    W->request.dense_grad = true;
    assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
    assert_non_null(W->result.dense_grad);
    assert_true(spt_test_max_rel_err(W->result.dense_grad, dW_ref, cells) < 1e-5);
    check_grad(W, dW_ref);
    W->request.dense_grad = false;
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(Wd);
    free(y_ref);
    free(dx_ref);
    free(dW_ref);
    free(db_ref);
}

static void test_matches_naive(void **state) {
    (void)state;
    const int64_t batches[] = {1, 3};
    for (int level = 0; level <= 2; level++) {
        assert_status(spt_set_simd_level(level), SPT_OK);
        for (int si = 0; si < N_SHAPES; si++)
            for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
                for (int pi = 0; pi < (f == FORM_SPARSE ? 3 : 1); pi++)
                    for (int b = 0; b < 2; b++) {
                        spti_layer *L = make_conv(&SHAPES[si], (form)f, 100 + (uint64_t)si);
                        assert_status(spti_conv2d_set_path(L, PATHS[pi]), SPT_OK);
                        check_layer(L, &SHAPES[si], batches[b], 7 + (uint64_t)(si * 2 + b));
                        spti_layer_destroy(L);
                    }
    }
    assert_status(spt_set_simd_level(2), SPT_OK);
}

/* The direct kernels called on a geometry with groups, against the reference:
 * forward with bias, dX and dW (= and +=). */
static void test_direct_kernels(void **state) {
    (void)state;
    const spti_conv2d_spec s = {6, 9, 8, 9, 3, 3, 2, 1, true, 3};
    const int64_t N = 2;
    spti_layer *L = make_conv(&s, FORM_SPARSE, 5);
    const spt_csr *W = L->params[0]->csr;
    const ref r = ref_of(&s, N);
    spti_conv_geom g = {s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride, s.pad, r.ho, r.wo, s.groups};
    const int64_t nin = s.c_in * s.h * s.w * N, nout = s.c_out * r.ho * r.wo * N, cells = s.c_out * r.K;
    float *x = random_buf(nin, 1), *dy = random_buf(nout, 2), *b = L->params[1]->value;
    float *Wd = dense_weight(L->params[0]), *y_ref = malloc((size_t)nout * sizeof(float));
    float *dx_ref = malloc((size_t)nin * sizeof(float)), *dW_ref = malloc((size_t)cells * sizeof(float));
    naive_fwd(&r, Wd, b, x, y_ref);
    naive_bwd(&r, Wd, x, dy, dW_ref, dx_ref, NULL);
    float *y = random_buf(nout, 3), *dx = random_buf(nin, 4), *dw = malloc((size_t)(W->nnz + 1) * sizeof(float));
    float *dw_ref = malloc((size_t)(W->nnz + 1) * sizeof(float));
    for (int64_t row = 0; row < W->rows; row++)
        for (int64_t k = W->row_ptr[row]; k < W->row_ptr[row + 1]; k++) dw_ref[k] = dW_ref[row * r.K + W->col_idx[k]];
    void *scratch = malloc((size_t)spti_conv_sparse_scratch(&g, W->nnz));
    assert_non_null(scratch);
    spti_conv_sparse_fwd(&g, W, x, N, b, y, scratch);
    spti_conv_sparse_dx(&g, W, dy, N, dx, scratch);
    for (int64_t k = 0; k < W->nnz; k++) dw[k] = 1.0f;
    spti_conv_sparse_dw(&g, W, x, dy, N, dw, true, scratch);
    for (int64_t k = 0; k < W->nnz; k++) dw[k] -= 1.0f;
    assert_true(spt_test_max_rel_err(y, y_ref, nout) < 1e-5);
    assert_true(spt_test_max_rel_err(dx, dx_ref, nin) < 1e-5);
    assert_true(spt_test_max_rel_err(dw, dw_ref, W->nnz) < 1e-4);
    spti_conv_sparse_dw(&g, W, x, dy, N, dw, false, scratch);
    assert_true(spt_test_max_rel_err(dw, dw_ref, W->nnz) < 1e-5);
    free(scratch);
    free(x);
    free(dy);
    free(Wd);
    free(y_ref);
    free(dx_ref);
    free(dW_ref);
    free(y);
    free(dx);
    free(dw);
    free(dw_ref);
    spti_layer_destroy(L);
}

static void test_gradcheck(void **state) {
    (void)state;
    for (int si = 0; si < N_SHAPES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++) {
            spti_layer *L = make_conv(&SHAPES[si], (form)f, 300 + (uint64_t)si);
            const int64_t N = si % 2 ? 1 : 2;
            float *x = random_buf(in_size(L, N), 9);
            spt_gc_opts o = {.eps = 1e-2, .tol = 2e-3, .max_points = 40, .seed = 17 + (uint64_t)si, .training = true};
            spt_gc_result res;
            assert_status(spt_gradcheck(L, x, N, &o, &res), SPT_OK);
            if (res.failed) fail_msg("shape %d form %d: %s", si, f, res.worst);
            assert_true(res.checked >= 40);
            free(x);
            spti_layer_destroy(L);
        }
}

/* groups = 1 and groups = 0 (an initialiser that omits it): the same bytes,
 * every form and path, forward, dX, grad and dense_grad. */
static void test_groups_one_is_plain(void **state) {
    (void)state;
    const spti_conv2d_spec plain = {.c_in = 3, .h = 7, .w = 6, .c_out = 4, .kh = 3, .kw = 3, .stride = 2, .pad = 1,
                                    .bias = true}; /* groups omitted: 0 */
    const int64_t N = 3;
    for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
        for (int pi = 0; pi < 3; pi++) {
            spti_conv2d_spec one = plain;
            one.groups = 1;
            spti_layer *A = make_conv(&plain, (form)f, 8), *B = make_conv(&one, (form)f, 8);
            assert_int_equal(A->params[0]->shape[1], 3);
            assert_status(spti_conv2d_set_path(A, PATHS[pi]), SPT_OK);
            assert_status(spti_conv2d_set_path(B, PATHS[pi]), SPT_OK);
            const int64_t nin = in_size(A, N), nout = out_size(A, N);
            float *x = random_buf(nin, 1), *dy = random_buf(nout, 2), *out[2][2];
            spti_layer *Ls[2] = {A, B};
            spti_fwd_ctx ctx = {true, NULL, NULL};
            for (int l = 0; l < 2; l++) {
                out[l][0] = malloc((size_t)nout * sizeof(float));
                out[l][1] = malloc((size_t)nin * sizeof(float));
                Ls[l]->params[0]->request.dense_grad = pi == 2;
                assert_status(Ls[l]->ops->forward(Ls[l], x, out[l][0], N, &ctx), SPT_OK);
                assert_status(Ls[l]->ops->backward(Ls[l], x, out[l][0], dy, out[l][1], N), SPT_OK);
            }
            assert_memory_equal(out[0][0], out[1][0], (size_t)nout * sizeof(float));
            assert_memory_equal(out[0][1], out[1][1], (size_t)nin * sizeof(float));
            assert_memory_equal(A->params[0]->grad, B->params[0]->grad, (size_t)A->params[0]->n * sizeof(float));
            if (pi == 2)
                assert_memory_equal(A->params[0]->result.dense_grad, B->params[0]->result.dense_grad,
                                    (size_t)(4 * 27) * sizeof(float));
            for (int l = 0; l < 2; l++) {
                free(out[l][0]);
                free(out[l][1]);
                spti_layer_destroy(Ls[l]);
            }
            free(x);
            free(dy);
        }
}

/* Same bytes for 1 and 2 threads, sparse (direct) and dense, at sizes that
 * run in parallel. */
static void test_deterministic(void **state) {
    (void)state;
    const spti_conv2d_spec s = {16, 12, 12, 32, 3, 3, 1, 1, false, 16}; /* depthwise x2 */
    const int64_t N = 8;
    const int threads_before = spt_get_num_threads();
    spti_fwd_ctx ctx = {true, NULL, NULL};
    for (int f = FORM_DENSE; f <= FORM_SPARSE; f += 2) {
        spti_layer *L = make_conv(&s, (form)f, 3);
        const int64_t nin = in_size(L, N), nout = out_size(L, N), n = L->params[0]->n;
        float *x = random_buf(nin, 1), *dy = random_buf(nout, 2), *res[2][3];
        for (int t = 0; t < 2; t++) {
            assert_status(spt_set_num_threads(t + 1), SPT_OK);
            res[t][0] = malloc((size_t)nout * sizeof(float));
            res[t][1] = malloc((size_t)nin * sizeof(float));
            res[t][2] = malloc((size_t)n * sizeof(float));
            memset(L->params[0]->grad, 0, (size_t)n * sizeof(float));
            assert_status(L->ops->forward(L, x, res[t][0], N, &ctx), SPT_OK);
            assert_status(L->ops->backward(L, x, res[t][0], dy, res[t][1], N), SPT_OK);
            memcpy(res[t][2], L->params[0]->grad, (size_t)n * sizeof(float));
        }
        assert_memory_equal(res[0][0], res[1][0], (size_t)nout * sizeof(float));
        assert_memory_equal(res[0][1], res[1][1], (size_t)nin * sizeof(float));
        assert_memory_equal(res[0][2], res[1][2], (size_t)n * sizeof(float));
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 3; k++) free(res[t][k]);
        free(x);
        free(dy);
        spti_layer_destroy(L);
    }
    assert_status(spt_set_num_threads(threads_before), SPT_OK);
}

/* Weight shape (C_out, C_in/G, kh, kw), FLOPs with C_in/G, Kaiming fan_in =
 * C_in/G*kh*kw, invalid groups. */
static void test_create(void **state) {
    (void)state;
    const spti_conv2d_spec s = {8, 10, 10, 16, 3, 3, 1, 1, false, 4};
    spti_layer *L;
    assert_status(spti_conv2d_create("g", &s, &L), SPT_OK);
    spti_param *W = L->params[0];
    assert_int_equal(W->ndim, 4);
    assert_int_equal(W->shape[0], 16);
    assert_int_equal(W->shape[1], 2);
    assert_int_equal(W->rows, 16);
    assert_int_equal(W->cols, 18);
    assert_true(L->ops->flops(L, true) == 2.0 * 16 * 18 * 100);
    spti_rng rng;
    spti_rng_seed(&rng, 4);
    assert_status(spti_init_kaiming(W, &rng, false), SPT_OK);
    double ss = 0.0;
    for (int64_t i = 0; i < W->n; i++) ss += (double)W->value[i] * W->value[i];
    const double var = ss / (double)W->n, want = 2.0 / 18.0; /* fan_in = C_in/G*kh*kw */
    assert_true(fabs(var - want) < 0.25 * want);
    spti_layer_destroy(L);
    const int64_t bad[][3] = {{3, 8, 16}, {4, 6, 16}, {-1, 8, 16}, {5, 10, 16}}; /* groups, c_in, c_out */
    for (int i = 0; i < 4; i++) {
        spti_conv2d_spec b = s;
        b.groups = bad[i][0];
        b.c_in = bad[i][1];
        b.c_out = bad[i][2];
        L = (spti_layer *)&L;
        assert_status(spti_conv2d_create("g", &b, &L), SPT_ERR_INVALID);
        assert_null(L);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive),
        cmocka_unit_test(test_direct_kernels),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_groups_one_is_plain),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
