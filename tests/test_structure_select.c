/* The selections of the structured drop/grow against brute force, on
 * single weights through the internal functions (src/sparsity/structure.h):
 * fanin and n:m rows drop their floor(f n_r) entries of smallest |w| and
 * grow the entries of largest |g| among the positions not kept (n:m: only
 * into groups with room); kernel layers move whole kernels by the L2 norms.
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
    for (int64_t r = 0; r < ROWS; r++) {
        int64_t nr = 0;
        for (int64_t c = 0; c < COLS; c++) nr += before.active[r * COLS + c];
        const int64_t kr = (int64_t)floor(fraction * (double)nr);
        /* Kept: the nr - kr active of largest |w|. */
        float w[COLS];
        int64_t idx[COLS], cols_of[COLS], n = 0;
        for (int64_t c = 0; c < COLS; c++)
            if (before.active[r * COLS + c]) {
                w[n] = fabsf(before.w[r * COLS + c]);
                cols_of[n++] = c;
            }
        dst_argsort(w, idx, n); /* ascending */
        uint8_t kept[COLS] = {0}, fill[COLS] = {0};
        for (int64_t j = kr; j < n; j++) {
            kept[cols_of[idx[j]]] = 1;
            fill[cols_of[idx[j]] / s->m]++;
        }
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
        cmocka_unit_test(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
