/*
 * Growth by score (RigL, SNFS): the k candidates of largest |score| among
 * the positions not kept, exactly, in one pass over the rows x cols score.
 *
 * A strided sample of |score| (at most 2^16 cells) estimates a threshold t
 * a little below the k-th largest; one pass gathers every candidate with
 * |score| >= t (rows split over threads, each into its own buffers, joined
 * in row order: the same list for any thread count). If fewer than k came
 * through, t is lowered and the pass repeated (t = -inf takes every
 * candidate). All of the true top k have |score| >= t, so the exact
 * selection on the gathered list (spti_select_largest) is the exact top k
 * of all candidates, and its ties are resolved among the same tied cells
 * whatever t was. NaN scores rank below every number (key -1).
 */
#include <math.h>
#include <string.h>

#include "grow_collector.h"

enum { MAX_SAMPLES = 1 << 16, MAX_THREADS = 64 };

typedef struct part {
    float *key;
    int64_t *pos;
    int64_t n, cap;
    bool fail;
} part;

static bool push(part *b, float key, int64_t pos) {
    if (b->n == b->cap) {
        int64_t cap = 2 * b->cap + 1024;
        float *k = spti_alloc(cap, sizeof(float));
        int64_t *p = spti_alloc(cap, sizeof(int64_t));
        if (!k || !p) {
            spti_free(k);
            spti_free(p);
            return false;
        }
        if (b->n) {
            memcpy(k, b->key, (size_t)b->n * sizeof(float));
            memcpy(p, b->pos, (size_t)b->n * sizeof(int64_t));
        }
        spti_free(b->key);
        spti_free(b->pos);
        b->key = k;
        b->pos = p;
        b->cap = cap;
    }
    b->key[b->n] = key;
    b->pos[b->n++] = pos;
    return true;
}

/* Candidates in rows [r0, r1) with key >= t into b; kept: cols zero bytes. */
static void gather_rows(const spt_csr *m, const uint8_t *dropped, const float *score, float t, int64_t r0,
                        int64_t r1, uint8_t *kept, part *b) {
    const int64_t cols = m->cols;
    const bool take_nan = t <= -1.0f;
    for (int64_t r = r0; r < r1 && !b->fail; r++) {
        const float *s = score + r * cols; /* row r of the rows x cols score */
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = !dropped[j];
        for (int64_t c = 0; c < cols; c++) {
            float key = fabsf(s[c]);
            if (!(key >= t)) {
                if (!take_nan || !isnan(key)) continue;
                key = -1.0f;
            }
            if (!kept[c] && !push(b, key, r * cols + c)) {
                b->fail = true;
                break;
            }
        }
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) kept[m->col_idx[j]] = 0;
    }
}

/* Every candidate with key >= t, in position order, into *key / *pos
 * (allocated here, *n of them). */
static int gather(const spt_csr *m, const uint8_t *dropped, const float *score, float t, float **key, int64_t **pos,
                  int64_t *n) {
    const int64_t rows = m->rows, cells = rows * m->cols;
    int nt = cells >= (1 << 20) ? spti_num_threads() : 1;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > rows) nt = (int)rows;
    if (nt < 1) nt = 1;
    part parts[MAX_THREADS];
    memset(parts, 0, sizeof parts);
    uint8_t *kept = spti_calloc((int64_t)nt, (size_t)m->cols);
    bool fail = kept == NULL;
    if (!fail) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int i = 0; i < nt; i++)
            gather_rows(m, dropped, score, t, rows * i / nt, rows * (i + 1) / nt, kept + (int64_t)i * m->cols,
                        &parts[i]);
    }
    spti_free(kept);
    int64_t total = 0;
    for (int i = 0; i < nt; i++) {
        fail |= parts[i].fail;
        total += parts[i].n;
    }
    *key = fail ? NULL : spti_alloc(total, sizeof(float));
    *pos = fail ? NULL : spti_alloc(total, sizeof(int64_t));
    int rc = SPT_OK;
    if (!*key || !*pos) {
        spti_free(*key);
        spti_free(*pos);
        *key = NULL;
        *pos = NULL;
        rc = spti_fail(SPT_ERR_NOMEM, "drop/grow: out of memory for growth candidates");
    }
    int64_t off = 0;
    for (int i = 0; i < nt; i++) {
        if (rc == SPT_OK && parts[i].n) {
            memcpy(*key + off, parts[i].key, (size_t)parts[i].n * sizeof(float));
            memcpy(*pos + off, parts[i].pos, (size_t)parts[i].n * sizeof(int64_t));
        }
        off += parts[i].n;
        spti_free(parts[i].key);
        spti_free(parts[i].pos);
    }
    *n = total;
    return rc;
}

int spti_grow_by_score(const spt_csr *m, const uint8_t *dropped, const float *score, int64_t k, uint64_t seed,
                       int64_t *grown) {
    if (k == 0) return SPT_OK;
    const int64_t cells = m->rows * m->cols, n_cand = cells - m->nnz + k;
    const int64_t ns = cells < MAX_SAMPLES ? cells : MAX_SAMPLES, stride = cells / ns;
    float *sample = spti_alloc_or_fail(ns, sizeof(float), "growth threshold sample");
    if (!sample) return SPT_ERR_NOMEM;
    for (int64_t i = 0; i < ns; i++) {
        float a = fabsf(score[i * stride]);
        sample[i] = isnan(a) ? -1.0f : a;
    }
    /* The share of the cells to gather: the top-k share with room for the
     * sampling error (and for kept cells among the sampled large ones). */
    const double frac = (double)k / (double)n_cand;
    double q = 1.25 * frac + 4.0 * sqrt(frac / (double)ns) + 4.0 / (double)ns;
    float *key = NULL;
    int64_t *pos = NULL, n = 0;
    int rc = SPT_OK;
    for (;;) {
        const float t = q >= 1.0 || ns < 1024 ? -INFINITY : spti_nth_largest(sample, ns, (int64_t)(q * (double)ns));
        rc = gather(m, dropped, score, t, &key, &pos, &n);
        if (rc != SPT_OK || n >= k) break;
        if (t == -INFINITY) {
            rc = spti_fail(SPT_ERR_INTERNAL, "drop/grow: %lld growth candidates for k = %lld", (long long)n,
                           (long long)k);
            break;
        }
        spti_free(key);
        spti_free(pos);
        key = NULL;
        pos = NULL;
        q *= 4.0;
    }
    spti_free(sample);
    int64_t *pick = rc == SPT_OK ? spti_alloc_or_fail(k, sizeof(int64_t), "growth picks") : NULL;
    if (rc == SPT_OK && !pick) rc = SPT_ERR_NOMEM;
    if (rc == SPT_OK) rc = spti_select_largest(key, n, k, seed, pick);
    if (rc == SPT_OK)
        for (int64_t j = 0; j < k; j++) grown[j] = pos[pick[j]];
    spti_free(pick);
    spti_free(key);
    spti_free(pos);
    return rc;
}

int spti_grow_by_collector(const spt_csr *m, const int64_t *drop, const spti_grow_collector *c, int64_t k,
                           uint64_t seed, int64_t *grown) {
    if (k == 0) return SPT_OK;
    if (!c->filled || c->k != k || c->nnz < m->nnz)
        return spti_fail(SPT_ERR_STATE, "drop/grow: growth candidates collected for k = %lld, not %lld",
                         (long long)c->k, (long long)k);
    /* The inactive candidates (>= their k-th largest, increasing position)
     * merged with the k dropped entries: a list holding every candidate
     * with key >= the k-th largest of all, in position order, as gather()
     * builds it from the full matrix. */
    const int64_t n = c->n + k, B = c->block_rows, nblk = (m->rows + B - 1) / B;
    float *key = spti_alloc(n, sizeof(float)), *ckey = spti_alloc(c->n, sizeof(float));
    int64_t *pos = spti_alloc(n, sizeof(int64_t)), *pick = spti_alloc(k, sizeof(int64_t));
    int64_t *cpos = spti_alloc(c->n, sizeof(int64_t)), *start = spti_calloc(nblk + 1, sizeof(int64_t));
    if (!key || !pos || !pick || !ckey || !cpos || !start) {
        spti_free(key);
        spti_free(pos);
        spti_free(pick);
        spti_free(ckey);
        spti_free(cpos);
        spti_free(start);
        return spti_fail(SPT_ERR_NOMEM, "drop/grow: out of memory for growth candidates");
    }
    /* The collector's list is in streaming (block) order: a stable counting
     * sort by row block puts it in position order. */
    for (int64_t i = 0; i < c->n; i++) start[c->pos[i] / m->cols / B + 1]++;
    for (int64_t b = 0; b < nblk; b++) start[b + 1] += start[b];
    for (int64_t i = 0; i < c->n; i++) {
        int64_t d = start[c->pos[i] / m->cols / B]++;
        ckey[d] = c->key[i];
        cpos[d] = c->pos[i];
    }
    spti_free(start);
    /* The dropped entries (drop[] increasing in CSR order, so in position
     * order) merged with the candidates, branch-free. */
    int64_t out = 0, i = 0, d = 0, r = 0, dpos = 0;
    float dkey = 0.0f;
    const int64_t cn = c->n;
    while (d < k || i < cn) {
        if (d < k) { /* position and key of dropped entry d */
            while (m->row_ptr[r + 1] <= drop[d]) r++;
            dpos = r * m->cols + m->col_idx[drop[d]];
            const float a = fabsf(c->active[drop[d]]);
            dkey = isnan(a) ? -1.0f : a;
        }
        /* Candidates before it (all of them once the drops are used up). */
        for (; i < cn && (d == k || cpos[i] < dpos); i++, out++) {
            key[out] = ckey[i];
            pos[out] = cpos[i];
        }
        if (d < k) {
            key[out] = dkey;
            pos[out++] = dpos;
            d++;
        }
    }
    spti_free(ckey);
    spti_free(cpos);
    int rc = out == n ? spti_select_largest(key, n, k, seed, pick)
                      : spti_fail(SPT_ERR_INTERNAL, "drop/grow: %lld dropped entries, %lld expected",
                                  (long long)(out - c->n), (long long)k);
    if (rc == SPT_OK)
        for (int64_t j = 0; j < k; j++) grown[j] = pos[pick[j]];
    spti_free(key);
    spti_free(pos);
    spti_free(pick);
    return rc;
}
