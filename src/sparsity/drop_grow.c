/*
 * One drop/grow update of a SPARSE weight (SET, RigL, SNFS): the new
 * pattern = kept U grown, with the same nnz.
 *
 * Candidates for growth are the positions not kept: the inactive ones and
 * the k just dropped. They are visited row by row, in increasing position,
 * by walking each CSR row between its entries, so no rows x cols mask is
 * needed. Growth by score pre-selects with a histogram of |score| over 2^15
 * order buckets (two passes over the candidates) and runs the exact seeded
 * top-k (spti_topk) only on the candidates of the buckets that can hold the
 * k largest. Random growth samples k candidate ranks into a bit set.
 */
#include "methods.h"

/* Calls visit(ctx, pos) for every candidate position in increasing order. */
typedef void (*visit_fn)(void *ctx, int64_t pos);

static void for_each_candidate(const spt_csr *m, const uint8_t *dropped, visit_fn visit, void *ctx) {
    for (int64_t r = 0; r < m->rows; r++) {
        int64_t base = r * m->cols, c = 0;
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) {
            for (; c < m->col_idx[j]; c++) visit(ctx, base + c);
            if (dropped[j]) visit(ctx, base + c);
            c++;
        }
        for (; c < m->cols; c++) visit(ctx, base + c);
    }
}

typedef struct score_ctx {
    const float *score;
    int64_t *hist;       /* pass 1 */
    uint32_t edge;       /* pass 2: keep buckets >= edge */
    float *cand;
    int64_t *cand_pos;
    int64_t m;
} score_ctx;

/* NaN scores rank lowest (bucket 0), as in spti_topk. */
static void hist_visit(void *vctx, int64_t pos) {
    score_ctx *c = vctx;
    c->hist[spti_abs_bucket(c->score[pos], 0)]++;
}
static void collect_visit(void *vctx, int64_t pos) {
    score_ctx *c = vctx;
    float s = c->score[pos];
    if (spti_abs_bucket(s, 0) >= c->edge) {
        c->cand[c->m] = fabsf(s);
        c->cand_pos[c->m++] = pos;
    }
}

/* grown[0..k): the k candidates of largest |score|, increasing. */
static int grow_by_score(const spt_csr *m, const uint8_t *dropped, const float *score, int64_t k, uint64_t seed,
                         int64_t *grown) {
    score_ctx c = {.score = score};
    c.hist = spti_calloc_or_fail(SPTI_ABS_BUCKETS, sizeof(int64_t), "growth histogram");
    if (!c.hist) return SPT_ERR_NOMEM;
    for_each_candidate(m, dropped, hist_visit, &c);
    int64_t above = 0;
    for (c.edge = SPTI_ABS_BUCKETS - 1;; c.edge--) {
        above += c.hist[c.edge];
        if (above >= k || c.edge == 0) break;
    }
    spti_free(c.hist);
    c.cand = spti_alloc(above, sizeof(float));
    c.cand_pos = spti_alloc(above, sizeof(int64_t));
    int64_t *pick = spti_alloc(k, sizeof(int64_t));
    int rc = SPT_OK;
    if (!c.cand || !c.cand_pos || !pick) {
        rc = spti_fail(SPT_ERR_NOMEM, "drop/grow: out of memory for %lld growth candidates", (long long)above);
        goto done;
    }
    for_each_candidate(m, dropped, collect_visit, &c);
    rc = spti_topk(c.cand, c.m, k, seed, pick);
    if (rc == SPT_OK)
        for (int64_t j = 0; j < k; j++) grown[j] = c.cand_pos[pick[j]];
done:
    spti_free(c.cand);
    spti_free(c.cand_pos);
    spti_free(pick);
    return rc;
}

typedef struct random_ctx {
    const uint64_t *bits; /* chosen candidate ranks */
    int64_t rank;
    int64_t *grown;
    int64_t m;
} random_ctx;

static void random_visit(void *vctx, int64_t pos) {
    random_ctx *c = vctx;
    if (c->bits[c->rank >> 6] >> (c->rank & 63) & 1) c->grown[c->m++] = pos;
    c->rank++;
}

/* grown[0..k): k candidates chosen uniformly at random, increasing. */
static int grow_at_random(const spt_csr *m, const uint8_t *dropped, int64_t n_cand, int64_t k, spti_rng *rng,
                          int64_t *grown) {
    uint64_t *bits = spti_alloc_or_fail((n_cand + 63) / 64, sizeof(uint64_t), "random growth");
    if (!bits) return SPT_ERR_NOMEM;
    spti_sample_bits(rng, n_cand, k, bits);
    random_ctx c = {bits, 0, grown, 0};
    for_each_candidate(m, dropped, random_visit, &c);
    spti_free(bits);
    return SPT_OK;
}

int spti_drop_grow_positions(const spti_param *p, int64_t k, const float *score, spti_rng *rng, uint64_t seed,
                             int64_t *new_pos) {
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
    rc = spti_drop_by_magnitude(p->value, nnz, k, seed, drop);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < k; j++) dropped[drop[j]] = 1;
    /* Grow among the cells - (nnz - k) positions not kept (>= k of them). */
    if (score) rc = grow_by_score(m, dropped, score, k, seed ^ 0x6a09e667f3bcc909ULL, grown);
    else rc = grow_at_random(m, dropped, cells - nnz + k, k, rng, grown);
    if (rc != SPT_OK) goto done;
    /* Merge kept (CSR order = increasing position) with grown (increasing). */
    int64_t out = 0, g = 0;
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) {
            if (dropped[j]) continue;
            int64_t pos = r * m->cols + m->col_idx[j];
            while (g < k && grown[g] < pos) new_pos[out++] = grown[g++];
            new_pos[out++] = pos;
        }
    while (g < k) new_pos[out++] = grown[g++];
    if (out != nnz) rc = spti_fail(SPT_ERR_INTERNAL, "%s: new pattern has %lld of %lld entries", __func__,
                                   (long long)out, (long long)nnz);
done:
    spti_free(drop);
    spti_free(grown);
    spti_free(dropped);
    return rc;
}
