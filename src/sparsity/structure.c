/*
 * Structured sparsity by row (structure.h): the planned count, the initial
 * draw and the drop/grow update of fanin and nm layers, and the invariant
 * check.
 *
 * Drop/grow as SRigL does it (Lasby et al. 2024): the drop is layer-wide
 * (the live - k active entries of largest |w| stay, k = floor(f live), one
 * exact seeded selection), then row by row a binary heap trims a row
 * holding more than its target (its smallest |w| go), and a second one
 * takes the row's candidates (every column not kept, just-dropped ones
 * included) by |score| or a random key until the row is back at its
 * target, a candidate being skipped when its group of M already holds N
 * (nm). Candidates always suffice: each dropped entry frees a place in its
 * own group. O(nnz + rows (cols + g_r log cols)).
 */
#include <math.h>
#include <string.h>

#include "method_config.h"
#include "dst.h"
#include "structure.h"

int spti_structure_from_config(const spti_method_ops *ops, const spt_method_config *cfg, spti_structure *s) {
    s->kind = (int)cfg->value[SPT_MP_STRUCTURE];
    s->n = (int64_t)cfg->value[SPT_MP_STRUCTURE_N];
    s->m = (int64_t)cfg->value[SPT_MP_STRUCTURE_M];
    s->ablation = 0.0;
    int reads_ablation = 0;
    if (spt_method_uses_param(ops->id, SPT_MP_ABLATION, &reads_ablation) == SPT_OK && reads_ablation)
        s->ablation = cfg->value[SPT_MP_ABLATION];
    if (s->ablation > 0.0 && s->kind != SPT_STRUCTURE_FANIN)
        return spti_fail(SPT_ERR_UNSUPPORTED,
                         "%s: neuron ablation (ablation = %g) needs structure \"fanin\", not \"%s\" (docs/methods.md)",
                         ops->name, s->ablation, spt_method_param_choice_name(SPT_MP_STRUCTURE, s->kind));
    if (s->kind == SPT_STRUCTURE_UNSTRUCTURED) return SPT_OK;
    if (!(ops->structures & (1u << s->kind)))
        return spti_fail(SPT_ERR_UNSUPPORTED, "method \"%s\" does not support structure \"%s\" (docs/methods.md)",
                         ops->name, spt_method_param_choice_name(SPT_MP_STRUCTURE, s->kind));
    if (s->kind == SPT_STRUCTURE_NM && s->n > s->m)
        return spti_fail(SPT_ERR_INVALID, "structure nm: N (%lld) must be <= M (%lld)", (long long)s->n,
                         (long long)s->m);
    return SPT_OK;
}

/* Entries of a row of `cols` under nm: min(N, g) per group. */
static int64_t nm_row_count(const spti_structure *s, int64_t cols) {
    const int64_t full = cols / s->m, tail = cols % s->m;
    return full * s->n + (tail < s->n ? tail : s->n);
}

static int64_t row_target(const spti_structure *s, int64_t rows, int64_t cols, int64_t planned) {
    if (s->kind == SPT_STRUCTURE_NM) return nm_row_count(s, cols);
    int64_t f = (int64_t)llround((double)planned / (double)rows);
    return f < 1 ? 1 : f > cols ? cols : f;
}

int64_t spti_structure_nnz(const spti_structure *s, int64_t rows, int64_t cols, int64_t planned) {
    if (!spti_structure_by_row(s) || planned >= rows * cols) return planned;
    return rows * row_target(s, rows, cols, planned);
}

int spti_structure_sample(const spti_structure *s, int64_t rows, int64_t cols, int64_t nnz, spti_rng *rng,
                          int64_t *pos) {
    if (!spti_structure_by_row(s) || nnz % rows != 0)
        return spti_fail(SPT_ERR_INTERNAL, "%s: %lld entries over %lld rows", __func__, (long long)nnz,
                         (long long)rows);
    const int64_t f = nnz / rows;
    int64_t *tmp = spti_alloc_or_fail(cols, sizeof(int64_t), "structured topology");
    if (!tmp) return SPT_ERR_NOMEM;
    int rc = SPT_OK;
    int64_t out = 0;
    for (int64_t r = 0; r < rows && rc == SPT_OK; r++) {
        if (s->kind == SPT_STRUCTURE_FANIN) {
            rc = spti_sample_sorted(rng, cols, f, tmp);
            for (int64_t i = 0; rc == SPT_OK && i < f; i++) pos[out++] = r * cols + tmp[i];
            continue;
        }
        for (int64_t g0 = 0; g0 < cols && rc == SPT_OK; g0 += s->m) {
            const int64_t g = cols - g0 < s->m ? cols - g0 : s->m, take = g < s->n ? g : s->n;
            rc = spti_sample_sorted(rng, g, take, tmp);
            for (int64_t i = 0; rc == SPT_OK && i < take; i++) pos[out++] = r * cols + g0 + tmp[i];
        }
    }
    spti_free(tmp);
    if (rc == SPT_OK && out != nnz)
        rc = spti_fail(SPT_ERR_INTERNAL, "%s: drew %lld of %lld entries", __func__, (long long)out, (long long)nnz);
    return rc;
}

/* ---- drop/grow -------------------------------------------------------------- */

typedef struct item {
    float key; /* larger pops first */
    int32_t col;
    uint64_t tie; /* equal keys: larger pops first */
} item;

static bool above(const item *a, const item *b) { return a->key != b->key ? a->key > b->key : a->tie > b->tie; }

/* Sift h[i] down a heap whose root is the largest (min = false) or the
 * lowest (min = true, the bounded top-g below) under `above`. */
static void sift_down(item *h, int64_t n, int64_t i, bool min) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < n && (min ? above(&h[best], &h[l]) : above(&h[l], &h[best]))) best = l;
        if (r < n && (min ? above(&h[best], &h[r]) : above(&h[r], &h[best]))) best = r;
        if (best == i) return;
        item t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

static void heapify(item *h, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift_down(h, n, i, false);
}

static item pop(item *h, int64_t *n) {
    item top = h[0];
    h[0] = h[--*n];
    sift_down(h, *n, 0, false);
    return top;
}

static uint64_t tie_of(uint64_t seed, int64_t pos) { return spti_mix64(seed ^ spti_mix64((uint64_t)pos)); }

static void sift_up_min(item *h, int64_t i) {
    while (i > 0) {
        const int64_t up = (i - 1) / 2;
        if (!above(&h[up], &h[i])) return;
        item t = h[i];
        h[i] = h[up];
        h[up] = t;
        i = up;
    }
}

/* A growth candidate's key: |score| (NaN first), or without a score 24
 * random bits (exact in a float). */
static float grow_key(const float *score, uint64_t rand_seed, int64_t at) {
    if (score) return isnan(score[at]) ? INFINITY : fabsf(score[at]);
    return (float)(tie_of(rand_seed, at) >> 40);
}

/* Layer-wide drop (SRigL): keep[j] = 1 for the live - k active entries of
 * largest |w| over the live rows (k = floor(fraction x live)), exact and
 * seeded on ties; a dead row's entries are never kept. */
static int keep_largest(const spt_csr *c, const float *value, const uint8_t *dead, double fraction, uint64_t seed,
                        uint8_t *keep) {
    const int64_t nnz = c->nnz;
    int64_t live = 0;
    for (int64_t r = 0; r < c->rows; r++)
        if (!(dead && dead[r])) live += c->row_ptr[r + 1] - c->row_ptr[r];
    int64_t k = (int64_t)floor(fraction * (double)live);
    k = k < 0 ? 0 : k > live ? live : k;
    memset(keep, 0, (size_t)nnz);
    if (live - k == 0) return SPT_OK;
    float *key = spti_alloc(nnz, sizeof(float));
    int64_t *idx = spti_alloc(live - k, sizeof(int64_t));
    int rc = key && idx ? SPT_OK : spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
    if (rc == SPT_OK) {
        for (int64_t r = 0; r < c->rows; r++)
            for (int64_t j = c->row_ptr[r]; j < c->row_ptr[r + 1]; j++)
                key[j] = dead && dead[r] ? -INFINITY : isnan(value[j]) ? -1.0f : fabsf(value[j]);
        rc = spti_topk(key, nnz, live - k, seed, idx);
        for (int64_t i = 0; rc == SPT_OK && i < live - k; i++) keep[idx[i]] = 1;
    }
    spti_free(key);
    spti_free(idx);
    return rc;
}

int spti_structure_drop_grow(const spti_structure *s, const spti_param *p, double fraction, const float *score,
                             uint64_t seed, const uint8_t *dead, int64_t target, int64_t *new_pos, int64_t *n_out) {
    if (p->kind != SPTI_PARAM_SPARSE) return spti_fail(SPT_ERR_STATE, "%s: %s is not sparse", __func__, p->name);
    const spt_csr *c = p->csr;
    const int64_t cols = c->cols, gm = s->kind == SPT_STRUCTURE_NM ? s->m : cols;
    const int64_t cap = s->kind == SPT_STRUCTURE_NM ? s->n : cols, n_groups = (cols + gm - 1) / gm;
    item *h = spti_alloc(cols, sizeof(item));
    uint8_t *state = spti_alloc(cols, 1); /* 0 free, 1 kept, 2 dropped, 3 grown */
    int64_t *fill = spti_alloc(n_groups, sizeof(int64_t));
    uint8_t *keep = spti_alloc(c->nnz > 0 ? c->nnz : 1, 1);
    int rc = SPT_OK;
    if (!h || !state || !fill || !keep) {
        rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %s", __func__, p->name);
        goto done;
    }
    const uint64_t drop_seed = seed, grow_seed = seed ^ 0x6a09e667f3bcc909ULL, rand_seed = seed ^ 0xbb67ae8584caa73bULL;
    if ((rc = keep_largest(c, p->value, dead, fraction, drop_seed, keep)) != SPT_OK) goto done;
    int64_t out = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        const int64_t b = c->row_ptr[r], nr = c->row_ptr[r + 1] - b;
        /* The row's target: its own count, or the new fan-in. */
        const int64_t want = dead ? (dead[r] ? 0 : target < 1 ? 1 : target > cols ? cols : target)
                             : target < 0 ? nr : target > cols ? cols : target;
        memset(state, 0, (size_t)cols);
        memset(fill, 0, (size_t)n_groups * sizeof *fill);
        int64_t kept = 0;
        for (int64_t j = 0; j < nr; j++) {
            const int32_t col = c->col_idx[b + j];
            state[col] = keep[b + j] ? 1 : 2;
            if (!keep[b + j]) continue;
            const float w = p->value[b + j];
            h[kept++] = (item){isnan(w) ? -INFINITY : -fabsf(w), col, tie_of(drop_seed, r * cols + col)};
            fill[col / gm]++;
        }
        /* More kept than the target (a smaller new fan-in): the row's
         * smallest |w| go too. */
        if (kept > want) {
            int64_t n = kept;
            heapify(h, n);
            for (; kept > want; kept--) {
                const item it = pop(h, &n);
                state[it.col] = 2;
                fill[it.col / gm]--;
            }
        }
        const int64_t gr = want - kept;
        if (gr > 0 && cap >= cols) {
            /* No group limit (fanin): the gr best candidates, kept in a
             * min-heap of gr (a candidate below its root costs one
             * comparison; its tie hash is computed only when needed). */
            int64_t n = 0;
            for (int64_t col = 0; col < cols; col++) {
                if (state[col] == 1) continue;
                const int64_t at = r * cols + col;
                const float key = grow_key(score, rand_seed, at);
                if (n < gr) {
                    h[n] = (item){key, (int32_t)col, tie_of(grow_seed, at)};
                    sift_up_min(h, n++);
                } else if (key > h[0].key || (key == h[0].key && tie_of(grow_seed, at) > h[0].tie)) {
                    h[0] = (item){key, (int32_t)col, tie_of(grow_seed, at)};
                    sift_down(h, n, 0, true);
                }
            }
            if (n < gr) {
                rc = spti_fail(SPT_ERR_INTERNAL, "%s: row %lld of %s has no room to grow", __func__, (long long)r,
                               p->name);
                goto done;
            }
            for (int64_t i = 0; i < n; i++) state[h[i].col] = 3;
        } else if (gr > 0) {
            /* nm: candidates popped best first, skipping full groups (a
             * group full now stays full: its positions are not pushed). */
            int64_t n = 0;
            for (int64_t col = 0; col < cols; col++) {
                if (state[col] == 1 || fill[col / gm] >= cap) continue;
                const int64_t at = r * cols + col;
                h[n++] = (item){grow_key(score, rand_seed, at), (int32_t)col, tie_of(grow_seed, at)};
            }
            heapify(h, n);
            for (int64_t got = 0; got < gr;) {
                if (n == 0) {
                    rc = spti_fail(SPT_ERR_INTERNAL, "%s: row %lld of %s has no room to grow", __func__, (long long)r,
                                   p->name);
                    goto done;
                }
                const item it = pop(h, &n);
                if (fill[it.col / gm] >= cap) continue;
                fill[it.col / gm]++;
                state[it.col] = 3;
                got++;
            }
        }
        for (int64_t col = 0; col < cols; col++)
            if (state[col] == 1 || state[col] == 3) new_pos[out++] = r * cols + col;
    }
    if (target < 0 && !dead && out != c->nnz)
        rc = spti_fail(SPT_ERR_INTERNAL, "%s: new pattern of %s has %lld of %lld entries", __func__, p->name,
                       (long long)out, (long long)c->nnz);
    *n_out = out;
done:
    spti_free(h);
    spti_free(state);
    spti_free(fill);
    spti_free(keep);
    return rc;
}

/* ---- kernel structure -------------------------------------------------------- */

int64_t spti_structure_group(const spti_structure *s, const spti_param *p) {
    return s->kind == SPT_STRUCTURE_KERNEL && p->ndim == 4 ? p->shape[2] * p->shape[3] : 1;
}

int64_t spti_structure_kernel_nnz(int64_t g, int64_t cells, int64_t planned) {
    if (planned >= cells || g <= 1) return planned;
    int64_t k = (int64_t)llround((double)planned / (double)g);
    return (k < 1 ? 1 : k > cells / g ? cells / g : k) * g;
}

int spti_structure_kernel_sample(int64_t g, int64_t cells, int64_t nnz, spti_rng *rng, int64_t *pos) {
    const int64_t groups = nnz / g;
    int64_t *gpos = spti_alloc_or_fail(groups, sizeof(int64_t), "kernel topology");
    if (!gpos) return SPT_ERR_NOMEM;
    int rc = spti_sample_sorted(rng, cells / g, groups, gpos);
    for (int64_t i = 0; rc == SPT_OK && i < groups; i++)
        for (int64_t j = 0; j < g; j++) pos[i * g + j] = gpos[i] * g + j;
    spti_free(gpos);
    return rc;
}

int spti_structure_kernel_drop_grow(const spti_param *p, int64_t g, double fraction, const float *score, uint64_t seed,
                                    int64_t *new_pos) {
    if (p->kind != SPTI_PARAM_SPARSE) return spti_fail(SPT_ERR_STATE, "%s: %s is not sparse", __func__, p->name);
    const spt_csr *c = p->csr;
    const int64_t cells = c->rows * c->cols, groups = cells / g, active = c->nnz / g;
    int64_t k = (int64_t)floor(fraction * (double)active);
    k = k < 0 ? 0 : k > active ? active : k;
    float *key = spti_alloc(groups, sizeof(float));
    int64_t *gid = spti_alloc(active, sizeof(int64_t)), *idx = spti_alloc(active, sizeof(int64_t));
    uint8_t *state = spti_calloc(groups, 1); /* 1 active, 2 kept */
    int rc = key && gid && idx && state
                 ? SPT_OK
                 : spti_fail(SPT_ERR_NOMEM, "%s: out of memory for the kernels of %s", __func__, p->name);
    if (rc != SPT_OK) goto done;
    /* Active kernels (whole, in CSR order) and the norms of their weights. */
    {
        int64_t a = 0;
        for (int64_t r = 0; r < c->rows; r++)
            for (int64_t j = c->row_ptr[r]; j < c->row_ptr[r + 1]; j += g) {
                const int64_t grp = (r * c->cols + c->col_idx[j]) / g;
                double sum = 0.0;
                for (int64_t i = 0; i < g; i++) sum += (double)p->value[j + i] * (double)p->value[j + i];
                gid[a] = grp;
                key[a++] = isnan(sum) ? -INFINITY : (float)sqrt(sum);
                state[grp] = 1;
            }
        if (a != active) {
            rc = spti_fail(SPT_ERR_INTERNAL, "%s: %s holds a partial kernel", __func__, p->name);
            goto done;
        }
    }
    /* Keep the active - k of largest norm. */
    rc = spti_topk(key, active, active - k, seed, idx);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < active - k; j++) state[gid[idx[j]]] = 2;
    /* Grow k among the kernels not kept. */
    for (int64_t q = 0; q < groups; q++) {
        if (state[q] == 2) {
            key[q] = -INFINITY;
            continue;
        }
        if (!score) {
            key[q] = (float)(spti_mix64(seed ^ 0xbb67ae8584caa73bULL ^ spti_mix64((uint64_t)q)) >> 40);
            continue;
        }
        double sum = 0.0;
        for (int64_t i = 0; i < g; i++) sum += (double)score[q * g + i] * (double)score[q * g + i];
        key[q] = isnan(sum) ? INFINITY : (float)sqrt(sum);
    }
    if (k > 0) {
        spti_free(idx);
        if (!(idx = spti_alloc(k, sizeof(int64_t)))) {
            rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %s", __func__, p->name);
            goto done;
        }
        rc = spti_topk(key, groups, k, seed ^ 0x6a09e667f3bcc909ULL, idx);
        if (rc != SPT_OK) goto done;
        for (int64_t j = 0; j < k; j++) state[idx[j]] = 3;
    }
    int64_t out = 0;
    for (int64_t q = 0; q < groups; q++)
        if (state[q] >= 2)
            for (int64_t i = 0; i < g; i++) new_pos[out++] = q * g + i;
    if (out != c->nnz)
        rc = spti_fail(SPT_ERR_INTERNAL, "%s: new pattern of %s has %lld of %lld entries", __func__, p->name,
                       (long long)out, (long long)c->nnz);
done:
    spti_free(key);
    spti_free(gid);
    spti_free(idx);
    spti_free(state);
    return rc;
}

/* ---- SRigL's neuron ablation ---------------------------------------------------- */

int spti_structure_ablate(const spti_structure *s, const spti_param *p, double fraction, const float *score,
                          int64_t budget, uint64_t seed, uint8_t *dead, int64_t *target) {
    if (p->kind != SPTI_PARAM_SPARSE || !score)
        return spti_fail(SPT_ERR_STATE, "%s: %s needs a sparse weight and a growth score", __func__, p->name);
    const spt_csr *c = p->csr;
    const int64_t rows = c->rows, cols = c->cols, nnz = c->nnz, cells = rows * cols;
    int64_t k = (int64_t)floor(fraction * (double)nnz), live = 0;
    k = k < 0 ? 0 : k > nnz ? nnz : k;
    /* Unconstrained RigL's choice: keep the nnz - k largest |w|, grow the k
     * largest |score| elsewhere; a row's salient weights are its share. */
    float *key = spti_alloc(cells, sizeof(float));
    int64_t *idx = spti_alloc(nnz > rows ? nnz : rows, sizeof(int64_t)), *salient = spti_calloc(rows, sizeof(int64_t));
    uint8_t *kept = spti_calloc(cells, 1);
    int rc = key && idx && salient && kept ? SPT_OK
                                           : spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %s", __func__, p->name);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < nnz; j++) key[j] = fabsf(p->value[j]);
    rc = spti_topk(key, nnz, nnz - k, seed ^ 0x3c6ef372fe94f82bULL, idx);
    if (rc != SPT_OK) goto done;
    for (int64_t r = 0, j = 0; r < rows; r++)
        for (; j < nnz - k && idx[j] < c->row_ptr[r + 1]; j++) {
            salient[r]++;
            kept[r * cols + c->col_idx[idx[j]]] = 1;
        }
    for (int64_t i = 0; i < cells; i++) key[i] = kept[i] ? -INFINITY : isnan(score[i]) ? INFINITY : fabsf(score[i]);
    rc = spti_topk(key, cells, k, seed ^ 0xa54ff53a5f1d36f1ULL, idx);
    if (rc != SPT_OK) goto done;
    for (int64_t j = 0; j < k; j++) salient[idx[j] / cols]++;
    /* A row (live or ablated before: an ablated row whose gradient turns
     * salient comes back) with fewer than max(1, floor(gamma f0)) salient
     * weights is ablated, f0 being the layer's fan-in without ablation;
     * but never so many that the live rows could not hold the budget (at
     * most cols each): the ones with the most salient weights (lowest
     * index on ties) are kept back, at least one. */
    int64_t f0 = (int64_t)llround((double)budget / (double)rows);
    f0 = f0 < 1 ? 1 : f0 > cols ? cols : f0;
    int64_t least = (int64_t)floor(s->ablation * (double)f0);
    least = least < 1 ? 1 : least;
    int64_t cand = 0, need = (budget + cols - 1) / cols;
    for (int64_t r = 0; r < rows; r++) {
        idx[cand++] = r;
        live += salient[r] >= least;
    }
    need = need < 1 ? 1 : need > cand ? cand : need;
    if (live >= need) {
        for (int64_t r = 0; r < rows; r++) dead[r] = salient[r] < least;
    } else {
        /* Keep the `need` rows of most salient weights (stable insertion
         * sort by count, descending; only when the threshold would take
         * too many). */
        for (int64_t i = 1; i < cand; i++) {
            const int64_t r = idx[i];
            int64_t j = i;
            while (j > 0 && salient[idx[j - 1]] < salient[r]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = r;
        }
        for (int64_t i = 0; i < cand; i++) dead[idx[i]] = i >= need;
        live = need;
    }
    int64_t f = live ? (int64_t)llround((double)budget / (double)live) : 0;
    *target = f < 1 ? 1 : f > cols ? cols : f;
done:
    spti_free(key);
    spti_free(idx);
    spti_free(salient);
    spti_free(kept);
    return rc;
}

/* ---- invariant -------------------------------------------------------------- */

int spti_structure_check(const spti_structure *s, const spti_param *p, int64_t fanin) {
    if (p->kind != SPTI_PARAM_SPARSE || !spti_structure_by_row(s)) return SPT_OK;
    const spt_csr *c = p->csr;
    if (s->kind == SPT_STRUCTURE_FANIN) {
        int64_t f = fanin;
        for (int64_t r = 0; r < c->rows && f < 0; r++)
            if (c->row_ptr[r + 1] > c->row_ptr[r]) f = c->row_ptr[r + 1] - c->row_ptr[r];
        for (int64_t r = 0; r < c->rows; r++)
            if (c->row_ptr[r + 1] - c->row_ptr[r] != f && c->row_ptr[r + 1] != c->row_ptr[r])
                return spti_fail(SPT_ERR_INTERNAL, "%s: row %lld holds %lld entries, fan-in %lld", p->name,
                                 (long long)r, (long long)(c->row_ptr[r + 1] - c->row_ptr[r]), (long long)f);
        return SPT_OK;
    }
    for (int64_t r = 0; r < c->rows; r++) {
        int64_t group = -1, count = 0;
        for (int64_t j = c->row_ptr[r]; j < c->row_ptr[r + 1]; j++) {
            const int64_t g = c->col_idx[j] / s->m;
            count = g == group ? count + 1 : 1;
            group = g;
            if (count > s->n)
                return spti_fail(SPT_ERR_INTERNAL, "%s: row %lld, group %lld holds more than %lld entries", p->name,
                                 (long long)r, (long long)g, (long long)s->n);
        }
    }
    return SPT_OK;
}
