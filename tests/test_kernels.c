/* Sparse kernels (spmm, spmm_t, sddmm) at every SIMD level and thread count
 * against the naive references, and the public wrappers' validation. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/csr.h"
#include "test_support.h"

static const double TOL = 1e-4;

/* rows x cols CSR built through the internal allocator. kind: 0 random with
 * the given density (some rows left empty), 1 a single nonzero, 2 dense
 * (every entry), 3 no nonzero at all. */
static spt_csr *make_csr(int64_t rows, int64_t cols, double density, int kind, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    int64_t cap = rows * cols;
    uint8_t *on = calloc((size_t)cap + 1, 1);
    int64_t nnz = 0;
    for (int64_t p = 0; p < cap; p++) {
        bool keep = kind == 2 || (kind == 0 && (p / cols) % 5 != 3 && spti_rng_uniform(&rng) < density);
        on[p] = keep;
        nnz += keep;
    }
    if (kind == 1) {
        on[(rows / 2) * cols + cols / 3] = 1;
        nnz = 1;
    }
    spt_csr *m;
    assert_int_equal(spti_csr_alloc(rows, cols, nnz, &m), SPT_OK);
    int64_t k = 0;
    for (int64_t p = 0; p < cap; p++)
        if (on[p]) {
            m->row_ptr[p / cols + 1]++;
            m->col_idx[k] = (int32_t)(p % cols);
            m->values[k++] = spti_rng_uniform(&rng) * 2.0f - 1.0f;
        }
    for (int64_t r = 0; r < rows; r++) m->row_ptr[r + 1] += m->row_ptr[r];
    spti_csr_build_transpose(m);
    free(on);
    return m;
}

static float *rand_buf(int64_t n, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    float *a = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) a[i] = spti_rng_uniform(&rng) * 2.0f - 1.0f;
    return a;
}

static float *copy_buf(const float *a, int64_t n) {
    float *b = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    memcpy(b, a, (size_t)n * sizeof(float));
    return b;
}

/* All three products of one matrix at one N, checked against the references
 * at the current SIMD level and thread count. */
static void check_products(const spt_csr *W, int64_t N, uint64_t seed) {
    const int64_t out = W->rows, in = W->cols;
    float *X = rand_buf(in * N, seed + 1), *dY = rand_buf(out * N, seed + 2), *bias = rand_buf(out, seed + 3);
    float *Y = rand_buf(out * N, 9), *Yr = rand_buf(out * N, 10);
    for (int b = 0; b < 2; b++) {
        spti_spmm(W, X, N, b ? bias : NULL, Y);
        spti_ref_spmm(W, X, N, b ? bias : NULL, Yr);
        assert_true(spt_test_max_rel_err(Y, Yr, out * N) < TOL);
    }
    float *dX0 = rand_buf(in * N, seed + 4), *wt = malloc((size_t)(W->nnz + 1) * sizeof(float));
    spti_csr_gather_t(W, wt);
    for (int acc = 0; acc < 2; acc++)
        for (int via = 0; via < 3; via++) {
            float *dX = copy_buf(dX0, in * N), *dXr = copy_buf(dX0, in * N);
            if (via == 0) spti_spmm_t(W, dY, N, dX, acc);
            if (via == 1) spti_spmm_t_vals(W, wt, dY, N, dX, acc);
            if (via == 2) assert_int_equal(spt_csr_spmm_t(W, dY, out, N, dX, in, acc), SPT_OK);
            spti_ref_spmm_t(W, dY, N, dXr, acc);
            assert_true(spt_test_max_rel_err(dX, dXr, in * N) < TOL);
            free(dX);
            free(dXr);
        }
    float *dW0 = rand_buf(W->nnz, seed + 5);
    for (int acc = 0; acc < 2; acc++) {
        float *dW = copy_buf(dW0, W->nnz), *dWr = copy_buf(dW0, W->nnz);
        spti_sddmm(W, dY, X, N, dW, acc);
        spti_ref_sddmm(W, dY, X, N, dWr, acc);
        assert_true(spt_test_max_rel_err(dW, dWr, W->nnz) < TOL);
        free(dW);
        free(dWr);
    }
    /* Both backward products in one pass (AVX-512 machines; elsewhere it
     * reports false and writes nothing), every accumulate combination: the
     * references', and dW bit for bit the SDDMM's in one window. */
    float *dWt = malloc((size_t)(W->nnz + 1) * sizeof(float));
    for (int acc = 0; acc < 4; acc++) {
        float *dX = copy_buf(dX0, in * N), *dXr = copy_buf(dX0, in * N);
        float *dW = copy_buf(dW0, W->nnz), *dWr = copy_buf(dW0, W->nnz), *dWs = copy_buf(dW0, W->nnz);
        const bool ax = acc & 1, aw = acc & 2;
        const bool ran = spti_backward_fused(W, wt, dY, X, N, dX, ax, dW, aw, dWt);
        assert_true(ran == (spti_simd_level() >= 2));
        if (ran) {
            spti_ref_spmm_t(W, dY, N, dXr, ax);
            spti_ref_sddmm(W, dY, X, N, dWr, aw);
            assert_true(spt_test_max_rel_err(dX, dXr, in * N) < TOL);
            assert_true(spt_test_max_rel_err(dW, dWr, W->nnz) < TOL);
            spti_sddmm(W, dY, X, N, dWs, aw);
            if (N <= 128) assert_memory_equal(dW, dWs, (size_t)W->nnz * sizeof(float));
        } else {
            assert_memory_equal(dX, dX0, (size_t)(in * N) * sizeof(float));
            assert_memory_equal(dW, dW0, (size_t)W->nnz * sizeof(float));
        }
        free(dX), free(dXr), free(dW), free(dWr), free(dWs);
    }
    free(dWt);
    free(X), free(dY), free(bias), free(Y), free(Yr), free(dX0), free(wt), free(dW0);
}

static void run_all_levels(const spt_csr *W, const int64_t *Ns, int nN, uint64_t seed) {
    for (int lvl = 0; lvl <= 2; lvl++)
        for (int t = 1; t <= 2; t++) {
            assert_int_equal(spt_set_simd_level(lvl), SPT_OK);
            assert_int_equal(spt_set_num_threads(t), SPT_OK);
            for (int i = 0; i < nN; i++) check_products(W, Ns[i], seed + (uint64_t)i);
        }
    spt_set_simd_level(2);
    spt_set_num_threads(0);
}

static const int64_t ODD_N[] = {1, 3, 16, 17, 33, 64, 130};

static void test_random_shapes(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{37, 53}, {64, 64}, {5, 200}, {200, 7}};
    const double dens[] = {0.05, 0.3};
    for (int s = 0; s < 4; s++)
        for (int d = 0; d < 2; d++) {
            spt_csr *W = make_csr(shapes[s][0], shapes[s][1], dens[d], 0, 100 + s * 2 + d);
            run_all_levels(W, ODD_N, 7, 1000 + s);
            spt_csr_destroy(W);
        }
}

static void test_special_patterns(void **state) {
    (void)state;
    for (int kind = 1; kind <= 3; kind++) {
        spt_csr *W = make_csr(23, 41, 0.0, kind, 7 + kind);
        run_all_levels(W, ODD_N, 7, 2000 + kind);
        spt_csr_destroy(W);
    }
}

/* Batches above 128 are cut into several windows (dW adds their parts). */
static void test_windowed_batch(void **state) {
    (void)state;
    spt_csr *W = make_csr(96, 3000, 0.02, 0, 55);
    const int64_t Ns[] = {130, 200};
    run_all_levels(W, Ns, 2, 3000);
    spt_csr_destroy(W);
}

/* Batch 1 (spti_spmv): both variants against the reference, on rows of
 * every length around the 16- and 64-wide steps (0 to 150 nonzeros), empty
 * rows, a single nonzero, a dense matrix, with and without bias; each
 * variant gives the same bytes on 1 and 2 threads (large enough to run in
 * parallel). */
static void test_spmv(void **state) {
    (void)state;
    /* Ws[0]: 151 x 150, row r has min(r, 150) nonzeros; a single nonzero;
     * a dense matrix; no nonzero at all */
    spt_csr *Ws[4] = {NULL, make_csr(40, 30, 0.0, 1, 2), make_csr(37, 70, 0.0, 2, 3), make_csr(151, 150, 0.0, 3, 4)};
    {
        int64_t nnz = 0;
        for (int64_t r = 0; r < 151; r++) nnz += r < 150 ? r : 150;
        spt_csr *m;
        assert_int_equal(spti_csr_alloc(151, 150, nnz, &m), SPT_OK);
        spti_rng rng;
        spti_rng_seed(&rng, 5);
        int64_t k = 0;
        for (int64_t r = 0; r < 151; r++) {
            const int64_t len = r < 150 ? r : 150;
            for (int64_t j = 0; j < len; j++) {
                m->col_idx[k] = (int32_t)(j * 150 / (len ? len : 1));
                m->values[k++] = spti_rng_uniform(&rng) * 2.0f - 1.0f;
            }
            m->row_ptr[r + 1] = k;
        }
        spti_csr_build_transpose(m);
        Ws[0] = m;
    }
    for (int w = 0; w < 4; w++) {
        const spt_csr *W = Ws[w];
        float *x = rand_buf(W->cols, 10 + w), *bias = rand_buf(W->rows, 20 + w);
        float *y = rand_buf(W->rows, 30), *yr = rand_buf(W->rows, 31);
        for (int v = 0; v < 2; v++)
            for (int b = 0; b < 2; b++) {
                spti_spmv_set_variant(v);
                spti_spmv(W, x, b ? bias : NULL, y);
                spti_ref_spmm(W, x, 1, b ? bias : NULL, yr);
                assert_true(spt_test_max_rel_err(y, yr, W->rows) < TOL);
            }
        free(x), free(bias), free(y), free(yr);
    }
    spt_csr *big = make_csr(600, 500, 0.3, 0, 9); /* > 2^15 nonzeros: parallel */
    float *x = rand_buf(500, 1), *y1 = malloc(600 * sizeof(float)), *y2 = malloc(600 * sizeof(float));
    for (int v = 0; v < 2; v++) {
        spti_spmv_set_variant(v);
        spt_set_num_threads(1);
        spti_spmv(big, x, NULL, y1);
        spt_set_num_threads(2);
        spti_spmv(big, x, NULL, y2);
        assert_memory_equal(y1, y2, 600 * sizeof(float));
    }
    spt_set_num_threads(0);
    spti_spmv_set_variant(-1);
    free(x), free(y1), free(y2);
    spt_csr_destroy(big);
    for (int w = 0; w < 4; w++) spt_csr_destroy(Ws[w]);
}

/* Results do not depend on the thread count (one thread per output). */
static void test_thread_count_invariance(void **state) {
    (void)state;
    spt_csr *W = make_csr(300, 200, 0.1, 0, 77);
    const int64_t N = 33;
    float *X = rand_buf(200 * N, 1), *dY = rand_buf(300 * N, 2);
    float *Y1 = malloc(300 * N * sizeof(float)), *Y2 = malloc(300 * N * sizeof(float));
    float *dX1 = malloc(200 * N * sizeof(float)), *dX2 = malloc(200 * N * sizeof(float));
    float *dW1 = malloc((size_t)W->nnz * sizeof(float)), *dW2 = malloc((size_t)W->nnz * sizeof(float));
    spt_set_num_threads(1);
    spti_spmm(W, X, N, NULL, Y1);
    spti_spmm_t(W, dY, N, dX1, false);
    spti_sddmm(W, dY, X, N, dW1, false);
    spt_set_num_threads(2);
    spti_spmm(W, X, N, NULL, Y2);
    spti_spmm_t(W, dY, N, dX2, false);
    spti_sddmm(W, dY, X, N, dW2, false);
    /* the fused backward too */
    float *wt = malloc((size_t)W->nnz * sizeof(float)), *dWt = malloc((size_t)W->nnz * sizeof(float));
    float *fX[2], *fW[2];
    spti_csr_gather_t(W, wt);
    for (int t = 0; t < 2; t++) {
        fX[t] = malloc(200 * N * sizeof(float)), fW[t] = malloc((size_t)W->nnz * sizeof(float));
        spt_set_num_threads(t + 1);
        if (!spti_backward_fused(W, wt, dY, X, N, fX[t], false, fW[t], false, dWt)) {
            memcpy(fX[t], dX1, 200 * N * sizeof(float));
            memcpy(fW[t], dW1, (size_t)W->nnz * sizeof(float));
        }
    }
    assert_memory_equal(fX[0], fX[1], 200 * N * sizeof(float));
    assert_memory_equal(fW[0], fW[1], (size_t)W->nnz * sizeof(float));
    free(wt), free(dWt), free(fX[0]), free(fX[1]), free(fW[0]), free(fW[1]);
    spt_set_num_threads(0);
    assert_memory_equal(Y1, Y2, 300 * N * sizeof(float));
    assert_memory_equal(dX1, dX2, 200 * N * sizeof(float));
    assert_memory_equal(dW1, dW2, (size_t)W->nnz * sizeof(float));
    free(X), free(dY), free(Y1), free(Y2), free(dX1), free(dX2), free(dW1), free(dW2);
    spt_csr_destroy(W);
}

static void test_split_points(void **state) {
    (void)state;
    /* Rows with 0, 10, 0, 10, 100, 0 nonzeros: cost of [0,i) = ptr[i] + i. */
    const int64_t ptr[] = {0, 0, 10, 10, 20, 120, 120};
    assert_int_equal(spti_split_point(ptr, 6, 2, 0), 0);
    assert_int_equal(spti_split_point(ptr, 6, 2, 2), 6);
    /* total 126, half 63: first i with ptr[i]+i >= 63 is 5 (125). */
    assert_int_equal(spti_split_point(ptr, 6, 2, 1), 5);
    int64_t prev = 0;
    for (int p = 0; p <= 4; p++) {
        int64_t s = spti_split_point(ptr, 6, 4, p);
        assert_true(s >= prev);
        prev = s;
    }
    const int64_t empty[] = {0};
    assert_int_equal(spti_split_point(empty, 0, 2, 1), 0);
}

static void test_public_validation(void **state) {
    (void)state;
    spt_csr *W = make_csr(6, 4, 0.5, 0, 3);
    float X[4 * 3] = {0}, Y[6 * 3], dY[6 * 3] = {0}, dX[4 * 3], dW[64];
    assert_status(spt_csr_spmm(NULL, X, 4, 3, NULL, Y, 6), SPT_ERR_NULL);
    assert_status(spt_csr_spmm(W, NULL, 4, 3, NULL, Y, 6), SPT_ERR_NULL);
    assert_status(spt_csr_spmm(W, X, 4, 3, NULL, NULL, 6), SPT_ERR_NULL);
    assert_status(spt_csr_spmm(W, X, 5, 3, NULL, Y, 6), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm(W, X, 4, 3, NULL, Y, 7), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm(W, X, 4, 0, NULL, Y, 6), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm(W, X, 4, -2, NULL, Y, 6), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm(W, X, 4, INT64_MAX / 2, NULL, Y, 6), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm(W, X, 4, 3, NULL, Y, 6), SPT_OK);

    assert_status(spt_csr_spmm_t(NULL, dY, 6, 3, dX, 4, 0), SPT_ERR_NULL);
    assert_status(spt_csr_spmm_t(W, NULL, 6, 3, dX, 4, 0), SPT_ERR_NULL);
    assert_status(spt_csr_spmm_t(W, dY, 6, 3, NULL, 4, 0), SPT_ERR_NULL);
    assert_status(spt_csr_spmm_t(W, dY, 4, 3, dX, 6, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm_t(W, dY, 6, 0, dX, 4, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_spmm_t(W, dY, 6, 3, dX, 4, 1), SPT_OK);

    assert_status(spt_csr_sddmm(NULL, dY, 6, X, 4, 3, dW, W->nnz, 0), SPT_ERR_NULL);
    assert_status(spt_csr_sddmm(W, NULL, 6, X, 4, 3, dW, W->nnz, 0), SPT_ERR_NULL);
    assert_status(spt_csr_sddmm(W, dY, 6, NULL, 4, 3, dW, W->nnz, 0), SPT_ERR_NULL);
    assert_status(spt_csr_sddmm(W, dY, 6, X, 4, 3, NULL, W->nnz, 0), SPT_ERR_NULL);
    assert_status(spt_csr_sddmm(W, dY, 6, X, 4, 3, dW, W->nnz + 1, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_sddmm(W, dY, 6, X, 3, 3, dW, W->nnz, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_sddmm(W, dY, 5, X, 4, 3, dW, W->nnz, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_sddmm(W, dY, 6, X, 4, 3, dW, W->nnz, 0), SPT_OK);
    spt_csr_destroy(W);
}

/* The public wrappers give the reference results (and spmm_t's scratch
 * allocation failure is reported and leaks nothing). */
static void test_public_results_and_nomem(void **state) {
    (void)state;
    spt_csr *W = make_csr(20, 30, 0.2, 0, 5);
    const int64_t N = 17;
    float *X = rand_buf(30 * N, 1), *dY = rand_buf(20 * N, 2), *b = rand_buf(20, 3);
    float *Y = rand_buf(20 * N, 4), *Yr = rand_buf(20 * N, 4);
    float *dX = rand_buf(30 * N, 5), *dXr = copy_buf(dX, 30 * N);
    float *dW = rand_buf(W->nnz, 6), *dWr = copy_buf(dW, W->nnz);
    assert_int_equal(spt_csr_spmm(W, X, 30, N, b, Y, 20), SPT_OK);
    spti_ref_spmm(W, X, N, b, Yr);
    assert_true(spt_test_max_rel_err(Y, Yr, 20 * N) < TOL);
    assert_int_equal(spt_csr_sddmm(W, dY, 20, X, 30, N, dW, W->nnz, 1), SPT_OK);
    spti_ref_sddmm(W, dY, X, N, dWr, true);
    assert_true(spt_test_max_rel_err(dW, dWr, W->nnz) < TOL);

    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spt_csr_spmm_t(W, dY, 20, N, dX, 30, 0), SPT_ERR_NOMEM);
    assert_memory_equal(dX, dXr, 30 * N * sizeof(float)); /* untouched */
    assert_int_equal(spt_test_alloc_live(), 0);
    assert_int_equal(spt_csr_spmm_t(W, dY, 20, N, dX, 30, 0), SPT_OK);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    spti_ref_spmm_t(W, dY, N, dXr, false);
    assert_true(spt_test_max_rel_err(dX, dXr, 30 * N) < TOL);
    free(X), free(dY), free(b), free(Y), free(Yr), free(dX), free(dXr), free(dW), free(dWr);
    spt_csr_destroy(W);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_special_patterns),
        cmocka_unit_test(test_windowed_batch),
        cmocka_unit_test(test_spmv),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_split_points),
        cmocka_unit_test(test_public_validation),
        cmocka_unit_test(test_public_results_and_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
