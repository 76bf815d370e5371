/* im2col and its transpose col2im over the batch-contiguous layout (conv.h). */
#include <string.h>

#include "conv.h"

/* col[K x (H_out*W_out*N)] from x[C_in x H x W x N]: one row of col per task. */
void spti_im2col(const spti_conv_geom *g, const float *x, int64_t N, float *col) {
    const int64_t kk = g->kh * g->kw, K = g->c_in * kk, rowlen = g->w_out * N;
    const int64_t PN = g->h_out * rowlen, s = g->stride;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (K * PN >= SPTI_CONV_PAR_MIN)
    for (int64_t r = 0; r < K; r++) {
        const int64_t ci = r / kk, i = (r % kk) / g->kw, j = r % g->kw;
        float *dst = col + r * PN;
        int64_t olo, ohi, wlo, whi;
        spti_conv_range(i - g->pad, s, g->h, g->h_out, &olo, &ohi);
        spti_conv_range(j - g->pad, s, g->w, g->w_out, &wlo, &whi);
        const float *xc = x + ci * g->h * g->w * N;
        for (int64_t oh = 0; oh < g->h_out; oh++) {
            float *d = dst + oh * rowlen;
            if (oh < olo || oh >= ohi || wlo >= whi) {
                memset(d, 0, (size_t)rowlen * sizeof(float));
                continue;
            }
            memset(d, 0, (size_t)(wlo * N) * sizeof(float));
            memset(d + whi * N, 0, (size_t)((g->w_out - whi) * N) * sizeof(float));
            const float *xr = xc + ((oh * s + i - g->pad) * g->w + (wlo * s + j - g->pad)) * N;
            if (s == 1) {
                memcpy(d + wlo * N, xr, (size_t)((whi - wlo) * N) * sizeof(float));
            } else {
                for (int64_t ow = wlo; ow < whi; ow++) memcpy(d + ow * N, xr + (ow - wlo) * s * N, (size_t)N * sizeof(float));
            }
        }
    }
}

/* dx[C_in x H x W x N] = col2im(col): one input channel per task, so every dx
 * element is summed by one thread in tap order. */
void spti_col2im(const spti_conv_geom *g, const float *col, int64_t N, float *dx) {
    const int64_t kk = g->kh * g->kw, rowlen = g->w_out * N;
    const int64_t PN = g->h_out * rowlen, s = g->stride, chan = g->h * g->w * N;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (g->c_in * chan >= SPTI_CONV_PAR_MIN)
    for (int64_t ci = 0; ci < g->c_in; ci++) {
        float *dxc = dx + ci * chan;
        memset(dxc, 0, (size_t)chan * sizeof(float));
        for (int64_t t = 0; t < kk; t++) {
            const int64_t i = t / g->kw, j = t % g->kw;
            const float *src = col + (ci * kk + t) * PN;
            int64_t olo, ohi, wlo, whi;
            spti_conv_range(i - g->pad, s, g->h, g->h_out, &olo, &ohi);
            spti_conv_range(j - g->pad, s, g->w, g->w_out, &wlo, &whi);
            for (int64_t oh = olo; oh < ohi; oh++) {
                const float *c = src + oh * rowlen + wlo * N;
                float *d = dxc + ((oh * s + i - g->pad) * g->w + (wlo * s + j - g->pad)) * N;
                if (s == 1) {
                    const int64_t len = (whi - wlo) * N;
                    for (int64_t e = 0; e < len; e++) d[e] += c[e];
                } else {
                    for (int64_t ow = wlo; ow < whi; ow++) {
                        float *dd = d + (ow - wlo) * s * N;
                        const float *cc = c + (ow - wlo) * N;
                        for (int64_t n = 0; n < N; n++) dd[n] += cc[n];
                    }
                }
            }
        }
    }
}
