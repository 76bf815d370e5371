/* Creating CSR matrices: from raw arrays, from a position list, at random. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csr.h"

int spt_csr_create(int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr, const int32_t *col_idx,
                   const float *values, spt_csr **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_TRY(spti_csr_check_arrays(__func__, rows, cols, nnz, row_ptr, col_idx));
    if (!values && nnz > 0) return spti_fail(SPT_ERR_NULL, "%s: values is NULL with nnz = %lld", __func__, (long long)nnz);
    spt_csr *m;
    SPTI_TRY(spti_csr_alloc(rows, cols, nnz, &m));
    memcpy(m->row_ptr, row_ptr, (size_t)(rows + 1) * sizeof(int64_t));
    if (nnz > 0) {
        memcpy(m->col_idx, col_idx, (size_t)nnz * sizeof(int32_t));
        memcpy(m->values, values, (size_t)nnz * sizeof(float));
    }
    spti_csr_build_transpose(m);
    *out = m;
    return SPT_OK;
}

void spti_csr_set_pattern(spt_csr *m, const int64_t *pos) {
    int64_t k = 0;
    m->row_ptr[0] = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        int64_t row_start = r * m->cols, row_end = row_start + m->cols;
        for (; k < m->nnz && pos[k] < row_end; k++) m->col_idx[k] = (int32_t)(pos[k] - row_start);
        m->row_ptr[r + 1] = k;
    }
    spti_csr_build_transpose(m);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Floyd's algorithm: k distinct values of [0, n) uniformly, in O(k) expected
 * time with an open-addressing set of 2k..4k slots (empty = -1). The draws,
 * hence the set, depend only on the rng state. pos receives the set
 * (unsorted); `table` has `tsize` (a power of 2) slots. */
static void floyd_sample(spti_rng *rng, int64_t n, int64_t k, int64_t *pos, int64_t *table, int64_t tsize) {
    memset(table, 0xff, (size_t)tsize * sizeof(int64_t));
    int bits = 0;
    while ((INT64_C(1) << bits) < tsize) bits++;
    const uint64_t mask = (uint64_t)tsize - 1;
    int64_t count = 0;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = (int64_t)spti_rng_below(rng, (uint64_t)j + 1);
        /* Insert t, or j when t is already taken (j is never taken yet). */
        for (int pass = 0; pass < 2; pass++) {
            int64_t v = pass == 0 ? t : j;
            /* Fibonacci hashing: the top `bits` bits of the product. */
            uint64_t h = bits ? ((uint64_t)v * 0x9e3779b97f4a7c15ULL) >> (64 - bits) : 0;
            while (table[h] != -1 && table[h] != v) h = (h + 1) & mask;
            if (table[h] == -1) {
                table[h] = v;
                pos[count++] = v;
                break;
            }
        }
    }
}

int spt_csr_random(int64_t rows, int64_t cols, double density, float std, uint64_t seed, spt_csr **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    if (rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: rows (%lld) and cols (%lld) must be in [1, 2^31)", __func__,
                         (long long)rows, (long long)cols);
    if (!(density > 0.0 && density <= 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: density (%g) must be in (0, 1]", __func__, density);
    if (!(std >= 0.0f) || isinf(std))
        return spti_fail(SPT_ERR_INVALID, "%s: std (%g) must be finite and >= 0", __func__, (double)std);
    int64_t cells = rows * cols; /* < 2^62 */
    double want = round(density * (double)cells);
    int64_t nnz = want < 1.0 ? 1 : want >= (double)cells ? cells : (int64_t)want;
    if (nnz > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld nonzeros exceed the 2^31-1 limit", __func__, (long long)nnz);
    int64_t tsize = 1;
    while (tsize < 2 * nnz) tsize *= 2;
    int64_t *table = spti_alloc(tsize, sizeof(int64_t));
    int64_t *pos = spti_alloc(nnz, sizeof(int64_t));
    spt_csr *m = NULL;
    if (!table || !pos) {
        spti_free(table);
        spti_free(pos);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory sampling %lld positions", __func__, (long long)nnz);
    }
    int rc = spti_csr_alloc(rows, cols, nnz, &m);
    if (rc == SPT_OK) {
        spti_rng rng;
        spti_rng_seed(&rng, seed);
        floyd_sample(&rng, cells, nnz, pos, table, tsize);
        qsort(pos, (size_t)nnz, sizeof(int64_t), cmp_i64);
        spti_csr_set_pattern(m, pos);
        /* Values drawn in CSR order, after the positions: one seed, one matrix. */
        for (int64_t k = 0; k < nnz; k++) m->values[k] = std * spti_rng_normal(&rng);
        *out = m;
    }
    spti_free(table);
    spti_free(pos);
    return rc;
}
