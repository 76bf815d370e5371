/* Constant fan-in (ELL) kernels against the naive references: forward,
 * dX and dW for several fan-ins and batch sizes (window and slice tails,
 * one and several slices), with and without accumulation, and the same
 * bytes on one thread and on two. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "kernels/ell.h"
#include "test_support.h"

/* f distinct sorted values of [0, n). */
static void sample(spti_rng *rng, int64_t n, int64_t f, int64_t *pos) {
    uint8_t *taken = calloc((size_t)n, 1);
    for (int64_t j = 0; j < f;) {
        const int64_t c = (int64_t)spti_rng_below(rng, (uint64_t)n);
        if (!taken[c]) taken[c] = 1, j++;
    }
    for (int64_t c = 0, j = 0; c < n; c++)
        if (taken[c]) pos[j++] = c;
    free(taken);
}

/* rows x cols, f entries per row at distinct random columns. */
static spt_csr *fanin_csr(int64_t rows, int64_t cols, int64_t f, spti_rng *rng) {
    spt_csr *W = NULL;
    assert_int_equal(spti_csr_alloc(rows, cols, rows * f, &W), SPT_OK);
    int64_t *pos = malloc((size_t)f * sizeof *pos);
    for (int64_t r = 0; r < rows; r++) {
        sample(rng, cols, f, pos);
        for (int64_t j = 0; j < f; j++) {
            W->col_idx[r * f + j] = (int32_t)pos[j];
            W->values[r * f + j] = spti_rng_uniform(rng) * 2.0f - 1.0f;
        }
        W->row_ptr[r + 1] = (r + 1) * f;
    }
    free(pos);
    spti_csr_build_transpose(W);
    return W;
}

static void fill(float *a, int64_t n, spti_rng *rng) {
    for (int64_t i = 0; i < n; i++) a[i] = spti_rng_uniform(rng) * 2.0f - 1.0f;
}

static void check_close(const float *a, const float *b, int64_t n, double tol) {
    assert_true(spt_test_max_rel_err(a, b, n) <= tol);
}

static void one_case(int64_t rows, int64_t cols, int64_t f, int64_t N) {
    spti_rng rng;
    spti_rng_seed(&rng, (uint64_t)(rows * 131 + cols * 7 + f * 3 + N));
    spt_csr *W = fanin_csr(rows, cols, f, &rng);
    int64_t got = -1;
    assert_true(spti_csr_fanin(W, &got));
    assert_int_equal(got, f);
    const int64_t nnz = rows * f;
    float *X = malloc((size_t)(cols * N) * 4), *dY = malloc((size_t)(rows * N) * 4), *bias = malloc((size_t)rows * 4);
    float *Y = malloc((size_t)(rows * N) * 4), *Yr = malloc((size_t)(rows * N) * 4);
    float *dX = malloc((size_t)(cols * N) * 4), *dXr = malloc((size_t)(cols * N) * 4);
    float *dW = malloc((size_t)nnz * 4), *dWr = malloc((size_t)nnz * 4);
    float *dX1 = malloc((size_t)(cols * N) * 4), *dW1 = malloc((size_t)nnz * 4), *Y1 = malloc((size_t)(rows * N) * 4);
    fill(X, cols * N, &rng);
    fill(dY, rows * N, &rng);
    fill(bias, rows, &rng);
    for (int acc = 0; acc < 2; acc++) {
        fill(dX, cols * N, &rng);
        memcpy(dXr, dX, (size_t)(cols * N) * 4);
        fill(dW, nnz, &rng);
        memcpy(dWr, dW, (size_t)nnz * 4);
        spti_ref_spmm(W, X, N, bias, Yr);
        spti_ref_spmm_t(W, dY, N, dXr, acc);
        spti_ref_sddmm(W, dY, X, N, dWr, acc);
        for (int threads = 1; threads <= 2; threads++) {
            spt_set_num_threads(threads);
            float *y = threads == 1 ? Y1 : Y, *dx = threads == 1 ? dX1 : dX, *dw = threads == 1 ? dW1 : dW;
            if (threads == 1) {
                memcpy(dX1, dX, (size_t)(cols * N) * 4);
                memcpy(dW1, dW, (size_t)nnz * 4);
            }
            spti_ell_forward(W, f, X, N, bias, y);
            spti_ell_backward(W, f, X, dY, N, dx, acc, dw, acc);
        }
        check_close(Y, Yr, rows * N, 1e-5);
        check_close(dX, dXr, cols * N, 1e-5);
        check_close(dW, dWr, nnz, 1e-5);
        /* Same bytes for any thread count. */
        assert_memory_equal(Y, Y1, (size_t)(rows * N) * 4);
        assert_memory_equal(dX, dX1, (size_t)(cols * N) * 4);
        assert_memory_equal(dW, dW1, (size_t)nnz * 4);
        /* dX alone and dW alone give the same values. */
        memcpy(dX1, dXr, (size_t)(cols * N) * 4);
        if (!acc) {
            spti_ell_backward(W, f, X, dY, N, dX1, false, NULL, false);
            assert_memory_equal(dX1, dX, (size_t)(cols * N) * 4);
            spti_ell_backward(W, f, X, dY, N, NULL, false, dW1, false);
            assert_memory_equal(dW1, dW, (size_t)nnz * 4);
        }
    }
    free(X), free(dY), free(bias), free(Y), free(Yr), free(dX), free(dXr), free(dW), free(dWr);
    free(dX1), free(dW1), free(Y1);
    spt_csr_destroy(W);
}

static void test_against_reference(void **state) {
    (void)state;
    const int64_t Ns[] = {1, 5, 16, 37, 64, 65, 128, 200};
    const int64_t fs[] = {1, 3, 8, 13, 40};
    for (size_t i = 0; i < sizeof Ns / sizeof *Ns; i++)
        for (size_t j = 0; j < sizeof fs / sizeof *fs; j++) one_case(70, 50, fs[j], Ns[i]);
    one_case(300, 513, 51, 128); /* prefetches across rows, two slices */
}

static void test_fanin_detection(void **state) {
    (void)state;
    spti_rng rng;
    spti_rng_seed(&rng, 3);
    spt_csr *W = fanin_csr(10, 20, 4, &rng);
    assert_true(spti_csr_fanin(W, NULL));
    spt_csr_destroy(W);
    spt_csr *V = NULL;
    assert_int_equal(spt_csr_random(10, 20, 0.3, 0.1, 5, &V), SPT_OK);
    int64_t f = -1;
    bool even = true;
    for (int64_t r = 0; r < 10; r++) even &= V->row_ptr[r + 1] - V->row_ptr[r] == V->row_ptr[1];
    assert_int_equal(spti_csr_fanin(V, &f), even && V->row_ptr[1] > 0);
    spt_csr_destroy(V);
}

/* The dispatch runs a fanin-flagged weight's forward on the ELL kernel:
 * the same bytes as the CSR kernel (same windows, same order of sums), and
 * the CSR kernels again once the rows differ. */
static void test_dispatch(void **state) {
    (void)state;
    spti_rng rng;
    spti_rng_seed(&rng, 9);
    const int64_t rows = 96, cols = 80, f = 11, N = 40;
    spt_csr *W = fanin_csr(rows, cols, f, &rng);
    float *X = malloc((size_t)(cols * N) * 4), *Y = malloc((size_t)(rows * N) * 4),
          *Yc = malloc((size_t)(rows * N) * 4);
    fill(X, cols * N, &rng);
    spti_csr_ws ws = {.path = SPTI_PATH_SPARSE, .decided_nnz = W->nnz, .decided_N = N, .fanin = true};
    spti_csr_ws plain = {.path = SPTI_PATH_SPARSE, .decided_nnz = W->nnz, .decided_N = N};
    assert_int_equal(spti_csr_forward(W, X, N, NULL, Y, &ws), SPT_OK);
    assert_int_equal(spti_csr_forward(W, X, N, NULL, Yc, &plain), SPT_OK);
    assert_memory_equal(Y, Yc, (size_t)(rows * N) * 4);
    spti_ell_forward(W, f, X, N, NULL, Yc);
    assert_memory_equal(Y, Yc, (size_t)(rows * N) * 4);
    spti_csr_ws_release(&ws);
    assert_true(ws.fanin); /* the owner's flag survives a release */
    spti_csr_ws_release(&plain);
    free(X), free(Y), free(Yc);
    spt_csr_destroy(W);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_fanin_detection),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
