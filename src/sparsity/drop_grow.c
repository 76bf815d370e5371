/*
 * One drop/grow update of a SPARSE weight (SET, RigL, SNFS): the new
 * pattern = kept U grown, with the same nnz.
 *
 * Candidates for growth are the positions not kept: the inactive ones and
 * the k just dropped, ranked row by row in increasing position; no
 * rows x cols mask is built. Growth by score is spti_grow_by_score
 * (kernels/grow_by_score.c: one pass over the score, exact top k) or, with the
 * same result, spti_grow_by_collector over the candidates a backward
 * streamed (kernels/grow_collector.h), or over a sample of inactive
 * positions whose gradient a backward computed (kernels/grow_sample.h;
 * drawn by spti_grow_sample_draw below, before that backward); random
 * growth samples k candidate ranks (spti_sample_sorted: memory and time
 * follow k on large layers) and maps them to positions.
 */
#include "dst.h"

/* Kept columns of CSR row r (entries not dropped; dropped == NULL: all),
 * increasing, into kc; returns their number. */
static int64_t kept_columns(const spt_csr *m, const uint8_t *dropped, int64_t r, int32_t *kc) {
    int64_t nk = 0;
    for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++)
        if (!dropped || !dropped[j]) kc[nk++] = m->col_idx[j];
    return nk;
}

/* k candidates chosen uniformly at random among the n_cand positions not
 * kept, increasing, into pos[0..k). The candidates are ranked row by row;
 * rank -> column inside a row skips the kept columns. Sampling follows k
 * on large layers (spti_sample_sorted); the mapping is O(rows + nnz + k). */
static int sample_candidates(const spt_csr *m, const uint8_t *dropped, int64_t n_cand, int64_t k, spti_rng *rng,
                             int64_t *pos) {
    int32_t *kc = spti_alloc(m->cols, sizeof(int32_t));
    if (!kc) return spti_fail(SPT_ERR_NOMEM, "drop/grow: out of memory for random candidates");
    int rc = spti_sample_sorted(rng, n_cand, k, pos); /* ranks, mapped in place to positions */
    int64_t r = -1, row_start = 0, row_end = 0, nk = 0, p = 0;
    for (int64_t g = 0; rc == SPT_OK && g < k; g++) {
        const int64_t rank = pos[g];
        while (rank >= row_end) { /* next row holding candidates [row_start, row_end) */
            r++;
            nk = kept_columns(m, dropped, r, kc);
            row_start = row_end;
            row_end += m->cols - nk;
            p = 0;
        }
        int64_t local = rank - row_start, col = local + p;
        while (p < nk && kc[p] <= col) col = local + ++p;
        pos[g] = r * m->cols + col;
    }
    spti_free(kc);
    return rc;
}

/* Random growth (SET): k of the positions not kept. */
static int grow_at_random(const spt_csr *m, const uint8_t *dropped, int64_t n_cand, int64_t k, spti_rng *rng,
                          int64_t *grown) {
    return sample_candidates(m, dropped, n_cand, k, rng, grown);
}

int spti_grow_sample_draw(const spt_csr *m, int64_t n, spti_rng *rng, spti_grow_sample **out) {
    *out = NULL;
    const int64_t inactive = m->rows * m->cols - m->nnz;
    if (n < 0 || n > inactive)
        return spti_fail(SPT_ERR_SIZE, "%s: %lld positions asked of %lld inactive ones", __func__, (long long)n,
                         (long long)inactive);
    int64_t *pos = spti_alloc(n > 0 ? n : 1, sizeof(int64_t));
    if (!pos) return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %lld positions", __func__, (long long)n);
    spti_grow_sample *s = NULL;
    int rc = sample_candidates(m, NULL, inactive, n, rng, pos);
    if (rc == SPT_OK) rc = spti_grow_sample_alloc(m->rows, m->cols, n, &s);
    if (rc == SPT_OK) {
        /* Positions (increasing) -> per-row counts, then columns. */
        for (int64_t i = 0; i < n; i++) {
            s->row_ptr[pos[i] / m->cols + 1]++;
            s->col_idx[i] = (int32_t)(pos[i] % m->cols);
        }
        for (int64_t r = 0; r < m->rows; r++) s->row_ptr[r + 1] += s->row_ptr[r];
        *out = s;
    }
    spti_free(pos);
    return rc;
}

int spti_drop_grow_positions(const spti_param *p, int64_t k, const float *drop_score, const float *score,
                             const struct spti_grow_collector *grow, const spti_sample_grad *sampled, spti_rng *rng,
                             uint64_t seed, int64_t *new_pos) {
    if (p->kind != SPTI_PARAM_SPARSE)
        return spti_fail(SPT_ERR_STATE, "%s: %s is not sparse", __func__, p->name);
    const spt_csr *m = p->csr;
    const int64_t nnz = m->nnz, cells = p->rows * p->cols;
    if (k < 0 || k > nnz)
        return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) must be in [0, nnz = %lld]", __func__, (long long)k,
                         (long long)nnz);
    int64_t *drop = spti_alloc(k, sizeof(int64_t));
    int64_t *grown = spti_alloc(k, sizeof(int64_t));
    uint8_t *dropped = spti_calloc(nnz, 1);
    int rc = SPT_OK;
    if (!drop || !grown || !dropped) {
        rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
        goto done;
    }
    /* Drop: seed and seed^1 keep the two selections' tie orders unrelated. */
    rc = drop_score ? spti_drop_smallest(drop_score, false, nnz, k, seed, drop)
                    : spti_drop_smallest(p->value, true, nnz, k, seed, drop);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < k; j++) dropped[drop[j]] = 1;
    /* Grow among the cells - (nnz - k) positions not kept (>= k of them). */
    if (score) rc = spti_grow_by_score(m, dropped, score, k, seed ^ 0x6a09e667f3bcc909ULL, grown);
    else if (grow) rc = spti_grow_by_collector(m, drop, grow, k, seed ^ 0x6a09e667f3bcc909ULL, grown);
    else if (sampled) rc = spti_grow_by_sample(m, drop, sampled, k, seed ^ 0x6a09e667f3bcc909ULL, grown);
    else rc = grow_at_random(m, dropped, cells - nnz + k, k, rng, grown);
    if (rc != SPT_OK) goto done;
    /* Kept positions (CSR order = increasing), then merged with grown
     * (increasing). Both loops are branch-free: a third of the entries may
     * be dropped, at random places. */
    int64_t *kept = spti_alloc(nnz - k + 1, sizeof(int64_t)); /* + a scratch slot */
    if (!kept) {
        rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
        goto done;
    }
    int64_t nk = 0;
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) {
            kept[nk < nnz - k ? nk : nnz - k] = r * m->cols + m->col_idx[j]; /* dropped ones: overwritten */
            nk += !dropped[j];
        }
    int64_t out = 0, a = 0, g = 0;
    if (nk == nnz - k) {
        while (a < nk && g < k) {
            const int64_t take_g = grown[g] < kept[a];
            new_pos[out++] = take_g ? grown[g] : kept[a];
            g += take_g;
            a += 1 - take_g;
        }
        while (a < nk) new_pos[out++] = kept[a++];
        while (g < k) new_pos[out++] = grown[g++];
    }
    spti_free(kept);
    if (out != nnz) rc = spti_fail(SPT_ERR_INTERNAL, "%s: new pattern has %lld of %lld entries", __func__,
                                   (long long)out, (long long)nnz);
done:
    spti_free(drop);
    spti_free(grown);
    spti_free(dropped);
    return rc;
}

/*
 * The drop step of SET, RigL and SNFS: the k active weights of smallest |w|
 * (or, for a user method, of smallest drop score).
 *
 * The exact selection (spti_select_largest) runs on -|w| (NaN as the largest
 * magnitude, like infinity): one histogram pass finds the threshold bucket,
 * a quickselect inside it the threshold, and only the weights tied at the
 * threshold go through the seeded tie-break.
 */

int spti_drop_smallest(const float *x, bool absolute, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    if (k < 0 || k > n)
        return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) must be in [0, %lld]", __func__, (long long)k, (long long)n);
    if (k == 0) return SPT_OK;
    float *key = spti_alloc_or_fail(n, sizeof(float), "drop keys");
    if (!key) return SPT_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(spti_num_threads()) if (n >= (1 << 18))
    for (int64_t i = 0; i < n; i++) key[i] = isnan(x[i]) ? -INFINITY : -(absolute ? fabsf(x[i]) : x[i]);
    int rc = spti_select_largest(key, n, k, seed, idx);
    spti_free(key);
    return rc;
}
