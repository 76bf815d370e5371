/*
 * Direct sparse convolution over the batch-contiguous layout (conv.h): the
 * work is one vector update per (nonzero, output row), so the cost is
 * proportional to nnz * H_out * W_out * N, with no column buffer.
 *
 * Blocking: a task owns one output channel (forward, dW) or one input
 * channel (dX). Its nonzeros are taken in batches of up to BATCH entries
 * whose tap geometry is decoded once; then, for each output row and each
 * chunk of about CHUNK floats of that row, every entry of the batch updates
 * the chunk. The chunk being accumulated stays in L1 while the shifted
 * source rows stream through it, instead of the whole output channel being
 * re-read once per nonzero.
 *
 * Register blocking (AVX-512, stride 1, one group: the ResNet 3x3 layers):
 * a task owns output rows instead (forward, dW; input rows for dX), and
 * every output tile of SPTI_CONV_TILE contiguous floats of a row is summed
 * in 16 zmm registers over all the taps of its channel, then stored once:
 * one load and one FMA per tap and vector instead of a load, an FMA and a
 * store (conv_avx512.c). Rows outermost, the output channels of a tile
 * next, so the few input rows a tile reads stay in L1/L2 for all the
 * channels instead of each channel streaming the whole input. The taps are
 * decoded once per call into the caller's scratch. The forward and dX add
 * the taps to each element in the same order as the unblocked kernels (CSR
 * order, transposed order), with the same FMA: their results are
 * identical. dW sums each nonzero's products per output row in float lanes,
 * the rows in double in row order; every output element is computed by one
 * thread in a fixed order, whatever the thread count.
 */
#include <string.h>

#include "conv.h"

enum { BATCH = 128, CHUNK = 1024 };

typedef void (*axpy_fn)(float a, const float *x, int64_t xs, float *y, int64_t ys, int64_t rows, int64_t n);
typedef float (*dot_fn)(const float *a, int64_t as, const float *b, int64_t bs, int64_t rows, int64_t n);

static void axpy_generic(float a, const float *x, int64_t xs, float *y, int64_t ys, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t e = 0; e < n; e++) y[r * ys + e] += a * x[r * xs + e];
}

/* Eight partial sums: vectorises without -ffast-math, fixed order. */
static float dot_generic(const float *a, int64_t as, const float *b, int64_t bs, int64_t rows, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * as, *br = b + r * bs;
        int64_t e = 0;
        for (; e + 8 <= n; e += 8)
            for (int u = 0; u < 8; u++) acc[u] += ar[e + u] * br[e + u];
        for (; e < n; e++) tail += ar[e] * br[e];
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

static axpy_fn pick_axpy(void) { return spti_simd_level() >= 2 ? spti_conv_axpy_rows_avx512 : axpy_generic; }
static dot_fn pick_dot(void) { return spti_simd_level() >= 2 ? spti_conv_dot_rows_avx512 : dot_generic; }

/* One nonzero with its tap decoded. The input cell read by output (oh, ow)
 * is at offset xoff + (oh*s*W + ow*s)*N of the input buffer; the output cell
 * at yoff + (oh*W_out + ow)*N of the output buffer. Valid output rows are
 * [olo, ohi), valid columns [wlo, whi). */
typedef struct tap {
    int64_t xoff, yoff;
    int32_t olo, ohi, wlo, whi;
    float w;
} tap;

static void decode(const spti_conv_geom *g, int64_t N, int64_t col, int64_t xbase, int64_t ybase, float w, tap *t) {
    const int64_t kk = g->kh * g->kw, ci = col / kk, i = (col % kk) / g->kw, j = col % g->kw;
    int64_t olo, ohi, wlo, whi;
    spti_conv_range(i - g->pad, g->stride, g->h, g->h_out, &olo, &ohi);
    spti_conv_range(j - g->pad, g->stride, g->w, g->w_out, &wlo, &whi);
    t->xoff = xbase + ci * g->h * g->w * N + ((i - g->pad) * g->w + (j - g->pad)) * N;
    t->yoff = ybase;
    t->olo = (int32_t)olo;
    t->ohi = (int32_t)ohi;
    t->wlo = (int32_t)wlo;
    t->whi = wlo < whi ? (int32_t)whi : (int32_t)wlo;
    t->w = w;
}

/* The taps of the nonzeros [k0, k1) of a row of W, at most BATCH of them,
 * into ts (forward and dW: the output side is the task's channel; xbase is
 * the offset of the row's group in the input); returns how many. */
static int decode_row(const spti_conv_geom *g, int64_t N, const spt_csr *W, int64_t k0, int64_t k1, int64_t xbase,
                      tap *ts) {
    int nt = 0;
    for (int64_t k = k0; k < k1 && nt < BATCH; k++) decode(g, N, W->col_idx[k], xbase, 0, W->values[k], &ts[nt++]);
    return nt;
}

/* Offset in the input buffer of the first channel of output channel co's
 * group (0 without groups). */
static int64_t group_xbase(const spti_conv_geom *g, int64_t N, int64_t co) {
    const int64_t G = spti_conv_groups(g);
    return G == 1 ? 0 : (co / (g->c_out / G)) * (g->c_in / G) * g->h * g->w * N;
}

/* The first entry e in [lo, hi) of a column of the transposed index whose
 * row is >= r (rows increase along a column). */
static int64_t first_row_at_least(const spt_csr *W, int64_t lo, int64_t hi, int64_t r) {
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (W->row_idx[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Output columns per chunk. */
static int64_t chunk_cols(int64_t N) { return N >= CHUNK ? 1 : CHUNK / N; }

/* End of the chunk of output columns that starts at a. */
static int64_t chunk_end(const spti_conv_geom *g, int64_t a, int64_t cw) {
    return a + cw < g->w_out ? a + cw : g->w_out;
}

/* The columns [*lo, *hi) of chunk [a, b) of output row oh where tap t is
 * valid; false when there are none. */
static bool tap_span(const tap *t, int64_t oh, int64_t a, int64_t b, int64_t *lo, int64_t *hi) {
    if (oh < t->olo || oh >= t->ohi) return false;
    *lo = a > t->wlo ? a : t->wlo;
    *hi = b < t->whi ? b : t->whi;
    return *lo < *hi;
}

/* For each output row oh and chunk [a, b) of its columns, for each tap of
 * ts[0..nt) valid there: dst[...] += w * src[...], where "out" is the output
 * side (y or dy) and "in" the input side (x or dx). to_in selects the
 * direction: false writes the output side (forward), true the input side
 * (dX). */
static void apply_taps(const spti_conv_geom *g, int64_t N, const tap *ts, int nt, const float *src, float *dst,
                       bool to_in, axpy_fn axpy) {
    const int64_t s = g->stride, cw = chunk_cols(N), in_row = s * g->w * N, out_row = g->w_out * N;
    for (int64_t oh = 0; oh < g->h_out; oh++)
        for (int64_t a = 0; a < g->w_out; a += cw) {
            const int64_t b = chunk_end(g, a, cw);
            for (int q = 0; q < nt; q++) {
                const tap *t = &ts[q];
                int64_t lo, hi;
                if (!tap_span(t, oh, a, b, &lo, &hi)) continue;
                const int64_t in_at = t->xoff + oh * in_row + lo * s * N, out_at = t->yoff + oh * out_row + lo * N;
                const float *from = to_in ? src + out_at : src + in_at;
                float *into = to_in ? dst + in_at : dst + out_at;
                if (s == 1)
                    axpy(t->w, from, 0, into, 0, 1, (hi - lo) * N);
                else if (to_in) /* dy columns are contiguous, dx columns s apart */
                    axpy(t->w, from, N, into, s * N, hi - lo, N);
                else
                    axpy(t->w, from, s * N, into, N, hi - lo, N);
            }
        }
}

/* ---- register-blocked kernels (AVX-512, stride 1, one group) ---- */

/* Stride 1 and any batch, or any stride and a batch of a multiple of 128
 * (the strided tiles' halves of 128 floats then lie in one cell each). */
static bool blocked(const spti_conv_geom *g, int64_t N) {
    return spti_simd_level() >= 2 && spti_conv_groups(g) == 1 && (g->stride == 1 || N % 128 == 0);
}

int64_t spti_conv_sparse_scratch(const spti_conv_geom *g, int64_t nnz) {
    int64_t taps, sums, all;
    if (!spti_mul_i64(nnz, (int64_t)sizeof(spti_conv_tap), &taps) || !spti_mul_i64(nnz, g->h_out, &sums) ||
        !spti_mul_i64(sums, (int64_t)sizeof(double), &sums) || !spti_add_i64(taps, sums, &all))
        return -1;
    return all > 0 ? all : 1;
}

/* The tap of weight column col with value w, for the forward and dW
 * (source x, destination rows of y) or, with to_in, for dX (source dy
 * channel ch, destination rows of dx). Stride 1: output cell (oh, ow)
 * reads input cell (oh + i - pad, ow + j - pad). */
static void tap_of(const spti_conv_geom *g, int64_t N, int64_t col, int64_t ch, float w, bool to_in,
                   spti_conv_tap *t) {
    const int64_t kk = g->kh * g->kw, ci = col / kk, di = (col % kk) / g->kw - g->pad, dj = col % g->kw - g->pad;
    int64_t lo, hi;
    if (g->stride > 1) {
        /* the strided tiles: source row (row*a + dr)/b, cell (cell*a + dc)/b */
        t->off = to_in ? ch * g->h_out * g->w_out * N : ci * g->h * g->w * N;
        t->dr = (int32_t)(to_in ? -di : di);
        t->vlo = to_in ? -dj : dj;
        t->vhi = 0;
        t->w = w;
        return;
    }
    if (!to_in) {
        /* destination: output row, floats ow*N..; source: x[ci] */
        spti_conv_range(dj, 1, g->w, g->w_out, &lo, &hi);
        t->off = (ci * g->h * g->w + dj) * N;
        t->dr = (int32_t)di;
    } else {
        /* destination: input row ih, cells iw with ow = iw - dj in [0, W_out); source: dy[ch] */
        lo = dj > 0 ? dj : 0;
        hi = g->w_out + dj < g->w ? g->w_out + dj : g->w;
        if (hi < lo) hi = lo;
        t->off = (ch * g->h_out * g->w_out - dj) * N;
        t->dr = (int32_t)-di;
    }
    t->vlo = lo * N;
    t->vhi = hi * N;
    t->w = w;
}

/* The halves of the strided tile at float f0 of a destination row of
 * row_len floats (N a multiple of 128); returns how many. */
static int halves(int64_t f0, int64_t row_len, int64_t N, int64_t cell[2], int64_t lane[2]) {
    int nh = 0;
    for (int h = 0; h < 2; h++) {
        const int64_t f = f0 + 128 * h;
        cell[h] = f / N;
        lane[h] = f % N;
        if (f < row_len) nh++;
    }
    return nh;
}

/* Ask for row r of each of the channels [c0, c1) of src (channel stride
 * cs, row stride rs), floats [f0, f0 + len): the row the next destination
 * row will first need, so that it streams in from memory while this row
 * computes (one stream per channel: too many for the hardware prefetchers;
 * measured 10-15% on the 16-channel 32x32 layers). */
static void prefetch_rows(const float *src, int64_t c0, int64_t c1, int64_t cs, int64_t r, int64_t rows, int64_t rs,
                          int64_t f0, int64_t len) {
    if (r < 0 || r >= rows) return;
    if (f0 + len > rs) len = rs - f0; /* within the row */
    for (int64_t ch = c0; ch < c1; ch++) {
        const char *p = (const char *)(src + ch * cs + r * rs + f0);
        for (int64_t b = 0; b < len * (int64_t)sizeof(float); b += 64) __builtin_prefetch(p + b, 0, 3);
    }
}

static void blocked_fwd(const spti_conv_geom *g, const spt_csr *W, const float *x, int64_t N, const float *bias,
                        float *y, void *scratch) {
    spti_conv_tap *ts = scratch;
    for (int64_t co = 0; co < g->c_out; co++)
        for (int64_t k = W->row_ptr[co]; k < W->row_ptr[co + 1]; k++)
            tap_of(g, N, W->col_idx[k], 0, W->values[k], false, &ts[k]);
    const int64_t row_len = g->w_out * N, src_row = g->w * N, chan_out = g->h_out * row_len, s = g->stride;
    const spti_conv_half_geom hg = {s, 1, g->h, g->w, src_row, N};
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (W->nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t oh = 0; oh < g->h_out; oh++)
        for (int64_t f0 = 0; f0 < row_len; f0 += SPTI_CONV_TILE) {
            const int64_t len = row_len - f0 < SPTI_CONV_TILE ? row_len - f0 : SPTI_CONV_TILE;
            int64_t cell[2], lane[2];
            const int nh = s > 1 ? halves(f0, row_len, N, cell, lane) : 0;
            prefetch_rows(x, 0, g->c_in, g->h * src_row, (oh + 1) * s + g->kh - 1 - g->pad, g->h, src_row,
                          f0 * s, len * s);
            for (int64_t co = 0; co < g->c_out; co++) {
                const int64_t k0 = W->row_ptr[co], nt = W->row_ptr[co + 1] - k0;
                const float b = bias ? bias[co] : 0.0f;
                float *dst = y + co * chan_out + oh * row_len + f0;
                if (s > 1)
                    spti_conv_tile2_axpy_avx512(ts + k0, nt, x, &hg, oh, cell, lane, nh, b, dst);
                else
                    spti_conv_tile_axpy_avx512(ts + k0, nt, x, src_row, oh, g->h, f0, len, b, dst);
            }
        }
}

/* dx through the transposed index: input channel ci's taps are the entries
 * of its kh*kw columns, contiguous in transposed order. */
static void blocked_dx(const spti_conv_geom *g, const spt_csr *W, const float *dy, int64_t N, float *dx,
                       void *scratch) {
    spti_conv_tap *ts = scratch;
    const int64_t kk = g->kh * g->kw;
    for (int64_t c = 0; c < W->cols; c++)
        for (int64_t e = W->col_ptr[c]; e < W->col_ptr[c + 1]; e++)
            tap_of(g, N, c, W->row_idx[e], W->values[W->csr_pos[e]], true, &ts[e]);
    const int64_t row_len = g->w * N, src_row = g->w_out * N, chan_in = g->h * row_len;
    const int64_t chan_out = g->h_out * g->w_out * N, s = g->stride;
    const spti_conv_half_geom hg = {1, s, g->h_out, g->w_out, src_row, N};
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (W->nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t ih = 0; ih < g->h; ih++)
        for (int64_t f0 = 0; f0 < row_len; f0 += SPTI_CONV_TILE) {
            const int64_t len = row_len - f0 < SPTI_CONV_TILE ? row_len - f0 : SPTI_CONV_TILE;
            /* dy row ih + 1 + pad is the one input row ih + 1 reads first */
            int64_t cell[2], lane[2];
            const int nh = s > 1 ? halves(f0, row_len, N, cell, lane) : 0;
            if (s == 1) prefetch_rows(dy, 0, g->c_out, g->h_out * src_row, ih + 1 + g->pad, g->h_out, src_row, f0, len);
            for (int64_t ci = 0; ci < g->c_in; ci++) {
                const int64_t e0 = W->col_ptr[ci * kk], nt = W->col_ptr[(ci + 1) * kk] - e0;
                float *dst = dx + ci * chan_in + ih * row_len + f0;
                if (s > 1)
                    spti_conv_tile2_axpy_avx512(ts + e0, nt, dy, &hg, ih, cell, lane, nh, 0.0f, dst);
                else
                    spti_conv_tile_axpy_avx512(ts + e0, nt, dy, src_row, ih, g->h_out, f0, len, 0.0f, dst);
            }
        }
}

/* Taps per dW batch: their lane sums stay on the stack (16 floats each). */
enum { DW_TAPS = 64 };

/* dW: per output row oh (one task each) and output channel co, the lane
 * sums of each tap over the row's tiles, reduced to one double per (oh,
 * nonzero); then each nonzero's rows summed in row order. */
static void blocked_dw(const spti_conv_geom *g, const spt_csr *W, const float *x, const float *dy, int64_t N,
                       float *dW, bool accumulate, void *scratch) {
    spti_conv_tap *ts = scratch;
    double *rows = (double *)(ts + W->nnz);
    for (int64_t co = 0; co < g->c_out; co++)
        for (int64_t k = W->row_ptr[co]; k < W->row_ptr[co + 1]; k++)
            tap_of(g, N, W->col_idx[k], 0, W->values[k], false, &ts[k]);
    const int64_t row_len = g->w_out * N, src_row = g->w * N, chan_out = g->h_out * row_len, nnz = W->nnz;
    const int64_t s = g->stride;
    const spti_conv_half_geom hg = {s, 1, g->h, g->w, src_row, N};
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t oh = 0; oh < g->h_out; oh++) {
        float acc[DW_TAPS * 16];
        for (int64_t co = 0; co < g->c_out; co++) {
            /* the next row's new input row, a share of its channels per output channel */
            prefetch_rows(x, co * g->c_in / g->c_out, (co + 1) * g->c_in / g->c_out, g->h * src_row,
                          (oh + 1) * s + g->kh - 1 - g->pad, g->h, src_row, 0, src_row);
            /* and the next output channel's row of dy, read once */
            if (co + 1 < g->c_out) prefetch_rows(dy, co + 1, co + 2, chan_out, oh, g->h_out, row_len, 0, row_len);
            for (int64_t k0 = W->row_ptr[co]; k0 < W->row_ptr[co + 1]; k0 += DW_TAPS) {
                const int64_t nt = W->row_ptr[co + 1] - k0 < DW_TAPS ? W->row_ptr[co + 1] - k0 : DW_TAPS;
                memset(acc, 0, (size_t)nt * 16 * sizeof(float));
                const float *dyr = dy + co * chan_out + oh * row_len;
                for (int64_t f0 = 0; f0 < row_len; f0 += SPTI_CONV_TILE) {
                    const int64_t len = row_len - f0 < SPTI_CONV_TILE ? row_len - f0 : SPTI_CONV_TILE;
                    if (s > 1) {
                        int64_t cell[2], lane[2];
                        const int nh = halves(f0, row_len, N, cell, lane);
                        spti_conv_tile2_dot_avx512(ts + k0, nt, x, &hg, oh, cell, lane, nh, dyr + f0, acc);
                    } else {
                        spti_conv_tile_dot_avx512(ts + k0, nt, x, src_row, oh, g->h, dyr + f0, f0, len, acc);
                    }
                }
                for (int64_t q = 0; q < nt; q++) rows[oh * nnz + k0 + q] = spti_conv_lanes_sum_avx512(acc + 16 * q);
            }
        }
    }
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (nnz * g->h_out >= SPTI_CONV_PAR_MIN)
    for (int64_t k = 0; k < nnz; k++) {
        double sum = 0.0;
        for (int64_t oh = 0; oh < g->h_out; oh++) sum += rows[oh * nnz + k];
        const float v = (float)sum;
        dW[k] = accumulate ? dW[k] + v : v;
    }
}

/* y[C_out x H_out x W_out x N] = conv(W, x) + bias: one output channel per task. */
void spti_conv_sparse_fwd(const spti_conv_geom *g, const spt_csr *W, const float *x, int64_t N, const float *bias,
                          float *y, void *scratch) {
    if (blocked(g, N)) {
        blocked_fwd(g, W, x, N, bias, y, scratch);
        return;
    }
    const axpy_fn axpy = pick_axpy();
    const int64_t chan_out = g->h_out * g->w_out * N;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (W->nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t co = 0; co < g->c_out; co++) {
        tap ts[BATCH];
        float *yc = y + co * chan_out;
        const int64_t xbase = group_xbase(g, N, co);
        const float b = bias ? bias[co] : 0.0f;
        for (int64_t e = 0; e < chan_out; e++) yc[e] = b;
        for (int64_t k0 = W->row_ptr[co]; k0 < W->row_ptr[co + 1]; k0 += BATCH) {
            const int nt = decode_row(g, N, W, k0, W->row_ptr[co + 1], xbase, ts);
            apply_taps(g, N, ts, nt, x, yc, false, axpy);
        }
    }
}

/* dx[C_in x H x W x N] = the transposed convolution of dy: one input channel
 * ci per task. Its entries are those of the columns cl*kh*kw .. of W (cl its
 * channel within its group) whose rows are in its group, in transposed
 * order (the whole columns without groups), taken in batches. */
void spti_conv_sparse_dx(const spti_conv_geom *g, const spt_csr *W, const float *dy, int64_t N, float *dx,
                         void *scratch) {
    if (blocked(g, N)) {
        blocked_dx(g, W, dy, N, dx, scratch);
        return;
    }
    const axpy_fn axpy = pick_axpy();
    const int64_t chan_out = g->h_out * g->w_out * N, chan_in = g->h * g->w * N, kk = g->kh * g->kw;
    const int64_t G = spti_conv_groups(g), cig = g->c_in / G, cog = g->c_out / G;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (W->nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t ci = 0; ci < g->c_in; ci++) {
        tap ts[BATCH];
        float *dxc = dx + ci * chan_in;
        memset(dxc, 0, (size_t)chan_in * sizeof(float));
        const int64_t cl = ci % cig, r0 = (ci / cig) * cog, r1 = r0 + cog;
        int nt = 0;
        for (int64_t c = cl * kk; c < (cl + 1) * kk; c++) {
            int64_t e = W->col_ptr[c], e1 = W->col_ptr[c + 1];
            if (G > 1) {
                e = first_row_at_least(W, e, e1, r0);
                e1 = first_row_at_least(W, e, e1, r1);
            }
            for (; e < e1; e++) {
                /* xoff relative to dxc: subtract this channel's base */
                decode(g, N, c, -cl * chan_in, (int64_t)W->row_idx[e] * chan_out, W->values[W->csr_pos[e]], &ts[nt++]);
                if (nt == BATCH) {
                    apply_taps(g, N, ts, nt, dy, dxc, true, axpy);
                    nt = 0;
                }
            }
        }
        if (nt > 0) apply_taps(g, N, ts, nt, dy, dxc, true, axpy);
    }
}

/* dW[k] (=|+=) sum over output cells of dy[co] * shifted x[ci], for each
 * nonzero k = (co, (ci, i, j)): one output channel per task; each entry's
 * sum is accumulated in double over the chunks, in a fixed order. */
void spti_conv_sparse_dw(const spti_conv_geom *g, const spt_csr *W, const float *x, const float *dy, int64_t N,
                         float *dW, bool accumulate, void *scratch) {
    if (blocked(g, N)) {
        blocked_dw(g, W, x, dy, N, dW, accumulate, scratch);
        return;
    }
    const dot_fn dot = pick_dot();
    const int64_t s = g->stride, chan_out = g->h_out * g->w_out * N, cw = chunk_cols(N);
    const int64_t in_row = s * g->w * N, out_row = g->w_out * N;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (W->nnz * chan_out >= SPTI_CONV_PAR_MIN)
    for (int64_t co = 0; co < g->c_out; co++) {
        tap ts[BATCH];
        double acc[BATCH];
        const float *dyc = dy + co * chan_out;
        const int64_t xbase = group_xbase(g, N, co);
        for (int64_t k0 = W->row_ptr[co]; k0 < W->row_ptr[co + 1]; k0 += BATCH) {
            const int nt = decode_row(g, N, W, k0, W->row_ptr[co + 1], xbase, ts);
            for (int q = 0; q < nt; q++) acc[q] = 0.0;
            for (int64_t oh = 0; oh < g->h_out; oh++)
                for (int64_t a = 0; a < g->w_out; a += cw) {
                    const int64_t b = chunk_end(g, a, cw);
                    for (int q = 0; q < nt; q++) {
                        const tap *t = &ts[q];
                        int64_t lo, hi;
                        if (!tap_span(t, oh, a, b, &lo, &hi)) continue;
                        const float *xr = x + (t->xoff + oh * in_row + lo * s * N), *dr = dyc + (oh * out_row + lo * N);
                        if (s == 1)
                            acc[q] += dot(dr, 0, xr, 0, 1, (hi - lo) * N);
                        else
                            acc[q] += dot(dr, N, xr, s * N, hi - lo, N);
                    }
                }
            for (int q = 0; q < nt; q++) {
                float v = (float)acc[q];
                dW[k0 + q] = accumulate ? dW[k0 + q] + v : v;
            }
        }
    }
}
