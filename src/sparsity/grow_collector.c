/* The streaming growth collector (grow_collector.h) and the blocked weight
 * gradient that feeds it. */
#include <float.h>

#include "grow_collector.h"
#include "methods.h"

/* ~1 MiB blocks (a little L2, well inside L3): large enough that the
 * repacking of X per block is small next to the product, small enough to
 * be scanned from cache right after it is written. */
int64_t spti_grad_block_rows(int64_t cols) {
    int64_t b = ((int64_t)1 << 20) / (cols > 0 ? cols : 1);
    return b < 32 ? 32 : b > 512 ? 512 : b;
}

void spti_grow_collector_destroy(spti_grow_collector *c) {
    if (!c) return;
    spti_free(c->key);
    spti_free(c->pos);
    spti_free(c->active);
    spti_free(c->block);
    spti_free(c->kept);
    spti_free(c->bscore);
    spti_free(c->order);
    spti_free(c->idx);
    spti_free(c->hist);
    spti_free(c);
}

/* Candidate buffers of cap entries (contents dropped). */
static int set_cap(spti_grow_collector *c, int64_t cap) {
    float *key = spti_alloc(cap, sizeof(float));
    int64_t *pos = spti_alloc(cap, sizeof(int64_t));
    if (!key || !pos) {
        spti_free(key);
        spti_free(pos);
        return spti_fail(SPT_ERR_NOMEM, "growth collector: out of memory for %lld candidates", (long long)cap);
    }
    spti_free(c->key);
    spti_free(c->pos);
    c->key = key;
    c->pos = pos;
    c->cap = cap;
    return SPT_OK;
}

int spti_grow_collector_begin(spti_grow_collector **cp, const spti_param *p, int64_t k) {
    if (p->kind != SPTI_PARAM_SPARSE || k < 1)
        return spti_fail(SPT_ERR_STATE, "growth collector: %s is not sparse or k (%lld) < 1", p->name, (long long)k);
    bool fresh = *cp == NULL;
    spti_grow_collector *c = fresh ? spti_calloc(1, sizeof *c) : *cp;
    if (!c) return spti_fail(SPT_ERR_NOMEM, "growth collector: out of memory");
    const int64_t nnz = p->csr->nnz, bl = spti_grad_block_rows(p->cols) * p->cols;
    /* 4k (+ slack) candidates: a compaction keeps ~k of them, so each one
     * pays for >= 3k pushes. Never more than there are inactive cells + 1. */
    int64_t cap = 4 * k + 1024, inactive = p->rows * p->cols - nnz;
    if (cap > inactive + 1) cap = inactive + 1;
    if (cap < k) cap = k;
    int rc = SPT_OK;
    if (c->cap < cap || !c->key) rc = set_cap(c, cap);
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
    if (rc == SPT_OK && !c->block) {
        const int64_t nblk = (p->rows + spti_grad_block_rows(p->cols) - 1) / spti_grad_block_rows(p->cols);
        c->block = spti_alloc_or_fail(bl, sizeof(float), "gradient block");
        c->kept = spti_calloc_or_fail(p->cols, 1, "growth collector");
        c->bscore = spti_alloc_or_fail(nblk, sizeof(float), "growth collector");
        c->order = spti_alloc_or_fail(nblk, sizeof(int64_t), "growth collector");
        c->idx = spti_alloc_or_fail(p->cols, sizeof(int32_t), "growth collector");
        c->hist = spti_alloc_or_fail(65536, sizeof(uint32_t), "growth collector");
        if (!c->block || !c->kept || !c->bscore || !c->order || !c->idx || !c->hist) rc = SPT_ERR_NOMEM;
    }
    if (rc != SPT_OK) {
        if (fresh) spti_grow_collector_destroy(c);
        return rc;
    }
    c->k = k;
    c->nnz = nnz;
    c->t = -INFINITY;
    c->n = 0;
    c->nonfinite = -1;
    c->filled = false;
    c->simd = spti_simd_level() >= 2;
    memset(c->hist, 0, (size_t)65536 * sizeof(uint32_t));
    *cp = c;
    return SPT_OK;
}

/* Order-preserving 16-bit bucket of a key >= -1 (NaN is stored as -1):
 * larger keys, larger buckets. */
static uint32_t bucket(float key) {
    uint32_t u;
    memcpy(&u, &key, 4);
    u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
    return u >> 16;
}

/* The smallest key of a bucket (its lower edge): the smallest code. */
static float bucket_floor(uint32_t b) {
    const uint32_t code = b << 16;
    const uint32_t u = (code & 0x80000000u) ? code & 0x7fffffffu : ~code;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Raise t to the lower edge of the 16-bit bucket holding the k-th largest
 * buffered key (hist counts the buffer by bucket): every key >= the k-th
 * largest of all stays >= t, ties included. No pass over the buffer. */
static void raise_t(spti_grow_collector *c) {
    if (c->n < c->k) return;
    int64_t above = 0;
    uint32_t b = 65535;
    for (; b > 0; b--) {
        above += c->hist[b];
        if (above >= c->k) break;
    }
    const float v = bucket_floor(b);
    if (v > c->t) c->t = v;
}

/* Buffer full: raise t, keep the keys >= t (in order), drop the buckets
 * below t from the histogram. If that keeps it more than half full, double
 * it. */
static int compact(spti_grow_collector *c) {
    raise_t(c);
    const float v = c->t;
    const uint32_t b = v == -INFINITY ? 0 : bucket(v);
    memset(c->hist, 0, (size_t)b * sizeof(uint32_t));
    int64_t m = 0;
    for (int64_t i = 0; i < c->n; i++)
        if (c->key[i] >= v) {
            c->key[m] = c->key[i];
            c->pos[m++] = c->pos[i];
        }
    c->n = m;
    if (2 * m <= c->cap) return SPT_OK;
    spti_grow_collector keep = *c;
    c->key = NULL;
    c->pos = NULL;
    int rc = set_cap(c, 2 * c->cap);
    if (rc != SPT_OK) {
        c->key = keep.key;
        c->pos = keep.pos;
        c->cap = keep.cap;
        return rc;
    }
    memcpy(c->key, keep.key, (size_t)m * sizeof(float));
    memcpy(c->pos, keep.pos, (size_t)m * sizeof(int64_t));
    spti_free(keep.key);
    spti_free(keep.pos);
    return SPT_OK;
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

int spti_grow_collector_feed(spti_grow_collector *c, const spt_csr *m, int64_t r0, int64_t nb, const float *g) {
    const int64_t cols = m->cols;
    uint8_t *kept = c->kept;
    int rc = SPT_OK;
    for (int64_t r = r0; r < r0 + nb && rc == SPT_OK; r++) {
        const float *s = g + (r - r0) * cols; /* row r of the dense gradient */
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) {
            c->active[j] = s[m->col_idx[j]];
            kept[m->col_idx[j]] = 1;
        }
        bool bad;
        int64_t n;
        if (c->simd && c->t > -1.0f) {
            n = spti_grow_row_pass_avx512(s, cols, c->t, kept, c->idx, &bad);
        } else {
            bad = row_nonfinite(s, cols);
            n = row_pass(s, cols, c->t, kept, c->idx);
        }
        if (bad && c->nonfinite < 0)
            for (int64_t q = 0; q < cols; q++)
                if (!isfinite(s[q])) {
                    c->nonfinite = r * cols + q;
                    break;
                }
        for (int64_t i = 0; i < n; i++) {
            float key = fabsf(s[c->idx[i]]);
            if (key != key) key = -1.0f; /* NaN ranks below every number */
            if (!(key >= c->t)) continue; /* t rose inside the row */
            if (c->n == c->cap) {
                if ((rc = compact(c)) != SPT_OK) break;
                if (!(key >= c->t)) continue;
            }
            c->key[c->n] = key;
            c->hist[bucket(key)]++;
            c->pos[c->n++] = r * cols + c->idx[i];
        }
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = 0;
    }
    return rc;
}

/* Squared norm of each block's largest dY row: |g[r][c]| <= |dY_r| |X_c|,
 * so blocks of large rows hold most of the top k. */
static void block_order(const float *dy, int64_t rows, int64_t ncols, int64_t B, float *score, int64_t *order) {
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
        order[b] = b;
    }
    /* Insertion sort, largest first, stable (a few dozen blocks). */
    for (int64_t i = 1; i < nblk; i++) {
        int64_t o = order[i];
        int64_t j = i;
        for (; j > 0 && score[order[j - 1]] < score[o]; j--) order[j] = order[j - 1];
        order[j] = o;
    }
}

int spti_weight_grad_stream(spti_param *p, const float *dy, const float *X, int64_t ncols) {
    const spt_csr *m = p->csr;
    SPTI_TRY(spti_grow_collector_begin(&p->grow, p, p->want_grow_k));
    spti_grow_collector *c = p->grow;
    const int64_t B = spti_grad_block_rows(p->cols), nblk = (p->rows + B - 1) / B;
    /* Blocks visited from the largest dY rows down, so the threshold rises
     * early and later blocks are mostly rejected by one vectorised pass per
     * row. Each block is the same product as in the full path. */
    block_order(dy, p->rows, ncols, B, c->bscore, c->order);
    for (int64_t i = 0; i < nblk; i++) {
        const int64_t r0 = c->order[i] * B, nb = p->rows - r0 < B ? p->rows - r0 : B;
        /* block[nb x cols] = dY[r0 .. r0+nb) . X^T */
        SPTI_TRY(spti_gemm_dw(dy + r0 * ncols, nb, X, p->cols, ncols, c->block, false));
        SPTI_TRY(spti_grow_collector_feed(c, m, r0, nb, c->block));
        raise_t(c); /* fewer pushes in the next block */
    }
    /* Down to ~k candidates before the selection (a histogram pass). */
    if (c->n > c->k + c->k / 8 + 1024) SPTI_TRY(compact(c));
    for (int64_t j = 0; j < m->nnz; j++) p->grad[j] += c->active[j];
    c->block_rows = B;
    c->filled = true;
    return SPT_OK;
}
