/* A SPARSE parameter whose nonzeros move (spti_param_repattern) between
 * optimizer steps keeps stepping correctly: kept positions continue from
 * their carried value and moments, new positions start from exactly 0. The
 * reference is a dense-indexed double-precision model of the same updates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/param.h"
#include "optim/optim.h"
#include "test_support.h"

enum { ROWS = 8, COLS = 9, CELLS = ROWS * COLS };

typedef struct model {
    double w[CELLS], m[CELLS], v[CELLS];
    bool active[CELLS];
} model;

static double grad_at(int64_t pos, int64_t t) { return cos(0.53 * (double)pos - 0.9 * (double)t) + 0.05 * (double)t; }

static void model_step(model *r, int kind, double lr, int64_t t) {
    for (int i = 0; i < CELLS; i++) {
        if (!r->active[i]) continue;
        double g = grad_at(i, t);
        if (kind == SPT_OPTIMIZER_SGD) {
            r->m[i] = 0.9 * r->m[i] + g;
            r->w[i] -= lr * r->m[i];
        } else {
            r->m[i] = 0.9 * r->m[i] + 0.1 * g;
            r->v[i] = 0.99 * r->v[i] + 0.01 * g * g;
            double mh = r->m[i] / (1 - pow(0.9, (double)t)), vh = r->v[i] / (1 - pow(0.99, (double)t));
            r->w[i] -= lr * mh / (sqrt(vh) + 1e-8);
        }
    }
}

/* Positions of pattern number `k`: a pseudo-random ~1/3 of the cells, so
 * that consecutive patterns share some positions and differ in others. */
static int64_t pattern(int k, int64_t *pos) {
    spti_rng rng;
    spti_rng_seed(&rng, 1000 + (uint64_t)k);
    int64_t n = 0;
    for (int64_t i = 0; i < CELLS; i++)
        if (spti_rng_below(&rng, 3) == 0) pos[n++] = i;
    return n;
}

static void set_pattern(model *r, const int64_t *pos, int64_t n) {
    bool next[CELLS] = {false};
    for (int64_t k = 0; k < n; k++) next[pos[k]] = true;
    int kept = 0, grown = 0, was = 0;
    for (int i = 0; i < CELLS; i++) {
        was += r->active[i];
        kept += r->active[i] && next[i];
        grown += !r->active[i] && next[i];
        if (!next[i]) r->w[i] = r->m[i] = r->v[i] = 0.0; /* dropped: regrown later from 0 */
        r->active[i] = next[i];
    }
    if (was > 0) assert_true(kept > 0 && grown > 0); /* the test exercises both cases */
}

static void compare(const spti_param *p, const model *r, int kind) {
    int64_t pos[CELLS];
    int64_t n = spti_param_active_positions(p, pos);
    assert_int_equal(n, p->n);
    float dense[CELLS];
    spti_param_to_dense(p, dense);
    for (int i = 0; i < CELLS; i++) {
        if (!r->active[i]) {
            assert_true(dense[i] == 0.0f);
            continue;
        }
        assert_true(fabs(dense[i] - r->w[i]) < 2e-5 * (1 + fabs(r->w[i])));
    }
    for (int64_t k = 0; k < n; k++) {
        assert_true(r->active[pos[k]]);
        assert_true(fabs(p->opt.slot[0][k] - r->m[pos[k]]) < 2e-5 * (1 + fabs(r->m[pos[k]])));
        if (kind == SPT_OPTIMIZER_ADAM) assert_true(fabs(p->opt.slot[1][k] - r->v[pos[k]]) < 2e-5 * (1 + r->v[pos[k]]));
    }
}

static void run(int kind) {
    spti_param *p;
    int64_t shape[2] = {ROWS, COLS};
    assert_status(spti_param_create("conv.weight", 2, shape, true, &p), SPT_OK);
    model r;
    memset(&r, 0, sizeof r);
    spti_rng rng;
    spti_rng_seed(&rng, 7);
    for (int i = 0; i < CELLS; i++) r.w[i] = p->value[i] = spti_rng_normal(&rng);
    int64_t pos[CELLS];
    int64_t n = pattern(0, pos);
    assert_status(spti_param_sparsify(p, pos, n), SPT_OK);
    set_pattern(&r, pos, n);

    spt_optimizer *opt;
    assert_status(spt_optimizer_create(kind, &opt), SPT_OK);
    if (kind == SPT_OPTIMIZER_SGD) {
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    } else {
        assert_status(spt_optimizer_set_param(opt, SPT_OPT_BETA2, 0.99), SPT_OK);
    }
    const double lr = 0.03;
    int64_t t = 0;
    for (int round = 1; round <= 4; round++) {
        for (int s = 0; s < 3; s++) {
            t++;
            int64_t cur[CELLS];
            assert_int_equal(spti_param_active_positions(p, cur), p->n);
            for (int64_t k = 0; k < p->n; k++) p->grad[k] = (float)grad_at(cur[k], t);
            assert_status(spti_optimizer_step(opt, &p, 1, lr), SPT_OK);
            model_step(&r, kind, lr, t);
            compare(p, &r, kind);
        }
        /* Move the nonzeros: some kept (value and moments carried), some
         * dropped, some new (value and moments exactly 0). */
        n = pattern(round, pos);
        assert_status(spti_param_repattern(p, pos, n), SPT_OK);
        set_pattern(&r, pos, n);
        assert_int_equal(p->n, n);
        compare(p, &r, kind);
    }
    spt_optimizer_destroy(opt);
    spti_param_destroy(p);
}

static void test_sgd_repattern(void **state) {
    (void)state;
    run(SPT_OPTIMIZER_SGD);
}

static void test_adam_repattern(void **state) {
    (void)state;
    run(SPT_OPTIMIZER_ADAM);
}

/* A sparse parameter may lose every nonzero (n = 0) and grow back. */
static void test_empty_pattern(void **state) {
    (void)state;
    spti_param *p;
    int64_t shape[2] = {3, 4};
    assert_status(spti_param_create("fc.weight", 2, shape, true, &p), SPT_OK);
    int64_t pos[2] = {1, 6};
    assert_status(spti_param_sparsify(p, pos, 0), SPT_OK);
    assert_int_equal(p->n, 0);
    spt_optimizer *opt;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_ADAM, &opt), SPT_OK);
    assert_status(spti_optimizer_step(opt, &p, 1, 0.1), SPT_OK);
    assert_non_null(p->opt.slot[1]);
    assert_status(spti_param_repattern(p, pos, 2), SPT_OK);
    p->grad[0] = 1.0f;
    p->grad[1] = -2.0f;
    assert_status(spti_optimizer_step(opt, &p, 1, 0.1), SPT_OK);
    /* second step (t = 2) on fresh moments: m = 0.1 g, v = 0.001 g^2, so
     * w = -0.1 * (0.1 g / 0.19) / (|g| sqrt(0.001 / 0.001999) + 1e-8) */
    for (int k = 0; k < 2; k++) {
        double g = p->grad[k];
        double want = -0.1 * (0.1 * g / (1 - 0.81)) / (fabs(g) * sqrt(0.001 / (1 - 0.998001)) + 1e-8);
        assert_true(fabs(p->value[k] - want) < 1e-6);
    }
    spt_optimizer_destroy(opt);
    spti_param_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_repattern),
        cmocka_unit_test(test_adam_repattern),
        cmocka_unit_test(test_empty_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
