/* Choice between the sparse kernels and OpenBLAS over a dense copy of W
 * (a density threshold by default, or timings of both on this machine), and
 * the two paths themselves. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ell.h"
#include "kernels.h"

/* ---- timing-based choice ---------------------------------------------------- */

enum { CACHE_SLOTS = 128, CALIB_MAX_CELLS = 1 << 24, CALIB_MAX_N = 512 };

typedef struct {
    int out_b, in_b, n_b, dens_b;
    spti_path path;
} decision;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static decision g_cache[CACHE_SLOTS];
static int g_used = 0;

static int log2_bucket(double v) { /* round(log2(v)) for v >= 1 */
    int b = 0;
    while (v >= 1.4142135623730951) {
        v *= 0.5;
        b++;
    }
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Synthetic out x in pattern with nnz entries spread evenly over the rows,
 * columns evenly spaced with a row-dependent offset (random enough for the
 * caches, O(nnz) to build). */
static spt_csr *synthetic(int64_t out, int64_t in, int64_t nnz) {
    spt_csr *m;
    if (spti_csr_alloc(out, in, nnz, &m) != SPT_OK) return NULL;
    int64_t k = 0;
    for (int64_t r = 0; r < out; r++) {
        const int64_t cnt = nnz * (r + 1) / out - nnz * r / out;
        const int64_t stride = cnt ? in / cnt : 1;
        const int64_t off = stride > 1 ? (r * 2654435761LL) % stride : 0;
        for (int64_t j = 0; j < cnt; j++) {
            m->col_idx[k] = (int32_t)(off + j * stride);
            m->values[k] = (float)((k % 7) - 3) * 0.25f;
            k++;
        }
        m->row_ptr[r + 1] = k;
    }
    spti_csr_build_transpose(m);
    return m;
}

/* Time (best of a few rounds) of one training step's products on each path. */
static spti_path calibrate(int64_t out, int64_t in, int64_t nnz, int64_t N) {
    if (N > CALIB_MAX_N) N = CALIB_MAX_N;
    if (in > CALIB_MAX_CELLS) return SPTI_PATH_SPARSE; /* a dense copy would not be reasonable */
    if (out * in > CALIB_MAX_CELLS) { /* same density and in, fewer rows: the ratio barely depends on out */
        const int64_t o2 = CALIB_MAX_CELLS / in;
        nnz = (int64_t)((double)nnz * (double)o2 / (double)out);
        out = o2;
    }
    spti_path path = SPTI_PATH_SPARSE;
    spt_csr *W = synthetic(out, in, nnz);
    float *X = spti_calloc(in * N, sizeof(float)), *dX = spti_alloc(in * N, sizeof(float));
    float *dY = spti_calloc(out * N, sizeof(float)), *Y = spti_alloc(out * N, sizeof(float));
    float *dW = spti_alloc(nnz, sizeof(float));
    spti_csr_ws dense = {.path = SPTI_PATH_DENSE, .decided_nnz = nnz, .decided_N = N};
    spti_csr_ws sparse = {.path = SPTI_PATH_SPARSE, .decided_nnz = nnz, .decided_N = N};
    if (W && X && dX && dY && Y && dW) {
        double best[2] = {1e300, 1e300};
        bool ok = true;
        for (int round = 0; round < 3 && ok; round++)
            for (int p = 0; p < 2 && ok; p++) {
                spti_csr_ws *ws = p ? &dense : &sparse;
                const double t0 = now_s();
                ok = spti_csr_forward(W, X, N, NULL, Y, ws) == SPT_OK &&
                     spti_csr_backward(W, X, dY, N, dX, false, dW, false, ws) == SPT_OK;
                const double t = now_s() - t0;
                if (round > 0 && t < best[p]) best[p] = t; /* round 0 warms up */
            }
        /* Dense only when clearly faster: the sparse path also saves memory. */
        if (ok && best[1] < 0.9 * best[0]) path = SPTI_PATH_DENSE;
    }
    spti_csr_ws_release(&dense);
    spti_csr_ws_release(&sparse);
    spt_csr_destroy(W);
    spti_free(X);
    spti_free(dX);
    spti_free(dY);
    spti_free(Y);
    spti_free(dW);
    spt_clear_error(); /* a failed trial allocation is not the caller's error */
    return path;
}

static int g_mode = SPT_DISPATCH_THRESHOLD;
static double g_threshold = 0.4; /* measured crossover, docs/performance.md */

int spt_set_dispatch_mode(int mode) {
    if (mode < SPT_DISPATCH_THRESHOLD || mode > SPT_DISPATCH_DENSE)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown mode %d", __func__, mode);
    g_mode = mode;
    return SPT_OK;
}

int spt_get_dispatch_mode(void) { return g_mode; }

int spt_set_dispatch_threshold(double density) {
    if (!(density > 0.0 && density <= 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: density %g is outside (0, 1]", __func__, density);
    g_threshold = density;
    return SPT_OK;
}

double spt_get_dispatch_threshold(void) { return g_threshold; }

spti_path spti_choose_path(int64_t out, int64_t in, int64_t nnz, int64_t N) {
    switch (g_mode) {
    case SPT_DISPATCH_SPARSE: return SPTI_PATH_SPARSE;
    case SPT_DISPATCH_DENSE: return SPTI_PATH_DENSE;
    case SPT_DISPATCH_THRESHOLD:
        if (out <= 0 || in <= 0) return SPTI_PATH_SPARSE;
        return (double)nnz >= g_threshold * (double)out * (double)in ? SPTI_PATH_DENSE : SPTI_PATH_SPARSE;
    default: break; /* SPT_DISPATCH_TIMED */
    }
    if (out <= 0 || in <= 0 || N <= 0 || nnz * 64 <= out * in) return SPTI_PATH_SPARSE;
    const double density = (double)nnz / ((double)out * (double)in);
    const decision key = {log2_bucket((double)out), log2_bucket((double)in), log2_bucket((double)N),
                          log2_bucket(1.0 / (density * density)), SPTI_PATH_SPARSE}; /* half-octaves */
    pthread_mutex_lock(&g_lock);
    spti_path path = SPTI_PATH_SPARSE;
    int i = 0;
    for (; i < g_used; i++)
        if (g_cache[i].out_b == key.out_b && g_cache[i].in_b == key.in_b && g_cache[i].n_b == key.n_b &&
            g_cache[i].dens_b == key.dens_b)
            break;
    if (i < g_used) {
        path = g_cache[i].path;
    } else {
        /* Time the class at its representative (bucket-centre) shape. */
        const int64_t o = (int64_t)1 << key.out_b, n_in = (int64_t)1 << key.in_b, n = (int64_t)1 << key.n_b;
        int64_t z = (int64_t)(pow(2.0, -0.5 * key.dens_b) * (double)o * (double)n_in + 0.5);
        if (z < 1) z = 1;
        path = calibrate(o, n_in, z, n);
        decision d = key;
        d.path = path;
        g_cache[g_used < CACHE_SLOTS ? g_used++ : CACHE_SLOTS - 1] = d;
    }
    pthread_mutex_unlock(&g_lock);
    return path;
}

void spti_dispatch_reset(void) {
    pthread_mutex_lock(&g_lock);
    g_used = 0;
    pthread_mutex_unlock(&g_lock);
}

/* ---- the two paths -------------------------------------------------------------- */

static int ensure_dense(const spt_csr *W, spti_csr_ws *ws, bool need_grad) {
    int64_t n = W->rows * W->cols;
    if (!ws->Wd && !(ws->Wd = spti_alloc_or_fail(n, sizeof(float), "dense copy of a sparse weight")))
        return SPT_ERR_NOMEM;
    if (need_grad && !ws->dWd && !(ws->dWd = spti_alloc_or_fail(n, sizeof(float), "dense weight gradient")))
        return SPT_ERR_NOMEM;
    return SPT_OK;
}

/* Wd[out x in] = W (zeros elsewhere), one row per task. */
static void scatter(const spt_csr *W, float *Wd) {
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
    for (int64_t r = 0; r < W->rows; r++) {
        float *row = Wd + r * W->cols;
        memset(row, 0, (size_t)W->cols * sizeof(float));
        for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) row[W->col_idx[k]] = W->values[k];
    }
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

/* *buf holds at least n floats (reallocated, contents lost, when short);
 * false (and no buffer) when that cannot be had. */
static bool grow_scratch(float **buf, int64_t *cap, int64_t n) {
    if (*buf && *cap >= n) return true;
    spti_free(*buf);
    *buf = spti_alloc(n > 0 ? n : 1, sizeof(float));
    *cap = *buf ? n : 0;
    return *buf != NULL;
}

/* ---- channel structure: whole rows ------------------------------------------------------------ */

/* Does every row of W hold all its cols or none (*kept: how many hold all)?
 * Columns are sorted and unique in a row, so a full row's values are that
 * row of a dense kept x cols matrix, in the order of W->values. */
static bool rows_whole(const spt_csr *W, int64_t *kept) {
    int64_t k = 0;
    for (int64_t r = 0; r < W->rows; r++) {
        const int64_t c = W->row_ptr[r + 1] - W->row_ptr[r];
        if (c != 0 && c != W->cols) return false;
        k += c != 0;
    }
    *kept = k;
    return true;
}

/* The channel path applies (and the kept-rows buffer can be had when some
 * rows are empty); else the caller takes the other paths. */
static bool channel_path(const spt_csr *W, int64_t N, spti_csr_ws *ws, int64_t *kept) {
    if (!ws || !ws->channel || g_mode == SPT_DISPATCH_SPARSE || W->cols < 1 || N < 1 ||
        !rows_whole(W, kept))
        return false;
    return *kept == W->rows || *kept == 0 || grow_scratch(&ws->kept, &ws->kept_cap, *kept * N);
}

/* Y = W X (+ bias) over the kept rows: one sgemm into the kept-rows buffer
 * (straight into Y when no row is empty), then each row of Y gets its
 * product plus its bias, or its bias (0) alone. */
static int channel_forward(const spt_csr *W, int64_t kept, const float *X, int64_t N, const float *bias, float *Y,
                           spti_csr_ws *ws) {
    if (kept == W->rows) return spti_gemm_fwd(W->values, W->rows, W->cols, X, N, bias, Y);
    if (kept) SPTI_TRY(spti_gemm_fwd(W->values, kept, W->cols, X, N, NULL, ws->kept));
    int64_t k = 0;
    for (int64_t r = 0; r < W->rows; r++) {
        float *y = Y + r * N;
        const float b = bias ? bias[r] : 0.0f;
        if (W->row_ptr[r + 1] == W->row_ptr[r]) {
            for (int64_t n = 0; n < N; n++) y[n] = b;
        } else {
            const float *t = ws->kept + k++ * N;
            for (int64_t n = 0; n < N; n++) y[n] = b + t[n];
        }
    }
    return SPT_OK;
}

/* dW (the values' gradient, CSR order = the kept x cols matrix) = dY_kept
 * X^T and dX = W_kept^T dY_kept, dY's kept rows gathered first unless every
 * row is kept. */
static int channel_backward(const spt_csr *W, int64_t kept, const float *X, const float *dY, int64_t N, float *dX,
                            bool accumulate_dx, float *dW, bool accumulate_dw, spti_csr_ws *ws) {
    const float *dYk = dY;
    if (kept < W->rows && kept) {
        int64_t k = 0;
        for (int64_t r = 0; r < W->rows; r++)
            if (W->row_ptr[r + 1] > W->row_ptr[r]) memcpy(ws->kept + k++ * N, dY + r * N, (size_t)N * sizeof(float));
        dYk = ws->kept;
    }
    if (dW && kept) SPTI_TRY(spti_gemm_dw(dYk, kept, X, W->cols, N, dW, accumulate_dw));
    if (dX && kept) return spti_gemm_dx(W->values, kept, W->cols, dYk, N, dX, accumulate_dx);
    if (dX && !accumulate_dx) memset(dX, 0, (size_t)(W->cols * N) * sizeof(float));
    return SPT_OK;
}

/* ---- entry points ------------------------------------------------------------------------------ */

int spti_csr_forward(const spt_csr *W, const float *X, int64_t N, const float *bias, float *Y, spti_csr_ws *ws) {
    int64_t kept;
    if (channel_path(W, N, ws, &kept)) return channel_forward(W, kept, X, N, bias, Y, ws);
    if (decide(W, N, ws) == SPTI_PATH_SPARSE) {
        int64_t f = 0;
        if (ws && ws->fanin && N > 1 && spti_simd_level() >= 2 && spti_csr_fanin(W, &f))
            spti_ell_forward(W, f, X, N, bias, Y);
        else if (N == 1)
            spti_spmv(W, X, bias, Y);
        else
            spti_spmm(W, X, N, bias, Y);
        return SPT_OK;
    }
    SPTI_TRY(ensure_dense(W, ws, false));
    scatter(W, ws->Wd);
    return spti_gemm_fwd(ws->Wd, W->rows, W->cols, X, N, bias, Y);
}

int spti_csr_backward(const spt_csr *W, const float *X, const float *dY, int64_t N, float *dX, bool accumulate_dx,
                      float *dW, bool accumulate_dw, spti_csr_ws *ws) {
    int64_t kept;
    if (channel_path(W, N, ws, &kept)) return channel_backward(W, kept, X, dY, N, dX, accumulate_dx, dW, accumulate_dw, ws);
    if (decide(W, N, ws) == SPTI_PATH_SPARSE) {
        /* Both products: one pass over the rows of dY when the machine has
         * the fused kernel and the two nnz-long scratch arrays can be had
         * (else the two passes below, which cannot fail). */
        if (dW && dX && ws && spti_simd_level() >= 2 && N > 0 && grow_scratch(&ws->wt, &ws->wt_cap, W->nnz) &&
            grow_scratch(&ws->dwt, &ws->dwt_cap, W->nnz)) {
            spti_csr_gather_t(W, ws->wt);
            if (spti_backward_fused(W, ws->wt, dY, X, N, dX, accumulate_dx, dW, accumulate_dw, ws->dwt))
                return SPT_OK;
        }
        if (dW) spti_sddmm(W, dY, X, N, dW, accumulate_dw);
        if (dX) {
            /* Gather the values into transposed order once per call, so the
             * dX kernel streams them instead of chasing csr_pos (measured at
             * 4096x4096, density 0.1: 5.5 + 10.8 cycles per nonzero against
             * 26 inline; never clearly slower at low density). If the
             * workspace cannot grow, the kernel reads through csr_pos. */
            const float *wt = NULL;
            if (ws && grow_scratch(&ws->wt, &ws->wt_cap, W->nnz)) {
                spti_csr_gather_t(W, ws->wt);
                wt = ws->wt;
            }
            spti_spmm_t_vals(W, wt, dY, N, dX, accumulate_dx);
        }
        return SPT_OK;
    }
    SPTI_TRY(ensure_dense(W, ws, dW != NULL));
    scatter(W, ws->Wd); /* W may have changed since the forward pass */
    if (dW) {
        SPTI_TRY(spti_gemm_dw(dY, W->rows, X, W->cols, N, ws->dWd, false));
        const float *g = ws->dWd;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads())
        for (int64_t r = 0; r < W->rows; r++)
            for (int64_t k = W->row_ptr[r]; k < W->row_ptr[r + 1]; k++) {
                const float v = g[r * W->cols + W->col_idx[k]];
                dW[k] = accumulate_dw ? dW[k] + v : v;
            }
    }
    if (dX) SPTI_TRY(spti_gemm_dx(ws->Wd, W->rows, W->cols, dY, N, dX, accumulate_dx));
    return SPT_OK;
}

void spti_csr_ws_release(spti_csr_ws *ws) {
    if (!ws) return;
    spti_free(ws->Wd);
    spti_free(ws->dWd);
    spti_free(ws->wt);
    spti_free(ws->dwt);
    spti_free(ws->kept);
    const bool fanin = ws->fanin, channel = ws->channel; /* the owner's, not the workspace's */
    memset(ws, 0, sizeof *ws);
    ws->fanin = fanin;
    ws->channel = channel;
}
