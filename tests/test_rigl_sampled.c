/* Sampled RigL growth (SPT_MP_GROW_SAMPLE, kernels/grow_sample.h; issue 20).
 *
 * A sample of every candidate grows exactly what exact RigL grows: through
 * a linear layer's backward (gradients bit for bit, same positions, ties
 * included) and through whole training runs of an MLP and of a network of
 * convolutions (plain, grouped, pointwise), on 1 and 2 threads. A partial
 * sample: its size and its positions (distinct, inactive, uniform), the
 * gradient there against a naive reference, every grown position a sampled
 * or dropped one, the k largest among them, nnz unchanged; the same bytes
 * for the same seed and on 1 and 2 threads; a user method growing by
 * gradient gives the built-in's weights bit for bit. A 10^6 x 10^6 layer at
 * density 10^-6 does sampled updates with no allocation near its dense
 * size, and checkpoints and resumes bit for bit. FLOPs follow the sample;
 * a non-finite gradient at a sampled position fails the step; out of
 * memory anywhere fails cleanly; the key's metadata, and a user method
 * that cannot sample is refused; an older checkpoint loads with the key at
 * its default. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/grow_sample.h"
#include "nn/layers.h"
#include "test_dst_util.h"
#include "train/trainer.h"

/* Every inactive position, whatever the layer (the key's upper bound). */
#define SAMPLE_ALL 1e9

/* ---- a linear layer driven through the hooks ------------------------------- */

static void fill(float *v, int64_t n, uint64_t seed, bool ints) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        v[i] = ints ? (float)spti_rng_below(&rng, 3) - 1.0f : spti_rng_uniform(&rng) * 2.0f - 1.0f;
}

/* A linear layer out x in with dst_weight's values, made SPARSE at density
 * d by a RigL method with grow_sample m (update every 10 steps, constant
 * drop fraction 0.3 until step 1000). */
static spti_layer *rigl_linear(int64_t in, int64_t out, double d, double m_sample, double seed, spti_method **m) {
    spti_layer *L = NULL;
    assert_int_equal(spti_linear_create("fc", in, out, true, &L), SPT_OK);
    spti_param *w = L->params[0], *src = dst_weight("w", out, in, 60);
    assert_int_equal(spti_param_materialize(w), SPT_OK);
    memcpy(w->value, src->value, (size_t)(out * in) * sizeof(float));
    spti_param_destroy(src);
    spt_method_config *c = dst_config(SPT_METHOD_RIGL, &d, 1, seed);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 10), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DROP_SCHEDULE, SPT_DROP_CONSTANT), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_T_END, 1000), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_GROW_SAMPLE, m_sample), SPT_OK);
    assert_int_equal(spti_method_create(c, &L->params[0], 1, 2000, m), SPT_OK);
    spt_method_config_destroy(c);
    assert_int_equal((*m)->ops->init(*m, &L->params[0], 1, NULL), SPT_OK);
    assert_int_equal(w->kind, SPTI_PARAM_SPARSE);
    dst_fill_slots(w);
    return L;
}

/* The full dense gradient of the layer's weight (the dense_grad path). */
static float *full_dense_grad(spti_layer *L, const float *x, const float *dy, int64_t N) {
    spti_param *w = L->params[0];
    const int64_t cells = w->rows * w->cols;
    w->request.dense_grad = true;
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    float *g = malloc((size_t)cells * sizeof(float));
    memcpy(g, w->result.dense_grad, (size_t)cells * sizeof(float));
    w->request.dense_grad = false;
    spti_free(w->result.dense_grad);
    w->result.dense_grad = NULL;
    memset(w->grad, 0, (size_t)w->n * sizeof(float));
    if (L->n_params > 1) memset(L->params[1]->grad, 0, (size_t)L->params[1]->n * sizeof(float));
    return g;
}

/* Linear positions of a sample, increasing. */
static int64_t *sample_positions(const spti_grow_sample *s) {
    int64_t *pos = malloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(int64_t));
    for (int64_t r = 0; r < s->rows; r++)
        for (int64_t i = s->row_ptr[r]; i < s->row_ptr[r + 1]; i++) pos[i] = r * s->cols + s->col_idx[i];
    return pos;
}

/* A sample of every inactive position takes the exact path's blocked
 * product: the gradient there and at the active entries is the full
 * path's bit for bit, and the update is exact RigL's (streamed), ties
 * included (integer inputs make most gradients tie), on 1 and 2 threads;
 * and the same on both. */
static void test_all_equals_exact_layer(void **state) {
    (void)state;
    enum { IN = 4096, OUT = 600, N = 8 };
    const int threads_before = spt_get_num_threads();
    dst_snap one[2];
    for (int round = 0; round < 4; round++) {
        const int kind = round % 2, threads = 1 + round / 2;
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        float *x = malloc((size_t)IN * N * sizeof(float)), *dy = malloc((size_t)OUT * N * sizeof(float));
        fill(x, IN * N, 21 + (uint64_t)kind, kind == 0);
        fill(dy, OUT * N, 22 + (uint64_t)kind, kind == 0);
        spti_method *ma = NULL, *mb = NULL;
        spti_layer *La = rigl_linear(IN, OUT, 0.05, 0, 7, &ma), *Lb = rigl_linear(IN, OUT, 0.05, SAMPLE_ALL, 7, &mb);
        spti_param *wa = La->params[0], *wb = Lb->params[0];
        assert_true(spti_grad_block_rows(IN) < OUT / 2); /* several row blocks */
        /* The gradient in single-threaded products of the same blocks: what
         * the collector's lanes compute (or anything, on 1 thread). */
        assert_int_equal(spt_set_num_threads(1), SPT_OK);
        float *g = full_dense_grad(Lb, x, dy, N);
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        const bool bitwise = threads == 1 || spti_blas_nests_in_openmp();
        /* a: exact, streamed into the collector. */
        assert_int_equal(ma->ops->begin_step(ma, 10), SPT_OK);
        assert_true(wa->request.grow_k > 0 && !wa->request.sample);
        assert_int_equal(La->ops->backward(La, x, NULL, dy, NULL, N), SPT_OK);
        /* b: sampled, every inactive position. */
        assert_int_equal(mb->ops->begin_step(mb, 10), SPT_OK);
        assert_non_null(wb->request.sample);
        assert_false(wb->request.dense_grad);
        assert_int_equal(wb->request.grow_k, 0);
        const spti_grow_sample *s = wb->request.sample;
        assert_int_equal(s->n, wb->rows * wb->cols - wb->n);
        assert_int_equal(Lb->ops->backward(Lb, x, NULL, dy, NULL, N), SPT_OK);
        assert_null(wb->result.dense_grad);
        assert_null(wb->result.grow);
        const spti_sample_grad *sg = wb->result.sample;
        assert_non_null(sg);
        assert_true(sg->dense && sg->at == s && sg->n == s->n);
        int64_t *sp = sample_positions(s), *ap = malloc((size_t)wb->n * sizeof(int64_t));
        assert_int_equal(spti_param_active_positions(wb, ap), wb->n);
        for (int64_t i = 0; i < s->n; i++)
            assert_true(bitwise ? sg->grad[i] == g[sp[i]] : fabsf(sg->grad[i] - g[sp[i]]) <= 1e-5f);
        for (int64_t j = 0; j < wb->n; j++) {
            assert_true(bitwise ? sg->active[j] == g[ap[j]] : fabsf(sg->active[j] - g[ap[j]]) <= 1e-5f);
            assert_true(wb->grad[j] == wa->grad[j]); /* the collector's, bit for bit */
        }
        bool skip_a = false, skip_b = false;
        assert_int_equal(ma->ops->after_backward(ma, 10, &skip_a), SPT_OK);
        assert_int_equal(mb->ops->after_backward(mb, 10, &skip_b), SPT_OK);
        assert_true(skip_a && skip_b);
        assert_null(wb->request.sample);
        assert_null(wb->result.sample);
        dst_snap sa = dst_snapshot(wa), sb = dst_snapshot(wb);
        assert_true(dst_snap_equal(&sa, &sb));
        assert_true(dst_count_active(&sb) == wb->n);
        if (threads == 1) {
            one[kind] = sb;
        } else {
            assert_true(dst_snap_equal(&one[kind], &sb)); /* 1 thread = 2 threads */
            dst_snap_free(&one[kind]);
            dst_snap_free(&sb);
        }
        dst_snap_free(&sa);
        free(sp);
        free(ap);
        free(g);
        free(x);
        free(dy);
        spti_layer_destroy(La);
        spti_layer_destroy(Lb);
        spti_method_destroy(ma);
        spti_method_destroy(mb);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

/* A partial sampled update of two layers (drawn and updated in parallel
 * on 2 threads, their SDDMMs split over the threads): the same sample,
 * the same gradients and the same new patterns and values on 1 and 2
 * threads. */
static void test_partial_threads(void **state) {
    (void)state;
    enum { IN = 1500, H = 1200, N = 16 };
    const int threads_before = spt_get_num_threads();
    spti_grow_sample *keep_s[2] = {NULL, NULL};
    float *keep_g[2] = {NULL, NULL};
    dst_snap keep_w[2];
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        spti_layer *L[2] = {NULL, NULL};
        assert_int_equal(spti_linear_create("fc1", IN, H, true, &L[0]), SPT_OK);
        assert_int_equal(spti_linear_create("fc2", H, H, true, &L[1]), SPT_OK);
        spti_param *w[2] = {L[0]->params[0], L[1]->params[0]};
        for (int l = 0; l < 2; l++) {
            spti_param *src = dst_weight("w", w[l]->rows, w[l]->cols, 70 + (uint64_t)l);
            assert_int_equal(spti_param_materialize(w[l]), SPT_OK);
            memcpy(w[l]->value, src->value, (size_t)(w[l]->rows * w[l]->cols) * sizeof(float));
            spti_param_destroy(src);
        }
        const double dens[2] = {0.02, 0.03};
        spt_method_config *c = dst_config(SPT_METHOD_RIGL, dens, 2, 4);
        assert_int_equal(spt_method_config_set(c, SPT_MP_DELTA_T, 10), SPT_OK);
        assert_int_equal(spt_method_config_set(c, SPT_MP_GROW_SAMPLE, 3), SPT_OK);
        spti_method *m = NULL;
        assert_int_equal(spti_method_create(c, w, 2, 400, &m), SPT_OK);
        spt_method_config_destroy(c);
        assert_int_equal(m->ops->init(m, w, 2, NULL), SPT_OK);
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        for (int l = 0; l < 2; l++) {
            const int64_t in = w[l]->cols, out = w[l]->rows;
            float *x = malloc((size_t)(in * N) * sizeof(float)), *dy = malloc((size_t)(out * N) * sizeof(float));
            fill(x, in * N, 80 + (uint64_t)l, false);
            fill(dy, out * N, 90 + (uint64_t)l, false);
            assert_int_equal(L[l]->ops->backward(L[l], x, NULL, dy, NULL, N), SPT_OK);
            free(x);
            free(dy);
            const spti_grow_sample *s = w[l]->request.sample;
            const spti_sample_grad *sg = w[l]->result.sample;
            assert_true(s && sg && !sg->dense);
            if (threads == 1) {
                assert_int_equal(spti_grow_sample_alloc(s->rows, s->cols, s->n, &keep_s[l]), SPT_OK);
                memcpy(keep_s[l]->row_ptr, s->row_ptr, (size_t)(s->rows + 1) * sizeof(int64_t));
                memcpy(keep_s[l]->col_idx, s->col_idx, (size_t)s->n * sizeof(int32_t));
                keep_g[l] = malloc((size_t)s->n * sizeof(float));
                memcpy(keep_g[l], sg->grad, (size_t)s->n * sizeof(float));
            } else {
                assert_int_equal(s->n, keep_s[l]->n);
                assert_memory_equal(s->row_ptr, keep_s[l]->row_ptr, (size_t)(s->rows + 1) * sizeof(int64_t));
                assert_memory_equal(s->col_idx, keep_s[l]->col_idx, (size_t)s->n * sizeof(int32_t));
                assert_memory_equal(sg->grad, keep_g[l], (size_t)s->n * sizeof(float));
                spti_grow_sample_destroy(keep_s[l]);
                free(keep_g[l]);
            }
        }
        bool skip = false;
        assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
        for (int l = 0; l < 2; l++) {
            dst_snap sn = dst_snapshot(w[l]);
            if (threads == 1) {
                keep_w[l] = sn;
            } else {
                assert_true(dst_snap_equal(&keep_w[l], &sn));
                dst_snap_free(&keep_w[l]);
                dst_snap_free(&sn);
            }
        }
        spti_method_destroy(m);
        spti_layer_destroy(L[0]);
        spti_layer_destroy(L[1]);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

/* A partial sample through the layer: size, positions, gradients, and the
 * growth it selects. */
static void test_partial_sample_layer(void **state) {
    (void)state;
    enum { IN = 500, OUT = 300, N = 8 };
    const double M = 4.0;
    float *x = malloc((size_t)IN * N * sizeof(float)), *dy = malloc((size_t)OUT * N * sizeof(float));
    fill(x, IN * N, 31, false);
    fill(dy, OUT * N, 32, false);
    spti_method *m = NULL;
    spti_layer *L = rigl_linear(IN, OUT, 0.05, M, 5, &m);
    spti_param *w = L->params[0];
    const int64_t cells = w->rows * w->cols, nnz = w->n, k = (int64_t)floor(0.3 * (double)nnz);
    dst_snap before = dst_snapshot(w);
    assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
    const spti_grow_sample *s = w->request.sample;
    assert_non_null(s);
    assert_int_equal(s->n, (int64_t)ceil(M * (double)k));
    assert_true(s->n < cells - nnz);
    int64_t *sp = sample_positions(s);
    for (int64_t i = 0; i < s->n; i++) {
        assert_true(sp[i] >= 0 && sp[i] < cells && !before.active[sp[i]]);
        if (i > 0) assert_true(sp[i] > sp[i - 1]);
    }
    assert_int_equal(L->ops->backward(L, x, NULL, dy, NULL, N), SPT_OK);
    const spti_sample_grad *sg = w->result.sample;
    assert_non_null(sg);
    assert_false(sg->dense); /* an SDDMM over the sample */
    /* The gradient at the sampled and active positions against a naive dY . X^T. */
    int64_t *ap = malloc((size_t)nnz * sizeof(int64_t));
    spti_param_active_positions(w, ap);
    float *key = calloc((size_t)cells, sizeof(float)); /* |g| of every candidate, by position */
    uint8_t *cand = calloc((size_t)cells, 1);
    for (int64_t i = 0; i < s->n + nnz; i++) {
        const int64_t p = i < s->n ? sp[i] : ap[i - s->n], r = p / IN, c = p % IN;
        const float got = i < s->n ? sg->grad[i] : sg->active[i - s->n];
        double ref = 0.0;
        for (int64_t e = 0; e < N; e++) ref += (double)dy[r * N + e] * (double)x[c * N + e];
        assert_true(fabs(ref - (double)got) <= 1e-5 * (1.0 + fabs(ref)));
        if (i >= s->n) assert_true(w->grad[i - s->n] == got); /* grad += the active gradient */
        key[p] = fabsf(got);
        cand[p] = i < s->n;
    }
    bool skip = false;
    assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
    assert_true(skip);
    dst_snap after = dst_snapshot(w);
    assert_int_equal(w->n, nnz);
    assert_int_equal(dst_count_active(&after), nnz);
    /* Dropped: the k active entries of smallest |w| (all distinct). */
    float *wkey = malloc((size_t)cells * sizeof(float));
    int64_t *idx = malloc((size_t)cells * sizeof(int64_t));
    for (int64_t i = 0; i < cells; i++) wkey[i] = before.active[i] ? fabsf(before.w[i]) : INFINITY;
    dst_argsort(wkey, idx, cells);
    for (int64_t j = 0; j < k; j++) cand[idx[j]] = 1; /* the dropped are candidates too */
    int64_t grown = 0;
    float min_grown = INFINITY, max_left = -INFINITY;
    for (int64_t i = 0; i < cells; i++) {
        const bool kept = before.active[i] && !cand[i];
        if (kept) {
            assert_true(after.active[i] && after.w[i] == before.w[i] && after.s0[i] == before.s0[i]);
            continue;
        }
        if (!cand[i]) {
            assert_false(after.active[i]); /* every grown position was sampled or dropped */
            continue;
        }
        if (after.active[i]) {
            grown++;
            min_grown = fminf(min_grown, key[i]);
            if (before.active[i]) assert_true(after.w[i] == before.w[i]); /* re-grown: carried */
            else assert_true(after.w[i] == 0.0f && after.s0[i] == 0.0f && after.s1[i] == 0.0f);
        } else {
            max_left = fmaxf(max_left, key[i]);
        }
    }
    assert_int_equal(grown, k);
    assert_true(min_grown >= max_left); /* the k largest |g| among the candidates */
    free(wkey);
    free(idx);
    free(key);
    free(cand);
    free(ap);
    free(sp);
    dst_snap_free(&before);
    dst_snap_free(&after);
    free(x);
    free(dy);
    spti_layer_destroy(L);
    spti_method_destroy(m);
}

/* A convolution's gradient at a sample (an SDDMM over its im2col columns;
 * per group when grouped) and at its active entries, against its full
 * dense gradient: 3x3 plain and strided, grouped (2 groups, depthwise),
 * pointwise. */
static void test_conv_sample_gradient(void **state) {
    (void)state;
    /* c_in h w c_out kh kw stride pad bias groups */
    const spti_conv2d_spec specs[4] = {{16, 6, 5, 32, 3, 3, 1, 1, false, 1},
                                       {16, 7, 7, 32, 3, 3, 2, 1, false, 2},
                                       {16, 6, 6, 32, 3, 3, 1, 1, false, 16},
                                       {16, 5, 5, 32, 1, 1, 1, 0, true, 1}};
    enum { N = 3 };
    for (int c = 0; c < 4; c++) {
        spti_layer *L = NULL;
        assert_int_equal(spti_conv2d_create("conv", &specs[c], &L), SPT_OK);
        spti_param *w = L->params[0];
        spti_param *src = dst_weight("w", w->rows, w->cols, 40 + (uint64_t)c);
        assert_int_equal(spti_param_materialize(w), SPT_OK);
        memcpy(w->value, src->value, (size_t)(w->rows * w->cols) * sizeof(float));
        spti_param_destroy(src);
        const double d = c == 2 ? 0.3 : 0.08;
        spt_method_config *cfg = dst_config(SPT_METHOD_RIGL, &d, 1, 6);
        assert_int_equal(spt_method_config_set(cfg, SPT_MP_DELTA_T, 10), SPT_OK);
        assert_int_equal(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, 1), SPT_OK);
        spti_method *m = NULL;
        assert_int_equal(spti_method_create(cfg, &L->params[0], 1, 400, &m), SPT_OK);
        spt_method_config_destroy(cfg);
        assert_int_equal(m->ops->init(m, &L->params[0], 1, NULL), SPT_OK);
        const int64_t in = spti_shape_size(L->in_shape) * N, out = spti_shape_size(L->out_shape) * N;
        float *x = malloc((size_t)in * sizeof(float)), *y = malloc((size_t)out * sizeof(float));
        float *dy = malloc((size_t)out * sizeof(float));
        fill(x, in, 50 + (uint64_t)c, false);
        fill(dy, out, 60 + (uint64_t)c, false);
        spti_fwd_ctx ctx = {0};
        ctx.training = true;
        assert_int_equal(L->ops->forward(L, x, y, N, &ctx), SPT_OK);
        float *g = full_dense_grad(L, x, dy, N);
        assert_int_equal(m->ops->begin_step(m, 10), SPT_OK);
        const spti_grow_sample *s = w->request.sample;
        assert_non_null(s);
        assert_int_equal(L->ops->backward(L, x, y, dy, NULL, N), SPT_OK);
        const spti_sample_grad *sg = w->result.sample;
        assert_non_null(sg);
        assert_false(sg->dense);
        int64_t *sp = sample_positions(s), *ap = malloc((size_t)w->n * sizeof(int64_t));
        spti_param_active_positions(w, ap);
        double scale = 0;
        for (int64_t i = 0; i < w->rows * w->cols; i++) scale = fmax(scale, fabs(g[i]));
        for (int64_t i = 0; i < s->n; i++) assert_true(fabsf(sg->grad[i] - g[sp[i]]) <= 1e-5 * (1 + scale));
        for (int64_t j = 0; j < w->n; j++) {
            assert_true(fabsf(sg->active[j] - g[ap[j]]) <= 1e-5 * (1 + scale));
            assert_true(w->grad[j] == sg->active[j]);
        }
        bool skip = false;
        assert_int_equal(m->ops->after_backward(m, 10, &skip), SPT_OK);
        assert_true(skip);
        free(sp);
        free(ap);
        free(g);
        free(x);
        free(y);
        free(dy);
        spti_layer_destroy(L);
        spti_method_destroy(m);
    }
}

/* The sample is uniform over the inactive positions: counts per band of
 * rows over 99 update steps against their share of the inactive
 * positions (chi-square, 29 degrees of freedom); a new sample each step
 * (the old one freed by begin_step). */
static void test_sample_uniform(void **state) {
    (void)state;
    enum { IN = 400, OUT = 300, BANDS = 30 };
    spti_method *m = NULL;
    spti_layer *L = rigl_linear(IN, OUT, 0.1, 0.5, 9, &m);
    spti_param *w = L->params[0];
    double inactive[BANDS] = {0}, count[BANDS] = {0}, total = 0;
    for (int64_t r = 0; r < OUT; r++) {
        const double in_row = (double)(IN - (w->csr->row_ptr[r + 1] - w->csr->row_ptr[r]));
        inactive[r * BANDS / OUT] += in_row;
        total += in_row;
    }
    int64_t draws = 0, *last = NULL, last_n = 0;
    for (int64_t t = 10; t < 1000; t += 10) {
        assert_int_equal(m->ops->begin_step(m, t), SPT_OK);
        const spti_grow_sample *s = w->request.sample;
        assert_non_null(s);
        for (int64_t r = 0; r < OUT; r++) count[r * BANDS / OUT] += (double)(s->row_ptr[r + 1] - s->row_ptr[r]);
        draws += s->n;
        int64_t *pos = sample_positions(s);
        if (last) assert_true(last_n != s->n || memcmp(last, pos, (size_t)s->n * sizeof *pos) != 0); /* fresh */
        free(last);
        last = pos;
        last_n = s->n;
    }
    free(last);
    double chi = 0;
    for (int b = 0; b < BANDS; b++) {
        const double e = (double)draws * inactive[b] / total;
        chi += (count[b] - e) * (count[b] - e) / e;
    }
    assert_true(chi < 80.0); /* p < 1e-6 above 80 */
    spti_dst_release_gradients(m);
    assert_null(w->request.sample);
    spti_layer_destroy(L);
    spti_method_destroy(m);
}

/* ---- training runs ------------------------------------------------------------ */

enum { F = 64, K = 3, BATCH = 16, STEPS = 14, DT = 3 };

typedef struct run {
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *t;
} run;

static spt_model *conv_model(void) {
    spt_net *net = NULL;
    int64_t node;
    assert_status(spt_net_create(4, 8, 8, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c1", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 16), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r1", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c2", &node), SPT_OK); /* grouped */
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 16), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_STRIDE, 2), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_GROUPS, 2), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r2", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c3", &node), SPT_OK); /* pointwise */
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 24), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_KERNEL, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "r3", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, "flat", &node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, K), SPT_OK);
    spt_model *model = NULL;
    assert_status(spt_model_create(net, 5, &model), SPT_OK);
    spt_net_destroy(net);
    return model;
}

/* A RigL run (delta_t 3, 14 steps: updates at 3, 6, 9) of an MLP 64-700-300-3 or of
 * conv_model, at 80% sparsity (ERK), with grow_sample m; or of the user
 * method u. */
static run start_with(bool conv, double m, double seed, const spt_user_method *u) {
    run r = {0};
    if (conv) {
        r.model = conv_model();
    } else {
        const int64_t widths[4] = {F, 700, 300, K};
        assert_status(spt_model_create_mlp(widths, 4, 5, &r.model), SPT_OK);
    }
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r.opt), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(r.opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_method_config *cfg = NULL;
    if (u) assert_status(spt_method_config_create_user(u, &cfg), SPT_OK);
    else assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, DT), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, seed), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, m), SPT_OK);
    assert_status(spt_trainer_create(r.model, r.opt, NULL, cfg, STEPS, 3, &r.t), SPT_OK);
    spt_method_config_destroy(cfg);
    for (int l = 0; l < r.t->n_weights; l++) /* every conv weight (the grouped one too) moves */
        assert_true(r.t->weights[l]->kind == SPTI_PARAM_SPARSE || r.t->weights[l]->ndim == 2);
    return r;
}

static run start(bool conv, double m, double seed) { return start_with(conv, m, seed, NULL); }

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

/* Same forms, patterns, values and optimizer slots in every weight. */
static bool same_weights(const run *a, const run *b) {
    const spti_trainer *ta = a->t, *tb = b->t;
    if (ta->n_weights != tb->n_weights) return false;
    for (int l = 0; l < ta->n_weights; l++) {
        const spti_param *p = ta->weights[l], *q = tb->weights[l];
        if (p->kind != q->kind || p->n != q->n || memcmp(p->value, q->value, (size_t)p->n * sizeof(float)) != 0)
            return false;
        if (p->opt.slot[0] && memcmp(p->opt.slot[0], q->opt.slot[0], (size_t)p->n * sizeof(float)) != 0) return false;
        if (p->kind == SPTI_PARAM_SPARSE &&
            (memcmp(p->csr->row_ptr, q->csr->row_ptr, (size_t)(p->rows + 1) * sizeof(int64_t)) != 0 ||
             memcmp(p->csr->col_idx, q->csr->col_idx, (size_t)p->n * sizeof(int32_t)) != 0))
            return false;
    }
    return true;
}

/* Train both runs (b may be NULL) step by step on the same batches; with
 * `equal` their weights must agree after every step. Returns the topology
 * updates of a. */
static int64_t lockstep(run *a, run *b, bool equal) {
    const int64_t feat = spti_shape_size(a->t->model->in_shape);
    float *x = malloc((size_t)(feat * BATCH) * sizeof(float));
    int32_t y[BATCH];
    for (int64_t s = 0; s < STEPS; s++) {
        batch(s, feat, x, y);
        assert_status(spt_trainer_step(a->t, x, y, BATCH, NULL, NULL), SPT_OK);
        if (!b) continue;
        assert_status(spt_trainer_step(b->t, x, y, BATCH, NULL, NULL), SPT_OK);
        if (equal) assert_true(same_weights(a, b));
    }
    int64_t ua = 0, ub = 0;
    assert_status(spt_trainer_last_update(a->t, NULL, &ua), SPT_OK);
    if (b) assert_status(spt_trainer_last_update(b->t, NULL, &ub), SPT_OK);
    if (b && equal) assert_int_equal(ua, ub);
    free(x);
    return ua;
}

/* Exact RigL and a sample of every candidate train the same weights, step
 * after step, on 1 and 2 threads. (Whole runs are reproducible per thread
 * count: dense training itself rounds differently on 1 and 2 threads.) */
static void all_equals_exact(bool conv) {
    const int threads_before = spt_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        run a = start(conv, 0, 11), b = start(conv, SAMPLE_ALL, 11);
        assert_true(lockstep(&a, &b, true) >= 3);
        finish(&a);
        finish(&b);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

static void test_all_equals_exact_mlp(void **state) {
    (void)state;
    all_equals_exact(false);
}

static void test_all_equals_exact_conv(void **state) {
    (void)state;
    all_equals_exact(true);
}

/* A partial sample in whole runs: the same seed gives the same bytes
 * after every step, on 1 and on 2 threads; another seed, another
 * topology; not exact RigL's; nnz per layer unchanged. */
static void partial_deterministic(bool conv) {
    const int threads_before = spt_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(spt_set_num_threads(threads), SPT_OK);
        run a = start(conv, 2, 11), b = start(conv, 2, 11), c = start(conv, 2, 12), e = start(conv, 0, 11);
        int64_t *nnz = malloc((size_t)a.t->n_weights * sizeof *nnz);
        for (int l = 0; l < a.t->n_weights; l++) nnz[l] = a.t->weights[l]->n;
        assert_true(lockstep(&a, &b, true) >= 3); /* same seed, same bytes after every step */
        (void)lockstep(&c, &e, false);
        assert_false(same_weights(&a, &c)); /* another seed: another sample */
        assert_false(same_weights(&a, &e)); /* sampled growth is not exact growth */
        for (int l = 0; l < a.t->n_weights; l++) assert_int_equal(a.t->weights[l]->n, nnz[l]);
        free(nnz);
        finish(&a);
        finish(&b);
        finish(&c);
        finish(&e);
    }
    assert_int_equal(spt_set_num_threads(threads_before), SPT_OK);
}

static void test_partial_deterministic_mlp(void **state) {
    (void)state;
    partial_deterministic(false);
}

static void test_partial_deterministic_conv(void **state) {
    (void)state;
    partial_deterministic(true);
}

/* A user method that grows by gradient (drop |w|, SPT_GROW_GRADIENT,
 * before the step) samples as the built-in does: the same weights bit for
 * bit. A user method growing otherwise refuses a sample. */
static void test_user_method(void **state) {
    (void)state;
    spt_user_method *u = NULL;
    assert_status(spt_user_method_create("my-rigl", &u), SPT_OK);
    assert_status(spt_user_method_set_grow(u, SPT_GROW_GRADIENT, NULL, NULL), SPT_OK);
    assert_status(spt_user_method_set_update(u, SPT_UPDATE_BEFORE_STEP), SPT_OK);
    int uses = 0;
    assert_status(spt_method_uses_param(SPT_METHOD_USER, SPT_MP_GROW_SAMPLE, &uses), SPT_OK);
    assert_int_equal(uses, 1);
    run a = start(false, 3, 11), b = start_with(false, 3, 11, u);
    assert_true(lockstep(&a, &b, true) >= 3);
    finish(&a);
    finish(&b);
    /* Random growth cannot sample a gradient: refused at trainer creation. */
    assert_status(spt_user_method_set_grow(u, SPT_GROW_RANDOM, NULL, NULL), SPT_OK);
    const int64_t widths[3] = {F, 50, K};
    spt_model *model = NULL;
    spt_optimizer *opt = NULL;
    spt_method_config *cfg = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_model_create_mlp(widths, 3, 1, &model), SPT_OK);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_status(spt_method_config_create_user(u, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, 2), SPT_OK);
    assert_status(spt_trainer_create(model, opt, NULL, cfg, 10, 1, &t), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "grow_sample"));
    assert_null(t);
    assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, 0), SPT_OK);
    assert_status(spt_trainer_create(model, opt, NULL, cfg, 10, 1, &t), SPT_OK);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(opt);
    spt_model_destroy(model);
    spt_user_method_destroy(u);
}

/* ---- a layer whose dense form could not be allocated ------------------------- */

/* An allocator that records, while `watch` is set, the largest block and
 * the bytes asked for. */
static atomic_bool watch;
static atomic_size_t largest, asked;

static void *watching_alloc(size_t size, void *user) {
    (void)user;
    if (atomic_load(&watch)) {
        size_t cur = atomic_load(&largest);
        while (size > cur && !atomic_compare_exchange_weak(&largest, &cur, size)) {
        }
        atomic_fetch_add(&asked, size);
    }
    return malloc(size);
}

static void watching_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

enum { HIN = 8, H = 1000000, HK = 4, HN = 4 };

static spt_trainer *huge_trainer(spt_model **model) {
    const int64_t widths[4] = {HIN, H, H, HK};
    assert_int_equal(spt_model_create_mlp(widths, 4, 3, model), SPT_OK);
    spt_method_config *cfg;
    assert_int_equal(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    /* 8 x 10^6 at 1/8, 10^12 at 10^-6 (10^6 nonzeros), 4 x 10^6 at 1/4. */
    const double dens[3] = {0.125, 1e-6, 0.25};
    assert_int_equal(spt_method_config_set_densities(cfg, dens, 3), SPT_OK);
    assert_int_equal(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
    assert_int_equal(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, 2), SPT_OK);
    spt_optimizer *opt;
    assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    spt_trainer *t;
    assert_int_equal(spt_trainer_create(*model, opt, NULL, cfg, 10, 1, &t), SPT_OK);
    spt_optimizer_destroy(opt);
    spt_method_config_destroy(cfg);
    return t;
}

static void huge_batch(float *x, int32_t *y, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int i = 0; i < HN; i++) {
        y[i] = (int32_t)(i % HK);
        for (int f = 0; f < HIN; f++) x[f * HN + i] = spti_rng_normal(&rng) + (f % HK == y[i] ? 2.0f : 0.0f);
    }
}

/* The 10^6 x 10^6 layer (4 TB dense) does sampled RigL updates (steps 2
 * and 4): nnz kept, the topology moved, no block near the dense size (the
 * largest is a few row offsets' worth), and a checkpoint taken between
 * them resumes bit for bit. */
static void test_layer_beyond_memory(void **state) {
    (void)state;
    assert_int_equal(spt_set_allocator(watching_alloc, watching_free, NULL), SPT_OK);
    static float x[HIN * HN];
    static int32_t y[HN];
    huge_batch(x, y, 9);
    spt_model *m;
    spt_trainer *t = huge_trainer(&m);
    spti_param *big = t->weights[1];
    assert_true(big->kind == SPTI_PARAM_SPARSE && big->rows == H && big->cols == H && big->n == H);
    int64_t *before = malloc((size_t)H * sizeof(int64_t));
    assert_int_equal(spti_param_active_positions(big, before), H);
    for (int s = 0; s < 3; s++) {
        double loss;
        atomic_store(&largest, 0);
        atomic_store(&asked, 0);
        atomic_store(&watch, s == 2);
        assert_int_equal(spt_trainer_step(t, x, y, HN, &loss, NULL), SPT_OK);
        atomic_store(&watch, false);
        assert_true(isfinite(loss));
    }
    int updated = 0;
    assert_int_equal(spt_trainer_last_update(t, &updated, NULL), SPT_OK);
    assert_true(updated);
    /* The update step: nothing near 10^12 cells; the largest blocks are
     * the row offsets (8 MB) and the batch's activations. */
    assert_true(atomic_load(&largest) <= ((size_t)64 << 20));
    assert_true(atomic_load(&asked) <= ((size_t)1 << 30));
    assert_int_equal(big->n, H);
    int64_t *after = malloc((size_t)H * sizeof(int64_t)), moved = 0;
    assert_int_equal(spti_param_active_positions(big, after), H);
    for (int64_t i = 0, j = 0; i < H; i++) { /* positions of before not in after */
        while (j < H && after[j] < before[i]) j++;
        moved += j == H || after[j] != before[i];
    }
    assert_true(moved > H / 10);
    /* Checkpoint after step 3, resume: steps 3 and 4 (an update) agree. */
    double l0;
    assert_int_equal(spt_trainer_step(t, x, y, HN, &l0, NULL), SPT_OK);
    char path[] = "/tmp/spt-rigl-sampled-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    int rc_save = spt_trainer_save(t, NULL, path);
    if (rc_save != SPT_OK) fprintf(stderr, "%s\n", spt_last_error());
    assert_int_equal(rc_save, SPT_OK);
    spt_model *m2;
    spt_trainer *t2;
    int rc_load = spt_trainer_load(path, &m2, &t2, NULL);
    if (rc_load != SPT_OK) fprintf(stderr, "%s\n", spt_last_error());
    assert_int_equal(rc_load, SPT_OK);
    unlink(path);
    assert_true(t2->cfg->value[SPT_MP_GROW_SAMPLE] == 2.0);
    for (int s = 4; s < 6; s++) {
        double a, b;
        assert_int_equal(spt_trainer_step(t, x, y, HN, &a, NULL), SPT_OK);
        assert_int_equal(spt_trainer_step(t2, x, y, HN, &b, NULL), SPT_OK);
        assert_true(a == b);
    }
    const run ra = {m, NULL, t}, rb = {m2, NULL, t2};
    assert_true(same_weights(&ra, &rb));
    free(before);
    free(after);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    assert_int_equal(spt_set_allocator(NULL, NULL, NULL), SPT_OK);
}

/* ---- FLOPs, failures, metadata ---------------------------------------------- */

/* A run of 3 steps with one update (step 2, constant drop fraction 0.3):
 * the estimate and the measured mean both count the sampled positions,
 * 2 min(inactive, ceil(m k)) per layer, instead of the dense gradient. */
static void test_flops(void **state) {
    (void)state;
    const int64_t widths[4] = {F, 700, 300, K};
    const double dens[3] = {0.05, 0.02, 1.0}, M = 3.0;
    double train[2] = {0, 0}, fd = 0, fs = 0;
    for (int sampled = 0; sampled < 2; sampled++) {
        spt_model *model;
        spt_optimizer *opt;
        spt_method_config *cfg;
        spt_trainer *t;
        assert_status(spt_model_create_mlp(widths, 4, 2, &model), SPT_OK);
        assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
        assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
        assert_status(spt_method_config_set_densities(cfg, dens, 3), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_T_END, 3), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DROP_SCHEDULE, SPT_DROP_CONSTANT), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, sampled ? M : 0), SPT_OK);
        assert_status(spt_trainer_create(model, opt, NULL, cfg, 3, 1, &t), SPT_OK);
        double measured;
        assert_status(spt_trainer_flops(t, &fd, &fs, &train[sampled], NULL), SPT_OK);
        double extra = 0;
        for (int l = 0; l < 2; l++) {
            const spti_param *p = t->weights[l];
            const int64_t k = (int64_t)floor(0.3 * (double)p->n), inactive = p->rows * p->cols - p->n;
            const int64_t n = (int64_t)ceil(M * (double)k) < inactive ? (int64_t)ceil(M * (double)k) : inactive;
            assert_false(spti_grow_sample_dense(p->rows * p->cols, p->n, n));
            extra += 2.0 * (double)n;
        }
        const double want = sampled ? (3.0 * fs * 2 + 2.0 * fs + fs + extra) / 3.0 : (3.0 * fs * 2 + 2.0 * fs + fd) / 3.0;
        assert_true(fabs(train[sampled] - want) <= 1e-12 * want);
        float x[F * BATCH];
        int32_t y[BATCH];
        for (int s = 0; s < 3; s++) {
            batch(s, F, x, y);
            assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
        }
        int64_t updates = 0;
        assert_status(spt_trainer_last_update(t, NULL, &updates), SPT_OK);
        assert_int_equal(updates, 1);
        assert_status(spt_trainer_flops(t, NULL, NULL, NULL, &measured), SPT_OK);
        assert_true(fabs(measured - want) <= 1e-9 * want);
        spt_trainer_destroy(t);
        spt_method_config_destroy(cfg);
        spt_optimizer_destroy(opt);
        spt_model_destroy(model);
    }
    assert_true(train[1] < train[0]);
    /* Without a run's configuration (spt_flops_train) the cost is exact RigL's. */
    double f = 0;
    assert_status(spt_flops_train(SPT_METHOD_RIGL, fd, fs, 2, &f), SPT_OK);
    assert_true(fabs(f - train[0]) <= 1e-12 * f);
}

/* A NaN input column that no active weight reads leaves the loss and the
 * active gradients finite, but not the gradient at that column's inactive
 * positions: a sample holding them fails the update step with
 * SPT_ERR_NONFINITE and nothing changed, as exact RigL does. */
static void test_nonfinite(void **state) {
    (void)state;
    const int64_t widths[3] = {F, 700, K};
    const double dens[2] = {0.001, 0.5}; /* 45 nonzeros over 64 input columns */
    for (int sampled = 0; sampled < 2; sampled++) {
        spt_model *model;
        spt_optimizer *opt;
        spt_method_config *cfg;
        spt_trainer *t;
        assert_status(spt_model_create_mlp(widths, 3, 2, &model), SPT_OK);
        assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
        assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
        assert_status(spt_method_config_set_densities(cfg, dens, 2), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 1), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, sampled ? SAMPLE_ALL : 0), SPT_OK);
        assert_status(spt_trainer_create(model, opt, NULL, cfg, 100, 1, &t), SPT_OK);
        const spti_param *w = t->weights[0];
        int64_t empty = -1;
        for (int64_t c = 0; c < F && empty < 0; c++) {
            bool used = false;
            for (int64_t j = 0; j < w->n; j++) used |= w->csr->col_idx[j] == c;
            if (!used) empty = c;
        }
        assert_true(empty >= 0);
        float x[F * BATCH];
        int32_t y[BATCH];
        batch(0, F, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK); /* step 0: no update */
        x[empty * BATCH + 3] = NAN;
        float *v0 = malloc((size_t)w->n * sizeof(float));
        memcpy(v0, w->value, (size_t)w->n * sizeof(float));
        int32_t *c0 = malloc((size_t)w->n * sizeof(int32_t));
        memcpy(c0, w->csr->col_idx, (size_t)w->n * sizeof(int32_t));
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_ERR_NONFINITE);
        assert_memory_equal(w->value, v0, (size_t)w->n * sizeof(float));
        assert_memory_equal(w->csr->col_idx, c0, (size_t)w->n * sizeof(int32_t));
        /* The next (finite) update step goes through. */
        batch(1, F, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
        free(v0);
        free(c0);
        spt_trainer_destroy(t);
        spt_method_config_destroy(cfg);
        spt_optimizer_destroy(opt);
        spt_model_destroy(model);
    }
}

/* Out of memory while drawing the sample, computing its gradient or
 * growing: SPT_ERR_NOMEM, no gradient changed by a failed backward,
 * nothing left behind, nothing leaked. */
static void test_nomem(void **state) {
    (void)state;
    enum { IN = 120, OUT = 80, N = 5 };
    float x[IN * N], dy[OUT * N];
    fill(x, IN * N, 3, false);
    fill(dy, OUT * N, 4, false);
    for (int stage = 0; stage < 3; stage++) {
        for (long fail = 0;; fail++) {
            spt_test_alloc_install();
            spti_method *m = NULL;
            spti_layer *L = rigl_linear(IN, OUT, 0.1, 2, 3, &m);
            spti_param *w = L->params[0];
            int rc = SPT_OK;
            bool skip = false;
            if (stage == 0) spt_test_alloc_fail_at(fail);
            rc = m->ops->begin_step(m, 10);
            spt_test_alloc_fail_at(-1);
            if (rc != SPT_OK) {
                assert_null(w->request.sample);
            } else {
                if (stage == 1) spt_test_alloc_fail_at(fail);
                rc = L->ops->backward(L, x, NULL, dy, NULL, N);
                spt_test_alloc_fail_at(-1);
                if (rc != SPT_OK) {
                    assert_null(w->result.sample);
                    for (int64_t j = 0; j < w->n; j++) assert_true(w->grad[j] == 0.0f);
                    for (int64_t j = 0; j < OUT; j++) assert_true(L->params[1]->grad[j] == 0.0f);
                } else {
                    dst_snap before = dst_snapshot(w);
                    if (stage == 2) spt_test_alloc_fail_at(fail);
                    rc = m->ops->after_backward(m, 10, &skip);
                    spt_test_alloc_fail_at(-1);
                    dst_snap after = dst_snapshot(w);
                    if (rc != SPT_OK) assert_true(dst_snap_equal(&before, &after));
                    dst_snap_free(&before);
                    dst_snap_free(&after);
                }
            }
            if (rc != SPT_OK) assert_int_equal(rc, SPT_ERR_NOMEM);
            spti_layer_destroy(L);
            spti_method_destroy(m);
            assert_int_equal(spt_test_alloc_live(), 0);
            spt_test_alloc_uninstall();
            if (rc == SPT_OK) break;
        }
    }
}

/* The key: pinned number, name, type, domain, default, who reads it. */
static void test_key(void **state) {
    (void)state;
    assert_int_equal(SPT_MP_GROW_SAMPLE, 23);
    assert_true(spt_method_param_count() > SPT_MP_GROW_SAMPLE);
    assert_string_equal(spt_method_param_name(SPT_MP_GROW_SAMPLE), "grow_sample");
    int key = -1, type = -1, flags = -1, uses = -1;
    assert_status(spt_method_param_from_name("grow_sample", &key), SPT_OK);
    assert_int_equal(key, SPT_MP_GROW_SAMPLE);
    assert_status(spt_method_param_type(key, &type), SPT_OK);
    assert_int_equal(type, SPT_PARAM_REAL);
    double lo = -1, hi = -1, def = -1;
    assert_status(spt_method_param_bounds(key, &lo, &hi, &flags), SPT_OK);
    assert_true(lo == 0.0 && hi == 1e9 && flags == 0);
    const int methods[4] = {SPT_METHOD_RIGL, SPT_METHOD_SET, SPT_METHOD_SNFS, SPT_METHOD_STATIC};
    for (int i = 0; i < 4; i++) {
        assert_status(spt_method_param_default(methods[i], key, &def), SPT_OK);
        assert_true(def == 0.0);
        assert_status(spt_method_uses_param(methods[i], key, &uses), SPT_OK);
        assert_int_equal(uses, methods[i] == SPT_METHOD_RIGL);
    }
    spt_method_config *cfg;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, key, -0.5), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(cfg, key, 2e9), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(cfg, key, NAN), SPT_ERR_INVALID);
    assert_status(spt_method_config_set(cfg, key, 0.25), SPT_OK);
    spt_method_config_destroy(cfg);
}

/* A checkpoint written when the library had 22 keys (format version 1)
 * loads, its RigL run at exact growth (the new key's default), and trains on. */
static void test_older_checkpoint(void **state) {
    (void)state;
    spt_model *m = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_trainer_load(SPT_MODELS_DIR "/../../tests/data/v1-mlp.ckpt", &m, &t, NULL), SPT_OK);
    assert_non_null(t->cfg);
    assert_true(t->cfg->value[SPT_MP_GROW_SAMPLE] == 0.0);
    assert_false(t->cfg->was_set[SPT_MP_GROW_SAMPLE]);
    float x[12 * 4];
    int32_t y[4] = {0, 1, 2, 0};
    for (int i = 0; i < 12 * 4; i++) x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int s = 0; s < 2; s++) assert_status(spt_trainer_step(t, x, y, 4, NULL, NULL), SPT_OK);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_equals_exact_layer),
        cmocka_unit_test(test_partial_sample_layer),
        cmocka_unit_test(test_partial_threads),
        cmocka_unit_test(test_conv_sample_gradient),
        cmocka_unit_test(test_sample_uniform),
        cmocka_unit_test(test_all_equals_exact_mlp),
        cmocka_unit_test(test_all_equals_exact_conv),
        cmocka_unit_test(test_partial_deterministic_mlp),
        cmocka_unit_test(test_partial_deterministic_conv),
        cmocka_unit_test(test_user_method),
        cmocka_unit_test(test_layer_beyond_memory),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_older_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
