/* Sampled growth candidates (grow_sample.h): the gradient at a sample of
 * positions (SDDMM, or the exact path's blocked dense product) and the
 * growth selection over the sample. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "grow_collector.h"
#include "grow_sample.h"

int spti_grow_sample_alloc(int64_t rows, int64_t cols, int64_t n, spti_grow_sample **out) {
    *out = NULL;
    spti_grow_sample *s = spti_calloc(1, sizeof *s);
    int64_t *row_ptr = spti_calloc(rows + 1, sizeof(int64_t));
    int32_t *col_idx = spti_alloc(n > 0 ? n : 1, sizeof(int32_t));
    if (!s || !row_ptr || !col_idx) {
        spti_free(s);
        spti_free(row_ptr);
        spti_free(col_idx);
        return spti_fail(SPT_ERR_NOMEM, "growth sample: out of memory for %lld positions", (long long)n);
    }
    *s = (spti_grow_sample){.rows = rows, .cols = cols, .n = n, .row_ptr = row_ptr, .col_idx = col_idx};
    *out = s;
    return SPT_OK;
}

void spti_grow_sample_destroy(spti_grow_sample *s) {
    if (!s) return;
    spti_free(s->row_ptr);
    spti_free(s->col_idx);
    spti_free(s);
}

void spti_sample_grad_destroy(spti_sample_grad *g) {
    if (!g) return;
    spti_free(g->grad);
    spti_free(g->active);
    spti_free(g);
}

/* out[j] = dY[r] . X[c] for every entry j = (r, c) of the pattern (row_ptr,
 * col_idx) of a rows x cols matrix, by the sparse backward's SDDMM kernels
 * (one thread per entry, in a fixed order: the same values for any thread
 * count). Grouped: each group's rows against its block of X, through a
 * pattern view whose offsets start at 0. */
static int sddmm_pattern(int64_t rows, int64_t cols, const int64_t *row_ptr, const int32_t *col_idx, const float *dy,
                         const float *X, int64_t ncols, int64_t groups, float *out) {
    if (groups <= 1) {
        spt_csr v = {.rows = rows, .cols = cols, .nnz = row_ptr[rows], .capacity = row_ptr[rows],
                     .row_ptr = (int64_t *)row_ptr, .col_idx = (int32_t *)col_idx, .ndim = 2};
        if (v.nnz > 0) spti_sddmm(&v, dy, X, ncols, out, false);
        return SPT_OK;
    }
    const int64_t R = rows / groups;
    int64_t *rp = spti_alloc_or_fail(R + 1, sizeof *rp, "growth sample: group offsets");
    if (!rp) return SPT_ERR_NOMEM;
    for (int64_t q = 0; q < groups; q++) {
        const int64_t base = row_ptr[q * R];
        for (int64_t i = 0; i <= R; i++) rp[i] = row_ptr[q * R + i] - base;
        spt_csr v = {.rows = R, .cols = cols, .nnz = rp[R], .capacity = rp[R], .row_ptr = rp,
                     .col_idx = (int32_t *)col_idx + base, .ndim = 2};
        if (v.nnz > 0) spti_sddmm(&v, dy + q * R * ncols, X + q * cols * ncols, ncols, out + base, false);
    }
    spti_free(rp);
    return SPT_OK;
}

/* Rows [r0, r1) of the dense gradient, block[(r - r0) * cols + c]: read
 * off the active entries and the sampled positions. */
static void gather_block(const spt_csr *m, const spti_grow_sample *s, int64_t r0, int64_t r1, const float *block,
                         spti_sample_grad *g) {
    const int64_t cols = m->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = block + (r - r0) * cols;
        for (int64_t j = m->row_ptr[r]; j < m->row_ptr[r + 1]; j++) g->active[j] = row[m->col_idx[j]];
        for (int64_t i = s->row_ptr[r]; i < s->row_ptr[r + 1]; i++) g->grad[i] = row[s->col_idx[i]];
    }
}

/* The dense gradient in the calls of the layers' dense-gradient path
 * (nn/linear.c spti_weight_grad_gemm / _grouped): row blocks of
 * spti_grad_block_rows rows, or one product per group; so the same values. */
static int dense_product(const spt_csr *m, const spti_grow_sample *s, const float *dy, const float *X, int64_t ncols,
                         int64_t groups, spti_sample_grad *g) {
    const int64_t rows = m->rows, cols = m->cols;
    const int64_t B = groups > 1 ? rows / groups : spti_grad_block_rows(cols);
    float *block = spti_alloc_or_fail((B < rows ? B : rows) * cols, sizeof(float), "growth sample: gradient block");
    if (!block) return SPT_ERR_NOMEM;
    int rc = SPT_OK;
    for (int64_t r0 = 0; r0 < rows && rc == SPT_OK; r0 += B) {
        const int64_t nb = rows - r0 < B ? rows - r0 : B;
        const float *Xq = groups > 1 ? X + (r0 / B) * cols * ncols : X;
        rc = spti_gemm_dw(dy + r0 * ncols, nb, Xq, cols, ncols, block, false);
        if (rc == SPT_OK) gather_block(m, s, r0, r0 + nb, block, g);
    }
    spti_free(block);
    return rc;
}

/* The dense gradient as spti_grow_collect streams it (the linear layer's
 * exact path): the same row blocks on the same lanes, one product per
 * block inside the parallel region (single-threaded with the OpenMP
 * OpenBLAS, as there); so the same values for the thread count. */
static int dense_product_lanes(const spt_csr *m, const spti_grow_sample *s, const float *dy, const float *X,
                               int64_t ncols, spti_sample_grad *g) {
    const int lanes = spti_grow_lanes(m->rows, m->cols);
    if (lanes == 1) return dense_product(m, s, dy, X, ncols, 1, g);
    const int64_t rows = m->rows, cols = m->cols, B = spti_grad_block_rows(cols), nblk = (rows + B - 1) / B;
    float *blocks = spti_alloc_or_fail((int64_t)lanes * B * cols, sizeof(float), "growth sample: gradient blocks");
    if (!blocks) return SPT_ERR_NOMEM;
    int rc[64] = {SPT_OK};
    char err[64][160];
    const int used = lanes < 64 ? lanes : 64;
#pragma omp parallel num_threads(used)
    {
#ifdef _OPENMP
        /* The runtime may give fewer threads than asked: every lane runs. */
        for (int L = omp_get_thread_num(); L < used; L += omp_get_num_threads())
            for (int64_t b = L; b < nblk && rc[L] == SPT_OK; b += used) {
                const int64_t r0 = b * B, nb = rows - r0 < B ? rows - r0 : B;
                float *block = blocks + (int64_t)L * B * cols;
                rc[L] = spti_gemm_dw(dy + r0 * ncols, nb, X, cols, ncols, block, false);
                if (rc[L] == SPT_OK) gather_block(m, s, r0, r0 + nb, block, g);
                else snprintf(err[L], sizeof err[L], "%s", spt_last_error());
            }
#endif
    }
    spti_free(blocks);
    for (int L = 0; L < used; L++)
        if (rc[L] != SPT_OK) return spti_fail(rc[L], "%s", err[L]);
    return SPT_OK;
}

int spti_sample_gradient(spti_sample_grad **out, const spt_csr *m, const spti_grow_sample *s, const float *dy,
                         const float *X, int64_t ncols, int64_t groups, bool as_collector) {
    spti_sample_grad_destroy(*out);
    *out = NULL;
    if (s->rows != m->rows || s->cols != m->cols || (groups > 1 && m->rows % groups != 0))
        return spti_fail(SPT_ERR_STATE, "growth sample: drawn for %lld x %lld, the weight is %lld x %lld",
                         (long long)s->rows, (long long)s->cols, (long long)m->rows, (long long)m->cols);
    spti_sample_grad *g = spti_calloc(1, sizeof *g);
    if (g) {
        g->grad = spti_alloc(s->n > 0 ? s->n : 1, sizeof(float));
        g->active = spti_alloc(m->nnz > 0 ? m->nnz : 1, sizeof(float));
    }
    if (!g || !g->grad || !g->active) {
        spti_sample_grad_destroy(g);
        return spti_fail(SPT_ERR_NOMEM, "growth sample: out of memory for the gradient at %lld positions",
                         (long long)s->n);
    }
    g->at = s;
    g->n = s->n;
    g->nnz = m->nnz;
    g->dense = spti_grow_sample_dense(m->rows * m->cols, m->nnz, s->n);
    int rc;
    if (g->dense) {
        rc = as_collector && groups <= 1 ? dense_product_lanes(m, s, dy, X, ncols, g)
                                         : dense_product(m, s, dy, X, ncols, groups, g);
    } else {
        rc = sddmm_pattern(s->rows, s->cols, s->row_ptr, s->col_idx, dy, X, ncols, groups, g->grad);
        if (rc == SPT_OK) rc = sddmm_pattern(m->rows, m->cols, m->row_ptr, m->col_idx, dy, X, ncols, groups, g->active);
    }
    if (rc != SPT_OK) {
        spti_sample_grad_destroy(g);
        return rc;
    }
    *out = g;
    return SPT_OK;
}

static float grow_key(float v) {
    const float a = fabsf(v);
    return isnan(a) ? -1.0f : a; /* NaN ranks below every number */
}

int spti_grow_by_sample(const spt_csr *m, const int64_t *drop, const spti_sample_grad *g, int64_t k, uint64_t seed,
                        int64_t *grown) {
    if (k == 0) return SPT_OK;
    const spti_grow_sample *s = g ? g->at : NULL;
    if (!s || g->nnz != m->nnz || s->rows != m->rows || s->cols != m->cols)
        return spti_fail(SPT_ERR_STATE, "drop/grow: the sampled gradient was not computed for this weight");
    const int64_t n = s->n + k, cols = m->cols;
    float *key = spti_alloc(n, sizeof(float));
    int64_t *pos = spti_alloc(n, sizeof(int64_t)), *pick = spti_alloc(k, sizeof(int64_t));
    if (!key || !pos || !pick) {
        spti_free(key);
        spti_free(pos);
        spti_free(pick);
        return spti_fail(SPT_ERR_NOMEM, "drop/grow: out of memory for %lld sampled candidates", (long long)n);
    }
    /* Row by row, the sampled columns merged with the dropped entries'
     * (both increasing; a sample holds no active position): the candidates
     * in position order. */
    int64_t out = 0, d = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        int64_t i = s->row_ptr[r];
        const int64_t iend = s->row_ptr[r + 1], jend = m->row_ptr[r + 1];
        if (i == iend && (d == k || drop[d] >= jend)) continue;
        while (i < iend || (d < k && drop[d] < jend)) {
            const bool take_drop = d < k && drop[d] < jend && (i == iend || m->col_idx[drop[d]] < s->col_idx[i]);
            if (take_drop) {
                key[out] = grow_key(g->active[drop[d]]);
                pos[out++] = r * cols + m->col_idx[drop[d++]];
            } else {
                key[out] = grow_key(g->grad[i]);
                pos[out++] = r * cols + s->col_idx[i++];
            }
        }
    }
    int rc = out == n ? spti_select_largest(key, n, k, seed, pick)
                      : spti_fail(SPT_ERR_INTERNAL, "drop/grow: %lld sampled candidates listed, %lld expected",
                                  (long long)out, (long long)n);
    if (rc == SPT_OK)
        for (int64_t j = 0; j < k; j++) grown[j] = pos[pick[j]];
    spti_free(key);
    spti_free(pos);
    spti_free(pick);
    return rc;
}
