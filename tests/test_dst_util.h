/* Helpers of the dynamic-sparse-training tests (test_rigl.c, test_set.c,
 * test_snfs.c, test_static.c, test_topology.c): small weights built by
 * hand from spti_param objects, driven through the method hooks. */
#ifndef TEST_DST_UTIL_H
#define TEST_DST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/param.h"
#include "sparsity/method_config.h"
#include "sparsity/dst.h"
#include "test_support.h"

/* A DENSE rows x cols weight with values +-(0.01 .. 1.01) all distinct in
 * magnitude (a pseudo-random permutation of a ramp). */
static inline spti_param *dst_weight(const char *name, int64_t rows, int64_t cols, uint64_t seed) {
    spti_param *p = NULL;
    int64_t shape[2] = {rows, cols};
    assert_int_equal(spti_param_create(name, 2, shape, true, &p), SPT_OK);
    int64_t n = rows * cols;
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) p->value[i] = 0.01f + (float)i / (float)n;
    for (int64_t i = n - 1; i > 0; i--) { /* shuffle, random signs */
        int64_t j = (int64_t)spti_rng_below(&rng, (uint64_t)i + 1);
        float t = p->value[i];
        p->value[i] = p->value[j];
        p->value[j] = t;
    }
    for (int64_t i = 0; i < n; i++)
        if (spti_rng_below(&rng, 2)) p->value[i] = -p->value[i];
    return p;
}

/* A method config with explicit densities. */
static inline spt_method_config *dst_config(int method, const double *densities, int n, double seed) {
    spt_method_config *c = NULL;
    assert_int_equal(spt_method_config_create(method, &c), SPT_OK);
    if (densities) assert_int_equal(spt_method_config_set_densities(c, densities, n), SPT_OK);
    assert_int_equal(spt_method_config_set(c, SPT_MP_SEED, seed), SPT_OK);
    return c;
}

/* Give a SPARSE param both kinds of optimizer slots with distinct nonzero values. */
static inline void dst_fill_slots(spti_param *p) {
    assert_int_equal(spti_param_ensure_slots(p, 2), SPT_OK);
    for (int64_t i = 0; i < p->n; i++) {
        p->opt.slot[0][i] = 1.0f + (float)i;
        p->opt.slot[1][i] = 2.0f + (float)i;
    }
}

/* Dense snapshot of a weight: value and slots per cell, and activity. */
typedef struct dst_snap {
    int64_t cells;
    float *w, *s0, *s1;
    uint8_t *active;
} dst_snap;

static inline dst_snap dst_snapshot(const spti_param *p) {
    dst_snap s;
    s.cells = p->rows * p->cols;
    s.w = calloc((size_t)s.cells, sizeof(float));
    s.s0 = calloc((size_t)s.cells, sizeof(float));
    s.s1 = calloc((size_t)s.cells, sizeof(float));
    s.active = calloc((size_t)s.cells, 1);
    int64_t *pos = malloc((size_t)s.cells * sizeof(int64_t));
    int64_t n = spti_param_active_positions(p, pos);
    for (int64_t k = 0; k < n; k++) {
        s.active[pos[k]] = 1;
        s.w[pos[k]] = p->value[k];
        if (p->opt.slot[0]) s.s0[pos[k]] = p->opt.slot[0][k];
        if (p->opt.slot[1]) s.s1[pos[k]] = p->opt.slot[1][k];
    }
    free(pos);
    return s;
}

static inline void dst_snap_free(dst_snap *s) {
    free(s->w);
    free(s->s0);
    free(s->s1);
    free(s->active);
}

static inline bool dst_snap_equal(const dst_snap *a, const dst_snap *b) {
    return a->cells == b->cells && memcmp(a->w, b->w, (size_t)a->cells * 4) == 0 &&
           memcmp(a->s0, b->s0, (size_t)a->cells * 4) == 0 && memcmp(a->s1, b->s1, (size_t)a->cells * 4) == 0 &&
           memcmp(a->active, b->active, (size_t)a->cells) == 0;
}

static inline int64_t dst_count_active(const dst_snap *s) {
    int64_t c = 0;
    for (int64_t i = 0; i < s->cells; i++) c += s->active[i];
    return c;
}

/* Deep copy of a SPARSE param (pattern, values, slots). */
static inline spti_param *dst_clone(const spti_param *p) {
    spti_param *q = NULL;
    assert_int_equal(spti_param_create(p->name, p->ndim, p->shape, true, &q), SPT_OK);
    int64_t *pos = malloc((size_t)(p->rows * p->cols) * sizeof(int64_t));
    int64_t n = spti_param_active_positions(p, pos);
    assert_int_equal(spti_param_sparsify(q, pos, n), SPT_OK);
    free(pos);
    memcpy(q->value, p->value, (size_t)n * sizeof(float));
    if (p->opt.n_slots) {
        assert_int_equal(spti_param_ensure_slots(q, p->opt.n_slots), SPT_OK);
        for (int s = 0; s < p->opt.n_slots; s++) memcpy(q->opt.slot[s], p->opt.slot[s], (size_t)n * sizeof(float));
    }
    return q;
}

/* A fresh dense gradient for p (what the backward would leave): distinct
 * magnitudes drawn from seed. Allocated with spti_alloc, as the layers do. */
static inline void dst_fill_dense_grad(spti_param *p, uint64_t seed) {
    int64_t n = p->rows * p->cols;
    if (!p->result.dense_grad) p->result.dense_grad = spti_alloc(n, sizeof(float));
    assert_non_null(p->result.dense_grad);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) p->result.dense_grad[i] = spti_rng_uniform(&rng) * 2.0f - 1.0f;
}

/* Sort helper: indices 0..n-1 by key ascending (stable insertion sort, small n). */
static inline void dst_argsort(const float *key, int64_t *idx, int64_t n) {
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = 1; i < n; i++) {
        int64_t x = idx[i], j = i;
        while (j > 0 && key[idx[j - 1]] > key[x]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

#endif
