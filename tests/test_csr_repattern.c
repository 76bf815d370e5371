/* Topology changes: spti_csr_repattern and the parameter form changes of
 * src/nn/param.c (sparsify, mask, repattern) that sparse methods rely on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/param.h"
#include "tensor/csr.h"
#include "test_support.h"

/* Dense image of a CSR matrix and of one carried array (NAN where no entry,
 * so that an entry holding 0 is told apart from no entry). */
static void scatter_nan(const spt_csr *m, const float *a, float *out) {
    for (int64_t i = 0; i < m->rows * m->cols; i++) out[i] = NAN;
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) out[r * m->cols + m->col_idx[k]] = a[k];
}

static void positions_of(const spt_csr *m, int64_t *pos) {
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) *pos++ = r * m->cols + m->col_idx[k];
}

/* Sorted distinct positions: each cell kept with probability p_keep if
 * `in_old`, taken with probability p_new otherwise. Returns the count. */
static int64_t draw_pattern(int64_t cells, const uint8_t *in_old, double p_keep, double p_new, spti_rng *rng,
                            int64_t *pos) {
    int64_t n = 0;
    for (int64_t i = 0; i < cells; i++)
        if (spti_rng_uniform(rng) < (in_old[i] ? p_keep : p_new)) pos[n++] = i;
    return n;
}

/* Repattern a random matrix with two carried slots and check every entry of
 * the result against the dense images taken before. */
static void check_repattern(int64_t rows, int64_t cols, double density, double p_keep, double p_new, uint64_t seed) {
    spt_csr *m;
    int64_t cells = rows * cols;
    assert_status(spt_csr_random(rows, cols, density, 1.0f, seed, &m), SPT_OK);
    float *s0 = spti_alloc(m->nnz, sizeof(float)), *s1 = spti_alloc(m->nnz, sizeof(float));
    for (int64_t k = 0; k < m->nnz; k++) {
        s0[k] = (float)k + 1.0f;
        s1[k] = -(float)k - 0.5f;
    }
    float *dv = malloc((size_t)cells * sizeof(float)), *d0 = malloc((size_t)cells * sizeof(float)),
          *d1 = malloc((size_t)cells * sizeof(float));
    scatter_nan(m, m->values, dv);
    scatter_nan(m, s0, d0);
    scatter_nan(m, s1, d1);
    uint8_t *in_old = calloc((size_t)cells, 1);
    for (int64_t i = 0; i < cells; i++) in_old[i] = !isnan(dv[i]);

    spti_rng rng;
    spti_rng_seed(&rng, seed ^ 0x5555);
    int64_t *pos = malloc((size_t)(cells + 1) * sizeof(int64_t));
    int64_t n = draw_pattern(cells, in_old, p_keep, p_new, &rng, pos);
    float **carry[2] = {&s0, &s1};
    assert_status(spti_csr_repattern(m, pos, n, carry, 2), SPT_OK);
    assert_int_equal(m->nnz, n);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    int64_t *got = malloc((size_t)(n + 1) * sizeof(int64_t));
    positions_of(m, got);
    assert_memory_equal(got, pos, (size_t)n * sizeof(int64_t));
    float *ev = malloc((size_t)cells * sizeof(float)), *e0 = malloc((size_t)cells * sizeof(float)),
          *e1 = malloc((size_t)cells * sizeof(float));
    scatter_nan(m, m->values, ev);
    scatter_nan(m, s0, e0);
    scatter_nan(m, s1, e1);
    for (int64_t j = 0; j < n; j++) {
        int64_t i = pos[j];
        if (in_old[i]) { /* kept: carried exactly */
            assert_true(ev[i] == dv[i] && e0[i] == d0[i] && e1[i] == d1[i]);
        } else { /* grown: exactly 0 */
            assert_true(ev[i] == 0.0f && e0[i] == 0.0f && e1[i] == 0.0f);
        }
    }
    free(ev), free(e0), free(e1), free(got), free(pos), free(in_old), free(dv), free(d0), free(d1);
    spti_free(s0);
    spti_free(s1);
    spt_csr_destroy(m);
}

static void test_repattern_cases(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {1, 13}, {13, 1}, {7, 9}, {31, 17}, {64, 48}};
    /* {density, p_keep, p_new}: drop and grow, pure growth, pure shrinkage,
     * everything kept, everything replaced, to full, to empty. */
    const double mix[][3] = {{0.3, 0.7, 0.1}, {0.2, 1.0, 0.3}, {0.6, 0.4, 0.0}, {0.5, 1.0, 0.0},
                             {0.3, 0.0, 0.5}, {0.4, 1.0, 1.0}, {0.4, 0.0, 0.0}, {1.0, 0.5, 0.0}};
    uint64_t seed = 10;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t k = 0; k < sizeof mix / sizeof mix[0]; k++)
            check_repattern(shapes[s][0], shapes[s][1], mix[k][0], mix[k][1], mix[k][2], seed++);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* RigL's update: drop the k smallest |w|, grow k new positions; nnz stays. */
static void test_repattern_keeps_nnz(void **state) {
    (void)state;
    enum { R = 20, C = 30 };
    spt_csr *m;
    assert_status(spt_csr_random(R, C, 0.2, 1.0f, 77, &m), SPT_OK);
    const int64_t nnz = m->nnz;
    int64_t *pos = malloc((size_t)nnz * sizeof(int64_t));
    uint8_t taken[R * C] = {0};
    positions_of(m, pos);
    for (int64_t k = 0; k < nnz; k++) taken[pos[k]] = 1;
    /* Drop every 3rd entry, grow the same number of free cells from the end. */
    int64_t dropped = 0, n = 0;
    for (int64_t k = 0; k < nnz; k++)
        if (k % 3 == 0) dropped++;
        else pos[n++] = pos[k];
    for (int64_t i = R * C - 1; i >= 0 && dropped > 0; i--)
        if (!taken[i]) {
            pos[n++] = i;
            dropped--;
        }
    qsort(pos, (size_t)n, sizeof(int64_t), cmp_i64);
    for (int round = 0; round < 3; round++) { /* repeated updates stay consistent */
        assert_status(spti_csr_repattern(m, pos, n, NULL, 0), SPT_OK);
        assert_int_equal(m->nnz, nnz);
        assert_int_equal(spti_csr_validate(m), SPT_OK);
    }
    free(pos);
    spt_csr_destroy(m);
}

/* Shrink, then grow past the original capacity, then back: the transposed
 * arrays are regrown when needed. */
static void test_repattern_capacity(void **state) {
    (void)state;
    spt_csr *m;
    assert_status(spt_csr_random(9, 11, 0.5, 1.0f, 3, &m), SPT_OK);
    int64_t pos[99];
    for (int64_t i = 0; i < 99; i++) pos[i] = i;
    assert_status(spti_csr_repattern(m, pos, 5, NULL, 0), SPT_OK);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    assert_status(spti_csr_repattern(m, pos, 99, NULL, 0), SPT_OK);
    assert_int_equal(m->nnz, 99);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    assert_status(spti_csr_repattern(m, pos, 0, NULL, 0), SPT_OK);
    assert_int_equal(m->nnz, 0);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    assert_status(spti_csr_repattern(m, pos + 40, 10, NULL, 0), SPT_OK);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    for (int64_t k = 0; k < 10; k++) assert_true(m->values[k] == 0.0f);
    spt_csr_destroy(m);
}

/* A snapshot of everything a failed repattern must leave alone. */
typedef struct {
    int64_t nnz, rows, cols;
    int64_t *rp, *cp;
    int32_t *ci, *ri, *cpos;
    float *v, *s;
} snap;

static snap take(const spt_csr *m, const float *slot) {
    snap s = {m->nnz, m->rows, m->cols, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    s.rp = malloc((size_t)(m->rows + 1) * sizeof(int64_t));
    s.cp = malloc((size_t)(m->cols + 1) * sizeof(int64_t));
    s.ci = malloc((size_t)(m->nnz + 1) * sizeof(int32_t));
    s.ri = malloc((size_t)(m->nnz + 1) * sizeof(int32_t));
    s.cpos = malloc((size_t)(m->nnz + 1) * sizeof(int32_t));
    s.v = malloc((size_t)(m->nnz + 1) * sizeof(float));
    s.s = malloc((size_t)(m->nnz + 1) * sizeof(float));
    memcpy(s.rp, m->row_ptr, (size_t)(m->rows + 1) * sizeof(int64_t));
    memcpy(s.cp, m->col_ptr, (size_t)(m->cols + 1) * sizeof(int64_t));
    memcpy(s.ci, m->col_idx, (size_t)m->nnz * sizeof(int32_t));
    memcpy(s.ri, m->row_idx, (size_t)m->nnz * sizeof(int32_t));
    memcpy(s.cpos, m->csr_pos, (size_t)m->nnz * sizeof(int32_t));
    memcpy(s.v, m->values, (size_t)m->nnz * sizeof(float));
    if (slot) memcpy(s.s, slot, (size_t)m->nnz * sizeof(float));
    return s;
}

static void assert_same(const snap *s, const spt_csr *m, const float *slot) {
    assert_int_equal(m->nnz, s->nnz);
    assert_memory_equal(m->row_ptr, s->rp, (size_t)(s->rows + 1) * sizeof(int64_t));
    assert_memory_equal(m->col_ptr, s->cp, (size_t)(s->cols + 1) * sizeof(int64_t));
    assert_memory_equal(m->col_idx, s->ci, (size_t)s->nnz * sizeof(int32_t));
    assert_memory_equal(m->row_idx, s->ri, (size_t)s->nnz * sizeof(int32_t));
    assert_memory_equal(m->csr_pos, s->cpos, (size_t)s->nnz * sizeof(int32_t));
    assert_memory_equal(m->values, s->v, (size_t)s->nnz * sizeof(float));
    if (slot) assert_memory_equal(slot, s->s, (size_t)s->nnz * sizeof(float));
}

static void drop(snap *s) { free(s->rp), free(s->cp), free(s->ci), free(s->ri), free(s->cpos), free(s->v), free(s->s); }

static void test_repattern_invalid(void **state) {
    (void)state;
    spt_csr *m;
    assert_status(spt_csr_random(4, 5, 0.5, 1.0f, 8, &m), SPT_OK);
    snap s = take(m, NULL);
    const int64_t unsorted[3] = {1, 7, 3}, dup[3] = {1, 3, 3}, neg[2] = {-1, 2}, high[2] = {2, 20};
    assert_status(spti_csr_repattern(m, unsorted, 3, NULL, 0), SPT_ERR_INVALID);
    assert_status(spti_csr_repattern(m, dup, 3, NULL, 0), SPT_ERR_INVALID);
    assert_status(spti_csr_repattern(m, neg, 2, NULL, 0), SPT_ERR_INVALID);
    assert_status(spti_csr_repattern(m, high, 2, NULL, 0), SPT_ERR_INVALID);
    assert_status(spti_csr_repattern(m, dup, 21, NULL, 0), SPT_ERR_SIZE);
    assert_status(spti_csr_repattern(m, dup, -1, NULL, 0), SPT_ERR_SIZE);
    assert_status(spti_csr_repattern(m, NULL, 3, NULL, 0), SPT_ERR_INTERNAL);
    assert_status(spti_csr_repattern(NULL, dup, 1, NULL, 0), SPT_ERR_INTERNAL);
    assert_status(spti_csr_repattern(m, dup, 1, NULL, 1), SPT_ERR_INTERNAL);
    assert_same(&s, m, NULL);
    drop(&s);
    spt_csr_destroy(m);
}

/* Fail each allocation in turn: NOMEM, nothing leaked, matrix and slot
 * untouched; finally the call succeeds. Growth (transposed index regrown)
 * and same-size updates take different allocation paths. */
static void test_repattern_nomem(void **state) {
    (void)state;
    const int64_t grow_to[2] = {60, 25};
    for (int g = 0; g < 2; g++) {
        spt_test_alloc_install();
        spt_csr *m;
        assert_status(spt_csr_random(6, 10, 25.0 / 60.0, 1.0f, 4, &m), SPT_OK);
        float *slot = spti_alloc(m->nnz, sizeof(float));
        for (int64_t k = 0; k < m->nnz; k++) slot[k] = (float)k;
        int64_t pos[60];
        for (int64_t i = 0; i < grow_to[g]; i++) pos[i] = g == 0 ? i : 2 * i + 1;
        snap s = take(m, slot);
        float **carry[1] = {&slot};
        const long live = spt_test_alloc_live();
        long i;
        for (i = 0;; i++) {
            spt_test_alloc_fail_at(i);
            int rc = spti_csr_repattern(m, pos, grow_to[g], carry, 1);
            if (rc == SPT_OK) break;
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_int_equal(spt_test_alloc_live(), live);
            assert_same(&s, m, slot);
        }
        assert_true(i >= 3); /* at least col_idx, values and the slot */
        assert_int_equal(spt_test_alloc_live(), live);
        assert_int_equal(m->nnz, grow_to[g]);
        assert_int_equal(spti_csr_validate(m), SPT_OK);
        drop(&s);
        spti_free(slot);
        spt_csr_destroy(m);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
    }
}

/* ---- src/nn/param.c ------------------------------------------------------- */

static spti_param *make_param(int ndim, const int64_t *shape, uint64_t seed) {
    spti_param *p;
    assert_status(spti_param_create("w", ndim, shape, true, &p), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < p->n; i++) {
        p->value[i] = spti_rng_normal(&rng);
        p->grad[i] = 1.0f;
    }
    assert_status(spti_param_ensure_slots(p, 2), SPT_OK);
    for (int64_t i = 0; i < p->n; i++) {
        p->opt.slot[0][i] = 10.0f + (float)i;
        p->opt.slot[1][i] = -10.0f - (float)i;
    }
    return p;
}

static void test_param_sparsify_and_repattern(void **state) {
    (void)state;
    const int64_t shape[4] = {4, 3, 3, 3}; /* a conv weight: 4 x 27 */
    spti_param *p = make_param(4, shape, 1);
    assert_int_equal(p->rows, 4);
    assert_int_equal(p->cols, 27);
    float before[108], s0[108], s1[108];
    memcpy(before, p->value, sizeof before);
    memcpy(s0, p->opt.slot[0], sizeof s0);
    memcpy(s1, p->opt.slot[1], sizeof s1);
    int64_t pos[108], n = 0;
    for (int64_t i = 0; i < 108; i++)
        if (i % 4 == 1 || i == 0 || i == 107) pos[n++] = i;
    assert_status(spti_param_sparsify(p, pos, n), SPT_OK);
    assert_int_equal(p->kind, SPTI_PARAM_SPARSE);
    assert_int_equal(p->n, n);
    assert_ptr_equal(p->value, p->csr->values);
    assert_int_equal(spti_csr_validate(p->csr), SPT_OK);
    assert_int_equal(spt_csr_ndim(p->csr), 4);
    assert_int_equal(spt_csr_dim(p->csr, 3), 3);
    for (int64_t k = 0; k < n; k++) {
        assert_true(p->value[k] == before[pos[k]]);
        assert_true(p->opt.slot[0][k] == s0[pos[k]] && p->opt.slot[1][k] == s1[pos[k]]);
        assert_true(p->grad[k] == 0.0f);
    }
    int64_t act[108];
    assert_int_equal(spti_param_active_positions(p, act), n);
    assert_memory_equal(act, pos, (size_t)n * sizeof(int64_t));
    float dense[108];
    spti_param_to_dense(p, dense);
    for (int64_t i = 0, k = 0; i < 108; i++) {
        bool on = k < n && pos[k] == i;
        assert_true(dense[i] == (on ? before[i] : 0.0f));
        k += on;
    }

    /* Move: keep every other active entry, grow the multiples of 4. */
    int64_t pos2[108], n2 = 0;
    for (int64_t i = 0; i < 108; i++) {
        bool was = i % 4 == 1 || i == 0 || i == 107;
        if ((was && i % 8 == 1) || i % 4 == 0) pos2[n2++] = i;
    }
    p->grad[0] = 5.0f;
    assert_status(spti_param_repattern(p, pos2, n2), SPT_OK);
    assert_int_equal(p->n, n2);
    assert_ptr_equal(p->value, p->csr->values);
    assert_int_equal(spti_csr_validate(p->csr), SPT_OK);
    for (int64_t k = 0; k < n2; k++) {
        int64_t i = pos2[k];
        bool was = i % 4 == 1 || i == 0 || i == 107;
        assert_true(p->value[k] == (was ? before[i] : 0.0f));
        assert_true(p->opt.slot[0][k] == (was ? s0[i] : 0.0f));
        assert_true(p->opt.slot[1][k] == (was ? s1[i] : 0.0f));
        assert_true(p->grad[k] == 0.0f);
    }
    /* Sparsify of a sparse parameter is a repattern. */
    assert_status(spti_param_sparsify(p, pos, n), SPT_OK);
    assert_int_equal(p->n, n);
    assert_int_equal(spti_csr_validate(p->csr), SPT_OK);
    /* Wrong form, bad positions. */
    assert_status(spti_param_mask(p, pos, n), SPT_ERR_STATE);
    const int64_t bad[2] = {5, 5};
    assert_status(spti_param_repattern(p, bad, 2), SPT_ERR_INVALID);
    assert_status(spti_param_repattern(p, bad, 109), SPT_ERR_SIZE);
    assert_int_equal(p->n, n);
    spti_param_destroy(p);

    spti_param *q = make_param(2, shape, 2);
    assert_status(spti_param_repattern(q, pos, 3), SPT_ERR_STATE);
    spti_param_destroy(q);
}

static void test_param_mask(void **state) {
    (void)state;
    const int64_t shape[2] = {6, 7};
    spti_param *p = make_param(2, shape, 3);
    float before[42];
    memcpy(before, p->value, sizeof before);
    int64_t pos[42], n = 0;
    for (int64_t i = 0; i < 42; i++)
        if (i % 3 != 0) pos[n++] = i;
    assert_status(spti_param_mask(p, pos, n), SPT_OK);
    assert_int_equal(p->kind, SPTI_PARAM_MASKED);
    assert_int_equal(p->mask_nnz, n);
    assert_int_equal(p->n, 42);
    for (int64_t i = 0; i < 42; i++) {
        bool on = i % 3 != 0;
        assert_int_equal(p->mask[i], on);
        assert_true(p->value[i] == (on ? before[i] : 0.0f));
        assert_true(p->grad[i] == (on ? 1.0f : 0.0f));
        assert_true(p->opt.slot[0][i] == (on ? 10.0f + (float)i : 0.0f));
        assert_true(p->opt.slot[1][i] == (on ? -10.0f - (float)i : 0.0f));
    }
    int64_t act[42];
    assert_int_equal(spti_param_active_positions(p, act), n);
    assert_memory_equal(act, pos, (size_t)n * sizeof(int64_t));
    assert_int_equal(spti_param_active_positions(p, NULL), n);
    /* Replace the mask: a smaller one. */
    int64_t pos2[2] = {1, 41};
    assert_status(spti_param_mask(p, pos2, 2), SPT_OK);
    assert_int_equal(p->mask_nnz, 2);
    assert_int_equal(spti_param_active_positions(p, NULL), 2);
    assert_true(p->value[1] == before[1] && p->value[2] == 0.0f);
    /* Masked -> sparse keeps the active entries and slots. */
    assert_status(spti_param_sparsify(p, pos2, 2), SPT_OK);
    assert_int_equal(p->kind, SPTI_PARAM_SPARSE);
    assert_null(p->mask);
    assert_true(p->value[0] == before[1] && p->value[1] == before[41]);
    assert_true(p->opt.slot[0][1] == 51.0f);
    const int64_t bad[2] = {3, 2};
    spti_param *q = make_param(2, shape, 4);
    assert_status(spti_param_mask(q, bad, 2), SPT_ERR_INVALID);
    assert_int_equal(q->kind, SPTI_PARAM_DENSE);
    assert_status(spti_param_mask(q, bad, 43), SPT_ERR_SIZE);
    spti_param_destroy(q);
    spti_param_destroy(p);
}

/* Each allocation of sparsify / repattern fails in turn: NOMEM, no leak,
 * parameter unchanged. */
static void test_param_nomem(void **state) {
    (void)state;
    const int64_t shape[2] = {5, 8};
    int64_t pos[40], pos2[40], n = 0, n2 = 0;
    for (int64_t i = 0; i < 40; i++) {
        if (i % 2) pos[n++] = i;
        if (i % 3 == 0 || i % 4 == 1) pos2[n2++] = i;
    }
    spt_test_alloc_install();
    for (int which = 0; which < 2; which++) {
        long i;
        for (i = 0;; i++) {
            spt_test_alloc_fail_at(-1); /* disarm what the last successful call left */
            spti_param *p = make_param(2, shape, 9);
            if (which == 1) assert_status(spti_param_sparsify(p, pos, n), SPT_OK);
            long live = spt_test_alloc_live();
            float v[40], s0[40];
            int64_t pn = p->n;
            memcpy(v, p->value, (size_t)pn * sizeof(float));
            memcpy(s0, p->opt.slot[0], (size_t)pn * sizeof(float));
            spt_test_alloc_fail_at(i);
            int rc = which == 0 ? spti_param_sparsify(p, pos, n) : spti_param_repattern(p, pos2, n2);
            if (rc == SPT_OK) {
                assert_int_equal(spti_csr_validate(p->csr), SPT_OK);
                spti_param_destroy(p);
                break;
            }
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_int_equal(spt_test_alloc_live(), live);
            assert_int_equal(p->n, pn);
            assert_int_equal(p->kind, which == 0 ? SPTI_PARAM_DENSE : SPTI_PARAM_SPARSE);
            assert_memory_equal(p->value, v, (size_t)pn * sizeof(float));
            assert_memory_equal(p->opt.slot[0], s0, (size_t)pn * sizeof(float));
            if (which == 1) assert_int_equal(spti_csr_validate(p->csr), SPT_OK);
            spti_param_destroy(p);
        }
        assert_true(i >= 3);
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repattern_cases),   cmocka_unit_test(test_repattern_keeps_nnz),
        cmocka_unit_test(test_repattern_capacity), cmocka_unit_test(test_repattern_invalid),
        cmocka_unit_test(test_repattern_nomem),   cmocka_unit_test(test_param_sparsify_and_repattern),
        cmocka_unit_test(test_param_mask),        cmocka_unit_test(test_param_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
