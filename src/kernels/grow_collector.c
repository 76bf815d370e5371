/* The streaming growth collector (grow_collector.h) and the blocked weight
 * gradient that feeds it (the parameter-level wrapper,
 * spti_weight_grad_stream, is in nn/linear.c). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/comm.h"
#include "grow_collector.h"

/* ~1 MiB blocks (a little L2, well inside L3): large enough that the
 * repacking of X per block is small next to the product, small enough to
 * be scanned from cache right after it is written. */
int64_t spti_grad_block_rows(int64_t cols) {
    int64_t b = ((int64_t)1 << 20) / (cols > 0 ? cols : 1);
    return b < 32 ? 32 : b > 512 ? 512 : b;
}

int64_t spti_grad_blocks(int64_t rows, int64_t cols, int64_t groups) {
    return groups > 1 ? rows / groups : spti_grad_block_rows(cols);
}

static void lane_free(spti_grow_lane *l) {
    spti_free(l->key);
    spti_free(l->pos);
}

/* The stream's scratch, carved from one buffer (the caller's, kept from
 * one update to the next, so that a stream does not fault in megabytes of
 * fresh pages: page faults made an update step about twice as slow as
 * its arithmetic, docs/performance.md): per lane its block (B x cols
 * floats), histogram (2^16 counts), row indices and row marks (cols
 * each); then the sampled threshold's buffers. One code path both sizes
 * the scratch (p NULL: pieces only counted) and carves it; every piece
 * starts on a 64-byte boundary; used < 0 once a size overflows. */
typedef struct carver {
    unsigned char *p;
    int64_t used;
} carver;

static void *take(carver *c, int64_t n, size_t elem) {
    int64_t bytes, at = c->used;
    if (at < 0 || !spti_mul_i64(n, (int64_t)elem, &bytes) || bytes > INT64_MAX - 63 ||
        !spti_add_i64(at, (bytes + 63) & ~(int64_t)63, &c->used)) {
        c->used = -1;
        return NULL;
    }
    return c->p ? c->p + at : NULL;
}

static void lane_take(carver *c, spti_grow_lane *l, int64_t B, int64_t cols) {
    int64_t block;
    l->block = take(c, spti_mul_i64(B, cols, &block) ? block : -1, sizeof(float));
    l->hist = take(c, 65536, sizeof(uint32_t));
    l->idx = take(c, cols, sizeof(int32_t));
    l->kept = take(c, cols, 1);
    if (l->kept) memset(l->kept, 0, (size_t)cols);
}

enum { SAMPLE_BUCKETS = 1 << 15 }; /* sample_threshold's histogram */

/* sample_threshold's buffers for S sampled rows: S rows of dY, their
 * S x cols gradient, a histogram, cols marks (zeroed). */
typedef struct sample_bufs {
    float *dys, *g;
    uint32_t *hist;
    uint8_t *kept;
} sample_bufs;

static void sample_take(carver *c, sample_bufs *b, int64_t S, int64_t ncols, int64_t cols) {
    int64_t n;
    b->dys = take(c, spti_mul_i64(S, ncols, &n) ? n : -1, sizeof(float));
    b->g = take(c, spti_mul_i64(S, cols, &n) ? n : -1, sizeof(float));
    b->hist = take(c, SAMPLE_BUCKETS, sizeof(uint32_t));
    b->kept = take(c, cols, 1);
    if (b->kept) memset(b->kept, 0, (size_t)cols);
}

/* The lanes' stream buffers, not needed once the stream is over (they
 * belong to the scratch). */
static void lanes_release(spti_grow_collector *c) {
    for (int i = 0; i < c->n_lanes; i++) {
        spti_grow_lane *l = &c->lane[i];
        l->block = NULL;
        l->kept = NULL;
        l->idx = NULL;
        l->hist = NULL;
    }
}

void spti_grow_collector_destroy(spti_grow_collector *c) {
    if (!c) return;
    for (int i = 0; i < c->n_lanes; i++) lane_free(&c->lane[i]);
    spti_free(c->lane);
    spti_free(c->active);
    spti_free(c->bscore);
    spti_free(c->order);
    spti_free(c);
}

/* Candidate buffers of cap entries (contents dropped). */
static int set_cap(spti_grow_lane *l, int64_t cap) {
    float *key = spti_alloc(cap, sizeof(float));
    int64_t *pos = spti_alloc(cap, sizeof(int64_t));
    if (!key || !pos) {
        spti_free(key);
        spti_free(pos);
        return spti_fail(SPT_ERR_NOMEM, "growth collector: out of memory for %lld candidates", (long long)cap);
    }
    spti_free(l->key);
    spti_free(l->pos);
    l->key = key;
    l->pos = pos;
    l->cap = cap;
    return SPT_OK;
}

int spti_grow_collector_begin(spti_grow_collector **cp, const spt_csr *m, int64_t k, int64_t groups, int n_lanes) {
    if (k < 1 || n_lanes < 1)
        return spti_fail(SPT_ERR_STATE, "growth collector: k (%lld) < 1 or %d lanes", (long long)k, n_lanes);
    if (groups > 1 && m->rows % groups != 0)
        return spti_fail(SPT_ERR_STATE, "growth collector: %lld rows in %lld groups", (long long)m->rows,
                         (long long)groups);
    bool fresh = *cp == NULL;
    spti_grow_collector *c = fresh ? spti_calloc(1, sizeof *c) : *cp;
    if (!c) return spti_fail(SPT_ERR_NOMEM, "growth collector: out of memory");
    const int64_t nnz = m->nnz, B = spti_grad_blocks(m->rows, m->cols, groups), nblk = (m->rows + B - 1) / B;
    /* 4k (+ slack) candidates per lane: a compaction keeps ~k of them, so
     * each one pays for >= 3k pushes. Never more than there are inactive
     * cells + 1. */
    int64_t cap = 4 * k + 1024, inactive = m->rows * m->cols - nnz;
    if (cap > inactive + 1) cap = inactive + 1;
    if (cap < k) cap = k;
    int rc = SPT_OK;
    if (c->n_lanes != n_lanes) {
        for (int i = 0; i < c->n_lanes; i++) lane_free(&c->lane[i]);
        spti_free(c->lane);
        c->n_lanes = 0;
        if (!(c->lane = spti_calloc_or_fail(n_lanes, sizeof(spti_grow_lane), "growth collector"))) rc = SPT_ERR_NOMEM;
        else c->n_lanes = n_lanes;
    }
    /* The counters are reset by stream_all, the stream's buffers carved by spti_grow_collect. */
    for (int i = 0; i < c->n_lanes && rc == SPT_OK; i++)
        if (c->lane[i].cap < cap || !c->lane[i].key) rc = set_cap(&c->lane[i], cap);
    if (rc == SPT_OK && (c->nnz < nnz || !c->active)) {
        float *a = spti_alloc_or_fail(nnz > 0 ? nnz : 1, sizeof(float), "growth collector");
        if (a) {
            spti_free(c->active);
            c->active = a;
            c->nnz = nnz;
        } else {
            rc = SPT_ERR_NOMEM;
        }
    }
    if (rc == SPT_OK && (!c->bscore || c->nblk < nblk)) {
        spti_free(c->bscore);
        spti_free(c->order);
        c->nblk = nblk;
        c->bscore = spti_alloc_or_fail(nblk, sizeof(float), "growth collector");
        c->order = spti_alloc_or_fail(nblk, sizeof(int64_t), "growth collector");
        if (!c->bscore || !c->order) rc = SPT_ERR_NOMEM;
    }
    if (rc != SPT_OK) {
        if (fresh) spti_grow_collector_destroy(c);
        return rc;
    }
    c->k = k;
    c->nnz = nnz;
    c->groups = groups > 1 ? groups : 1;
    c->block_rows = B;
    c->t = -INFINITY;
    c->key = NULL;
    c->pos = NULL;
    c->n = 0;
    c->nonfinite = -1;
    c->filled = false;
    c->simd = spti_simd_level() >= 2;
    *cp = c;
    return SPT_OK;
}

/* Order-preserving 16-bit bucket of a key >= -1 (NaN is stored as -1):
 * larger keys, larger buckets. */
static uint32_t bucket(float key) { return spti_float_order_key(key) >> 16; }

/* The smallest key of a bucket (its lower edge): the smallest code. */
static float bucket_floor(uint32_t b) { return spti_float_from_order_key(b << 16); }

/* Raise t to the lower edge of the 16-bit bucket holding the k-th largest
 * buffered key (hist counts the buffer by bucket): every key >= the k-th
 * largest of all stays >= t, ties included (the buffer is a subset of all
 * keys, so its k-th largest is no larger). No pass over the buffer. */
static void raise_t(spti_grow_lane *l, int64_t k) {
    if (l->n < k) return;
    int64_t above = 0;
    uint32_t b = 65535;
    for (; b > 0; b--) {
        above += l->hist[b];
        if (above >= k) break;
    }
    const float v = bucket_floor(b);
    if (v > l->t) l->t = v;
}

/* Grow the buffer to at least cap entries, keeping its contents. */
static int grow_cap(spti_grow_lane *l, int64_t cap) {
    spti_grow_lane keep = *l;
    l->key = NULL;
    l->pos = NULL;
    int rc = set_cap(l, cap);
    if (rc != SPT_OK) {
        l->key = keep.key;
        l->pos = keep.pos;
        l->cap = keep.cap;
        return rc;
    }
    memcpy(l->key, keep.key, (size_t)l->n * sizeof(float));
    memcpy(l->pos, keep.pos, (size_t)l->n * sizeof(int64_t));
    spti_free(keep.key);
    spti_free(keep.pos);
    return SPT_OK;
}

/* Buffer full: raise t, keep the keys >= t (in order), drop the buckets
 * below t from the histogram (t is a bucket's lower edge, so hist still
 * counts exactly the buffer). If that keeps it more than half full, double
 * it. */
static int compact(spti_grow_lane *l, int64_t k) {
    raise_t(l, k);
    const float v = l->t;
    const uint32_t b = v == -INFINITY ? 0 : bucket(v);
    memset(l->hist, 0, (size_t)b * sizeof(uint32_t));
    int64_t m = 0;
    for (int64_t i = 0; i < l->n; i++)
        if (l->key[i] >= v) {
            l->key[m] = l->key[i];
            l->pos[m++] = l->pos[i];
        }
    l->n = m;
    return 2 * m <= l->cap ? SPT_OK : grow_cap(l, 2 * l->cap);
}

/* Whether row s[0..cols) holds a non-finite value: x * 0 is NaN exactly
 * for inf and NaN; 16 independent lanes so the loop vectorises. */
static bool row_nonfinite(const float *s, int64_t cols) {
    float acc[16] = {0};
    int64_t q = 0;
    for (; q + 16 <= cols; q += 16)
        for (int l = 0; l < 16; l++) acc[l] += s[q + l] * 0.0f;
    float z = 0.0f;
    for (; q < cols; q++) z += s[q] * 0.0f;
    for (int l = 0; l < 16; l++) z += acc[l];
    return z != z;
}

/* Columns of row s whose key |s[q]| (NaN: -1) is >= t and not kept, into
 * idx; returns their number. Branch-free: about 3% of a row passes. */
static int64_t row_pass(const float *s, int64_t cols, float t, const uint8_t *kept, int32_t *idx) {
    int64_t n = 0;
    if (t > -1.0f) {
        for (int64_t q = 0; q < cols; q++) {
            idx[n] = (int32_t)q;
            n += (fabsf(s[q]) >= t) & !kept[q];
        }
    } else {
        for (int64_t q = 0; q < cols; q++) {
            float key = fabsf(s[q]);
            key = key != key ? -1.0f : key;
            idx[n] = (int32_t)q;
            n += (key >= t) & !kept[q];
        }
    }
    return n;
}

/* Feed rows [r0, r0 + nb) of p's dense gradient, g[nb x cols] row-major,
 * to lane l (positions increase inside the block). Writes c->active for
 * these rows only, so lanes never share a write. SPT_ERR_NOMEM only when
 * heavy ties at the threshold outgrow the buffer. */
static int feed(spti_grow_collector *c, spti_grow_lane *l, const spt_csr *m, int64_t r0, int64_t nb, const float *g) {
    const int64_t cols = m->cols, k = c->k;
    uint8_t *kept = l->kept;
    int rc = SPT_OK;
    for (int64_t r = r0; r < r0 + nb && rc == SPT_OK; r++) {
        const float *s = g + (r - r0) * cols; /* row r of the dense gradient */
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) {
            c->active[j] = s[m->col_idx[j]];
            kept[m->col_idx[j]] = 1;
        }
        bool bad;
        int64_t n;
        if (c->simd && l->t > -1.0f) {
            n = spti_grow_row_pass_avx512(s, cols, l->t, kept, l->idx, &bad);
        } else {
            bad = row_nonfinite(s, cols);
            n = row_pass(s, cols, l->t, kept, l->idx);
        }
        if (bad) /* the first in position order, whatever order the blocks stream in */
            for (int64_t q = 0; q < cols; q++)
                if (!isfinite(s[q])) {
                    if (l->nonfinite < 0 || r * cols + q < l->nonfinite) l->nonfinite = r * cols + q;
                    break;
                }
        for (int64_t i = 0; i < n; i++) {
            float key = fabsf(s[l->idx[i]]);
            if (key != key) key = -1.0f; /* NaN ranks below every number */
            if (!(key >= l->t)) continue; /* t rose inside the row */
            if (l->n == l->cap) {
                if ((rc = compact(l, k)) != SPT_OK) break;
                if (!(key >= l->t)) continue;
            }
            l->key[l->n] = key;
            l->hist[bucket(key)]++;
            l->pos[l->n++] = r * cols + l->idx[i];
        }
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = 0;
    }
    return rc;
}

/* Squared norm of each block's largest dY row: |g[r][c]| <= |dY_r| |X_c|,
 * so blocks of large rows hold most of the top k. */
static void block_scores(const float *dy, int64_t rows, int64_t ncols, int64_t B, float *score) {
    const int64_t nblk = (rows + B - 1) / B;
    for (int64_t b = 0; b < nblk; b++) {
        float best = 0.0f;
        for (int64_t r = b * B; r < rows && r < (b + 1) * B; r++) {
            const float *d = dy + r * ncols;
            float s = 0.0f;
            for (int64_t e = 0; e < ncols; e++) s += d[e] * d[e];
            best = s > best ? s : best; /* NaN rows keep their place: order only */
        }
        score[b] = best;
    }
}

/* The blocks by score, largest first, stable (insertion sort: a few dozen). */
static void block_order(const float *score, int64_t nblk, int64_t *order) {
    for (int64_t b = 0; b < nblk; b++) order[b] = b;
    for (int64_t i = 1; i < nblk; i++) {
        int64_t o = order[i];
        int64_t j = i;
        for (; j > 0 && score[order[j - 1]] < score[o]; j--) order[j] = order[j - 1];
        order[j] = o;
    }
}

/* Lane L's share: blocks order[L], order[L + lanes], ... (deterministic for
 * a given lane count). */
static void stream_lane(spti_grow_collector *c, int L, const spt_csr *m, const float *dy, const float *X,
                        int64_t ncols, int64_t B, int64_t nblk) {
    spti_grow_lane *l = &c->lane[L];
    for (int64_t i = L; i < nblk && l->rc == SPT_OK; i += c->n_lanes) {
        const int64_t r0 = c->order[i] * B, nb = m->rows - r0 < B ? m->rows - r0 : B;
        /* block[nb x cols] = dY[r0 .. r0+nb) . X^T (grouped: block i is
         * group i, against its own rows of X) */
        const float *Xb = c->groups > 1 ? X + c->order[i] * m->cols * ncols : X;
        l->rc = spti_gemm_dw(dy + r0 * ncols, nb, Xb, m->cols, ncols, l->block, false);
        if (l->rc == SPT_OK) l->rc = feed(c, l, m, r0, nb, l->block);
        raise_t(l, c->k); /* fewer pushes in the next block */
    }
    if (l->rc != SPT_OK) snprintf(l->err, sizeof l->err, "%s", spt_last_error());
}

/* One lane over every block, each block the global batch's: this rank's
 * product times red->scale, summed over the ranks before it is fed. Every
 * block is summed even after a local failure (zeros then), so that every
 * rank makes the same collective calls; the failure is reported after. */
static void stream_reduced(spti_grow_collector *c, const spti_reduce *red, const spt_csr *m, const float *dy,
                           const float *X, int64_t ncols, int64_t B, int64_t nblk) {
    spti_grow_lane *l = &c->lane[0];
    for (int64_t i = 0; i < nblk; i++) {
        const int64_t r0 = c->order[i] * B, nb = m->rows - r0 < B ? m->rows - r0 : B, len = nb * m->cols;
        const float *Xb = c->groups > 1 ? X + c->order[i] * m->cols * ncols : X;
        int rc = l->rc == SPT_OK ? spti_gemm_dw(dy + r0 * ncols, nb, Xb, m->cols, ncols, l->block, false) : l->rc;
        if (rc == SPT_OK)
            for (int64_t q = 0; q < len; q++) l->block[q] *= red->scale;
        else
            memset(l->block, 0, (size_t)len * sizeof(float));
        const int src = spti_comm_sum_f32(red->comm, l->block, len, "a dense gradient block");
        if (rc == SPT_OK) rc = src;
        if (rc == SPT_OK) rc = feed(c, l, m, r0, nb, l->block);
        if (rc == SPT_OK) raise_t(l, c->k);
        if (l->rc == SPT_OK && rc != SPT_OK) {
            l->rc = rc;
            snprintf(l->err, sizeof l->err, "%s", spt_last_error());
        }
    }
}

/* Lanes 1.. appended to lane 0 (in lane order, so each block's candidates
 * stay together and in position order), their histograms added, t the
 * largest lane threshold (each is at most the k-th largest of all keys). */
static int merge_lanes(spti_grow_collector *c) {
    spti_grow_lane *l0 = &c->lane[0];
    int64_t total = 0;
    for (int i = 0; i < c->n_lanes; i++) total += c->lane[i].n;
    if (total > l0->cap) SPTI_TRY(grow_cap(l0, total));
    for (int i = 1; i < c->n_lanes; i++) {
        const spti_grow_lane *li = &c->lane[i];
        memcpy(l0->key + l0->n, li->key, (size_t)li->n * sizeof(float));
        memcpy(l0->pos + l0->n, li->pos, (size_t)li->n * sizeof(int64_t));
        l0->n += li->n;
        for (int b = 0; b < 65536; b++) l0->hist[b] += li->hist[b];
        if (li->t > l0->t) l0->t = li->t;
    }
    return SPT_OK;
}

/* The rows sample_threshold samples (0: no guess helps). */
static int64_t sample_rows(const spt_csr *m, int64_t k, int64_t groups, int64_t ncols, int64_t B) {
    const int64_t rows = m->rows, cols = m->cols, inactive = rows * cols - m->nnz;
    int64_t S = 65536 / cols;
    S = S < 8 ? 8 : S;
    S = S > B ? B : S;
    if (S >= rows || inactive < 16 * k) return 0; /* small matrix or large k: nothing to gain */
    /* No larger a copy of dY's rows than a block (a convolution's rows are
     * H_out W_out N long); grouped rows read different columns of X. */
    if (S * ncols > B * cols) S = B * cols / ncols;
    return S < 8 || groups > 1 ? 0 : S;
}

/* A starting threshold from a sample: the gradient of ~2^16 cells in rows
 * spread evenly over the matrix (a small product), and the key that about
 * 2k of all inactive cells should reach at that rate. Lanes then push only
 * keys >= it from the first block on, instead of everything until their
 * buffers hold k. It is a guess: the caller checks that at least k keys
 * reached it (then every key >= the k-th largest did, and the result is
 * exact) and streams again without it otherwise. -inf when no guess helps.
 * The S sampled rows' buffers are buf (sample_take). The sampled keys are counted in
 * 2^15 buckets (the top 16 bits of a non-negative float: its exponent and
 * 7 bits of mantissa, in value order), and the guess is the lower edge of
 * the bucket that holds the wanted rank: at most 1% below that key, one
 * branch-free pass (an exact selection over the ~65k keys took 0.1-0.7 ms
 * a layer, as much as the sampled product). */
static float sample_threshold(const spti_grow_collector *c, const spt_csr *m, const float *dy, const float *X,
                              int64_t ncols, int64_t S, const sample_bufs *buf) {
    const int64_t rows = m->rows, cols = m->cols, inactive = rows * cols - m->nnz;
    if (S <= 0) return -INFINITY;
    float *dys = buf->dys, *g = buf->g;
    uint32_t *hist = buf->hist;
    uint8_t *kept = buf->kept;
    memset(hist, 0, SAMPLE_BUCKETS * sizeof(uint32_t));
    float t0 = -INFINITY;
    for (int64_t i = 0; i < S; i++) {
        const int64_t r = (2 * i + 1) * rows / (2 * S);
        memcpy(dys + i * ncols, dy + r * ncols, (size_t)ncols * sizeof(float));
    }
    if (spti_gemm_dw(dys, S, X, cols, ncols, g, false) != SPT_OK) { /* g[S x cols]; no guess */
        spt_clear_error();
        return -INFINITY;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < S; i++) {
        const int64_t r = (2 * i + 1) * rows / (2 * S);
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = 1;
        for (int64_t q = 0; q < cols; q++) {
            const float a = fabsf(g[i * cols + q]);
            uint32_t bits;
            memcpy(&bits, &a, sizeof bits);
            const bool in = !kept[q] && a == a;
            hist[bits >> 16] += in; /* sign bit clear: < 2^15 */
            n += in;
        }
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = 0;
    }
    const int64_t rank = (int64_t)((double)(2 * c->k) * (double)n / (double)inactive);
    if (rank < n - 1) { /* the bucket holding the rank-th largest (0-based) */
        int64_t above = 0;
        uint32_t b = SAMPLE_BUCKETS - 1;
        for (; b > 0; b--) {
            above += hist[b];
            if (above > rank) break;
        }
        const uint32_t edge = b << 16;
        float v;
        memcpy(&v, &edge, sizeof v);
        if (v > 0.0f && isfinite(v)) t0 = v;
    }
    return t0;
}

/* Stream every block into the lanes, each starting at threshold t0. */
static void stream_all(spti_grow_collector *c, const spti_reduce *red, const spt_csr *m, const float *dy,
                       const float *X, int64_t ncols, int64_t B, int64_t nblk, float t0) {
    const int lanes = c->n_lanes;
    for (int i = 0; i < lanes; i++) {
        spti_grow_lane *l = &c->lane[i];
        l->t = t0;
        l->n = 0;
        l->nonfinite = -1;
        l->rc = SPT_OK;
        l->err[0] = '\0';
        memset(l->hist, 0, (size_t)65536 * sizeof(uint32_t));
    }
    if (red) {
        stream_reduced(c, red, m, dy, X, ncols, B, nblk);
    } else if (lanes == 1) {
        stream_lane(c, 0, m, dy, X, ncols, B, nblk);
    } else {
#pragma omp parallel num_threads(lanes)
        {
#ifdef _OPENMP
            /* The runtime may give fewer threads than asked: every lane runs. */
            for (int L = omp_get_thread_num(); L < lanes; L += omp_get_num_threads())
                stream_lane(c, L, m, dy, X, ncols, B, nblk);
#endif
        }
    }
}

int spti_grow_collect_drain(int64_t rows, int64_t cols, int64_t groups, const spti_reduce *red) {
    const int64_t B = spti_grad_blocks(rows, cols, groups), nblk = (rows + B - 1) / B;
    float *z = spti_calloc((size_t)(B * cols + nblk), sizeof(float));
    int64_t *order = spti_calloc((size_t)nblk, sizeof(int64_t));
    int rc = SPT_OK;
    if (!z || !order) {
        rc = spti_fail(SPT_ERR_NOMEM, "growth collector: out of memory for the zero share of a %lld x %lld weight",
                       (long long)rows, (long long)cols);
    } else {
        /* The same calls as stream_reduced: the summed scores, then the
         * blocks in their order (the last block may be shorter). */
        float *score = z + B * cols;
        rc = spti_comm_sum_f32(red->comm, score, nblk, "the gradient blocks' scores");
        block_order(score, nblk, order);
        for (int64_t i = 0; i < nblk && rc == SPT_OK; i++) {
            const int64_t r0 = order[i] * B, nb = rows - r0 < B ? rows - r0 : B;
            memset(z, 0, (size_t)(nb * cols) * sizeof(float));
            rc = spti_comm_sum_f32(red->comm, z, nb * cols, "a dense gradient block");
        }
    }
    spti_free(z);
    spti_free(order);
    return rc;
}

int spti_grow_lanes(int64_t rows, int64_t cols) {
    const int64_t B = spti_grad_block_rows(cols), nblk = (rows + B - 1) / B;
    int lanes = spti_blas_nests_in_openmp() ? spti_num_threads() : 1;
    if (lanes > nblk) lanes = (int)nblk;
    return lanes < 1 ? 1 : lanes;
}

/* The collector begun and the stream's scratch had: the lanes' part or
 * an error, and the sampled threshold's part (*S rows) if it can be had
 * too, else *S = 0 (the stream works without a guess). */
static int collect_begin(spti_grow_collector **cp, const spt_csr *m, int64_t k, int64_t groups, int lanes,
                         spti_scratch *scratch, int64_t ncols, int64_t B, int64_t *S) {
    SPTI_TRY(spti_grow_collector_begin(cp, m, k, groups, lanes));
    carver count = {NULL, 0};
    spti_grow_lane l;
    for (int i = 0; i < lanes; i++) lane_take(&count, &l, B, m->cols);
    if (count.used < 0)
        return spti_fail(SPT_ERR_SIZE, "growth collector: the blocks of a %lld x %lld weight overflow",
                         (long long)m->rows, (long long)m->cols);
    const int64_t need = count.used;
    if (*S > 0) {
        sample_bufs b;
        sample_take(&count, &b, *S, ncols, m->cols);
        if (count.used >= 0 && spti_scratch_reserve(scratch, count.used, "the growth gradient's blocks") == SPT_OK)
            return SPT_OK;
        spt_clear_error();
    }
    *S = 0;
    return spti_scratch_reserve(scratch, need, "the growth gradient's blocks");
}

static int collect(spti_grow_collector **cp, const spt_csr *m, int64_t k, const float *dy, const float *X,
                   int64_t ncols, int64_t groups, bool lanes_ok, const spti_reduce *red, spti_scratch *scratch) {
    const int64_t B = spti_grad_blocks(m->rows, m->cols, groups), nblk = (m->rows + B - 1) / B;
    const int lanes = red || !lanes_ok || groups > 1 ? 1 : spti_grow_lanes(m->rows, m->cols);
    /* No sampled starting threshold across ranks (each rank's guess would differ). */
    int64_t S = red ? 0 : sample_rows(m, k, groups, ncols, B);
    if (*cp) (*cp)->synced = false;
    if (red) { /* a failure here must still make this rank's collectives */
        int rc = collect_begin(cp, m, k, groups, lanes, scratch, ncols, B, &S);
        if (rc != SPT_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", spt_last_error());
            spti_grow_collect_drain(m->rows, m->cols, groups, red);
            return spti_fail(rc, "%s", msg);
        }
    } else {
        SPTI_TRY(collect_begin(cp, m, k, groups, lanes, scratch, ncols, B, &S));
    }
    spti_grow_collector *c = *cp;
    carver cut = {scratch->p, 0};
    for (int i = 0; i < lanes; i++) lane_take(&cut, &c->lane[i], B, m->cols);
    sample_bufs sb = {NULL, NULL, NULL, NULL};
    if (S > 0) sample_take(&cut, &sb, S, ncols, m->cols);
    /* Blocks visited from the largest dY rows down, so the threshold rises
     * early and later blocks are mostly rejected by one vectorised pass per
     * row. Each block is the same product as in the full path. Across
     * ranks: the order of the summed scores, the same on every rank, and
     * no sampled starting threshold (each rank's guess would differ). */
    block_scores(dy, m->rows, ncols, B, c->bscore);
    if (red) SPTI_TRY(spti_comm_sum_f32(red->comm, c->bscore, nblk, "the gradient blocks' scores"));
    block_order(c->bscore, nblk, c->order);
    const float t0 = sample_threshold(c, m, dy, X, ncols, S, &sb);
    stream_all(c, red, m, dy, X, ncols, B, nblk, t0);
    if (red) c->synced = true;
    int64_t reached = 0;
    for (int i = 0; i < lanes; i++) reached += c->lane[i].rc == SPT_OK ? c->lane[i].n : 0;
    if (t0 > -INFINITY && reached < c->k) /* the guess was too high: stream again without it */
        stream_all(c, red, m, dy, X, ncols, B, nblk, -INFINITY);
    for (int i = 0; i < lanes; i++) {
        const spti_grow_lane *l = &c->lane[i];
        if (l->rc != SPT_OK) return spti_fail(l->rc, "%s", l->err);
        if (l->nonfinite >= 0 && (c->nonfinite < 0 || l->nonfinite < c->nonfinite)) c->nonfinite = l->nonfinite;
    }
    SPTI_TRY(merge_lanes(c));
    spti_grow_lane *l0 = &c->lane[0];
    /* Down to ~k candidates before the selection (a histogram pass). */
    if (l0->n > c->k + c->k / 8 + 1024) SPTI_TRY(compact(l0, c->k));
    /* Held until the update: lane 0's candidates and the active gradient.
     * The blocks go back to the scratch (spti_grow_collect) and the other
     * lanes' buffers are freed now, so that a backward over many layers
     * holds one set of blocks. */
    for (int i = 0; i < lanes; i++) {
        spti_grow_lane *l = &c->lane[i];
        if (i > 0) {
            spti_free(l->key);
            spti_free(l->pos);
            l->key = NULL;
            l->pos = NULL;
            l->cap = l->n = 0;
        }
    }
    /* The candidates' buffer down to their number (~k; it was sized 4k
     * for the stream). Only a saving: on failure the larger one stays. */
    if (l0->cap > l0->n + l0->n / 4 + 1024 && grow_cap(l0, l0->n > 0 ? l0->n : 1) != SPT_OK) spt_clear_error();
    c->key = l0->key;
    c->pos = l0->pos;
    c->n = l0->n;
    c->t = l0->t;
    c->filled = true;
    return SPT_OK;
}

int spti_grow_collect(spti_grow_collector **cp, const spt_csr *m, int64_t k, const float *dy, const float *X,
                      int64_t ncols, int64_t groups, bool lanes_ok, const spti_reduce *red, spti_scratch *scratch) {
    spti_scratch own = {NULL, 0};
    const int rc = collect(cp, m, k, dy, X, ncols, groups, lanes_ok, red, scratch ? scratch : &own);
    if (*cp) lanes_release(*cp); /* the blocks are the scratch's, also after a failure */
    spti_free(own.p);
    return rc;
}
