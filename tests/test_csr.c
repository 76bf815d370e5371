/* CSR matrices: validation, creation, conversions, random patterns, the
 * transposed index (against a naive transpose) and out-of-memory paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "tensor/csr.h"
#include "test_support.h"

/* The transposed index must equal the one read off the dense matrix column
 * by column (rows in increasing order), with csr_pos pointing at the CSR
 * entry of the same (row, col). O(rows*cols*nnz): small matrices only. */
static void assert_transpose_naive(const spt_csr *m) {
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    int64_t t = 0;
    for (int64_t c = 0; c < m->cols; c++) {
        assert_int_equal(m->col_ptr[c], t);
        for (int64_t r = 0; r < m->rows; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++)
                if (m->col_idx[k] == c) {
                    assert_int_equal(m->row_idx[t], r);
                    assert_int_equal(m->csr_pos[t], k);
                    t++;
                }
    }
    assert_int_equal(m->col_ptr[m->cols], t);
    assert_int_equal(t, m->nnz);
}

/* A rows x cols dense matrix with about `density` of its entries nonzero. */
static float *random_dense(int64_t rows, int64_t cols, double density, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    float *d = malloc((size_t)(rows * cols + 1) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++)
        d[i] = spti_rng_uniform(&rng) < density ? spti_rng_normal(&rng) + 0.001f : 0.0f;
    return d;
}

static void test_check_valid(void **state) {
    (void)state;
    /* 3 x 4:  row 0: cols 0, 3; row 1: empty; row 2: cols 1, 2, 3 */
    const int64_t rp[4] = {0, 2, 2, 5};
    const int32_t ci[5] = {0, 3, 1, 2, 3};
    assert_status(spt_csr_check(3, 4, 5, rp, ci), SPT_OK);
    const int64_t rp0[3] = {0, 0, 0};
    assert_status(spt_csr_check(2, 6, 0, rp0, NULL), SPT_OK);
    assert_status(spt_csr_check(0, 0, 0, rp0, NULL), SPT_OK);
    assert_status(spt_csr_check(0, 5, 0, rp0, NULL), SPT_OK);
}

/* Each malformed case: the status, and the row / entry the message names. */
static void test_check_malformed(void **state) {
    (void)state;
    int64_t rp[4] = {0, 2, 2, 5};
    int32_t ci[5] = {0, 3, 1, 2, 3};
    struct {
        int64_t rp[4];
        int32_t ci[5];
        const char *where;
    } cases[] = {
        {{1, 2, 2, 5}, {0, 3, 1, 2, 3}, "row_ptr[0]"},          /* does not start at 0 */
        {{0, 2, 1, 5}, {0, 3, 1, 2, 3}, "row 1"},               /* not monotone */
        {{0, 2, 2, 4}, {0, 3, 1, 2, 3}, "row_ptr[3] is 4"},     /* ends before nnz */
        {{0, 2, 6, 5}, {0, 3, 1, 2, 3}, "row_ptr[2]"},          /* beyond nnz */
        {{0, 2, 2, 5}, {0, 4, 1, 2, 3}, "row 0, entry 1"},      /* column == cols */
        {{0, 2, 2, 5}, {0, 3, 1, -1, 3}, "row 2, entry 3"},     /* negative column */
        {{0, 2, 2, 5}, {3, 0, 1, 2, 3}, "row 0, entry 1"},      /* unsorted */
        {{0, 2, 2, 5}, {0, 3, 1, 3, 2}, "row 2, entry 4"},      /* unsorted */
        {{0, 2, 2, 5}, {0, 3, 1, 1, 3}, "row 2, entry 3"},      /* duplicate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_status(spt_csr_check(3, 4, 5, cases[i].rp, cases[i].ci), SPT_ERR_FORMAT);
        assert_non_null(strstr(spt_last_error(), cases[i].where));
        spt_csr *m = (spt_csr *)&m;
        float v[5] = {1, 2, 3, 4, 5};
        assert_status(spt_csr_create(3, 4, 5, cases[i].rp, cases[i].ci, v, &m), SPT_ERR_FORMAT);
        assert_non_null(strstr(spt_last_error(), "spt_csr_create"));
        assert_null(m);
    }
    assert_non_null(strstr((spt_csr_check(3, 4, 5, cases[8].rp, cases[8].ci), spt_last_error()), "duplicate"));
    assert_non_null(strstr((spt_csr_check(3, 4, 5, cases[6].rp, cases[6].ci), spt_last_error()), "unsorted"));
    /* A wrong nnz for otherwise sound arrays. */
    assert_status(spt_csr_check(3, 4, 4, rp, ci), SPT_ERR_FORMAT);
    /* Sizes. */
    assert_status(spt_csr_check(-1, 4, 5, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check(3, -4, 5, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check(3, 4, -5, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check((int64_t)INT32_MAX + 1, 4, 5, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check(3, (int64_t)INT32_MAX + 1, 5, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check(3, 4, (int64_t)INT32_MAX + 1, rp, ci), SPT_ERR_SIZE);
    assert_status(spt_csr_check(1, 4, 5, rp, ci), SPT_ERR_SIZE); /* nnz > rows*cols */
    assert_status(spt_csr_check(3, 4, 5, NULL, ci), SPT_ERR_NULL);
    assert_status(spt_csr_check(3, 4, 5, rp, NULL), SPT_ERR_NULL);
}

static void test_create_copies(void **state) {
    (void)state;
    int64_t rp[4] = {0, 2, 2, 5};
    int32_t ci[5] = {0, 3, 1, 2, 3};
    float v[5] = {1.5f, -2, 0, 4, 5};
    spt_csr *m;
    assert_status(spt_csr_create(3, 4, 5, rp, ci, NULL, &m), SPT_ERR_NULL);
    assert_status(spt_csr_create(3, 4, 5, rp, ci, v, NULL), SPT_ERR_NULL);
    assert_status(spt_csr_create(3, 4, 5, rp, ci, v, &m), SPT_OK);
    /* Changing the caller's arrays afterwards does not touch the matrix. */
    rp[1] = 1;
    ci[0] = 2;
    v[0] = 9;
    assert_int_equal(spt_csr_rows(m), 3);
    assert_int_equal(spt_csr_cols(m), 4);
    assert_int_equal(spt_csr_nnz(m), 5);
    assert_true(fabs(spt_csr_density(m) - 5.0 / 12.0) < 1e-15);
    assert_int_equal(spt_csr_row_ptr(m)[1], 2);
    assert_int_equal(spt_csr_col_idx(m)[0], 0);
    assert_true(spt_csr_values(m)[0] == 1.5f);
    spt_csr_values(m)[2] = 7.0f; /* values are writable */
    assert_transpose_naive(m);

    int64_t orp[5] = {-1, -1, -1, -1, -1};
    int32_t oci[6] = {-1, -1, -1, -1, -1, -1};
    float ov[6] = {0};
    assert_status(spt_csr_copy_out(m, orp, 3, oci, ov, 5), SPT_ERR_SIZE);
    assert_status(spt_csr_copy_out(m, orp, 4, oci, ov, 4), SPT_ERR_SIZE);
    assert_status(spt_csr_copy_out(m, NULL, 0, NULL, ov, 4), SPT_ERR_SIZE);
    assert_int_equal(orp[0], -1); /* nothing written on failure */
    assert_int_equal(oci[0], -1);
    assert_status(spt_csr_copy_out(m, orp, 5, oci, ov, 6), SPT_OK);
    const int64_t want_rp[5] = {0, 2, 2, 5, -1};
    const int32_t want_ci[6] = {0, 3, 1, 2, 3, -1};
    const float want_v[5] = {1.5f, -2, 7, 4, 5};
    assert_memory_equal(orp, want_rp, sizeof orp);
    assert_memory_equal(oci, want_ci, sizeof oci);
    assert_memory_equal(ov, want_v, sizeof want_v);
    /* Skipping arrays. */
    int32_t oci2[5] = {0};
    assert_status(spt_csr_copy_out(m, NULL, 0, oci2, NULL, 5), SPT_OK);
    assert_memory_equal(oci2, want_ci, sizeof oci2);
    assert_status(spt_csr_copy_out(m, NULL, 0, NULL, NULL, 0), SPT_OK);
    assert_status(spt_csr_copy_out(NULL, orp, 5, oci, ov, 6), SPT_ERR_NULL);
    spt_csr_destroy(m);

    /* An empty matrix: NULL col_idx and values are fine with nnz 0. */
    const int64_t rp0[3] = {0, 0, 0};
    assert_status(spt_csr_create(2, 3, 0, rp0, NULL, NULL, &m), SPT_OK);
    assert_int_equal(spt_csr_nnz(m), 0);
    assert_true(spt_csr_density(m) == 0.0);
    assert_transpose_naive(m);
    spt_csr_destroy(m);
    assert_status(spt_csr_create(0, 0, 0, rp0, NULL, NULL, &m), SPT_OK);
    assert_true(spt_csr_density(m) == 0.0);
    spt_csr_destroy(m);
}

static void test_getters_and_shape4(void **state) {
    (void)state;
    assert_int_equal(spt_csr_rows(NULL), -1);
    assert_int_equal(spt_csr_cols(NULL), -1);
    assert_int_equal(spt_csr_nnz(NULL), -1);
    assert_true(spt_csr_density(NULL) == -1.0);
    assert_null(spt_csr_row_ptr(NULL));
    assert_null(spt_csr_col_idx(NULL));
    assert_null(spt_csr_values(NULL));
    assert_int_equal(spt_csr_ndim(NULL), -1);
    assert_int_equal(spt_csr_dim(NULL, 0), -1);
    spt_csr_destroy(NULL);

    spt_csr *m;
    assert_status(spt_csr_random(8, 3 * 3 * 3, 0.5, 1.0f, 5, &m), SPT_OK);
    assert_int_equal(spt_csr_ndim(m), 2);
    assert_int_equal(spt_csr_dim(m, 0), 8);
    assert_int_equal(spt_csr_dim(m, 1), 27);
    assert_int_equal(spt_csr_dim(m, 2), -1);
    assert_status(spt_csr_set_shape4(NULL, 8, 3, 3, 3), SPT_ERR_NULL);
    assert_status(spt_csr_set_shape4(m, 8, 3, 3, 2), SPT_ERR_SIZE);
    assert_status(spt_csr_set_shape4(m, 7, 3, 3, 3), SPT_ERR_SIZE);
    assert_status(spt_csr_set_shape4(m, 8, 27, 1, 0), SPT_ERR_SIZE);
    assert_status(spt_csr_set_shape4(m, 8, -3, -3, 3), SPT_ERR_SIZE);
    assert_status(spt_csr_set_shape4(m, 8, INT64_MAX, INT64_MAX, 3), SPT_ERR_SIZE);
    assert_int_equal(spt_csr_ndim(m), 2); /* unchanged on failure */
    assert_status(spt_csr_set_shape4(m, 8, 3, 3, 3), SPT_OK);
    assert_int_equal(spt_csr_ndim(m), 4);
    const int64_t want[4] = {8, 3, 3, 3};
    for (int i = 0; i < 4; i++) assert_int_equal(spt_csr_dim(m, i), want[i]);
    assert_int_equal(spt_csr_dim(m, 4), -1);
    assert_int_equal(spt_csr_dim(m, -1), -1);
    assert_int_equal(spt_csr_rows(m), 8); /* the 2-D view is unchanged */
    assert_int_equal(spt_csr_cols(m), 27);
    spt_csr_destroy(m);
}

/* dense -> CSR -> dense is exact, the pattern holds exactly the nonzeros,
 * and the transposed index matches the naive one. */
static void check_dense_roundtrip(int64_t rows, int64_t cols, const float *d) {
    spt_csr *m;
    assert_status(spt_csr_from_dense(rows, cols, d, &m), SPT_OK);
    int64_t nz = 0;
    for (int64_t i = 0; i < rows * cols; i++) nz += d[i] != 0.0f;
    assert_int_equal(spt_csr_nnz(m), nz);
    assert_transpose_naive(m);
    float *back = malloc((size_t)(rows * cols + 1) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++) back[i] = NAN;
    assert_status(spt_csr_to_dense(m, back, rows * cols - 1), rows * cols > 0 ? SPT_ERR_SIZE : SPT_OK);
    assert_status(spt_csr_to_dense(m, back, rows * cols), SPT_OK);
    assert_memory_equal(back, d, (size_t)(rows * cols) * sizeof(float));
    free(back);
    spt_csr_destroy(m);
}

static void test_dense_roundtrip(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {1, 9}, {9, 1}, {7, 13}, {13, 7}, {31, 17}, {64, 64}, {3, 5}};
    const double densities[] = {0.0, 0.05, 0.3, 0.9, 1.0};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t k = 0; k < sizeof densities / sizeof densities[0]; k++) {
            float *d = random_dense(shapes[s][0], shapes[s][1], densities[k], seed++);
            check_dense_roundtrip(shapes[s][0], shapes[s][1], d);
            free(d);
        }
    /* Empty rows and columns at both ends and in the middle; one nonzero. */
    float d[6 * 5] = {0};
    d[2 * 5 + 3] = -1.25f;
    check_dense_roundtrip(6, 5, d);
    d[2 * 5 + 1] = 2.0f;
    d[4 * 5 + 1] = 3.0f;
    check_dense_roundtrip(6, 5, d);
    /* -0.0 is dropped, NaN kept. */
    d[0] = -0.0f;
    spt_csr *m;
    assert_status(spt_csr_from_dense(6, 5, d, &m), SPT_OK);
    assert_int_equal(spt_csr_nnz(m), 3);
    spt_csr_destroy(m);
    d[0] = NAN;
    assert_status(spt_csr_from_dense(6, 5, d, &m), SPT_OK);
    assert_int_equal(spt_csr_nnz(m), 4);
    assert_true(isnan(spt_csr_values(m)[0]));
    spt_csr_destroy(m);
    /* Empty shapes. */
    assert_status(spt_csr_from_dense(0, 5, d, &m), SPT_OK);
    assert_int_equal(spt_csr_nnz(m), 0);
    spt_csr_destroy(m);

    m = (spt_csr *)&m;
    assert_status(spt_csr_from_dense(6, 5, NULL, &m), SPT_ERR_NULL);
    assert_null(m);
    assert_status(spt_csr_from_dense(6, 5, d, NULL), SPT_ERR_NULL);
    assert_status(spt_csr_from_dense(-6, 5, d, &m), SPT_ERR_SIZE);
    assert_status(spt_csr_from_dense(6, (int64_t)INT32_MAX + 1, d, &m), SPT_ERR_SIZE);
    assert_status(spt_csr_to_dense(NULL, d, 30), SPT_ERR_NULL);
}

/* dense -> masked -> CSR -> masked -> dense, with active zeros kept. */
static void test_masked_roundtrip(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {5, 8}, {17, 3}, {32, 32}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t R = shapes[s][0], C = shapes[s][1], n = R * C;
        float *d = random_dense(R, C, 1.0, 100 + s);
        uint8_t *mk = malloc((size_t)n);
        spti_rng rng;
        spti_rng_seed(&rng, 7 + s);
        int64_t want_nnz = 0;
        for (int64_t i = 0; i < n; i++) {
            mk[i] = spti_rng_uniform(&rng) < 0.4f;
            if (i % 5 == 0) d[i] = 0.0f; /* some active entries hold exactly 0 */
            want_nnz += mk[i];
        }
        spt_masked *a, *b;
        spt_csr *m;
        assert_status(spt_masked_create(R, C, d, mk, &a), SPT_OK);
        assert_status(spt_csr_from_masked(a, &m), SPT_OK);
        assert_int_equal(spt_csr_nnz(m), want_nnz);
        assert_transpose_naive(m);
        assert_status(spt_csr_to_masked(m, &b), SPT_OK);
        assert_int_equal(spt_masked_nnz(b), want_nnz);
        assert_memory_equal(spt_masked_mask(b), mk, (size_t)n);
        float *back = malloc((size_t)n * sizeof(float));
        assert_status(spt_masked_to_dense(b, back, n), SPT_OK);
        for (int64_t i = 0; i < n; i++) assert_true(back[i] == (mk[i] ? d[i] : 0.0f));
        free(back);
        free(mk);
        free(d);
        spt_masked_destroy(a);
        spt_masked_destroy(b);
        spt_csr_destroy(m);
    }
    spt_csr *m = (spt_csr *)&m;
    spt_masked *k = (spt_masked *)&k;
    assert_status(spt_csr_from_masked(NULL, &m), SPT_ERR_NULL);
    assert_null(m);
    assert_status(spt_csr_to_masked(NULL, &k), SPT_ERR_NULL);
    assert_null(k);
}

static void test_random_exact(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {1, 7}, {10, 10}, {33, 17}, {300, 200}};
    const double densities[] = {1e-9, 0.01, 0.1, 0.5, 0.77, 0.999, 1.0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t k = 0; k < sizeof densities / sizeof densities[0]; k++) {
            int64_t cells = shapes[s][0] * shapes[s][1];
            int64_t want = (int64_t)round(densities[k] * (double)cells);
            if (want < 1) want = 1;
            spt_csr *m;
            assert_status(spt_csr_random(shapes[s][0], shapes[s][1], densities[k], 0.5f, 42, &m), SPT_OK);
            assert_int_equal(spt_csr_nnz(m), want);
            assert_int_equal(spti_csr_validate(m), SPT_OK);
            if (cells <= 400) assert_transpose_naive(m);
            spt_csr_destroy(m);
        }
}

static void test_random_reproducible(void **state) {
    (void)state;
    spt_csr *a, *b, *c;
    assert_status(spt_csr_random(57, 91, 0.2, 0.1f, 1234, &a), SPT_OK);
    assert_status(spt_csr_random(57, 91, 0.2, 0.1f, 1234, &b), SPT_OK);
    assert_status(spt_csr_random(57, 91, 0.2, 0.1f, 1235, &c), SPT_OK);
    int64_t nnz = spt_csr_nnz(a);
    assert_int_equal(nnz, 1037); /* round(0.2 * 5187) */
    assert_memory_equal(spt_csr_row_ptr(a), spt_csr_row_ptr(b), 58 * sizeof(int64_t));
    assert_memory_equal(spt_csr_col_idx(a), spt_csr_col_idx(b), (size_t)nnz * sizeof(int32_t));
    assert_memory_equal(spt_csr_values(a), spt_csr_values(b), (size_t)nnz * sizeof(float));
    assert_memory_not_equal(spt_csr_col_idx(a), spt_csr_col_idx(c), (size_t)nnz * sizeof(int32_t));
    spt_csr_destroy(a);
    spt_csr_destroy(b);
    spt_csr_destroy(c);
}

/* Every cell is equally likely, and the values are N(0, std^2). */
static void test_random_distribution(void **state) {
    (void)state;
    enum { R = 12, C = 10, SEEDS = 600 };
    int hits[R * C] = {0};
    double sum = 0, sq = 0;
    int64_t count = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        spt_csr *m;
        assert_status(spt_csr_random(R, C, 0.25, 2.0f, seed, &m), SPT_OK);
        assert_int_equal(spt_csr_nnz(m), 30);
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) hits[r * C + m->col_idx[k]]++;
        for (int64_t k = 0; k < m->nnz; k++) {
            sum += m->values[k];
            sq += (double)m->values[k] * m->values[k];
        }
        count += m->nnz;
        spt_csr_destroy(m);
    }
    /* Expected 150 hits per cell, sd about 10.6. */
    for (int i = 0; i < R * C; i++) assert_true(hits[i] > 100 && hits[i] < 200);
    double mean = sum / (double)count, var = sq / (double)count - mean * mean;
    assert_true(fabs(mean) < 0.1);
    assert_true(var > 3.7 && var < 4.3);
    /* std 0 gives zeros. */
    spt_csr *m;
    assert_status(spt_csr_random(5, 5, 0.5, 0.0f, 3, &m), SPT_OK);
    for (int64_t k = 0; k < m->nnz; k++) assert_true(m->values[k] == 0.0f);
    spt_csr_destroy(m);
}

static void test_random_invalid(void **state) {
    (void)state;
    spt_csr *m = (spt_csr *)&m;
    assert_status(spt_csr_random(4, 4, 0.5, 1.0f, 1, NULL), SPT_ERR_NULL);
    const double bad_density[] = {0.0, -0.1, 1.0000001, 2.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_density / sizeof bad_density[0]; i++) {
        assert_status(spt_csr_random(4, 4, bad_density[i], 1.0f, 1, &m), SPT_ERR_INVALID);
        assert_null(m);
    }
    const float bad_std[] = {-1.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_std / sizeof bad_std[0]; i++)
        assert_status(spt_csr_random(4, 4, 0.5, bad_std[i], 1, &m), SPT_ERR_INVALID);
    assert_status(spt_csr_random(0, 4, 0.5, 1.0f, 1, &m), SPT_ERR_SIZE);
    assert_status(spt_csr_random(4, -1, 0.5, 1.0f, 1, &m), SPT_ERR_SIZE);
    assert_status(spt_csr_random((int64_t)INT32_MAX + 1, 4, 0.5, 1.0f, 1, &m), SPT_ERR_SIZE);
    assert_status(spt_csr_random(100000, 100000, 1.0, 1.0f, 1, &m), SPT_ERR_SIZE); /* 1e10 nonzeros */
    assert_null(m);
}

/* The invariant checker the other tests lean on catches a broken transposed index. */
static void test_validate_catches_corruption(void **state) {
    (void)state;
    spt_csr *m;
    assert_status(spt_csr_random(6, 7, 0.5, 1.0f, 21, &m), SPT_OK);
    assert_int_equal(spti_csr_validate(m), SPT_OK);
    int32_t saved = m->row_idx[1];
    m->row_idx[1] = m->row_idx[0]; /* rows of a column no longer increasing, or wrong entry */
    assert_int_equal(spti_csr_validate(m), SPT_ERR_INTERNAL);
    m->row_idx[1] = saved;
    saved = m->csr_pos[2];
    m->csr_pos[2] = m->csr_pos[3];
    assert_int_equal(spti_csr_validate(m), SPT_ERR_INTERNAL);
    m->csr_pos[2] = saved;
    m->col_ptr[m->cols]--;
    assert_int_equal(spti_csr_validate(m), SPT_ERR_INTERNAL);
    m->col_ptr[m->cols]++;
    m->col_idx[0] = (int32_t)m->cols;
    assert_int_equal(spti_csr_validate(m), SPT_ERR_FORMAT);
    spt_csr_destroy(m);
}

/* Every allocation of every creating function fails in turn: NOMEM, no
 * leak, *out NULL; then the call succeeds. */
static void test_nomem(void **state) {
    (void)state;
    const int64_t rp[4] = {0, 2, 2, 5};
    const int32_t ci[5] = {0, 3, 1, 2, 3};
    const float v[5] = {1, 2, 3, 4, 5};
    float d[12] = {1, 0, 0, 2, 0, 0, 0, 0, 0, 3, 4, 5};
    spt_masked *mk0 = NULL;
    spt_csr *src = NULL;
    assert_status(spt_csr_create(3, 4, 5, rp, ci, v, &src), SPT_OK);
    assert_status(spt_csr_to_masked(src, &mk0), SPT_OK);
    spt_test_alloc_install();
    for (int which = 0; which < 5; which++) {
        long i;
        for (i = 0;; i++) {
            spt_test_alloc_fail_at(i);
            spt_csr *m = (spt_csr *)&m;
            spt_masked *k = (spt_masked *)&k;
            int rc;
            switch (which) {
            case 0: rc = spt_csr_create(3, 4, 5, rp, ci, v, &m); break;
            case 1: rc = spt_csr_from_dense(3, 4, d, &m); break;
            case 2: rc = spt_csr_from_masked(mk0, &m); break;
            case 3: rc = spt_csr_random(30, 40, 0.3, 1.0f, 9, &m); break;
            default: rc = spt_csr_to_masked(src, &k); m = NULL; break;
            }
            if (rc == SPT_OK) {
                spt_csr_destroy(m);
                spt_masked_destroy(which == 4 ? k : NULL);
                break;
            }
            assert_int_equal(rc, SPT_ERR_NOMEM);
            assert_null(which == 4 ? (void *)k : (void *)m);
            assert_int_equal(spt_test_alloc_live(), 0);
        }
        assert_true(i >= 3);
        assert_int_equal(spt_test_alloc_live(), 0);
    }
    spt_test_alloc_uninstall();
    spt_masked_destroy(mk0);
    spt_csr_destroy(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_valid),         cmocka_unit_test(test_check_malformed),
        cmocka_unit_test(test_create_copies),       cmocka_unit_test(test_getters_and_shape4),
        cmocka_unit_test(test_dense_roundtrip),     cmocka_unit_test(test_masked_roundtrip),
        cmocka_unit_test(test_random_exact),        cmocka_unit_test(test_random_reproducible),
        cmocka_unit_test(test_random_distribution), cmocka_unit_test(test_random_invalid),
        cmocka_unit_test(test_validate_catches_corruption), cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
