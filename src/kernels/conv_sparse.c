/*
 * Direct sparse convolution over the batch-contiguous layout (conv.h): the
 * work is one vector update per (nonzero, output row), so the cost is
 * proportional to nnz * H_out * W_out * N, with no column buffer.
 *
 * The output rows are processed in blocks of about TILE floats so that the
 * block being accumulated stays in cache while every nonzero of the filter
 * streams its shifted input rows through it.
 */
#include <string.h>

#include "conv.h"

enum { TILE = 16384 }; /* floats of one output block: 64 KiB */

typedef void (*axpy_fn)(float a, const float *x, float *y, int64_t n);
typedef float (*dot_fn)(const float *a, const float *b, int64_t n);

static void axpy_generic(float a, const float *x, float *y, int64_t n) {
    for (int64_t e = 0; e < n; e++) y[e] += a * x[e];
}

/* Eight partial sums: vectorises without -ffast-math, fixed order. */
static float dot_generic(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t e = 0;
    for (; e + 8 <= n; e += 8)
        for (int u = 0; u < 8; u++) acc[u] += a[e + u] * b[e + u];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; e < n; e++) s += a[e] * b[e];
    return s;
}

static axpy_fn pick_axpy(void) { return spti_simd_level() >= 2 ? spti_conv_axpy_avx512 : axpy_generic; }
static dot_fn pick_dot(void) { return spti_simd_level() >= 2 ? spti_conv_dot_avx512 : dot_generic; }

/* Output rows per block. */
static int64_t block_rows(const spti_conv_geom *g, int64_t N) {
    int64_t rowlen = g->w_out * N;
    int64_t b = rowlen >= TILE ? 1 : TILE / rowlen;
    return b > g->h_out ? g->h_out : b;
}

/* Tap (i, j) and input channel of column c of the C_out x K weight. */
static inline void split_col(const spti_conv_geom *g, int64_t c, int64_t *ci, int64_t *i, int64_t *j) {
    const int64_t kk = g->kh * g->kw;
    *ci = c / kk;
    *i = (c % kk) / g->kw;
    *j = c % g->kw;
}

/* y[C_out x H_out x W_out x N] = conv(W, x) + bias: one output channel per task. */
void spti_conv_sparse_fwd(const spti_conv_geom *g, const spt_csr *W, const float *x, int64_t N, const float *bias,
                          float *y) {
    const axpy_fn axpy = pick_axpy();
    const int64_t s = g->stride, rowlen = g->w_out * N, chan_out = g->h_out * rowlen, chan_in = g->h * g->w * N;
    const int64_t blk = block_rows(g, N);
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t co = 0; co < g->c_out; co++) {
        float *yc = y + co * chan_out;
        const float b = bias ? bias[co] : 0.0f;
        for (int64_t e = 0; e < chan_out; e++) yc[e] = b;
        for (int64_t oh0 = 0; oh0 < g->h_out; oh0 += blk) {
            const int64_t oh1 = oh0 + blk < g->h_out ? oh0 + blk : g->h_out;
            for (int64_t k = W->row_ptr[co]; k < W->row_ptr[co + 1]; k++) {
                int64_t ci, i, j, olo, ohi, wlo, whi;
                split_col(g, W->col_idx[k], &ci, &i, &j);
                spti_conv_range(i - g->pad, s, g->h, g->h_out, &olo, &ohi);
                spti_conv_range(j - g->pad, s, g->w, g->w_out, &wlo, &whi);
                if (olo < oh0) olo = oh0;
                if (ohi > oh1) ohi = oh1;
                if (wlo >= whi) continue;
                const float w = W->values[k];
                const float *xc = x + ci * chan_in;
                for (int64_t oh = olo; oh < ohi; oh++) {
                    float *yr = yc + oh * rowlen + wlo * N;
                    const float *xr = xc + ((oh * s + i - g->pad) * g->w + (wlo * s + j - g->pad)) * N;
                    if (s == 1) {
                        axpy(w, xr, yr, (whi - wlo) * N);
                    } else {
                        for (int64_t ow = 0; ow < whi - wlo; ow++) axpy(w, xr + ow * s * N, yr + ow * N, N);
                    }
                }
            }
        }
    }
}

/* dx[C_in x H x W x N] = W^T-convolution of dy: one input channel per task,
 * walking the columns (ci, i, j) of W through the transposed index. */
void spti_conv_sparse_dx(const spti_conv_geom *g, const spt_csr *W, const float *dy, int64_t N, float *dx) {
    const axpy_fn axpy = pick_axpy();
    const int64_t s = g->stride, rowlen = g->w_out * N, chan_out = g->h_out * rowlen, chan_in = g->h * g->w * N;
    const int64_t kk = g->kh * g->kw, blk = block_rows(g, N);
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t ci = 0; ci < g->c_in; ci++) {
        float *dxc = dx + ci * chan_in;
        memset(dxc, 0, (size_t)chan_in * sizeof(float));
        for (int64_t oh0 = 0; oh0 < g->h_out; oh0 += blk) {
            const int64_t oh1 = oh0 + blk < g->h_out ? oh0 + blk : g->h_out;
            for (int64_t t = 0; t < kk; t++) {
                const int64_t c = ci * kk + t, i = t / g->kw, j = t % g->kw;
                int64_t olo, ohi, wlo, whi;
                spti_conv_range(i - g->pad, s, g->h, g->h_out, &olo, &ohi);
                spti_conv_range(j - g->pad, s, g->w, g->w_out, &wlo, &whi);
                if (olo < oh0) olo = oh0;
                if (ohi > oh1) ohi = oh1;
                if (wlo >= whi) continue;
                for (int64_t e = W->col_ptr[c]; e < W->col_ptr[c + 1]; e++) {
                    const float w = W->values[W->csr_pos[e]];
                    const float *dyc = dy + (int64_t)W->row_idx[e] * chan_out;
                    for (int64_t oh = olo; oh < ohi; oh++) {
                        const float *dr = dyc + oh * rowlen + wlo * N;
                        float *xr = dxc + ((oh * s + i - g->pad) * g->w + (wlo * s + j - g->pad)) * N;
                        if (s == 1) {
                            axpy(w, dr, xr, (whi - wlo) * N);
                        } else {
                            for (int64_t ow = 0; ow < whi - wlo; ow++) axpy(w, dr + ow * N, xr + ow * s * N, N);
                        }
                    }
                }
            }
        }
    }
}

/* dW[k] (=|+=) sum over output cells of dy[co] * shifted x[ci], for each
 * nonzero k = (co, (ci, i, j)): one output channel per task. Each block's
 * partial sum is formed in double and added to dW[k] in block order. */
void spti_conv_sparse_dw(const spti_conv_geom *g, const spt_csr *W, const float *x, const float *dy, int64_t N,
                         float *dW, bool accumulate) {
    const dot_fn dot = pick_dot();
    const int64_t s = g->stride, rowlen = g->w_out * N, chan_out = g->h_out * rowlen, chan_in = g->h * g->w * N;
    const int64_t blk = block_rows(g, N);
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t co = 0; co < g->c_out; co++) {
        const float *dyc = dy + co * chan_out;
        if (!accumulate)
            for (int64_t k = W->row_ptr[co]; k < W->row_ptr[co + 1]; k++) dW[k] = 0.0f;
        for (int64_t oh0 = 0; oh0 < g->h_out; oh0 += blk) {
            const int64_t oh1 = oh0 + blk < g->h_out ? oh0 + blk : g->h_out;
            for (int64_t k = W->row_ptr[co]; k < W->row_ptr[co + 1]; k++) {
                int64_t ci, i, j, olo, ohi, wlo, whi;
                split_col(g, W->col_idx[k], &ci, &i, &j);
                spti_conv_range(i - g->pad, s, g->h, g->h_out, &olo, &ohi);
                spti_conv_range(j - g->pad, s, g->w, g->w_out, &wlo, &whi);
                if (olo < oh0) olo = oh0;
                if (ohi > oh1) ohi = oh1;
                if (wlo >= whi || olo >= ohi) continue;
                const float *xc = x + ci * chan_in;
                double acc = 0.0;
                for (int64_t oh = olo; oh < ohi; oh++) {
                    const float *dr = dyc + oh * rowlen + wlo * N;
                    const float *xr = xc + ((oh * s + i - g->pad) * g->w + (wlo * s + j - g->pad)) * N;
                    if (s == 1) {
                        acc += dot(dr, xr, (whi - wlo) * N);
                    } else {
                        for (int64_t ow = 0; ow < whi - wlo; ow++) acc += dot(dr + ow * N, xr + ow * s * N, N);
                    }
                }
                dW[k] += (float)acc;
            }
        }
    }
}
