/* Optimizer steps (SGD, Adam) on DENSE, MASKED and SPARSE parameters against
 * a double-precision reference written straight from the update formulas,
 * plus hand-computed scalar cases, the NaN gate and failure atomicity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/param.h"
#include "optim/optim.h"
#include "test_support.h"

/* ---- reference ------------------------------------------------------------------ */

typedef struct ref_opt {
    int kind;
    double momentum, wd, beta1, beta2, eps;
    bool nesterov, decoupled;
} ref_opt;

/* Reference state of one parameter, indexed by linear position (rows*cols). */
typedef struct ref_param {
    int64_t cells;
    double *w, *s0, *s1;
    bool *active;
    bool no_decay;
} ref_param;

static void ref_init(ref_param *r, const spti_param *p) {
    r->cells = p->rows * p->cols;
    r->w = calloc((size_t)r->cells, sizeof(double));
    r->s0 = calloc((size_t)r->cells, sizeof(double));
    r->s1 = calloc((size_t)r->cells, sizeof(double));
    r->active = calloc((size_t)r->cells, sizeof(bool));
    assert_non_null(r->w);
    assert_non_null(r->s0);
    assert_non_null(r->s1);
    assert_non_null(r->active);
    float *dense = malloc((size_t)r->cells * sizeof(float));
    assert_non_null(dense);
    spti_param_to_dense(p, dense);
    int64_t *pos = malloc((size_t)r->cells * sizeof(int64_t));
    assert_non_null(pos);
    int64_t na = spti_param_active_positions(p, pos);
    for (int64_t k = 0; k < na; k++) r->active[pos[k]] = true;
    for (int64_t i = 0; i < r->cells; i++) r->w[i] = r->active[i] ? dense[i] : 0.0;
    r->no_decay = p->no_weight_decay;
    free(pos);
    free(dense);
}

static void ref_free(ref_param *r) {
    free(r->w);
    free(r->s0);
    free(r->s1);
    free(r->active);
}

/* One step at time t (1-based) with the gradient G[position]. */
static void ref_step(const ref_opt *o, ref_param *r, const double *G, double lr, int64_t t) {
    double wd = r->no_decay ? 0.0 : o->wd;
    for (int64_t i = 0; i < r->cells; i++) {
        if (!r->active[i]) continue;
        double g = G[i], w = r->w[i];
        if (o->kind == SPT_OPTIMIZER_SGD) {
            g += wd * w;
            r->s0[i] = o->momentum * r->s0[i] + g;
            double d = o->nesterov ? g + o->momentum * r->s0[i] : r->s0[i];
            r->w[i] = w - lr * d;
        } else {
            if (o->decoupled)
                w -= lr * wd * w;
            else
                g += wd * w;
            r->s0[i] = o->beta1 * r->s0[i] + (1 - o->beta1) * g;
            r->s1[i] = o->beta2 * r->s1[i] + (1 - o->beta2) * g * g;
            double mhat = r->s0[i] / (1 - pow(o->beta1, (double)t));
            double vhat = r->s1[i] / (1 - pow(o->beta2, (double)t));
            r->w[i] = w - lr * mhat / (sqrt(vhat) + o->eps);
        }
    }
}

/* ---- helpers -------------------------------------------------------------------- */

static spti_optimizer *make_opt(const ref_opt *o, double lr) {
    spt_optimizer *opt;
    assert_status(spt_optimizer_create(o->kind, &opt), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_LR, lr), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_WEIGHT_DECAY, o->wd), SPT_OK);
    if (o->kind == SPT_OPTIMIZER_SGD) {
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, o->momentum), SPT_OK);
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_NESTEROV, o->nesterov ? 1 : 0), SPT_OK);
    } else {
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_BETA1, o->beta1), SPT_OK);
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_BETA2, o->beta2), SPT_OK);
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_EPS, o->eps), SPT_OK);
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_DECOUPLED_WEIGHT_DECAY, o->decoupled ? 1 : 0), SPT_OK);
    }
    return opt;
}

static spti_param *make_param(const char *name, int64_t rows, int64_t cols, bool is_weight, uint64_t seed) {
    spti_param *p;
    int64_t shape[2] = {rows, cols};
    assert_status(spti_param_create(name, cols > 1 ? 2 : 1, shape, is_weight, &p), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < p->n; i++) p->value[i] = spti_rng_normal(&rng);
    return p;
}

/* Every `stride`-th cell, starting at `offset`. Returns the count. */
static int64_t every(int64_t cells, int64_t stride, int64_t offset, int64_t *pos) {
    int64_t k = 0;
    for (int64_t i = offset; i < cells; i += stride) pos[k++] = i;
    return k;
}

/* A gradient that varies with position and step (and differs in sign). */
static double grad_at(int64_t pos, int64_t t) { return sin(0.37 * (double)pos + 1.3 * (double)t) * (1.0 + 0.1 * (double)t); }

/* Fill the parameter's stored gradient and the reference's dense one. Also
 * inactive MASKED cells get a nonzero gradient: the step must ignore it. */
static void fill_grad(spti_param *p, double *G, int64_t t) {
    int64_t cells = p->rows * p->cols;
    for (int64_t i = 0; i < cells; i++) G[i] = grad_at(i, t);
    if (p->kind == SPTI_PARAM_SPARSE) {
        int64_t *pos = malloc((size_t)p->n * sizeof(int64_t) + 1);
        assert_non_null(pos);
        assert_int_equal(spti_param_active_positions(p, pos), p->n);
        for (int64_t k = 0; k < p->n; k++) p->grad[k] = (float)G[pos[k]];
        free(pos);
    } else {
        for (int64_t i = 0; i < cells; i++) p->grad[i] = (float)G[i];
    }
}

static void check_against_ref(const spti_param *p, const ref_param *r, const ref_opt *o, double tol) {
    int64_t cells = r->cells;
    float *dense = malloc((size_t)cells * sizeof(float));
    float *want = malloc((size_t)cells * sizeof(float));
    assert_non_null(dense);
    assert_non_null(want);
    spti_param_to_dense(p, dense);
    for (int64_t i = 0; i < cells; i++) {
        want[i] = (float)r->w[i];
        if (!r->active[i]) assert_true(dense[i] == 0.0f); /* exactly */
    }
    assert_true(spt_test_max_rel_err(dense, want, cells) < tol);
    /* slots, in storage order */
    int n_slots = o->kind == SPT_OPTIMIZER_ADAM ? 2 : o->momentum > 0 ? 1 : 0;
    for (int s = 0; s < SPTI_MAX_SLOTS; s++) {
        if (s >= n_slots) {
            assert_null(p->opt.slot[s]); /* plain SGD keeps no buffer */
            continue;
        }
        assert_non_null(p->opt.slot[s]);
        if (p->kind == SPTI_PARAM_MASKED) /* inactive moments stay 0 */
            for (int64_t i = 0; i < cells; i++)
                if (!p->mask[i]) assert_true(p->opt.slot[s][i] == 0.0f);
    }
    int64_t *pos = malloc((size_t)cells * sizeof(int64_t));
    assert_non_null(pos);
    int64_t na = spti_param_active_positions(p, pos);
    for (int s = 0; s < n_slots; s++) {
        const double *ref = s == 0 ? r->s0 : r->s1;
        for (int64_t k = 0; k < na; k++) {
            int64_t idx = p->kind == SPTI_PARAM_SPARSE ? k : pos[k];
            double d = fabs((double)p->opt.slot[s][idx] - ref[pos[k]]) / (1.0 + fabs(ref[pos[k]]));
            assert_true(d < tol);
        }
    }
    free(pos);
    free(want);
    free(dense);
}

/* Run `steps` steps of optimizer `o` on a weight (in `form`) and a bias
 * together, comparing with the reference after every step. */
static void run_case(const ref_opt *o, spti_param_kind form, int steps) {
    spti_param *w = make_param("fc.weight", 6, 7, true, 11);
    spti_param *b = make_param("fc.bias", 6, 1, false, 12);
    int64_t pos[42];
    if (form == SPTI_PARAM_MASKED) assert_status(spti_param_mask(w, pos, every(42, 3, 1, pos)), SPT_OK);
    if (form == SPTI_PARAM_SPARSE) assert_status(spti_param_sparsify(w, pos, every(42, 4, 2, pos)), SPT_OK);
    assert_int_equal(w->kind, form);
    ref_param rw, rb;
    ref_init(&rw, w);
    ref_init(&rb, b);
    double lr = 0.05;
    spti_optimizer *opt = make_opt(o, lr);
    spti_param *params[2] = {w, b};
    double Gw[42], Gb[6];
    for (int t = 1; t <= steps; t++) {
        fill_grad(w, Gw, t);
        fill_grad(b, Gb, t + 100);
        double lr_t = lr * (1.0 + 0.5 * (t % 2)); /* the step takes its lr per call */
        assert_status(spti_optimizer_step(opt, params, 2, lr_t), SPT_OK);
        ref_step(o, &rw, Gw, lr_t, t);
        ref_step(o, &rb, Gb, lr_t, t);
        check_against_ref(w, &rw, o, 2e-5);
        check_against_ref(b, &rb, o, 2e-5);
        assert_int_equal(opt->step, t);
    }
    spt_optimizer_destroy(opt);
    ref_free(&rw);
    ref_free(&rb);
    spti_param_destroy(w);
    spti_param_destroy(b);
}

static const ref_opt SGD_PLAIN = {.kind = SPT_OPTIMIZER_SGD};
static const ref_opt SGD_MOM = {.kind = SPT_OPTIMIZER_SGD, .momentum = 0.9};
static const ref_opt SGD_NEST_WD = {.kind = SPT_OPTIMIZER_SGD, .momentum = 0.8, .nesterov = true, .wd = 0.05};
static const ref_opt SGD_WD = {.kind = SPT_OPTIMIZER_SGD, .momentum = 0.9, .wd = 0.1};
static const ref_opt ADAM = {.kind = SPT_OPTIMIZER_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
static const ref_opt ADAM_L2 = {.kind = SPT_OPTIMIZER_ADAM, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .wd = 0.1};
static const ref_opt ADAMW = {
    .kind = SPT_OPTIMIZER_ADAM, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .wd = 0.2, .decoupled = true};

static void run_all_forms(const ref_opt *o) {
    run_case(o, SPTI_PARAM_DENSE, 6);
    run_case(o, SPTI_PARAM_MASKED, 6);
    run_case(o, SPTI_PARAM_SPARSE, 6);
}

static void test_sgd_plain(void **state) { (void)state; run_all_forms(&SGD_PLAIN); }
static void test_sgd_momentum(void **state) { (void)state; run_all_forms(&SGD_MOM); }
static void test_sgd_nesterov_wd(void **state) { (void)state; run_all_forms(&SGD_NEST_WD); }
static void test_sgd_weight_decay(void **state) { (void)state; run_all_forms(&SGD_WD); }
static void test_adam(void **state) { (void)state; run_all_forms(&ADAM); }
static void test_adam_l2(void **state) { (void)state; run_all_forms(&ADAM_L2); }
static void test_adamw(void **state) { (void)state; run_all_forms(&ADAMW); }

/* ---- hand-computed scalar cases ------------------------------------------------- */

static spti_param *scalar_param(float w, bool is_weight) {
    spti_param *p;
    int64_t shape[1] = {1};
    assert_status(spti_param_create(is_weight ? "w" : "b", 1, shape, is_weight, &p), SPT_OK);
    p->value[0] = w;
    return p;
}

static void test_sgd_by_hand(void **state) {
    (void)state;
    /* w = 1, g = 0.5 every step, lr = 0.1, momentum 0.9:
     *   step 1: buf = 0.5,             w = 1 - 0.05 = 0.95
     *   step 2: buf = 0.45 + 0.5 = .95, w = 0.95 - 0.095 = 0.855
     *   step 3: buf = 0.855 + 0.5,     w = 0.855 - 0.1355 = 0.7195 */
    spti_param *p = scalar_param(1.0f, true);
    spti_optimizer *opt = make_opt(&SGD_MOM, 0.1);
    const double want_w[3] = {0.95, 0.855, 0.7195}, want_buf[3] = {0.5, 0.95, 1.355};
    for (int t = 0; t < 3; t++) {
        p->grad[0] = 0.5f;
        assert_status(spti_optimizer_step(opt, &p, 1, 0.1), SPT_OK);
        assert_float_equal(p->value[0], want_w[t], 1e-6);
        assert_float_equal(p->opt.slot[0][0], want_buf[t], 1e-6);
    }
    spt_optimizer_destroy(opt);
    /* Nesterov, same data: step 1: buf = 0.5, w = 1 - 0.1*(0.5 + 0.45) = 0.905;
     * step 2: buf = 0.95, w = 0.905 - 0.1*(0.5 + 0.855) = 0.7695.
     * Weight decay 0.1 on a bias (no_weight_decay): ignored. */
    ref_opt nest = {.kind = SPT_OPTIMIZER_SGD, .momentum = 0.9, .nesterov = true, .wd = 0.1};
    opt = make_opt(&nest, 0.1);
    spti_param *b = scalar_param(1.0f, false);
    const double want_n[2] = {0.905, 0.7695};
    for (int t = 0; t < 2; t++) {
        b->grad[0] = 0.5f;
        assert_status(spti_optimizer_step(opt, &b, 1, 0.1), SPT_OK);
        assert_float_equal(b->value[0], want_n[t], 1e-6);
    }
    /* ... but applies to the weight: w = 1, g = 0.5 + 0.1*1 = 0.6:
     * buf = 0.6, w = 1 - 0.1*(0.6 + 0.54) = 0.886. */
    spt_optimizer_destroy(opt);
    opt = make_opt(&nest, 0.1);
    p->value[0] = 1.0f;
    p->opt.slot[0][0] = 0.0f;
    p->grad[0] = 0.5f;
    assert_status(spti_optimizer_step(opt, &p, 1, 0.1), SPT_OK);
    assert_float_equal(p->value[0], 0.886, 1e-6);
    spt_optimizer_destroy(opt);
    spti_param_destroy(p);
    spti_param_destroy(b);
}

static void test_adam_by_hand(void **state) {
    (void)state;
    /* Bias correction makes the first Adam step lr * sign(g) (up to eps):
     * m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2. With g = 2, lr = 0.01:
     * w = 1 - 0.01 * 2 / (2 + 1e-8). Second step, g = -1:
     * m = 0.18 - 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996,
     * mhat = 0.08 / 0.19, vhat = 0.004996 / 0.001999. */
    spti_param *p = scalar_param(1.0f, true);
    spti_optimizer *opt = make_opt(&ADAM, 0.01);
    p->grad[0] = 2.0f;
    assert_status(spti_optimizer_step(opt, &p, 1, 0.01), SPT_OK);
    double w1 = 1.0 - 0.01 * 2.0 / (2.0 + 1e-8);
    assert_float_equal(p->value[0], w1, 1e-6);
    p->grad[0] = -1.0f;
    assert_status(spti_optimizer_step(opt, &p, 1, 0.01), SPT_OK);
    double w2 = w1 - 0.01 * (0.08 / 0.19) / (sqrt(0.004996 / 0.001999) + 1e-8);
    assert_float_equal(p->value[0], w2, 1e-6);
    assert_float_equal(p->opt.slot[0][0], 0.08, 1e-7);
    assert_float_equal(p->opt.slot[1][0], 0.004996, 1e-8);
    assert_int_equal(opt->step, 2);
    spt_optimizer_destroy(opt);

    /* AdamW on w = 1, g = 2, lr = 0.01, wd = 0.5: w = 1*(1 - 0.005) - 0.01*2/2. */
    ref_opt aw = ADAMW;
    aw.wd = 0.5;
    opt = make_opt(&aw, 0.01);
    spti_param *q = scalar_param(1.0f, true);
    q->grad[0] = 2.0f;
    assert_status(spti_optimizer_step(opt, &q, 1, 0.01), SPT_OK);
    assert_float_equal(q->value[0], 0.995 - 0.01, 1e-6);
    spt_optimizer_destroy(opt);
    spti_param_destroy(p);
    spti_param_destroy(q);
}

static void test_lr_zero_and_empty(void **state) {
    (void)state;
    /* lr = 0 (warm-up from 0) leaves the weights but advances the moments. */
    spti_param *p = scalar_param(1.5f, true);
    spti_optimizer *opt = make_opt(&ADAM, 0.01);
    p->grad[0] = 3.0f;
    assert_status(spti_optimizer_step(opt, &p, 1, 0.0), SPT_OK);
    assert_true(p->value[0] == 1.5f);
    assert_float_equal(p->opt.slot[0][0], 0.3, 1e-6);
    assert_int_equal(opt->step, 1);
    assert_status(spti_optimizer_step(opt, &p, 0, 0.01), SPT_OK);
    assert_int_equal(opt->step, 2);
    spt_optimizer_destroy(opt);
    spti_param_destroy(p);
}

/* The AVX-512 Adam loop and the generic one give the same bits (dense with
 * an odd tail, masked). On a machine without AVX-512 both runs take the
 * generic path. */
static void test_simd_paths_agree(void **state) {
    (void)state;
    const ref_opt *cases[3] = {&ADAM, &ADAM_L2, &ADAMW};
    for (int c = 0; c < 3; c++)
        for (int masked = 0; masked < 2; masked++) {
            spti_param *p[2];
            for (int k = 0; k < 2; k++) {
                p[k] = make_param("w", 37, 3, true, 9); /* 111 entries: 6 blocks of 16 and a tail */
                int64_t pos[111];
                if (masked) assert_status(spti_param_mask(p[k], pos, every(111, 3, 2, pos)), SPT_OK);
            }
            spti_optimizer *opt[2] = {make_opt(cases[c], 0.01), make_opt(cases[c], 0.01)};
            double G[111];
            for (int t = 1; t <= 4; t++)
                for (int k = 0; k < 2; k++) {
                    fill_grad(p[k], G, t);
                    assert_status(spt_set_simd_level(k == 0 ? 0 : 2), SPT_OK);
                    assert_status(spti_optimizer_step(opt[k], &p[k], 1, 0.01), SPT_OK);
                }
            assert_status(spt_set_simd_level(2), SPT_OK);
            assert_memory_equal(p[0]->value, p[1]->value, 111 * sizeof(float));
            for (int s = 0; s < 2; s++) assert_memory_equal(p[0]->opt.slot[s], p[1]->opt.slot[s], 111 * sizeof(float));
            for (int k = 0; k < 2; k++) {
                spt_optimizer_destroy(opt[k]);
                spti_param_destroy(p[k]);
            }
        }
}

/* Parameters large enough for the threaded loops: 2 threads give the same
 * bits as 1, and a NaN in the last entry is still found. */
static void test_threaded_paths(void **state) {
    (void)state;
    const ref_opt *cases[3] = {&SGD_NEST_WD, &ADAMW, &SGD_PLAIN};
    int before = spt_get_num_threads();
    for (int c = 0; c < 3; c++)
        for (int masked = 0; masked < 2; masked++) {
            spti_param *p[2];
            enum { R = 300, C = 300, N = R * C };
            int64_t *pos = malloc(N * sizeof *pos);
            assert_non_null(pos);
            for (int k = 0; k < 2; k++) {
                p[k] = make_param("big.weight", R, C, true, 21);
                if (masked) assert_status(spti_param_mask(p[k], pos, every(N, 2, 1, pos)), SPT_OK);
            }
            spti_optimizer *opt[2] = {make_opt(cases[c], 0.01), make_opt(cases[c], 0.01)};
            double *G = malloc(N * sizeof *G);
            assert_non_null(G);
            for (int t = 1; t <= 3; t++)
                for (int k = 0; k < 2; k++) {
                    fill_grad(p[k], G, t);
                    assert_status(spt_set_num_threads(k + 1), SPT_OK);
                    assert_status(spti_optimizer_step(opt[k], &p[k], 1, 0.01), SPT_OK);
                }
            assert_memory_equal(p[0]->value, p[1]->value, N * sizeof(float));
            for (int s = 0; s < SPTI_MAX_SLOTS; s++)
                if (p[0]->opt.slot[s]) assert_memory_equal(p[0]->opt.slot[s], p[1]->opt.slot[s], N * sizeof(float));
            p[1]->grad[N - 1] = NAN;
            assert_status(spti_params_check_finite(&p[1], 1), SPT_ERR_NONFINITE);
            assert_status(spti_optimizer_step(opt[1], &p[1], 1, 0.01), SPT_ERR_NONFINITE);
            for (int k = 0; k < 2; k++) {
                spt_optimizer_destroy(opt[k]);
                spti_param_destroy(p[k]);
            }
            free(G);
            free(pos);
        }
    assert_status(spt_set_num_threads(before), SPT_OK);
}

/* ---- failures change nothing -------------------------------------------------- */

typedef struct snapshot {
    float *value, *grad, *slot[SPTI_MAX_SLOTS];
    float *slot_ptr[SPTI_MAX_SLOTS];
    int64_t n;
} snapshot;

static float *dup_floats(const float *x, int64_t n) {
    if (!x) return NULL;
    float *c = malloc((size_t)n * sizeof(float) + 1);
    assert_non_null(c);
    memcpy(c, x, (size_t)n * sizeof(float));
    return c;
}

static void snap_take(snapshot *s, const spti_param *p) {
    s->n = p->n;
    s->value = dup_floats(p->value, p->n);
    s->grad = dup_floats(p->grad, p->n);
    for (int k = 0; k < SPTI_MAX_SLOTS; k++) {
        s->slot[k] = dup_floats(p->opt.slot[k], p->n);
        s->slot_ptr[k] = p->opt.slot[k];
    }
}

static void snap_check_and_free(snapshot *s, const spti_param *p) {
    assert_int_equal(p->n, s->n);
    assert_memory_equal(p->value, s->value, (size_t)p->n * sizeof(float));
    assert_memory_equal(p->grad, s->grad, (size_t)p->n * sizeof(float));
    for (int k = 0; k < SPTI_MAX_SLOTS; k++) {
        assert_ptr_equal(p->opt.slot[k], s->slot_ptr[k]);
        if (s->slot[k]) assert_memory_equal(p->opt.slot[k], s->slot[k], (size_t)p->n * sizeof(float));
        free(s->slot[k]);
    }
    free(s->value);
    free(s->grad);
}

static void test_nonfinite_grad(void **state) {
    (void)state;
    const ref_opt *cases[3] = {&SGD_MOM, &ADAM, &SGD_PLAIN};
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int c = 0; c < 3; c++) {
        spti_param *w = make_param("enc.weight", 5, 4, true, 3);
        spti_param *b = make_param("enc.bias", 5, 1, false, 4);
        spti_param *params[2] = {w, b};
        spti_optimizer *opt = make_opt(cases[c], 0.1);
        double G[20];
        fill_grad(w, G, 1);
        fill_grad(b, G, 2);
        assert_status(spti_optimizer_step(opt, params, 2, 0.1), SPT_OK); /* slots exist now (if any) */
        b->grad[3] = bad[c];
        snapshot sw, sb;
        snap_take(&sw, w);
        snap_take(&sb, b);
        spt_clear_error();
        assert_status(spti_params_check_finite(params, 2), SPT_ERR_NONFINITE);
        assert_non_null(strstr(spt_last_error(), "enc.bias"));
        assert_status(spti_optimizer_step(opt, params, 2, 0.1), SPT_ERR_NONFINITE);
        assert_non_null(strstr(spt_last_error(), "enc.bias"));
        snap_check_and_free(&sw, w);
        snap_check_and_free(&sb, b);
        assert_int_equal(opt->step, 1);
        b->grad[3] = 0.25f;
        assert_status(spti_params_check_finite(params, 2), SPT_OK);
        assert_status(spti_optimizer_step(opt, params, 2, 0.1), SPT_OK);
        assert_int_equal(opt->step, 2);
        spt_optimizer_destroy(opt);
        spti_param_destroy(w);
        spti_param_destroy(b);
    }
}

static void test_step_invalid(void **state) {
    (void)state;
    spti_param *w = make_param("w", 3, 3, true, 5);
    spti_param *params[2] = {w, NULL};
    spti_optimizer *opt = make_opt(&SGD_MOM, 0.1);
    w->grad[0] = 1.0f;
    snapshot s;
    snap_take(&s, w);
    assert_status(spti_optimizer_step(NULL, params, 1, 0.1), SPT_ERR_NULL);
    assert_status(spti_optimizer_step(opt, NULL, 1, 0.1), SPT_ERR_NULL);
    assert_status(spti_optimizer_step(opt, params, 2, 0.1), SPT_ERR_NULL);
    assert_status(spti_optimizer_step(opt, params, -1, 0.1), SPT_ERR_SIZE);
    assert_status(spti_optimizer_step(opt, params, 1, -0.1), SPT_ERR_INVALID);
    assert_status(spti_optimizer_step(opt, params, 1, NAN), SPT_ERR_INVALID);
    assert_status(spti_optimizer_step(opt, params, 1, INFINITY), SPT_ERR_INVALID);
    assert_status(spti_params_check_finite(NULL, 1), SPT_ERR_NULL);
    assert_status(spti_params_check_finite(params, 2), SPT_ERR_NULL);
    assert_status(spti_params_check_finite(params, -2), SPT_ERR_SIZE);
    snap_check_and_free(&s, w); /* no slot was allocated by the failed calls */
    assert_null(w->opt.slot[0]);
    assert_int_equal(opt->step, 0);
    spt_optimizer_destroy(opt);
    spti_param_destroy(w);
}

static void test_step_nomem(void **state) {
    (void)state;
    spt_test_alloc_install();
    const ref_opt *cases[2] = {&SGD_MOM, &ADAM};
    for (int c = 0; c < 2; c++) {
        spti_param *p[3] = {make_param("a", 4, 4, true, 1), make_param("b", 4, 1, false, 2),
                            make_param("c", 2, 8, true, 3)};
        double G[16];
        for (int k = 0; k < 3; k++) fill_grad(p[k], G, k);
        spti_optimizer *opt = make_opt(cases[c], 0.1);
        /* Give "b" its slots in advance so that a failure must leave a mix of
         * pre-existing and absent slots exactly as they were. */
        assert_status(spti_param_ensure_slots(p[1], cases[c]->kind == SPT_OPTIMIZER_ADAM ? 2 : 1), SPT_OK);
        p[1]->opt.slot[0][2] = 0.5f;
        bool done = false;
        for (long at = 0; !done && at < 50; at++) {
            snapshot s[3];
            for (int k = 0; k < 3; k++) snap_take(&s[k], p[k]);
            long live = spt_test_alloc_live();
            spt_test_alloc_fail_at(at);
            int rc = spti_optimizer_step(opt, p, 3, 0.1);
            spt_test_alloc_fail_at(-1);
            if (rc == SPT_OK) {
                done = true;
                for (int k = 0; k < 3; k++) {
                    free(s[k].value);
                    free(s[k].grad);
                    for (int j = 0; j < SPTI_MAX_SLOTS; j++) free(s[k].slot[j]);
                }
                break;
            }
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_int_equal(spt_test_alloc_live(), live);
            assert_int_equal(opt->step, 0);
            for (int k = 0; k < 3; k++) snap_check_and_free(&s[k], p[k]);
        }
        assert_true(done);
        assert_int_equal(opt->step, 1);
        spt_optimizer_destroy(opt);
        for (int k = 0; k < 3; k++) spti_param_destroy(p[k]);
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),       cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov_wd), cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_adam),            cmocka_unit_test(test_adam_l2),
        cmocka_unit_test(test_adamw),           cmocka_unit_test(test_sgd_by_hand),
        cmocka_unit_test(test_adam_by_hand),    cmocka_unit_test(test_lr_zero_and_empty),
        cmocka_unit_test(test_nonfinite_grad),  cmocka_unit_test(test_step_invalid),
        cmocka_unit_test(test_step_nomem),      cmocka_unit_test(test_simd_paths_agree),
        cmocka_unit_test(test_threaded_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
