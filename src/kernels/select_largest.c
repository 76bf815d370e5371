/*
 * Exact top-k by threshold, the selection behind drop and grow.
 *
 * The k largest of key[0..n) are every key above v, the k-th largest value,
 * plus as many of the keys equal to v as needed. v is found with a
 * histogram over the top 16 bits of an order-preserving code of the key
 * (one pass) and a three-way quickselect inside the single bucket holding
 * it; the ties at v are chosen by spti_topk over their ranks among the tied
 * keys in index order (seeded hash). So the result depends only on the keys,
 * k and the seed, never on how the candidates were gathered. Only the tied
 * keys and the threshold bucket need workspace beyond the 2^16 histogram.
 */
#include <stdbool.h>
#include <string.h>

#include "kernels.h"

enum { BUCKETS = 1 << 16 };

/* Monotone float -> uint32 (no NaN; -0 == +0): larger key, larger code. */
static uint32_t order_code(float x) { return spti_float_order_key(x); }

static void swap_f(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

/* Three-way partition (larger | equal | smaller): runs of equal keys cost O(n). */
float spti_nth_largest(float *a, int64_t n, int64_t r) {
    int64_t lo = 0, hi = n;
    for (;;) {
        const int64_t mid = lo + (hi - lo) / 2;
        float p0 = a[lo], p1 = a[mid], p2 = a[hi - 1]; /* median of three */
        float pivot = p0 > p1 ? (p1 > p2 ? p1 : (p0 > p2 ? p2 : p0)) : (p0 > p2 ? p0 : (p1 > p2 ? p2 : p1));
        int64_t lt = lo, i = lo, gt = hi; /* [lo,lt) > pivot, [lt,i) == pivot, [gt,hi) < pivot */
        while (i < gt) {
            if (a[i] > pivot) swap_f(&a[lt++], &a[i++]);
            else if (a[i] < pivot) swap_f(&a[i], &a[--gt]);
            else i++;
        }
        if (r < lt) hi = lt;
        else if (r < gt) return pivot;
        else lo = gt;
    }
}

int spti_select_largest(const float *key, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    if (n < 0 || k < 0 || k > n)
        return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) must be in [0, n = %lld]", __func__, (long long)k, (long long)n);
    if (k == 0) return SPT_OK;
    if (k == n) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        return SPT_OK;
    }
    /* 32-bit counts (a 256 KiB table that stays in L2) unless n needs more. */
    const bool wide = n > (int64_t)UINT32_MAX;
    void *hist = spti_calloc_or_fail(BUCKETS, wide ? sizeof(int64_t) : sizeof(uint32_t), "selection histogram");
    if (!hist) return SPT_ERR_NOMEM;
    int64_t *h64 = hist;
    uint32_t *h32 = hist;
    if (wide)
        for (int64_t i = 0; i < n; i++) h64[order_code(key[i]) >> 16]++;
    else
        for (int64_t i = 0; i < n; i++) h32[order_code(key[i]) >> 16]++;
    int64_t above = 0; /* keys in buckets above the edge */
    uint32_t edge = BUCKETS - 1;
    while (above + (wide ? h64[edge] : (int64_t)h32[edge]) < k) above += wide ? h64[edge--] : (int64_t)h32[edge--];
    const int64_t in_edge = wide ? h64[edge] : (int64_t)h32[edge];
    spti_free(hist);

    float *tmp = spti_alloc_or_fail(in_edge, sizeof(float), "selection bucket");
    if (!tmp) return SPT_ERR_NOMEM;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (order_code(key[i]) >> 16 == edge) tmp[m++] = key[i];
    const float v = spti_nth_largest(tmp, m, k - above - 1);
    /* Keys above v: the buckets above the edge and the edge's keys above v;
     * keys equal to v all lie in the edge bucket. */
    int64_t n_gt = above, n_eq = 0;
    for (int64_t i = 0; i < m; i++) {
        n_gt += tmp[i] > v;
        n_eq += tmp[i] == v;
    }
    spti_free(tmp);
    const int64_t want = k - n_gt; /* 1 <= want <= n_eq */
    int64_t *pick = NULL;
    float *zero = NULL;
    if (want < n_eq) {
        pick = spti_alloc(want + 1, sizeof(int64_t)); /* + a sentinel that matches no tie rank */
        zero = spti_calloc(n_eq, sizeof(float));
        if (!pick || !zero) {
            spti_free(pick);
            spti_free(zero);
            return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %lld ties", __func__, (long long)n_eq);
        }
        int rc = spti_topk(zero, n_eq, want, seed, pick); /* equal scores: the seeded hash decides */
        spti_free(zero);
        if (rc != SPT_OK) {
            spti_free(pick);
            return rc;
        }
        pick[want] = -1;
    }
    /* Branch-free: which keys pass is data-dependent (a third of them in a
     * RigL drop), so a branch per key would be mispredicted at random. */
    int64_t out = 0, junk;
    if (!pick) {
        for (int64_t i = 0; i < n; i++) {
            *(out < k ? idx + out : &junk) = i; /* the slot after the last pick is not the caller's */
            out += key[i] >= v;
        }
    } else {
        int64_t tie = 0, p = 0;
        for (int64_t i = 0; i < n; i++) {
            const int64_t eq = key[i] == v, take_eq = eq & (pick[p] == tie);
            *(out < k ? idx + out : &junk) = i;
            out += (key[i] > v) | take_eq;
            p += take_eq;
            tie += eq;
        }
    }
    spti_free(pick);
    return out == k ? SPT_OK
                    : spti_fail(SPT_ERR_INTERNAL, "%s: selected %lld of %lld", __func__, (long long)out, (long long)k);
}
