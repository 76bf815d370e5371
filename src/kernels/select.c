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
 */
#include <math.h>
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
