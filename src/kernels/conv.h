/*
 * Convolution kernels over the batch-contiguous layout (kernels.h):
 *   input  x: C_in  x H     x W     x N   index ((ci*H + ih)*W + iw)*N + n
 *   output y: C_out x H_out x W_out x N   index ((co*H_out + oh)*W_out + ow)*N + n
 * The weight (C_out, C_in/G, kh, kw) is the matrix C_out x K, K =
 * (C_in/G)*kh*kw, column index (ci*kh + i)*kw + j. Output cell (oh, ow)
 * reads the input at (oh*s + i - pad, ow*s + j - pad), zero outside the
 * input. With G groups (grouped / depthwise convolution), row co belongs to
 * group q = co / (C_out/G) and its local channel ci reads input channel
 * q*(C_in/G) + ci; G = 1 is the ordinary convolution.
 *
 * Two families:
 *  - im2col / col2im, for the dense path (OpenBLAS) and the CSR kernels:
 *    the column buffer is (C_in*kh*kw) x (H_out*W_out*N), all the input
 *    channels whatever G (group q's K rows are the block [q*K, (q+1)*K));
 *    with the batch contiguous each of its rows is a handful of contiguous
 *    copies of shifted input rows.
 *  - the direct sparse convolution, cost proportional to the nonzeros of a
 *    CSR weight: for each nonzero W[co, ci, i, j] and each output row,
 *    y[co, oh, ow.., :] += w * x[ci, oh*s+i-p, ow*s+j-p.., :], the batch
 *    (and, at stride 1, the whole valid span of the row) being one
 *    contiguous vector. No column buffer.
 *
 * Arguments are assumed valid (the layer checks shapes). Every output
 * element is written by one thread in a fixed order: results are
 * deterministic for a given thread count and SIMD level.
 */
#ifndef SPTI_CONV_H
#define SPTI_CONV_H

/* Below this many multiply-adds (or copied floats) a kernel stays on one
 * thread: starting a parallel region costs more than the work, and much more
 * when the cores are shared with other processes. */
#define SPTI_CONV_PAR_MIN ((int64_t)1 << 16)

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../tensor/csr.h"

typedef struct spti_conv_geom {
    int64_t c_in, h, w;     /* input, per example */
    int64_t c_out, kh, kw;  /* filters */
    int64_t stride, pad;    /* stride >= 1, zero padding >= 0 on every side */
    int64_t h_out, w_out;   /* (h + 2 pad - kh) / stride + 1, same for w */
    int64_t groups;         /* G dividing c_in and c_out; 0 means 1 */
} spti_conv_geom;

/* The number of groups (0 read as 1). */
static inline int64_t spti_conv_groups(const spti_conv_geom *g) { return g->groups > 1 ? g->groups : 1; }

/* Output positions o in [*lo, *hi) of a length-out_len axis whose input index
 * o*stride + off (off = tap - pad) lies inside [0, in_len). */
static inline void spti_conv_range(int64_t off, int64_t stride, int64_t in_len, int64_t out_len, int64_t *lo,
                                   int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t last = in_len - 1 - off; /* o*stride <= last */
    int64_t h = last < 0 ? 0 : last / stride + 1;
    if (h > out_len) h = out_len;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col[(C_in*kh*kw) x (H_out*W_out*N)] = the patches of x[C_in x H x W x N];
 * padding as zeros. (The groups do not matter here.) */
void spti_im2col(const spti_conv_geom *g, const float *x, int64_t N, float *col);
/* dx[C_in x H x W x N] = the sum over patches of col[(C_in*kh*kw) x (H_out*W_out*N)]
 * (the transpose of im2col). dx is overwritten. */
void spti_col2im(const spti_conv_geom *g, const float *col, int64_t N, float *dx);

/* Direct sparse convolution, W a CSR C_out x K:
 * y[C_out x H_out x W_out x N] = conv(W, x[C_in x H x W x N]) (+ bias[C_out]
 * when bias != NULL). y is overwritten. */
void spti_conv_sparse_fwd(const spti_conv_geom *g, const spt_csr *W, const float *x, int64_t N, const float *bias,
                          float *y, void *scratch);
/* dx[C_in x H x W x N] = the input gradient for dy[C_out x H_out x W_out x N],
 * through W's transposed index (one input channel per task; with groups,
 * the entries of its group's rows, found by binary search in each column).
 * Overwritten. */
void spti_conv_sparse_dx(const spti_conv_geom *g, const spt_csr *W, const float *dy, int64_t N, float *dx,
                         void *scratch);
/* dW[k] (=|+=) dL/dW at each nonzero k of W (CSR order): the dot product of
 * dy[co] with x[ci] shifted by the tap (i, j). */
void spti_conv_sparse_dw(const spti_conv_geom *g, const spt_csr *W, const float *x, const float *dy, int64_t N,
                         float *dW, bool accumulate, void *scratch);

/* Scratch the direct kernels need for a weight of nnz nonzeros, in bytes
 * (the register-blocked kernels below: a decoded tap per nonzero, and for dW
 * one partial sum per nonzero and output row); -1 when it overflows. The
 * caller passes a buffer of at least this size (malloc-aligned) to each of
 * spti_conv_sparse_fwd / _dx / _dw. */
int64_t spti_conv_sparse_scratch(const spti_conv_geom *g, int64_t nnz);

/* One nonzero decoded for the register-blocked kernels (stride 1, one
 * group). A tile is up to SPTI_CONV_TILE contiguous floats [f0, f0 + len) of
 * one destination row `row` (a row is W_dst*N floats: the batch of each cell
 * and the cells of the row are contiguous); the tap adds w times the source
 * at src + off + (row + dr)*src_row + f for the floats f of the tile in
 * [vlo, vhi), when the source row row + dr lies in [0, src_rows). */
typedef struct spti_conv_tap {
    int64_t off, vlo, vhi; /* (the strided variant below: vlo holds dc) */
    int32_t dr;
    float w;
} spti_conv_tap;

/* Floats per register tile: 16 zmm accumulators. */
#define SPTI_CONV_TILE 256

/* dst[e] = init + the sum over the taps ts[0..nt), in order, of their
 * contributions to float f0 + e of destination row `row`, for e < len <=
 * SPTI_CONV_TILE; the tile is held in registers and stored once. */
void spti_conv_tile_axpy_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, int64_t src_row,
                                int64_t row, int64_t src_rows, int64_t f0, int64_t len, float init, float *dst);
/* acc[16q + l] += lane l of the dot product of the tile dyt[0..len) of
 * destination row `row` (floats f0..) with tap q's source span, for each tap
 * q < nt (a fixed order of operations). */
void spti_conv_tile_dot_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, int64_t src_row, int64_t row,
                               int64_t src_rows, const float *dyt, int64_t f0, int64_t len, float *acc);
/* The strided variant (any stride, N a multiple of 128): the tile is two
 * halves of 128 floats, half h in destination cell cell[h] at batch offset
 * lane[h] (nh = 1 or 2 halves). A tap's source row is (row*a + dr) / b and
 * its source cell (cell*a + dc) / b, used only when the division is exact
 * and the result lies in [0, src_rows) x [0, src_cols): a = stride, b = 1
 * for the forward and dW (destination = output), a = 1, b = stride for dX
 * (destination = input). The source of half h is src + off + r*src_row +
 * source cell * N + lane[h]. Same order of operations as the other tiles. */
typedef struct spti_conv_half_geom {
    int64_t a, b, src_rows, src_cols, src_row, N;
} spti_conv_half_geom;
void spti_conv_tile2_axpy_avx512(const spti_conv_tap *ts, int64_t nt, const float *src,
                                 const spti_conv_half_geom *hg, int64_t row, const int64_t cell[2],
                                 const int64_t lane[2], int nh, float init, float *dst);
void spti_conv_tile2_dot_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, const spti_conv_half_geom *hg,
                                int64_t row, const int64_t cell[2], const int64_t lane[2], int nh, const float *dyt,
                                float *acc);

/* The 16 lanes of v, summed in a fixed order. */
float spti_conv_lanes_sum_avx512(const float *v);

/* Vector primitives of the direct kernels (conv_avx512.c; call only when
 * spti_simd_level() >= 2), over `rows` rows of n contiguous floats:
 *   axpy_rows: y[r*ys + e] += a * x[r*xs + e]
 *   dot_rows:  sum of a[r*as + e] * b[r*bs + e]                 */
void spti_conv_axpy_rows_avx512(float a, const float *x, int64_t xs, float *y, int64_t ys, int64_t rows, int64_t n);
float spti_conv_dot_rows_avx512(const float *a, int64_t as, const float *b, int64_t bs, int64_t rows, int64_t n);

#endif
