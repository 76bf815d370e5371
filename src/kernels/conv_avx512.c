/* AVX-512 vector primitives of the direct sparse convolution (conv.h).
 * Compiled with -mavx512f; called only after spti_simd_level() >= 2. */
#include <immintrin.h>

#include "conv.h"

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* y[r*ys + e] += a * x[r*xs + e]: 32 floats per step, a masked tail. */
void spti_conv_axpy_rows_avx512(float a, const float *x, int64_t xs, float *y, int64_t ys, int64_t rows, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * xs;
        float *yr = y + r * ys;
        int64_t e = 0;
        for (; e + 32 <= n; e += 32) {
            __m512 y0 = _mm512_loadu_ps(yr + e), y1 = _mm512_loadu_ps(yr + e + 16);
            y0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xr + e), y0);
            y1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xr + e + 16), y1);
            _mm512_storeu_ps(yr + e, y0);
            _mm512_storeu_ps(yr + e + 16, y1);
        }
        for (; e < n; e += 16) {
            const __mmask16 m = tail_mask(n - e);
            __m512 yv = _mm512_maskz_loadu_ps(m, yr + e);
            yv = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, xr + e), yv);
            _mm512_mask_storeu_ps(yr + e, m, yv);
        }
    }
}

/* Dot product over rows with four independent accumulators, reduced in a
 * fixed order. */
float spti_conv_dot_rows_avx512(const float *a, int64_t as, const float *b, int64_t bs, int64_t rows, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * as, *br = b + r * bs;
        int64_t e = 0;
        for (; e + 64 <= n; e += 64) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e), _mm512_loadu_ps(br + e), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 16), _mm512_loadu_ps(br + e + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 32), _mm512_loadu_ps(br + e + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + e + 48), _mm512_loadu_ps(br + e + 48), s3);
        }
        for (; e < n; e += 16) {
            const __mmask16 m = tail_mask(n - e);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + e), _mm512_maskz_loadu_ps(m, br + e), s0);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* ---- register-blocked tiles (stride 1, conv.h's spti_conv_tap) ---- */

/* Lanes [lo, hi) of a vector, clipped to [0, 16). */
static inline __mmask16 lanes(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (lo >= hi) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

enum { V = SPTI_CONV_TILE / 16 };

/* A tap valid over floats [lo, hi) of a tile (relative to its start) when
 * both ends fall on vector boundaries (always with the batch a multiple
 * of 16): the mask of the vectors it covers, each wholly, so that the
 * tile kernels skip the others with one test instead of building a lane
 * mask per vector (the edge tiles of a row, a quarter to a half of the
 * tiles on the 16x16 and 8x8 layers); PARTIAL otherwise. The vectors
 * covered get the same operations as through the lane masks. */
enum { PARTIAL = 1u << V };
static inline uint32_t whole_vectors(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > SPTI_CONV_TILE) hi = SPTI_CONV_TILE;
    if (lo >= hi) return 0;
    if ((lo | hi) & 15) return PARTIAL;
    return ((1u << (hi / 16)) - 1u) & ~((1u << (lo / 16)) - 1u);
}

/* Is tap t valid over the whole tile [f0, f0 + len)? */
static inline bool whole(const spti_conv_tap *t, int64_t f0, int64_t len) {
    return len == SPTI_CONV_TILE && t->vlo <= f0 && f0 + len <= t->vhi;
}

void spti_conv_tile_axpy_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, int64_t src_row,
                                int64_t row, int64_t src_rows, int64_t f0, int64_t len, float init, float *dst) {
    __m512 acc[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) acc[v] = _mm512_set1_ps(init);
    for (int64_t q = 0; q < nt; q++) {
        const spti_conv_tap *t = &ts[q];
        const int64_t r = row + t->dr;
        if (r < 0 || r >= src_rows) continue;
        const float *p = src + (t->off + r * src_row + f0);
        const __m512 w = _mm512_set1_ps(t->w);
        if (whole(t, f0, len)) {
#pragma GCC unroll 16
            for (int v = 0; v < V; v++) acc[v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p + 16 * v), acc[v]);
        } else {
            const int64_t lo = t->vlo - f0, hi = (t->vhi < f0 + len ? t->vhi : f0 + len) - f0;
            const uint32_t vm = whole_vectors(lo, hi);
            if (vm != PARTIAL) {
#pragma GCC unroll 16
                for (int v = 0; v < V; v++)
                    if (vm >> v & 1u) acc[v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p + 16 * v), acc[v]);
                continue;
            }
#pragma GCC unroll 16
            for (int v = 0; v < V; v++) {
                const __mmask16 m = lanes(lo - 16 * v, hi - 16 * v);
                if (m) acc[v] = _mm512_mask3_fmadd_ps(w, _mm512_maskz_loadu_ps(m, p + 16 * v), acc[v], m);
            }
        }
    }
    if (len == SPTI_CONV_TILE) {
#pragma GCC unroll 16
        for (int v = 0; v < V; v++) _mm512_storeu_ps(dst + 16 * v, acc[v]);
    } else {
#pragma GCC unroll 16
        for (int v = 0; v < V; v++) {
            const __mmask16 m = lanes(0, len - 16 * v);
            if (m) _mm512_mask_storeu_ps(dst + 16 * v, m, acc[v]);
        }
    }
}

void spti_conv_tile_dot_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, int64_t src_row, int64_t row,
                               int64_t src_rows, const float *dyt, int64_t f0, int64_t len, float *acc) {
    __m512 d[V];
    const bool full = len == SPTI_CONV_TILE;
#pragma GCC unroll 16
    for (int v = 0; v < V; v++)
        d[v] = full ? _mm512_loadu_ps(dyt + 16 * v) : _mm512_maskz_loadu_ps(lanes(0, len - 16 * v), dyt + 16 * v);
    for (int64_t q = 0; q < nt; q++) {
        const spti_conv_tap *t = &ts[q];
        const int64_t r = row + t->dr;
        if (r < 0 || r >= src_rows) continue;
        const float *p = src + (t->off + r * src_row + f0);
        __m512 s0, s1, s2, s3;
        if (whole(t, f0, len)) {
            s0 = _mm512_mul_ps(d[0], _mm512_loadu_ps(p));
            s1 = _mm512_mul_ps(d[1], _mm512_loadu_ps(p + 16));
            s2 = _mm512_mul_ps(d[2], _mm512_loadu_ps(p + 32));
            s3 = _mm512_mul_ps(d[3], _mm512_loadu_ps(p + 48));
#pragma GCC unroll 16
            for (int v = 4; v < V; v += 4) {
                s0 = _mm512_fmadd_ps(d[v], _mm512_loadu_ps(p + 16 * v), s0);
                s1 = _mm512_fmadd_ps(d[v + 1], _mm512_loadu_ps(p + 16 * v + 16), s1);
                s2 = _mm512_fmadd_ps(d[v + 2], _mm512_loadu_ps(p + 16 * v + 32), s2);
                s3 = _mm512_fmadd_ps(d[v + 3], _mm512_loadu_ps(p + 16 * v + 48), s3);
            }
        } else {
            const int64_t lo = t->vlo - f0, hi = (t->vhi < f0 + len ? t->vhi : f0 + len) - f0;
            __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            const uint32_t vm = whole_vectors(lo, hi);
            if (vm != PARTIAL) {
#pragma GCC unroll 16
                for (int v = 0; v < V; v++)
                    if (vm >> v & 1u) s[v & 3] = _mm512_fmadd_ps(d[v], _mm512_loadu_ps(p + 16 * v), s[v & 3]);
            } else {
#pragma GCC unroll 16
                for (int v = 0; v < V; v++) {
                    const __mmask16 m = lanes(lo - 16 * v, hi - 16 * v);
                    if (m) s[v & 3] = _mm512_mask3_fmadd_ps(d[v], _mm512_maskz_loadu_ps(m, p + 16 * v), s[v & 3], m);
                }
            }
            s0 = s[0];
            s1 = s[1];
            s2 = s[2];
            s3 = s[3];
        }
        float *a = acc + 16 * q;
        _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
    }
}

/* ---- strided tiles: two halves of 128 floats ---- */

/* Source row or cell (x*a + d) / b if exact and in [0, n), else -1. */
static inline int64_t src_index(int64_t x, int64_t a, int64_t d, int64_t b, int64_t n) {
    int64_t t = x * a + d;
    if (t < 0) return -1;
    if (b == 2) { /* the usual stride, without a division */
        if (t & 1) return -1;
        t >>= 1;
    } else if (b > 1) {
        if (t % b) return -1;
        t /= b;
    }
    return t < n ? t : -1;
}

/* The sources of a tap's halves (NULL where it does not contribute); false
 * when it contributes to neither. */
static inline bool half_sources(const spti_conv_tap *t, const float *src, const spti_conv_half_geom *hg, int64_t row,
                                const int64_t cell[2], const int64_t lane[2], int nh, const float *p[2]) {
    const int64_t r = src_index(row, hg->a, t->dr, hg->b, hg->src_rows);
    if (r < 0) return false;
    bool any = false;
    for (int h = 0; h < 2; h++) {
        const int64_t c = h < nh ? src_index(cell[h], hg->a, t->vlo, hg->b, hg->src_cols) : -1;
        p[h] = c < 0 ? NULL : src + (t->off + r * hg->src_row + c * hg->N + lane[h]);
        any |= c >= 0;
    }
    return any;
}

void spti_conv_tile2_axpy_avx512(const spti_conv_tap *ts, int64_t nt, const float *src,
                                 const spti_conv_half_geom *hg, int64_t row, const int64_t cell[2],
                                 const int64_t lane[2], int nh, float init, float *dst) {
    __m512 acc[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) acc[v] = _mm512_set1_ps(init);
    for (int64_t q = 0; q < nt; q++) {
        const float *p[2];
        if (!half_sources(&ts[q], src, hg, row, cell, lane, nh, p)) continue;
        const __m512 w = _mm512_set1_ps(ts[q].w);
        if (p[0]) {
#pragma GCC unroll 8
            for (int v = 0; v < V / 2; v++) acc[v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p[0] + 16 * v), acc[v]);
        }
        if (p[1]) {
#pragma GCC unroll 8
            for (int v = 0; v < V / 2; v++)
                acc[V / 2 + v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p[1] + 16 * v), acc[V / 2 + v]);
        }
    }
#pragma GCC unroll 16
    for (int v = 0; v < V; v++)
        if (v < nh * V / 2) _mm512_storeu_ps(dst + 16 * v, acc[v]);
}

void spti_conv_tile2_dot_avx512(const spti_conv_tap *ts, int64_t nt, const float *src, const spti_conv_half_geom *hg,
                                int64_t row, const int64_t cell[2], const int64_t lane[2], int nh, const float *dyt,
                                float *acc) {
    __m512 d[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) d[v] = v < nh * V / 2 ? _mm512_loadu_ps(dyt + 16 * v) : _mm512_setzero_ps();
    for (int64_t q = 0; q < nt; q++) {
        const float *p[2];
        if (!half_sources(&ts[q], src, hg, row, cell, lane, nh, p)) continue;
        __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int h = 0; h < 2; h++) {
            if (!p[h]) continue;
#pragma GCC unroll 8
            for (int v = 0; v < V / 2; v++)
                s[v & 3] = _mm512_fmadd_ps(d[h * V / 2 + v], _mm512_loadu_ps(p[h] + 16 * v), s[v & 3]);
        }
        float *a = acc + 16 * q;
        _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]))));
    }
}

float spti_conv_lanes_sum_avx512(const float *v) { return _mm512_reduce_add_ps(_mm512_loadu_ps(v)); }
