/* Linear layer and the weight initialisers: forward and backward against
 * naive references, finite differences, dense gradients, form changes,
 * invalid arguments and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/layers.h"
#include "test_support.h"

typedef enum { FORM_DENSE, FORM_MASKED, FORM_SPARSE } form;

static const int64_t SIZES[][2] = {{1, 1}, {7, 5}, {33, 17}, {64, 10}, {5, 40}}; /* in, out */
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

static void fill_normal(float *v, int64_t n, spti_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = spti_rng_normal(rng);
}

static float *random_buf(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)(n + 1) * sizeof(float));
    assert_non_null(v);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    fill_normal(v, n, &rng);
    return v;
}

/* Random weights in the given form: MASKED/SPARSE keep ~40% of the entries
 * and leave row 0 empty when there is more than one row. */
static spti_layer *make_linear(int64_t in, int64_t out, bool bias, form f, uint64_t seed) {
    spti_layer *L;
    assert_status(spti_linear_create("fc", in, out, bias, &L), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    spti_param *W = L->params[0];
    assert_status(spti_param_materialize(W), SPT_OK); /* born without storage */
    fill_normal(W->value, W->n, &rng);
    if (bias) fill_normal(L->params[1]->value, out, &rng);
    if (f == FORM_DENSE) return L;
    int64_t *pos = malloc((size_t)W->n * sizeof(int64_t)), nnz = 0;
    for (int64_t i = 0; i < W->n; i++) {
        if (out > 1 && i / in == 0) continue;
        if (spti_rng_uniform(&rng) < 0.4f || W->n == 1) pos[nnz++] = i;
    }
    if (f == FORM_MASKED)
        assert_status(spti_param_mask(W, pos, nnz), SPT_OK);
    else
        assert_status(spti_param_sparsify(W, pos, nnz), SPT_OK);
    free(pos);
    return L;
}

static float *dense_weight(const spti_param *W) {
    float *d = malloc((size_t)(W->rows * W->cols) * sizeof(float));
    spti_param_to_dense(W, d);
    return d;
}

/* y = Wd x + b, double accumulation. */
static void naive_fwd(const float *Wd, const float *b, int64_t in, int64_t out, const float *x, int64_t N, float *y) {
    for (int64_t r = 0; r < out; r++)
        for (int64_t n = 0; n < N; n++) {
            double acc = b ? b[r] : 0.0;
            for (int64_t c = 0; c < in; c++) acc += (double)Wd[r * in + c] * x[c * N + n];
            y[r * N + n] = (float)acc;
        }
}

/* dW = dY X^T, dx = W^T dY, db = row sums of dY. */
static void naive_bwd(const float *Wd, int64_t in, int64_t out, const float *x, const float *dy, int64_t N, float *dW,
                      float *dx, float *db) {
    for (int64_t r = 0; r < out; r++) {
        double bs = 0.0;
        for (int64_t n = 0; n < N; n++) bs += dy[r * N + n];
        db[r] = (float)bs;
        for (int64_t c = 0; c < in; c++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++) acc += (double)dy[r * N + n] * x[c * N + n];
            dW[r * in + c] = (float)acc;
        }
    }
    for (int64_t c = 0; c < in; c++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t r = 0; r < out; r++) acc += (double)Wd[r * in + c] * dy[r * N + n];
            dx[c * N + n] = (float)acc;
        }
}

static void test_forward_backward_match_naive(void **state) {
    (void)state;
    const int64_t batches[] = {1, 5, 33};
    for (int si = 0; si < N_SIZES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int bi = 0; bi < 3; bi++)
                for (int bias = 0; bias < 2; bias++) {
                    const int64_t in = SIZES[si][0], out = SIZES[si][1], N = batches[bi];
                    spti_layer *L = make_linear(in, out, bias, (form)f, 10 + si);
                    spti_param *W = L->params[0];
                    float *x = random_buf(in * N, 1), *dy = random_buf(out * N, 2), *y = random_buf(out * N, 3);
                    float *dx = random_buf(in * N, 4), *ref = malloc((size_t)(out * N) * sizeof(float));
                    float *dW = malloc((size_t)(in * out) * sizeof(float)), *dxr = malloc((size_t)(in * N) * sizeof(float));
                    float *db = malloc((size_t)out * sizeof(float)), *Wd = dense_weight(W);
                    const float *b = bias ? L->params[1]->value : NULL;
                    naive_fwd(Wd, b, in, out, x, N, ref);
                    naive_bwd(Wd, in, out, x, dy, N, dW, dxr, db);
                    spti_fwd_ctx ctx = {true, NULL, NULL};
                    assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
                    assert_true(spt_test_max_rel_err(y, ref, out * N) < 1e-5);
                    assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
                    assert_true(spt_test_max_rel_err(dx, dxr, in * N) < 1e-5);
                    if (bias) assert_true(spt_test_max_rel_err(L->params[1]->grad, db, out) < 1e-5);
                    /* grad at the active entries, 0 elsewhere (MASKED) */
                    int64_t *pos = malloc((size_t)(in * out) * sizeof(int64_t));
                    int64_t na = spti_param_active_positions(W, pos);
                    for (int64_t k = 0; k < na; k++) {
                        int64_t at = W->kind == SPTI_PARAM_SPARSE ? k : pos[k];
                        assert_true(fabsf(W->grad[at] - dW[pos[k]]) <= 1e-5f * (1.0f + fabsf(dW[pos[k]])));
                    }
                    if (W->kind == SPTI_PARAM_MASKED)
                        for (int64_t i = 0; i < W->n; i++)
                            if (!W->mask[i]) assert_true(W->grad[i] == 0.0f);
                    free(pos);
                    free(x);
                    free(dy);
                    free(y);
                    free(dx);
                    free(ref);
                    free(dW);
                    free(dxr);
                    free(db);
                    free(Wd);
                    spti_layer_destroy(L);
                }
}

static void test_gradcheck(void **state) {
    (void)state;
    for (int si = 1; si < N_SIZES; si++)
        for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
            for (int bias = 1; bias >= 0; bias--) {
                const int64_t in = SIZES[si][0], out = SIZES[si][1], N = bias ? 3 : 1;
                spti_layer *L = make_linear(in, out, bias, (form)f, 20 + si);
                assert_int_equal(L->n_params, bias ? 2 : 1);
                float *x = random_buf(in * N, 5);
                spt_gc_opts o = {.eps = 1e-2, .tol = 2e-3, .max_points = 30, .seed = 99, .training = true};
                spt_gc_result res;
                assert_status(spt_gradcheck(L, x, N, &o, &res), SPT_OK);
                if (res.failed) print_error("size %d form %d bias %d: %s\n", si, f, bias, res.worst);
                assert_int_equal(res.failed, 0);
                assert_true(res.checked >= (bias ? 30 : 10)); /* N = 1: few inputs */
                free(x);
                spti_layer_destroy(L);
            }
}

/* The skip predicate is consulted: skipping every input element leaves
 * only the parameter points. */
static bool skip_inputs(const spt_gc_point *pt, double eps, void *user) {
    (void)eps;
    (*(int *)user)++;
    return pt->p == NULL;
}

static void test_gradcheck_skip(void **state) {
    (void)state;
    spti_layer *L = make_linear(4, 3, true, FORM_DENSE, 1);
    float *x = random_buf(8, 5);
    int calls = 0;
    spt_gc_opts o = {.seed = 1, .skip = skip_inputs, .user = &calls};
    spt_gc_result res;
    assert_status(spt_gradcheck(L, x, 2, &o, &res), SPT_OK);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.skipped, 8);
    assert_int_equal(res.checked, 12 + 3);
    assert_int_equal(calls, 8 + 15);
    free(x);
    spti_layer_destroy(L);
}

static void test_dense_grad(void **state) {
    (void)state;
    const int64_t in = 33, out = 17, N = 6;
    for (int f = FORM_DENSE; f <= FORM_SPARSE; f++) {
        spti_layer *L = make_linear(in, out, false, (form)f, 3);
        spti_param *W = L->params[0];
        float *x = random_buf(in * N, 1), *dy = random_buf(out * N, 2), *y = malloc((size_t)(out * N) * sizeof(float));
        float *dW = malloc((size_t)(in * out) * sizeof(float)), *dxr = malloc((size_t)(in * N) * sizeof(float));
        float *db = malloc((size_t)out * sizeof(float)), *Wd = dense_weight(W);
        float *dx1 = malloc((size_t)(in * N) * sizeof(float)), *dx2 = malloc((size_t)(in * N) * sizeof(float));
        float *g1 = malloc((size_t)(W->n + 1) * sizeof(float));
        naive_bwd(Wd, in, out, x, dy, N, dW, dxr, db);
        spti_fwd_ctx ctx = {true, NULL, NULL};
        assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_status(L->ops->backward(L, x, y, dy, dx1, N), SPT_OK);
        memcpy(g1, W->grad, (size_t)W->n * sizeof(float));
        memset(W->grad, 0, (size_t)W->n * sizeof(float));
        W->request.dense_grad = true;
        assert_status(L->ops->backward(L, x, y, dy, dx2, N), SPT_OK);
        assert_true(spt_test_max_rel_err(W->result.dense_grad, dW, in * out) < 1e-5);
        assert_true(spt_test_max_rel_err(W->grad, g1, W->n) < 1e-5);
        assert_true(spt_test_max_rel_err(dx2, dx1, in * N) < 1e-5);
        free(x);
        free(dy);
        free(y);
        free(dW);
        free(dxr);
        free(db);
        free(Wd);
        free(dx1);
        free(dx2);
        free(g1);
        spti_layer_destroy(L);
    }
}

static void test_null_dx(void **state) {
    (void)state;
    const int64_t in = 9, out = 4, N = 3;
    for (int f = FORM_DENSE; f <= FORM_SPARSE; f++) {
        spti_layer *L = make_linear(in, out, true, (form)f, 4);
        spti_param *W = L->params[0];
        float *x = random_buf(in * N, 1), *dy = random_buf(out * N, 2), *y = malloc((size_t)(out * N) * sizeof(float));
        float *dx = malloc((size_t)(in * N) * sizeof(float)), *g1 = malloc((size_t)(W->n + 1) * sizeof(float));
        spti_fwd_ctx ctx = {true, NULL, NULL};
        assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_status(L->ops->backward(L, x, y, dy, dx, N), SPT_OK);
        memcpy(g1, W->grad, (size_t)W->n * sizeof(float));
        memset(W->grad, 0, (size_t)W->n * sizeof(float));
        assert_status(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
        assert_memory_equal(g1, W->grad, (size_t)W->n * sizeof(float));
        free(x);
        free(dy);
        free(y);
        free(dx);
        free(g1);
        spti_layer_destroy(L);
    }
}

/* Form changes between steps, and an input shape set to C x H x W. */
static void test_form_changes_and_shape(void **state) {
    (void)state;
    const int64_t in = 12, out = 3, N = 2;
    spti_layer *L = make_linear(in, out, true, FORM_DENSE, 5);
    L->in_shape = (spti_shape){3, 2, 2};
    spti_param *W = L->params[0];
    float *x = random_buf(in * N, 1), *y = malloc((size_t)(out * N) * sizeof(float));
    float *ref = malloc((size_t)(out * N) * sizeof(float));
    int64_t pa[] = {0, 4, 13, 14, 30}, pb[] = {2, 4, 14, 20, 35};
    spti_fwd_ctx ctx = {false, NULL, NULL};
    for (int step = 0; step < 4; step++) {
        if (step == 1) assert_status(spti_param_mask(W, pa, 5), SPT_OK);
        if (step == 2) assert_status(spti_param_sparsify(W, pa, 5), SPT_OK);
        if (step == 3) {
            assert_status(spti_param_repattern(W, pb, 5), SPT_OK);
            for (int64_t k = 0; k < W->n; k++) W->value[k] = 1.0f - 0.25f * (float)k;
        }
        float *Wd = dense_weight(W);
        naive_fwd(Wd, L->params[1]->value, in, out, x, N, ref);
        assert_status(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        assert_true(spt_test_max_rel_err(y, ref, out * N) < 1e-5);
        free(Wd);
    }
    assert_true(L->ops->flops(L, false) == 10.0);
    assert_true(L->ops->flops(L, true) == 72.0);
    free(x);
    free(y);
    free(ref);
    spti_layer_destroy(L);
}

static void test_create_invalid(void **state) {
    (void)state;
    spti_layer *L = (spti_layer *)&L;
    assert_status(spti_linear_create("fc", 3, 2, true, NULL), SPT_ERR_NULL);
    assert_status(spti_linear_create(NULL, 3, 2, true, &L), SPT_ERR_NULL);
    assert_null(L);
    const int64_t bad[][2] = {{0, 2}, {3, 0}, {-1, 2}, {3, -5}, {1LL << 31, 2}, {2, 1LL << 40}, {INT32_MAX, INT32_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        L = (spti_layer *)&L;
        assert_status(spti_linear_create("fc", bad[i][0], bad[i][1], false, &L), SPT_ERR_SIZE);
        assert_null(L);
    }
    assert_status(spti_linear_create("a.rather.long.layer.name.for.truncation.x", 3, 2, true, &L), SPT_OK);
    assert_string_equal(L->ops->kind, "linear");
    assert_int_equal(L->in_shape.c, 3);
    assert_int_equal(L->out_shape.c, 2);
    assert_int_equal(L->n_params, 2);
    assert_true(L->params[0]->is_weight);
    assert_false(L->params[0]->no_weight_decay);
    assert_true(L->params[1]->no_weight_decay);
    assert_int_equal(L->params[0]->rows, 2);
    assert_int_equal(L->params[0]->cols, 3);
    float x[6] = {0}, y[4];
    spti_fwd_ctx ctx = {true, NULL, NULL};
    assert_status(L->ops->forward(L, x, y, -1, &ctx), SPT_ERR_SIZE);
    assert_status(L->ops->backward(L, x, y, y, NULL, -2), SPT_ERR_SIZE);
    assert_status(L->ops->forward(L, x, y, (int64_t)INT32_MAX + 1, &ctx), SPT_ERR_SIZE);
    spti_layer_destroy(L);
}

static int run_with_failure(form f, bool dense_grad, long fail) {
    spt_test_alloc_fail_at(fail);
    spti_layer *L;
    int rc = spti_linear_create("fc", 6, 4, true, &L);
    if (rc != SPT_OK) {
        spt_test_alloc_fail_at(-1);
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
    for (int64_t i = 0; i < W->n; i++) W->value[i] = 0.1f * (float)i;
    int64_t pos[] = {1, 7, 8, 22};
    if (f == FORM_MASKED) assert_int_equal(spti_param_mask(W, pos, 4), SPT_OK);
    if (f == FORM_SPARSE) assert_int_equal(spti_param_sparsify(W, pos, 4), SPT_OK);
    W->request.dense_grad = dense_grad;
    float x[6 * 3], y[4 * 3], dx[6 * 3];
    for (int i = 0; i < 18; i++) x[i] = (float)i - 9.0f;
    float g0[24];
    memcpy(g0, W->grad, (size_t)W->n * sizeof(float));
    spti_fwd_ctx ctx = {true, NULL, NULL};
    spt_test_alloc_fail_at(fail);
    rc = L->ops->forward(L, x, y, 3, &ctx);
    if (rc == SPT_OK) {
        rc = L->ops->backward(L, x, y, y, dx, 3);
        if (rc != SPT_OK) assert_memory_equal(g0, W->grad, (size_t)W->n * sizeof(float));
    }
    spt_test_alloc_fail_at(-1);
    spti_layer_destroy(L);
    return rc;
}

static void test_nomem(void **state) {
    (void)state;
    for (int f = FORM_DENSE; f <= FORM_SPARSE; f++)
        for (int dg = 0; dg < 2; dg++) {
            int failures = 0;
            for (long n = 0;; n++) {
                spt_test_alloc_install();
                int rc = run_with_failure((form)f, dg != 0, n);
                long live = spt_test_alloc_live();
                spt_test_alloc_uninstall();
                assert_int_equal(live, 0);
                if (rc == SPT_OK) break;
                assert_int_equal(rc, SPT_ERR_NOMEM);
                failures++;
                assert_true(n < 100);
            }
            assert_true(failures >= 3); /* layer, state, weight, bias... */
        }
}

/* ---- initialisation ----------------------------------------------------------- */

static double sample_std(const float *v, int64_t n) {
    double s = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) sq += (v[i] - m) * (v[i] - m);
    return sqrt(sq / (double)n);
}

static void test_init_kaiming(void **state) {
    (void)state;
    int64_t shape[4] = {64, 16, 3, 3}; /* fan_in 144 */
    spti_param *p, *q, *r;
    assert_status(spti_param_create("w", 4, shape, true, &p), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    assert_status(spti_init_kaiming(p, &rng, false), SPT_OK);
    double sd = sample_std(p->value, p->n), want = sqrt(2.0 / 144.0);
    assert_true(fabs(sd - want) < 0.05 * want);
    /* same seed, same bytes */
    assert_status(spti_param_create("w", 4, shape, true, &q), SPT_OK);
    spti_rng_seed(&rng, 1);
    assert_status(spti_init_kaiming(q, &rng, false), SPT_OK);
    assert_memory_equal(p->value, q->value, (size_t)p->n * sizeof(float));

    /* sparse-aware: row r keeps (r % 4 + 1) * 12 entries; its std follows
     * that fan-in. MASKED and SPARSE with one pattern give the same values. */
    int64_t *pos = malloc((size_t)p->n * sizeof(int64_t)), nnz = 0;
    for (int64_t row = 0; row < 64; row++)
        for (int64_t c = 0; c < (row % 4 + 1) * 12; c++) pos[nnz++] = row * 144 + c * 3;
    assert_status(spti_param_mask(q, pos, nnz), SPT_OK);
    assert_status(spti_param_create("w", 4, shape, true, &r), SPT_OK);
    assert_status(spti_param_sparsify(r, pos, nnz), SPT_OK);
    spti_rng_seed(&rng, 2);
    assert_status(spti_init_kaiming(q, &rng, true), SPT_OK);
    spti_rng_seed(&rng, 2);
    assert_status(spti_init_kaiming(r, &rng, true), SPT_OK);
    float *dq = malloc((size_t)p->n * sizeof(float)), *dr = malloc((size_t)p->n * sizeof(float));
    spti_param_to_dense(q, dq);
    spti_param_to_dense(r, dr);
    assert_memory_equal(dq, dr, (size_t)p->n * sizeof(float));
    for (int64_t i = 0; i < q->n; i++)
        if (!q->mask[i]) assert_true(q->value[i] == 0.0f);
    for (int fan = 1; fan <= 4; fan++) {
        /* gather the values of rows with this fan-in */
        float *v = malloc((size_t)r->n * sizeof(float));
        int64_t m = 0;
        for (int64_t row = 0; row < 64; row++)
            if (row % 4 + 1 == fan)
                for (int64_t k = r->csr->row_ptr[row]; k < r->csr->row_ptr[row + 1]; k++) v[m++] = r->value[k];
        double w2 = sqrt(2.0 / (12.0 * fan)), s2 = sample_std(v, m);
        assert_true(fabs(s2 - w2) < 0.15 * w2);
        free(v);
    }
    /* not sparse-aware: the dense fan-in */
    spti_rng_seed(&rng, 3);
    assert_status(spti_init_kaiming(r, &rng, false), SPT_OK);
    assert_true(fabs(sample_std(r->value, r->n) - want) < 0.1 * want);
    assert_status(spti_init_kaiming(NULL, &rng, false), SPT_ERR_NULL);
    assert_status(spti_init_kaiming(r, NULL, false), SPT_ERR_NULL);
    free(pos);
    free(dq);
    free(dr);
    spti_param_destroy(p);
    spti_param_destroy(q);
    spti_param_destroy(r);
}

static void test_init_uniform_zero(void **state) {
    (void)state;
    spti_layer *L;
    assert_status(spti_linear_create("fc", 100, 50, true, &L), SPT_OK);
    spti_param *W = L->params[0], *b = L->params[1];
    spti_rng rng;
    spti_rng_seed(&rng, 7);
    assert_status(spti_init_uniform(W, b, &rng), SPT_OK);
    const float bound = 0.1f; /* 1/sqrt(100) */
    float mx = 0.0f;
    for (int64_t i = 0; i < W->n; i++) {
        assert_true(fabsf(W->value[i]) <= bound);
        if (fabsf(W->value[i]) > mx) mx = fabsf(W->value[i]);
    }
    assert_true(mx > 0.09f);
    /* U(-a, a) has std a/sqrt(3) */
    assert_true(fabs(sample_std(W->value, W->n) - bound / sqrt(3.0)) < 0.05 * bound);
    int nonzero = 0;
    for (int64_t i = 0; i < b->n; i++) {
        assert_true(fabsf(b->value[i]) <= bound);
        nonzero += b->value[i] != 0.0f;
    }
    assert_true(nonzero > 40);
    assert_status(spti_init_zero(b), SPT_OK);
    for (int64_t i = 0; i < b->n; i++) assert_true(b->value[i] == 0.0f);
    assert_status(spti_init_uniform(W, NULL, &rng), SPT_OK);
    assert_status(spti_init_uniform(NULL, b, &rng), SPT_ERR_NULL);
    assert_status(spti_init_zero(NULL), SPT_ERR_NULL);
    spti_layer_destroy(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_backward_match_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_skip),
        cmocka_unit_test(test_dense_grad),
        cmocka_unit_test(test_null_dx),
        cmocka_unit_test(test_form_changes_and_shape),
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_init_kaiming),
        cmocka_unit_test(test_init_uniform_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
