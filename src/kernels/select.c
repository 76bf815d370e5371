/*
 * Exact top-k / bottom-k selection in expected linear time.
 *
 * Every entry gets a 64-bit rank key: the high 32 bits order the scores
 * (NaN lowest, -0 == +0), the low 32 bits are a hash of (seed, index) that
 * breaks ties in a seeded pseudo-random but reproducible way; the index
 * itself breaks the (rare) hash collisions, so the order is total. Quickselect
 * (median-of-three pivots, depth-limited: introselect falls back to heap
 * selection) finds the k-th best key; one scan then emits, in increasing
 * index order, every entry ranked at least as high.
 *
 * Below it, the selection by threshold (spti_select_largest) that drop and
 * grow use, which breaks its ties with the former.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels.h"

typedef struct {
    uint64_t key;
    int64_t idx;
} item;

static uint64_t mix(uint64_t seed, uint64_t i) {
    return spti_mix64(seed ^ (i * 0x9e3779b97f4a7c15ULL) ^ 0x5851f42d4c957f2dULL);
}

/* Monotone map float -> uint32 with NaN below everything (0) and both zeros
 * equal. Larger score, larger code. */
static uint32_t order_code(float s) {
    /* Finite and infinite codes are >= 0x007fffff; NaN's 0 stays below. */
    return isnan(s) ? 0 : spti_float_order_key(s);
}

/* a ranks strictly before (better than) b. */
static inline bool better(const item *a, const item *b) {
    return a->key > b->key || (a->key == b->key && a->idx < b->idx);
}

static inline void swap_items(item *a, item *b) {
    item t = *a;
    *a = *b;
    *b = t;
}

/* Heap selection fallback: move the k best of it[0..n) to the front,
 * O(n log k). Used only when quickselect's pivots keep failing. */
static void sift_down(item *h, int64_t n, int64_t i) {
    for (;;) { /* min-heap on "better": the root is the worst kept item */
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        swap_items(&h[i], &h[w]);
        i = w;
    }
}
static void heap_select(item *it, int64_t n, int64_t k) {
    for (int64_t i = k / 2; i-- > 0;) sift_down(it, k, i);
    for (int64_t i = k; i < n; i++)
        if (better(&it[i], &it[0])) {
            swap_items(&it[i], &it[0]);
            sift_down(it, k, 0);
        }
}

/* Rearrange it[0..n) so that it[0..k) are the k best (unordered); 1 <= k <= n. */
static void select_best(item *it, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n; /* the k-th best lies in [lo, hi) */
    int budget = 2 * 64;
    while (hi - lo > 16) {
        if (budget-- == 0) {
            heap_select(it + lo, hi - lo, k - lo);
            return;
        }
        /* Median of three as pivot, moved to lo. */
        int64_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (better(&it[mid], &it[lo])) swap_items(&it[mid], &it[lo]);
        if (better(&it[last], &it[lo])) swap_items(&it[last], &it[lo]);
        if (better(&it[last], &it[mid])) swap_items(&it[last], &it[mid]);
        swap_items(&it[lo], &it[mid]);
        const item pivot = it[lo];
        /* Hoare partition: better-than-pivot to the left. Keys are distinct. */
        int64_t i = lo, j = hi;
        for (;;) {
            do i++;
            while (i < hi && better(&it[i], &pivot));
            do j--;
            while (better(&pivot, &it[j]));
            if (i >= j) break;
            swap_items(&it[i], &it[j]);
        }
        swap_items(&it[lo], &it[j]); /* pivot at its final rank j */
        if (j == k - 1 || j == k) return;
        if (j > k) hi = j;
        else lo = j + 1;
    }
    /* Small range: insertion sort it. */
    for (int64_t i = lo + 1; i < hi; i++) {
        item x = it[i];
        int64_t j = i;
        while (j > lo && better(&x, &it[j - 1])) {
            it[j] = it[j - 1];
            j--;
        }
        it[j] = x;
    }
}

static int select_k(const char *fn, const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx,
                    float sign) {
    if (n < 0 || k < 0 || k > n)
        return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) must be in [0, n] with n (%lld) >= 0", fn, (long long)k,
                         (long long)n);
    if (k == 0) return SPT_OK;
    if (k == n) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        return SPT_OK;
    }
    item *it = spti_alloc_or_fail(n, sizeof(item), "top-k workspace");
    if (!it) return SPT_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        it[i].key = ((uint64_t)order_code(sign * score[i]) << 32) | (mix(seed, (uint64_t)i) >> 32);
        it[i].idx = i;
    }
    select_best(it, n, k);
    /* Threshold: the worst of the k best. */
    item thr = it[0];
    for (int64_t i = 1; i < k; i++)
        if (better(&thr, &it[i])) thr = it[i];
    /* Recompute keys in index order so the output comes out sorted. */
    int64_t m = 0;
    for (int64_t i = 0; i < n && m < k; i++) {
        item x = {((uint64_t)order_code(sign * score[i]) << 32) | (mix(seed, (uint64_t)i) >> 32), i};
        if (!better(&thr, &x)) idx[m++] = i;
    }
    spti_free(it);
    return m == k ? SPT_OK : spti_fail(SPT_ERR_INTERNAL, "%s: selected %lld of %lld", fn, (long long)m, (long long)k);
}

int spti_topk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    return select_k("top-k", score, n, k, seed, idx, 1.0f);
}
int spti_bottomk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    return select_k("bottom-k", score, n, k, seed, idx, -1.0f);
}

/* ==== selection by threshold ==================================================== */

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


enum { BUCKETS = 1 << 16 };

/* Monotone float -> uint32 (no NaN; -0 == +0): larger key, larger code. */

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
