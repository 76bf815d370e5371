/*
 * The initial sparse topology of the dynamic methods: how many nonzeros
 * each weight gets (allocator or explicit densities, keep-dense flags) and
 * where they go (a uniform random subset per layer), then the conversion to
 * SPARSE and the optional sparse-aware re-initialisation.
 */
#include <math.h>
#include <string.h>

#include "../nn/layers.h"
#include "method_config.h"
#include "dst.h"

/* The allocator over the weights without a density of their own (param
 * density in (0, 1), from the description): those keep theirs and are
 * paid from the budget, (1 - S) x all weights; the others share the rest
 * as the allocator spreads it. Without such weights: the allocator alone.
 * With SPT_MP_EPSILON > 0 there is no budget: every layer without its own
 * density gets min(1, epsilon x its score). */
static int allocate_around_fixed(const spt_method_config *cfg, spti_param *const *weights, int n, int32_t *ndim,
                                 int64_t *shape, uint8_t *keep, double *density, int64_t *nnz) {
    const int dist = (int)cfg->value[SPT_MP_DISTRIBUTION];
    const double S = cfg->value[SPT_MP_SPARSITY], eps = cfg->value[SPT_MP_EPSILON];
    if (eps > 0.0) { /* no global budget: each layer from epsilon, or its own density */
        SPTI_TRY(spt_sparsity_allocate_epsilon(dist, eps, n, ndim, shape, keep, density, nnz, NULL));
        for (int l = 0; l < n; l++) {
            const double d = weights[l]->density;
            if (!(d > 0.0 && d < 1.0)) continue;
            density[l] = d;
            nnz[l] = (int64_t)llround(d * (double)(weights[l]->rows * weights[l]->cols));
            if (nnz[l] < 1) nnz[l] = 1;
        }
        return SPT_OK;
    }
    int n_free = 0;
    double total = 0, fixed = 0, total_free = 0;
    for (int l = 0; l < n; l++) {
        const double size = (double)(weights[l]->rows * weights[l]->cols), d = weights[l]->density;
        total += size;
        if (d > 0.0 && d < 1.0) {
            density[l] = d;
            nnz[l] = (int64_t)llround(d * size);
            if (nnz[l] < 1) nnz[l] = 1;
            fixed += (double)nnz[l];
        } else {
            total_free += size;
            n_free++;
        }
    }
    if (n_free == n) return spt_sparsity_allocate(dist, S, n, ndim, shape, keep, density, nnz, NULL);
    const double budget = (1.0 - S) * total - fixed;
    if (budget < 0.0 || (n_free > 0 && budget > total_free))
        return spti_fail(SPT_ERR_INVALID,
                         "sparsity %g cannot be met: the layers with their own density hold %.0f of the %.0f weights "
                         "it keeps",
                         S, fixed, (1.0 - S) * total);
    if (n_free == 0) return SPT_OK;
    /* Compact the free layers (in place: l >= j), allocate, spread back. */
    int64_t *nnz_free = spti_alloc(n_free, sizeof *nnz_free);
    double *d_free = spti_alloc(n_free, sizeof *d_free);
    if (!nnz_free || !d_free) {
        spti_free(nnz_free);
        spti_free(d_free);
        return spti_fail(SPT_ERR_NOMEM, "topology plan: out of memory");
    }
    int j = 0;
    for (int l = 0; l < n; l++) {
        const double d = weights[l]->density;
        if (d > 0.0 && d < 1.0) continue;
        ndim[j] = ndim[l];
        memmove(&shape[4 * j], &shape[4 * l], 4 * sizeof *shape);
        keep[j] = keep[l];
        j++;
    }
    int rc = spt_sparsity_allocate(dist, 1.0 - budget / total_free, n_free, ndim, shape, keep, d_free, nnz_free, NULL);
    j = 0;
    for (int l = 0; rc == SPT_OK && l < n; l++) {
        const double d = weights[l]->density;
        if (d > 0.0 && d < 1.0) continue;
        density[l] = d_free[j];
        nnz[l] = nnz_free[j++];
    }
    spti_free(nnz_free);
    spti_free(d_free);
    return rc;
}

int spti_topology_plan(const spt_method_config *cfg, spti_param *const *weights, int n_weights, int64_t *nnz_out,
                       double *density_out) {
    if (n_weights < 1) return spti_fail(SPT_ERR_SIZE, "%s: the model has no weight layers to sparsify", __func__);
    if (cfg->n_densities > 0 && cfg->n_densities != n_weights)
        return spti_fail(SPT_ERR_SIZE, "%s: the configuration gives %lld densities but the model has %d weight layers",
                         __func__, (long long)cfg->n_densities, n_weights);
    int32_t *ndim = spti_alloc(n_weights, sizeof(int32_t));
    int64_t *shape = spti_calloc((int64_t)n_weights * 4, sizeof(int64_t));
    uint8_t *keep = spti_calloc(n_weights, 1);
    double *density = spti_alloc(n_weights, sizeof(double));
    int rc = SPT_OK;
    if (!ndim || !shape || !keep || !density) {
        rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory", __func__);
        goto done;
    }
    for (int l = 0; l < n_weights; l++) {
        const spti_param *p = weights[l];
        if (!p) {
            rc = spti_fail(SPT_ERR_NULL, "%s: weight %d is NULL", __func__, l);
            goto done;
        }
        if (p->ndim != 2 && p->ndim != 4) {
            rc = spti_fail(SPT_ERR_INVALID, "%s: weight %s has %d dims; only 2-D and 4-D weights can be sparsified",
                           __func__, p->name, p->ndim);
            goto done;
        }
        ndim[l] = p->ndim;
        for (int d = 0; d < p->ndim; d++) shape[4 * l + d] = p->shape[d];
    }
    keep[0] = cfg->value[SPT_MP_DENSE_FIRST] != 0.0;
    keep[n_weights - 1] |= cfg->value[SPT_MP_DENSE_LAST] != 0.0;
    for (int l = 0; l < n_weights; l++) keep[l] |= weights[l]->density == 1.0; /* pinned dense by the description */
    if (cfg->n_densities > 0) {
        for (int l = 0; l < n_weights; l++) density[l] = keep[l] ? 1.0 : cfg->densities[l];
        for (int l = 0; l < n_weights; l++)
            if (weights[l]->density > 0.0) density[l] = weights[l]->density;
        rc = spt_sparsity_allocate_custom(n_weights, ndim, shape, density, nnz_out, NULL);
    } else {
        rc = allocate_around_fixed(cfg, weights, n_weights, ndim, shape, keep, density, nnz_out);
    }
done:
    spti_free(ndim);
    spti_free(shape);
    spti_free(keep);
    if (rc == SPT_OK && density_out) memcpy(density_out, density, (size_t)n_weights * sizeof *density);
    spti_free(density);
    return rc;
}

void spti_sample_bits(spti_rng *rng, int64_t n, int64_t k, uint64_t *bits) {
    int64_t words = (n + 63) / 64;
    /* Draw the smaller of the subset and its complement by rejection: at
     * most half the bits are ever set, so the expected draws are < 2 min(k, n-k). */
    bool invert = k > n / 2;
    int64_t want = invert ? n - k : k;
    memset(bits, 0, (size_t)words * sizeof(uint64_t));
    for (int64_t got = 0; got < want;) {
        uint64_t i = spti_rng_below(rng, (uint64_t)n);
        uint64_t b = (uint64_t)1 << (i & 63);
        if (!(bits[i >> 6] & b)) {
            bits[i >> 6] |= b;
            got++;
        }
    }
    if (invert) {
        for (int64_t w = 0; w < words; w++) bits[w] = ~bits[w];
        if (n & 63) bits[words - 1] &= ((uint64_t)1 << (n & 63)) - 1;
    }
}

/* Positions of the set bits, increasing. */
static void bits_to_positions(const uint64_t *bits, int64_t n, int64_t *pos) {
    int64_t m = 0;
    for (int64_t w = 0; w < (n + 63) / 64; w++)
        for (uint64_t b = bits[w]; b; b &= b - 1) pos[m++] = w * 64 + __builtin_ctzll(b);
}

/* a[0..n) sorted increasingly, keys in [0, 2^bits): LSD radix sort with
 * 11-bit digits through tmp[n]. */
static void radix_sort(int64_t *a, int64_t *tmp, int64_t n, int bits) {
    enum { D = 11, B = 1 << D };
    int64_t count[B];
    for (int shift = 0; shift < bits; shift += D) {
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; i++) count[(a[i] >> shift) & (B - 1)]++;
        for (int64_t d = 0, sum = 0; d < B; d++) {
            const int64_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) tmp[count[(a[i] >> shift) & (B - 1)]++] = a[i];
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

int spti_sample_sorted(spti_rng *rng, int64_t n, int64_t k, int64_t *pos) {
    if (k < 0 || k > n) return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) not in [0, n = %lld]", __func__, (long long)k,
                                         (long long)n);
    if (k == 0) return SPT_OK;
    if (n <= SPTI_SAMPLE_BITMAP_MAX || k >= n / 16) { /* the bit set costs at most what the output does */
        uint64_t *bits = spti_alloc_or_fail((n + 63) / 64, sizeof(uint64_t), "sample bit set");
        if (!bits) return SPT_ERR_NOMEM;
        spti_sample_bits(rng, n, k, bits);
        bits_to_positions(bits, n, pos);
        spti_free(bits);
        return SPT_OK;
    }
    /* k < n / 16: draw k, sort, drop repeats, draw the missing ones, until
     * k distinct (a repeat has probability < 1/16: few rounds). */
    int64_t *tmp = spti_alloc_or_fail(k, sizeof *tmp, "sample scratch");
    if (!tmp) return SPT_ERR_NOMEM;
    const int bits = 64 - __builtin_clzll((uint64_t)(n - 1));
    int64_t have = 0;
    while (have < k) {
        for (int64_t i = have; i < k; i++) pos[i] = (int64_t)spti_rng_below(rng, (uint64_t)n);
        radix_sort(pos, tmp, k, bits);
        have = 1;
        for (int64_t i = 1; i < k; i++)
            if (pos[i] != pos[have - 1]) pos[have++] = pos[i];
    }
    spti_free(tmp);
    return SPT_OK;
}

static int sparsify_layer(spti_param *p, int64_t nnz, bool sparse_init, spti_rng *rng, const spti_structure *s) {
    int64_t *pos = spti_alloc(nnz, sizeof(int64_t));
    if (!pos) return spti_fail(SPT_ERR_NOMEM, "topology init: out of memory for the %lld positions of %s",
                               (long long)nnz, p->name);
    int rc = s && spti_structure_by_row(s)     ? spti_structure_sample(s, p->rows, p->cols, nnz, rng, pos)
             : s && spti_structure_by_kernel(s, p) ? spti_structure_kernel_sample(spti_structure_group(s, p),
                                                                                  p->rows * p->cols, nnz, rng, pos)
                                                   : spti_sample_sorted(rng, p->rows * p->cols, nnz, pos);
    /* A pending init that the sparse-aware one replaces is never drawn. */
    if (sparse_init && spti_param_unallocated(p)) p->init_pending = false;
    if (rc == SPT_OK) rc = spti_param_sparsify(p, pos, nnz);
    if (rc == SPT_OK && sparse_init && !p->loaded) rc = spti_init_kaiming(p, rng, true);
    spti_free(pos);
    return rc;
}

int spti_topology_init(spti_param **weights, int n_weights, const int64_t *nnz, bool sparse_init, spti_rng *rng,
                       const spti_structure *structure) {
    for (int l = 0; l < n_weights; l++) {
        spti_param *p = weights[l];
        int64_t cells = p->rows * p->cols;
        if (nnz[l] < 1 || nnz[l] > cells)
            return spti_fail(SPT_ERR_SIZE, "%s: %lld nonzeros for %s with %lld weights", __func__, (long long)nnz[l],
                             p->name, (long long)cells);
        spti_rng layer_rng; /* split even for dense layers: masks do not shift when one is kept dense */
        spti_rng_split(rng, &layer_rng);
        /* Loaded sparse from a file (spt_model_load_safetensors): it keeps
         * its topology. */
        if (nnz[l] == cells || (p->kind == SPTI_PARAM_SPARSE && p->loaded)) continue;
        SPTI_TRY(sparsify_layer(p, nnz[l], sparse_init, &layer_rng, structure));
    }
    return SPT_OK;
}
