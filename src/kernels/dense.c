/* Dense products through OpenBLAS. cblas takes int dimensions: anything above
 * INT_MAX is refused rather than truncated. */
#include <cblas.h>
#include <limits.h>

#include "kernels.h"

static int check_dims(const char *fn, int64_t a, int64_t b, int64_t c) {
    if (a > INT_MAX || b > INT_MAX || c > INT_MAX || a < 0 || b < 0 || c < 0)
        return spti_fail(SPT_ERR_SIZE, "%s: dimension above INT_MAX cannot go to cblas (%lld, %lld, %lld)", fn,
                         (long long)a, (long long)b, (long long)c);
    return SPT_OK;
}

/* Y[out x N] = W[out x in] . X[in x N] (+ bias) */
int spti_gemm_fwd(const float *W, int64_t out, int64_t in, const float *X, int64_t N, const float *bias, float *Y) {
    SPTI_TRY(check_dims(__func__, out, in, N));
    float beta = 0.0f;
    if (bias) {
        for (int64_t r = 0; r < out; r++)
            for (int64_t n = 0; n < N; n++) Y[r * N + n] = bias[r];
        beta = 1.0f;
    }
    if (out == 0 || N == 0) return SPT_OK;
    spti_blas_use_threads();
    if (N == 1) /* batch 1: the matrix-vector product */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)out, (int)in, 1.0f, W, (int)in, X, 1, beta, Y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)out, (int)N, (int)in, 1.0f, W, (int)in, X,
                    (int)N, beta, Y, (int)N);
    return SPT_OK;
}

/* dX[in x N] (=|+=) W^T . dY[out x N] */
int spti_gemm_dx(const float *W, int64_t out, int64_t in, const float *dY, int64_t N, float *dX, bool accumulate) {
    SPTI_TRY(check_dims(__func__, out, in, N));
    if (in == 0 || N == 0) return SPT_OK;
    spti_blas_use_threads();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)N, (int)out, 1.0f, W, (int)in, dY, (int)N,
                accumulate ? 1.0f : 0.0f, dX, (int)N);
    return SPT_OK;
}

/* dW[out x in] (=|+=) dY[out x N] . X[in x N]^T */
int spti_gemm_dw(const float *dY, int64_t out, const float *X, int64_t in, int64_t N, float *dW, bool accumulate) {
    SPTI_TRY(check_dims(__func__, out, in, N));
    if (out == 0 || in == 0) return SPT_OK;
    spti_blas_use_threads();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)out, (int)in, (int)N, 1.0f, dY, (int)N, X, (int)N,
                accumulate ? 1.0f : 0.0f, dW, (int)in);
    return SPT_OK;
}
