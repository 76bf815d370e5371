/* The selections of the structured drop/grow against brute force, on
 * single weights through the internal functions (src/sparsity/structure.h):
 * fanin and n:m layers drop their floor(f nnz) entries of smallest |w|
 * over the whole layer (SRigL), and each row grows back to its count the
 * entries of largest |g| among its positions not kept (n:m: only into
 * groups with room); kernel layers move whole kernels by the L2 norms.
 * Values are distinct in magnitude, so there are no ties. */
#include "test_dst_util.h"

enum { ROWS = 12, COLS = 30 };

/* A SPARSE weight under s, drawn by spti_structure_sample. */
static spti_param *structured(const spti_structure *s, int64_t planned, uint64_t seed) {
    spti_param *p = dst_weight("w", ROWS, COLS, seed);
    const int64_t nnz = spti_structure_nnz(s, ROWS, COLS, planned);
    int64_t *pos = malloc((size_t)nnz * sizeof *pos);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    assert_int_equal(spti_structure_sample(s, ROWS, COLS, nnz, &rng, pos), SPT_OK);
    assert_int_equal(spti_param_sparsify(p, pos, nnz), SPT_OK);
    free(pos);
    return p;
}

static void check_rows(const spti_structure *s, double fraction) {
    spti_param *p = structured(s, ROWS * 9, 3);
    dst_fill_dense_grad(p, 11);
    const float *g = p->result.dense_grad;
    dst_snap before = dst_snapshot(p);
    int64_t *pos = malloc((size_t)p->n * sizeof *pos), n_out = -1;
    assert_int_equal(spti_structure_drop_grow(s, p, fraction, g, 99, NULL, -1, pos, &n_out), SPT_OK);
    assert_int_equal(n_out, p->n);
    uint8_t after[ROWS * COLS] = {0};
    for (int64_t i = 0; i < n_out; i++) after[pos[i]] = 1;
    /* Kept: the nnz - k active of largest |w| over the layer. */
    const int64_t k = (int64_t)floor(fraction * (double)p->n);
    float wl[ROWS * COLS];
    int64_t order[ROWS * COLS], at[ROWS * COLS], na = 0;
    for (int64_t i = 0; i < ROWS * COLS; i++)
        if (before.active[i]) {
            wl[na] = fabsf(before.w[i]);
            at[na++] = i;
        }
    assert_int_equal(na, p->n);
    dst_argsort(wl, order, na); /* ascending */
    uint8_t kept_all[ROWS * COLS] = {0};
    for (int64_t j = k; j < na; j++) kept_all[at[order[j]]] = 1;
    int64_t dropped = 0, uneven = 0;
    for (int64_t r = 0; r < ROWS; r++) {
        int64_t nr = 0, kr = 0;
        int64_t idx[COLS];
        uint8_t kept[COLS] = {0}, fill[COLS] = {0};
        for (int64_t c = 0; c < COLS; c++) {
            nr += before.active[r * COLS + c];
            if (!kept_all[r * COLS + c]) continue;
            kept[c] = 1;
            fill[c / s->m]++;
        }
        for (int64_t c = 0; c < COLS; c++) kr += before.active[r * COLS + c] && !kept[c];
        dropped += kr;
        uneven += kr != (int64_t)floor(fraction * (double)nr); /* a per-row drop would differ here */
        /* Grown: candidates by descending |g|, skipping full groups. */
        float key[COLS];
        int64_t cand[COLS], m = 0;
        for (int64_t c = 0; c < COLS; c++)
            if (!kept[c]) {
                key[m] = -fabsf(g[r * COLS + c]);
                cand[m++] = c;
            }
        dst_argsort(key, idx, m);
        const int64_t cap = s->kind == SPT_STRUCTURE_NM ? s->n : COLS;
        int64_t grown = 0;
        for (int64_t j = 0; j < m && grown < kr; j++) {
            const int64_t c = cand[idx[j]];
            if (fill[c / s->m] >= cap) continue;
            fill[c / s->m]++;
            kept[c] = 1;
            grown++;
        }
        for (int64_t c = 0; c < COLS; c++) assert_int_equal(after[r * COLS + c], kept[c]);
    }
    assert_int_equal(dropped, k);
    if (fraction < 1.0) assert_true(uneven > 0);
    dst_snap_free(&before);
    free(pos);
    spti_param_destroy(p);
}

static void test_fanin_rows(void **state) {
    (void)state;
    const spti_structure s = {.kind = SPT_STRUCTURE_FANIN, .n = 2, .m = COLS};
    check_rows(&s, 0.3);
    check_rows(&s, 1.0);
}

static void test_nm_rows(void **state) {
    (void)state;
    const spti_structure s = {.kind = SPT_STRUCTURE_NM, .n = 2, .m = 5};
    check_rows(&s, 0.5);
    const spti_structure t = {.kind = SPT_STRUCTURE_NM, .n = 1, .m = 4}; /* 30 = 7 x 4 + 2 */
    check_rows(&t, 1.0);
}

/* SRigL's ablation on one fanin weight (f = 9, gamma 0.3: a row needs
 * floor(0.3 x 9) = 2 salient weights): a row of tiny weights and tiny
 * gradients is ablated, an empty row (ablated before) whose gradients are
 * the layer's largest comes back, and drop/grow gives every live row the
 * new fan-in round(budget / live). */
static void test_ablate_revive(void **state) {
    (void)state;
    spti_structure s = {.kind = SPT_STRUCTURE_FANIN, .n = 2, .m = COLS, .ablation = 0.3};
    spti_param *p = dst_weight("w", ROWS, COLS, 3);
    const int64_t f = 9, budget = ROWS * f;
    int64_t pos[ROWS * COLS], nnz = 0;
    for (int64_t r = 1; r < ROWS; r++) /* row 0 empty */
        for (int64_t c = 0; c < f; c++) pos[nnz++] = r * COLS + (c * 3 + r) % COLS;
    for (int64_t i = 1; i < nnz; i++) /* sorted within each row */
        for (int64_t j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
            const int64_t t = pos[j];
            pos[j] = pos[j - 1];
            pos[j - 1] = t;
        }
    assert_int_equal(spti_param_sparsify(p, pos, nnz), SPT_OK);
    dst_fill_dense_grad(p, 11);
    float *g = p->result.dense_grad;
    for (int64_t j = p->csr->row_ptr[1]; j < p->csr->row_ptr[2]; j++) p->value[j] = 1e-6f;
    for (int64_t c = 0; c < COLS; c++) {
        g[0 * COLS + c] = 100.0f + (float)c; /* row 0: the largest gradients */
        g[1 * COLS + c] = 1e-6f;             /* row 1: nothing salient */
    }
    uint8_t dead[ROWS];
    int64_t target = -1;
    assert_int_equal(spti_structure_ablate(&s, p, 0.3, g, budget, 7, dead, &target), SPT_OK);
    assert_int_equal(dead[0], 0); /* back */
    assert_int_equal(dead[1], 1); /* ablated */
    int64_t live = 0;
    for (int64_t r = 0; r < ROWS; r++) live += !dead[r];
    assert_int_equal(target, (int64_t)llround((double)budget / (double)live));
    int64_t out[ROWS * COLS], n_out = -1;
    assert_int_equal(spti_structure_drop_grow(&s, p, 0.3, g, 7, dead, target, out, &n_out), SPT_OK);
    assert_int_equal(n_out, live * target);
    int64_t count[ROWS] = {0};
    for (int64_t i = 0; i < n_out; i++) count[out[i] / COLS]++;
    for (int64_t r = 0; r < ROWS; r++) assert_int_equal(count[r], dead[r] ? 0 : target);
    /* Row 0 came back with its target positions of largest gradient: the last columns. */
    for (int64_t i = 0; i < target; i++) assert_int_equal(out[i], COLS - target + i);
    spti_param_destroy(p);
}

/* Kernels of a 4 x 3 x 3 x 3 convolution (rows 4, cols 27, kernels of 9). */
static void test_kernels(void **state) {
    (void)state;
    spti_param *p = NULL;
    int64_t shape[4] = {4, 3, 3, 3};
    assert_int_equal(spti_param_create("conv", 4, shape, true, &p), SPT_OK);
    for (int64_t i = 0; i < 108; i++) p->value[i] = 0.01f * (float)((i * 37) % 108 + 1) * (i % 2 ? -1.0f : 1.0f);
    const spti_structure s = {.kind = SPT_STRUCTURE_KERNEL};
    assert_int_equal(spti_structure_group(&s, p), 9);
    const int64_t nnz = spti_structure_kernel_nnz(9, 108, 50); /* round(50 / 9) = 6 kernels */
    assert_int_equal(nnz, 54);
    int64_t pos[108];
    spti_rng rng;
    spti_rng_seed(&rng, 4);
    assert_int_equal(spti_structure_kernel_sample(9, 108, nnz, &rng, pos), SPT_OK);
    for (int64_t i = 0; i < nnz; i++) assert_int_equal(pos[i] % 9, i % 9); /* whole kernels */
    assert_int_equal(spti_param_sparsify(p, pos, nnz), SPT_OK);
    dst_fill_dense_grad(p, 8);
    dst_snap before = dst_snapshot(p);
    int64_t out[54];
    assert_int_equal(spti_structure_kernel_drop_grow(p, 9, 0.5, p->result.dense_grad, 5, out), SPT_OK);
    /* Brute force: the 3 active kernels of largest weight norm stay, the 3
     * of largest gradient norm among the other 9 grow. */
    float wn[12], gn[12];
    for (int q = 0; q < 12; q++) {
        double a = 0, b = 0;
        for (int i = 0; i < 9; i++) {
            a += (double)before.w[q * 9 + i] * before.w[q * 9 + i];
            b += (double)p->result.dense_grad[q * 9 + i] * p->result.dense_grad[q * 9 + i];
        }
        wn[q] = before.active[q * 9] ? -(float)sqrt(a) : 0.0f; /* ascending: largest norm first */
        gn[q] = -(float)sqrt(b);
    }
    int64_t idx[12];
    uint8_t kept[12] = {0};
    dst_argsort(wn, idx, 12);
    for (int j = 0; j < 3; j++) kept[idx[j]] = 1;
    for (int q = 0; q < 12; q++)
        if (kept[q]) gn[q] = INFINITY;
    dst_argsort(gn, idx, 12);
    for (int j = 0; j < 3; j++) kept[idx[j]] = 1;
    int64_t k = 0;
    for (int q = 0; q < 12; q++)
        if (kept[q])
            for (int i = 0; i < 9; i++) assert_int_equal(out[k++], q * 9 + i);
    assert_int_equal(k, 54);
    dst_snap_free(&before);
    spti_param_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanin_rows),
        cmocka_unit_test(test_nm_rows),
        cmocka_unit_test(test_ablate_revive),
        cmocka_unit_test(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
