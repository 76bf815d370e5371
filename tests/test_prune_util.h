/* Helpers shared by the pruning-method suites (test_gmp.c, test_lottery.c,
 * test_snip.c, test_grasp.c, test_synflow.c): weights with random values,
 * configurations, dense snapshots and naive top-k references. */
#ifndef TEST_PRUNE_UTIL_H
#define TEST_PRUNE_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/param.h"
#include "sparsity/method.h"
#include "sparsity/method_config.h"
#include "sparsity/dst.h"
#include "sparsity/prune.h"
#include "test_support.h"

/* A 2-D weight rows x cols with values scale * N(0, 1) drawn from `seed`. */
static inline spti_param *pr_weight(const char *name, int64_t rows, int64_t cols, float scale, uint64_t seed) {
    spti_param *p = NULL;
    int64_t shape[2] = {rows, cols};
    assert_int_equal(spti_param_create(name, 2, shape, true, &p), SPT_OK);
    spti_rng r;
    spti_rng_seed(&r, seed);
    for (int64_t i = 0; i < p->n; i++) p->value[i] = scale * spti_rng_normal(&r);
    return p;
}

static inline spt_method_config *pr_config(int method, double sparsity, int distribution, int global) {
    spt_method_config *c = NULL;
    assert_int_equal(spt_method_config_create(method, &c), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SPARSITY, sparsity), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_DISTRIBUTION, distribution), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_GLOBAL, global), SPT_OK);
    return c;
}

/* Dense view of a weight: values and active flags. */
typedef struct pr_snap {
    int64_t cells, nnz;
    float *w;
    uint8_t *active;
} pr_snap;

static inline pr_snap pr_take(const spti_param *p) {
    pr_snap s;
    s.cells = p->rows * p->cols;
    s.w = malloc((size_t)s.cells * sizeof(float));
    s.active = calloc((size_t)s.cells, 1);
    spti_param_to_dense(p, s.w);
    int64_t *pos = malloc((size_t)s.cells * sizeof(int64_t));
    s.nnz = spti_param_active_positions(p, pos);
    for (int64_t k = 0; k < s.nnz; k++) s.active[pos[k]] = 1;
    free(pos);
    return s;
}

static inline void pr_free(pr_snap *s) {
    free(s->w);
    free(s->active);
}

static inline int64_t pr_active(const spti_param *p) { return spti_param_active_positions(p, NULL); }

/* Descending sort of (key, index) pairs. */
typedef struct pr_item {
    double key;
    int layer;
    int64_t i;
} pr_item;

static inline int pr_item_cmp(const void *a, const void *b) {
    double x = ((const pr_item *)a)->key, y = ((const pr_item *)b)->key;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Whether the active set of every layer is exactly the top-k of key[l]
 * (over candidates cand[l], NULL = all), global (one k over all layers)
 * or per layer (k[l]). Requires no tie at the threshold (asserted). */
static inline void pr_check_top(spti_param *const *w, int n, double *const *key, uint8_t *const *cand, bool global,
                                const int64_t *k) {
    int64_t total = 0;
    pr_snap *snap = malloc((size_t)n * sizeof *snap);
    for (int l = 0; l < n; l++) {
        total += w[l]->rows * w[l]->cols;
        snap[l] = pr_take(w[l]);
    }
    pr_item *it = malloc((size_t)total * sizeof *it);
    for (int pass = 0; pass < (global ? 1 : n); pass++) {
        int64_t m = 0;
        for (int l = 0; l < n; l++) {
            if (!global && l != pass) continue;
            for (int64_t i = 0; i < w[l]->rows * w[l]->cols; i++)
                if (!cand || cand[l][i]) it[m++] = (pr_item){key[l][i], l, i};
        }
        qsort(it, (size_t)m, sizeof *it, pr_item_cmp);
        int64_t want = global ? k[0] : k[pass];
        if (want > 0 && want < m) assert_true(it[want - 1].key > it[want].key);
        for (int64_t j = 0; j < m; j++) assert_int_equal(snap[it[j].layer].active[it[j].i], j < want);
    }
    for (int l = 0; l < n; l++) pr_free(&snap[l]);
    free(snap);
    free(it);
}

/* ---- end to end through the public trainer: an MLP 8 -> 48 -> 48 -> 3 on
 * separable synthetic data ------------------------------------------------------- */
enum { PR_F = 8, PR_H = 48, PR_K = 3, PR_BATCH = 32 };
#define PR_DENSE_WEIGHTS (PR_F * PR_H + PR_H * PR_H + PR_H * PR_K)

static inline void pr_batch(spti_rng *r, float *x, int32_t *y) {
    for (int i = 0; i < PR_BATCH; i++) {
        int k = (int)spti_rng_below(r, PR_K);
        y[i] = k;
        for (int f = 0; f < PR_F; f++) x[f * PR_BATCH + i] = (f % PR_K == k ? 1.5f : -0.5f) + 0.3f * spti_rng_normal(r);
    }
}

/* A trainer of `steps` steps with SGD (lr 0.05, momentum 0.9) and cfg. */
static inline spt_trainer *pr_trainer(const spt_method_config *cfg, int64_t steps, spt_model **model,
                                      spt_optimizer **opt) {
    int64_t widths[4] = {PR_F, PR_H, PR_H, PR_K};
    assert_status(spt_model_create_mlp(widths, 4, 31, model), SPT_OK);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, opt), SPT_OK);
    assert_status(spt_optimizer_set_param(*opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(*opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(*model, *opt, NULL, cfg, steps, 1, &t), SPT_OK);
    return t;
}

/* Run `steps` steps; returns mean loss of the first and last 5 in first/last. */
static inline void pr_run(spt_trainer *t, spti_rng *r, int64_t steps, double *first, double *last) {
    float x[PR_F * PR_BATCH];
    int32_t y[PR_BATCH];
    *first = *last = 0.0;
    for (int64_t s = 0; s < steps; s++) {
        double loss;
        pr_batch(r, x, y);
        assert_status(spt_trainer_step(t, x, y, PR_BATCH, &loss, NULL), SPT_OK);
        assert_true(isfinite(loss));
        if (s < 5) *first += loss / 5;
        if (s >= steps - 5) *last += loss / 5;
    }
}

#endif
