/* Path dispatch: both paths give the same products, the choice is cached
 * and stable, the dense gemm wrappers refuse oversized dimensions. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/csr.h"
#include "test_support.h"

static spt_csr *make_csr(int64_t rows, int64_t cols, double density, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    int64_t cap = rows * cols, nnz = 0;
    uint8_t *on = calloc((size_t)cap, 1);
    for (int64_t p = 0; p < cap; p++) nnz += on[p] = spti_rng_uniform(&rng) < density;
    spt_csr *m;
    assert_int_equal(spti_csr_alloc(rows, cols, nnz, &m), SPT_OK);
    int64_t k = 0;
    for (int64_t p = 0; p < cap; p++)
        if (on[p]) {
            m->row_ptr[p / cols + 1]++;
            m->col_idx[k] = (int32_t)(p % cols);
            m->values[k++] = spti_rng_uniform(&rng) - 0.5f;
        }
    for (int64_t r = 0; r < rows; r++) m->row_ptr[r + 1] += m->row_ptr[r];
    spti_csr_build_transpose(m);
    free(on);
    return m;
}

static float *rand_buf(int64_t n, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    float *a = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) a[i] = spti_rng_uniform(&rng) - 0.5f;
    return a;
}

static void force(spti_csr_ws *ws, const spt_csr *W, int64_t N, spti_path p) {
    ws->path = p;
    ws->decided_nnz = W->nnz;
    ws->decided_N = N;
}

static void test_paths_agree(void **state) {
    (void)state;
    const int64_t out = 45, in = 70;
    const int64_t Ns[] = {1, 17, 64};
    for (int t = 1; t <= 2; t++)
        for (int ni = 0; ni < 3; ni++) {
            spt_set_num_threads(t);
            const int64_t N = Ns[ni];
            spt_csr *W = make_csr(out, in, 0.3, 11 + (uint64_t)ni);
            float *X = rand_buf(in * N, 1), *dY = rand_buf(out * N, 2), *b = rand_buf(out, 3);
            float *Y[2], *dX[2], *dW[2];
            for (int p = 0; p < 2; p++) {
                spti_csr_ws ws = {0};
                force(&ws, W, N, (spti_path)p);
                Y[p] = malloc(out * N * sizeof(float));
                dX[p] = rand_buf(in * N, 4);
                dW[p] = rand_buf(W->nnz, 5);
                assert_int_equal(spti_csr_forward(W, X, N, b, Y[p], &ws), SPT_OK);
                /* accumulate into dX, overwrite dW; then again accumulating dW */
                assert_int_equal(spti_csr_backward(W, X, dY, N, dX[p], true, dW[p], false, &ws), SPT_OK);
                assert_int_equal(spti_csr_backward(W, X, dY, N, NULL, false, dW[p], true, &ws), SPT_OK);
                assert_int_equal(ws.path, (spti_path)p); /* the forced path was kept */
                spti_csr_ws_release(&ws);
                assert_null(ws.Wd);
            }
            assert_true(spt_test_max_rel_err(Y[1], Y[0], out * N) < 1e-4);
            assert_true(spt_test_max_rel_err(dX[1], dX[0], in * N) < 1e-4);
            assert_true(spt_test_max_rel_err(dW[1], dW[0], W->nnz) < 1e-4);
            /* and against the reference */
            float *Yr = malloc(out * N * sizeof(float));
            spti_ref_spmm(W, X, N, b, Yr);
            assert_true(spt_test_max_rel_err(Y[0], Yr, out * N) < 1e-4);
            free(Yr);
            for (int p = 0; p < 2; p++) free(Y[p]), free(dX[p]), free(dW[p]);
            free(X), free(dY), free(b);
            spt_csr_destroy(W);
        }
    spt_set_num_threads(0);
}

/* rows x cols with the rows r where keep(r) whole (every column) and the
 * others empty: a channel-pruned weight. */
static spt_csr *whole_rows_csr(int64_t rows, int64_t cols, int every, uint64_t seed) {
    int64_t kept = 0;
    for (int64_t r = 0; r < rows; r++) kept += every > 0 && r % every == 0;
    spt_csr *m;
    assert_int_equal(spti_csr_alloc(rows, cols, kept * cols, &m), SPT_OK);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (every > 0 && r % every == 0)
            for (int64_t c = 0; c < cols; c++, k++) {
                m->col_idx[k] = (int32_t)c;
                m->values[k] = spti_rng_uniform(&rng) - 0.5f;
            }
        m->row_ptr[r + 1] = k;
    }
    spti_csr_build_transpose(m);
    return m;
}

/* One forward and both backward products of W on the channel path (flag
 * set) against the naive references, accumulating or not; and the bytes of
 * 1 and 2 threads equal. */
static void channel_case(const spt_csr *W, int64_t N) {
    const int64_t out = W->rows, in = W->cols;
    float *X = rand_buf(in * N, 1), *dY = rand_buf(out * N, 2), *b = rand_buf(out, 3);
    float *Yr = malloc((size_t)(out * N) * sizeof(float)), *Y[2], *dX[2], *dW[2];
    for (int acc = 0; acc < 2; acc++) {
        float *dXr = rand_buf(in * N, 4), *dWr = rand_buf(W->nnz + 1, 5);
        spti_ref_spmm(W, X, N, b, Yr);
        spti_ref_spmm_t(W, dY, N, dXr, acc);
        spti_ref_sddmm(W, dY, X, N, dWr, acc);
        for (int t = 0; t < 2; t++) {
            spt_set_num_threads(t + 1);
            spti_csr_ws ws = {.channel = true};
            Y[t] = malloc((size_t)(out * N) * sizeof(float));
            dX[t] = rand_buf(in * N, 4);
            dW[t] = rand_buf(W->nnz + 1, 5);
            assert_int_equal(spti_csr_forward(W, X, N, b, Y[t], &ws), SPT_OK);
            assert_int_equal(spti_csr_backward(W, X, dY, N, dX[t], acc, dW[t], acc, &ws), SPT_OK);
            /* no dense copy: the kept rows are used as they are */
            assert_null(ws.Wd);
            assert_null(ws.wt);
            spti_csr_ws_release(&ws);
            assert_true(ws.channel); /* the owner's flag survives a release */
            assert_null(ws.kept);
        }
        assert_true(spt_test_max_rel_err(Y[0], Yr, out * N) < 1e-5);
        assert_true(spt_test_max_rel_err(dX[0], dXr, in * N) < 1e-5);
        assert_true(spt_test_max_rel_err(dW[0], dWr, W->nnz) < 1e-5);
        assert_memory_equal(Y[0], Y[1], (size_t)(out * N) * sizeof(float));
        assert_memory_equal(dX[0], dX[1], (size_t)(in * N) * sizeof(float));
        assert_memory_equal(dW[0], dW[1], (size_t)W->nnz * sizeof(float));
        for (int t = 0; t < 2; t++) free(Y[t]), free(dX[t]), free(dW[t]);
        free(dXr), free(dWr);
    }
    spt_set_num_threads(0);
    free(X), free(dY), free(b), free(Yr);
}

static void test_channel_path(void **state) {
    (void)state;
    const int64_t Ns[] = {1, 17, 64};
    const int everys[] = {0, 1, 3, 7}; /* no row, every row, a third, a seventh */
    for (int i = 0; i < 3; i++)
        for (int e = 0; e < 4; e++) {
            spt_csr *W = whole_rows_csr(45, 70, everys[e], 20 + (uint64_t)e);
            channel_case(W, Ns[i]);
            spt_csr_destroy(W);
        }
    /* A weight whose rows are not whole ignores the flag: the same bytes as
     * without it. And the kept-rows buffer that cannot be had falls back to
     * the other paths, with the same values. */
    spt_csr *P = make_csr(45, 70, 0.3, 31), *C = whole_rows_csr(45, 70, 3, 32);
    const spt_csr *Ws[2] = {P, C};
    for (int w = 0; w < 2; w++) {
        const spt_csr *W = Ws[w];
        const int64_t N = 17;
        float *X = rand_buf(70 * N, 1), *Y0 = malloc(45 * N * sizeof(float)), *Y1 = malloc(45 * N * sizeof(float));
        spti_csr_ws plain = {0}, flagged = {.channel = true};
        assert_int_equal(spti_csr_forward(W, X, N, NULL, Y0, &plain), SPT_OK);
        if (w == 0) {
            assert_int_equal(spti_csr_forward(W, X, N, NULL, Y1, &flagged), SPT_OK);
            assert_memory_equal(Y0, Y1, 45 * N * sizeof(float));
            assert_null(flagged.kept);
        } else {
            spt_test_alloc_install();
            spt_test_alloc_fail_at(0);
            assert_int_equal(spti_csr_forward(W, X, N, NULL, Y1, &flagged), SPT_OK);
            spt_test_alloc_uninstall();
            assert_true(spt_test_max_rel_err(Y1, Y0, 45 * N) < 1e-5);
        }
        /* SPT_DISPATCH_SPARSE forces the sparse kernels whatever the flag. */
        spti_csr_ws_release(&plain);
        spti_csr_ws_release(&flagged);
        assert_int_equal(spt_set_dispatch_mode(SPT_DISPATCH_SPARSE), SPT_OK);
        assert_int_equal(spti_csr_forward(W, X, N, NULL, Y0, &plain), SPT_OK);
        assert_int_equal(spti_csr_forward(W, X, N, NULL, Y1, &flagged), SPT_OK);
        assert_memory_equal(Y0, Y1, 45 * N * sizeof(float));
        assert_null(flagged.kept);
        assert_int_equal(spt_set_dispatch_mode(SPT_DISPATCH_THRESHOLD), SPT_OK);
        spti_csr_ws_release(&plain);
        spti_csr_ws_release(&flagged);
        free(X), free(Y0), free(Y1);
    }
    spt_csr_destroy(P);
    spt_csr_destroy(C);
}

static void test_choice_cached_and_stable(void **state) {
    (void)state;
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_TIMED), SPT_OK);
    spti_dispatch_reset();
    /* Very sparse: sparse without timing. */
    assert_int_equal(spti_choose_path(512, 512, 512 * 512 / 100, 32), SPTI_PATH_SPARSE);
    assert_int_equal(spti_choose_path(0, 10, 0, 4), SPTI_PATH_SPARSE);
    /* Denser classes are timed once, then answered from the cache. */
    const int64_t shapes[][4] = {{64, 64, 64 * 64, 16}, {128, 96, 128 * 96 / 3, 33}, {200, 300, 200 * 300 / 8, 8}};
    for (int s = 0; s < 3; s++) {
        spti_path p = spti_choose_path(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        assert_true(p == SPTI_PATH_SPARSE || p == SPTI_PATH_DENSE);
        for (int rep = 0; rep < 3; rep++)
            assert_int_equal(spti_choose_path(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]), p);
    }
    /* A layer's workspace keeps its decision while nnz and N stay. */
    spt_csr *W = make_csr(64, 64, 0.5, 3);
    float *X = rand_buf(64 * 16, 1), *Y = malloc(64 * 16 * sizeof(float));
    spti_csr_ws ws = {0};
    assert_int_equal(spti_csr_forward(W, X, 16, NULL, Y, &ws), SPT_OK);
    spti_path first = ws.path;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(spti_csr_forward(W, X, 16, NULL, Y, &ws), SPT_OK);
        assert_int_equal(ws.path, first);
    }
    float *Yr = malloc(64 * 16 * sizeof(float));
    spti_ref_spmm(W, X, 16, NULL, Yr);
    assert_true(spt_test_max_rel_err(Y, Yr, 64 * 16) < 1e-4);
    spti_csr_ws_release(&ws);
    spti_csr_ws_release(NULL);
    free(X), free(Y), free(Yr);
    spt_csr_destroy(W);
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_THRESHOLD), SPT_OK);
}

static void test_dense_path_nomem(void **state) {
    (void)state;
    spt_csr *W = make_csr(30, 20, 0.5, 9);
    float *X = rand_buf(20 * 8, 1), *Y = malloc(30 * 8 * sizeof(float));
    spti_csr_ws ws = {0};
    force(&ws, W, 8, SPTI_PATH_DENSE);
    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_status(spti_csr_forward(W, X, 8, NULL, Y, &ws), SPT_ERR_NOMEM);
    assert_int_equal(spti_csr_forward(W, X, 8, NULL, Y, &ws), SPT_OK);
    spti_csr_ws_release(&ws);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    free(X), free(Y);
    spt_csr_destroy(W);
}

/* If the transposed-values scratch cannot be allocated, the sparse backward
 * still succeeds (reading through csr_pos) with the same result. */
static void test_sparse_backward_without_scratch(void **state) {
    (void)state;
    spt_csr *W = make_csr(40, 30, 0.3, 4);
    const int64_t N = 9;
    float *X = rand_buf(30 * N, 1), *dY = rand_buf(40 * N, 2);
    float *dX = malloc(30 * N * sizeof(float)), *dXr = malloc(30 * N * sizeof(float));
    spti_csr_ws ws = {0};
    force(&ws, W, N, SPTI_PATH_SPARSE);
    spt_test_alloc_install();
    spt_test_alloc_fail_at(0);
    assert_int_equal(spti_csr_backward(W, X, dY, N, dX, false, NULL, false, &ws), SPT_OK);
    assert_null(ws.wt);
    spti_ref_spmm_t(W, dY, N, dXr, false);
    assert_true(spt_test_max_rel_err(dX, dXr, 30 * N) < 1e-4);
    assert_int_equal(spti_csr_backward(W, X, dY, N, dX, false, NULL, false, &ws), SPT_OK);
    assert_non_null(ws.wt);
    assert_true(spt_test_max_rel_err(dX, dXr, 30 * N) < 1e-4);
    spti_csr_ws_release(&ws);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    free(X), free(dY), free(dX), free(dXr);
    spt_csr_destroy(W);
}

static void test_gemm_int_max(void **state) {
    (void)state;
    float a = 1, b = 1, c = 0;
    assert_status(spti_gemm_fwd(&a, (int64_t)INT_MAX + 1, 1, &b, 1, NULL, &c), SPT_ERR_SIZE);
    assert_status(spti_gemm_dx(&a, 1, (int64_t)INT_MAX + 1, &b, 1, &c, false), SPT_ERR_SIZE);
    assert_status(spti_gemm_dw(&a, 1, &b, 1, (int64_t)INT_MAX + 1, &c, false), SPT_ERR_SIZE);
    float W[6] = {1, 2, 3, 4, 5, 6}, X[3] = {1, 1, 1}, Y[2], bias[2] = {10, 20};
    assert_int_equal(spti_gemm_fwd(W, 2, 3, X, 1, bias, Y), SPT_OK);
    assert_true(Y[0] == 16.0f && Y[1] == 35.0f);
}

/* A fixed mode overrides the timed choice; AUTO gives it back. */
static void test_dispatch_mode(void **state) {
    (void)state;
    assert_int_equal(spt_get_dispatch_mode(), SPT_DISPATCH_THRESHOLD);
    assert_status(spt_set_dispatch_mode(4), SPT_ERR_INVALID);
    assert_status(spt_set_dispatch_mode(-1), SPT_ERR_INVALID);
    assert_int_equal(spt_get_dispatch_mode(), SPT_DISPATCH_THRESHOLD);
    /* The default rule: dense from the threshold density up, deterministic. */
    assert_true(spt_get_dispatch_threshold() == 0.4);
    assert_int_equal(spti_choose_path(100, 100, 3999, 32), SPTI_PATH_SPARSE);
    assert_int_equal(spti_choose_path(100, 100, 4000, 32), SPTI_PATH_DENSE);
    assert_status(spt_set_dispatch_threshold(0.0), SPT_ERR_INVALID);
    assert_status(spt_set_dispatch_threshold(1.5), SPT_ERR_INVALID);
    assert_status(spt_set_dispatch_threshold(NAN), SPT_ERR_INVALID);
    assert_status(spt_set_dispatch_threshold(0.5), SPT_OK);
    assert_int_equal(spti_choose_path(100, 100, 4000, 32), SPTI_PATH_SPARSE);
    assert_status(spt_set_dispatch_threshold(0.4), SPT_OK);
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_DENSE), SPT_OK);
    assert_int_equal(spti_choose_path(64, 64, 64 * 64 / 2, 32), SPTI_PATH_DENSE);
    assert_int_equal(spti_choose_path(64, 64, 1, 32), SPTI_PATH_DENSE);
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_SPARSE), SPT_OK);
    assert_int_equal(spti_choose_path(64, 64, 64 * 64, 32), SPTI_PATH_SPARSE);
    /* A workspace decides once, with the mode in force at that time. */
    spt_csr *W = make_csr(16, 24, 0.5, 7);
    float *X = rand_buf(24 * 5, 1), *Y = malloc(16 * 5 * sizeof(float));
    spti_csr_ws ws = {0};
    assert_int_equal(spti_csr_forward(W, X, 5, NULL, Y, &ws), SPT_OK);
    assert_int_equal(ws.path, SPTI_PATH_SPARSE);
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_DENSE), SPT_OK);
    assert_int_equal(spti_csr_forward(W, X, 5, NULL, Y, &ws), SPT_OK);
    assert_int_equal(ws.path, SPTI_PATH_SPARSE);
    assert_status(spt_set_dispatch_mode(SPT_DISPATCH_THRESHOLD), SPT_OK);
    spti_csr_ws_release(&ws);
    spt_csr_destroy(W);
    free(X);
    free(Y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_channel_path),
        cmocka_unit_test(test_choice_cached_and_stable),
        cmocka_unit_test(test_dense_path_nomem),
        cmocka_unit_test(test_sparse_backward_without_scratch),
        cmocka_unit_test(test_gemm_int_max),
        cmocka_unit_test(test_dispatch_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
