/* Public wrappers of the kernels (sparsetrain/ops.h): argument validation,
 * then the internal kernels. */
#include "kernels.h"

/* rows x N must be a valid element count and `rows` must equal `expect`. */
static int check_shape(const char *fn, const char *what, int64_t rows, int64_t expect, int64_t N) {
    int64_t cells;
    if (rows != expect)
        return spti_fail(SPT_ERR_SIZE, "%s: %s has %lld rows but the matrix needs %lld", fn, what, (long long)rows,
                         (long long)expect);
    if (!spti_count_elems((const int64_t[]){rows, N}, 2, sizeof(float), &cells))
        return spti_fail(SPT_ERR_SIZE, "%s: %s (%lld x %lld) overflows", fn, what, (long long)rows, (long long)N);
    return SPT_OK;
}

static int check_batch(const char *fn, int64_t N) {
    return N >= 1 ? SPT_OK : spti_fail(SPT_ERR_SIZE, "%s: N (%lld) must be >= 1", fn, (long long)N);
}

int spt_csr_spmm(const spt_csr *W, const float *X, int64_t in, int64_t N, const float *bias, float *Y, int64_t out) {
    SPTI_CHECK_NULL(W);
    SPTI_CHECK_NULL(X);
    SPTI_CHECK_NULL(Y);
    SPTI_TRY(check_batch(__func__, N));
    SPTI_TRY(check_shape(__func__, "X", in, W->cols, N));
    SPTI_TRY(check_shape(__func__, "Y", out, W->rows, N));
    spti_spmm(W, X, N, bias, Y);
    return SPT_OK;
}

int spt_csr_spmm_t(const spt_csr *W, const float *dY, int64_t out, int64_t N, float *dX, int64_t in, int accumulate) {
    SPTI_CHECK_NULL(W);
    SPTI_CHECK_NULL(dY);
    SPTI_CHECK_NULL(dX);
    SPTI_TRY(check_batch(__func__, N));
    SPTI_TRY(check_shape(__func__, "dY", out, W->rows, N));
    SPTI_TRY(check_shape(__func__, "dX", in, W->cols, N));
    float *wt = spti_alloc_or_fail(W->nnz, sizeof(float), "transposed values");
    if (!wt) return SPT_ERR_NOMEM;
    spti_csr_gather_t(W, wt);
    spti_spmm_t_vals(W, wt, dY, N, dX, accumulate != 0);
    spti_free(wt);
    return SPT_OK;
}

int spt_csr_sddmm(const spt_csr *W, const float *dY, int64_t out, const float *X, int64_t in, int64_t N, float *dW,
                  int64_t nnz, int accumulate) {
    SPTI_CHECK_NULL(W);
    SPTI_CHECK_NULL(dY);
    SPTI_CHECK_NULL(X);
    SPTI_CHECK_NULL(dW);
    SPTI_TRY(check_batch(__func__, N));
    SPTI_TRY(check_shape(__func__, "dY", out, W->rows, N));
    SPTI_TRY(check_shape(__func__, "X", in, W->cols, N));
    if (nnz != W->nnz)
        return spti_fail(SPT_ERR_SIZE, "%s: dW has %lld entries but the matrix has %lld nonzeros", __func__,
                         (long long)nnz, (long long)W->nnz);
    spti_sddmm(W, dY, X, N, dW, accumulate != 0);
    return SPT_OK;
}

static int check_select(const char *fn, const float *score, int64_t n, int64_t k, const int64_t *idx) {
    if (n < 0 || k < 0 || k > n)
        return spti_fail(SPT_ERR_SIZE, "%s: need 0 <= k (%lld) <= n (%lld)", fn, (long long)k, (long long)n);
    if (n > 0 && !score) return spti_fail(SPT_ERR_NULL, "%s: score is NULL", fn);
    if (k > 0 && !idx) return spti_fail(SPT_ERR_NULL, "%s: idx is NULL", fn);
    int64_t bytes;
    if (!spti_count_elems(&n, 1, 16, &bytes)) return spti_fail(SPT_ERR_SIZE, "%s: n (%lld) too large", fn, (long long)n);
    return SPT_OK;
}

int spt_topk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    SPTI_TRY(check_select(__func__, score, n, k, idx));
    return spti_topk(score, n, k, seed, idx);
}

int spt_bottomk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    SPTI_TRY(check_select(__func__, score, n, k, idx));
    return spti_bottomk(score, n, k, seed, idx);
}
