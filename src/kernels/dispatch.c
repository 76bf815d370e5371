/* Choice between the sparse kernels and OpenBLAS over a dense copy of W. */
#include <string.h>

#include "kernels.h"

spti_path spti_choose_path(int64_t out, int64_t in, int64_t nnz, int64_t N) {
    (void)N;
    /* Placeholder rule until calibration lands: dense above 30% density. */
    return (double)nnz > 0.3 * (double)out * (double)in ? SPTI_PATH_DENSE : SPTI_PATH_SPARSE;
}

static int ensure_dense(const spt_csr *W, spti_csr_ws *ws, bool need_grad) {
    int64_t n = W->rows * W->cols;
    if (!ws->Wd && !(ws->Wd = spti_alloc_or_fail(n, sizeof(float), "dense copy of a sparse weight")))
        return SPT_ERR_NOMEM;
    if (need_grad && !ws->dWd && !(ws->dWd = spti_alloc_or_fail(n, sizeof(float), "dense weight gradient")))
        return SPT_ERR_NOMEM;
    return SPT_OK;
}

static void scatter(const spt_csr *W, float *Wd) {
    memset(Wd, 0, (size_t)(W->rows * W->cols) * sizeof(float));
    for (int64_t r = 0; r < W->rows; r++)
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) Wd[r * W->cols + W->col_idx[k]] = W->values[k];
}

static spti_path decide(const spt_csr *W, int64_t N, spti_csr_ws *ws) {
    if (!ws) return SPTI_PATH_SPARSE;
    if (ws->decided_nnz != W->nnz || ws->decided_N != N) {
        ws->path = spti_choose_path(W->rows, W->cols, W->nnz, N);
        ws->decided_nnz = W->nnz;
        ws->decided_N = N;
    }
    return ws->path;
}

int spti_csr_forward(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, spti_csr_ws *ws) {
    if (decide(W, N, ws) == SPTI_PATH_SPARSE) {
        spti_spmm(W, X, N, bias, Y);
        return SPT_OK;
    }
    SPTI_TRY(ensure_dense(W, ws, false));
    scatter(W, ws->Wd);
    return spti_gemm_fwd(ws->Wd, W->rows, W->cols, X, N, bias, Y);
}

int spti_csr_backward(const spt_csr *W, const float *X, const float *dY, int64_t N, float *dX, bool accumulate_dx,
                      float *dW, bool accumulate_dw, spti_csr_ws *ws) {
    if (decide(W, N, ws) == SPTI_PATH_SPARSE) {
        if (dW) spti_sddmm(W, dY, X, N, dW, accumulate_dw);
        if (dX) spti_spmm_t(W, dY, N, dX, accumulate_dx);
        return SPT_OK;
    }
    SPTI_TRY(ensure_dense(W, ws, dW != NULL));
    scatter(W, ws->Wd); /* W may have changed since the forward pass */
    if (dW) {
        SPTI_TRY(spti_gemm_dw(dY, W->rows, X, W->cols, N, ws->dWd, false));
        for (int64_t r = 0; r < W->rows; r++)
            for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
                float g = ws->dWd[r * W->cols + W->col_idx[k]];
                dW[k] = accumulate_dw ? dW[k] + g : g;
            }
    }
    if (dX) SPTI_TRY(spti_gemm_dx(ws->Wd, W->rows, W->cols, dY, N, dX, accumulate_dx));
    return SPT_OK;
}

void spti_csr_ws_release(spti_csr_ws *ws) {
    if (!ws) return;
    spti_free(ws->Wd);
    spti_free(ws->dWd);
    memset(ws, 0, sizeof *ws);
}
