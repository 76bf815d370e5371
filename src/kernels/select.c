/* Exact top-k / bottom-k selection with a seeded deterministic tie-break.
 * (Sort-based first version; see the kernel notes for the linear-time one.) */
#include <math.h>
#include <stdlib.h>

#include "kernels.h"

typedef struct {
    float key;
    uint64_t tie;
    int64_t idx;
} item;

static uint64_t mix(uint64_t seed, uint64_t i) {
    uint64_t z = seed ^ (i * 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int by_rank(const void *a, const void *b) { /* larger key first, then tie */
    const item *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return 0;
}
static int by_index(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int select_k(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx, float sign) {
    if (n < 0 || k < 0 || k > n) return spti_fail(SPT_ERR_SIZE, "top-k: k (%lld) must be in [0, n=%lld]", (long long)k, (long long)n);
    if (k == 0) return SPT_OK;
    item *it = spti_alloc_or_fail(n, sizeof(item), "top-k workspace");
    if (!it) return SPT_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        float s = score[i];
        it[i].key = isnan(s) ? -INFINITY : sign * s;
        it[i].tie = mix(seed, (uint64_t)i);
        it[i].idx = i;
    }
    qsort(it, (size_t)n, sizeof(item), by_rank);
    for (int64_t i = 0; i < k; i++) idx[i] = it[i].idx;
    qsort(idx, (size_t)k, sizeof(int64_t), by_index);
    spti_free(it);
    return SPT_OK;
}

int spti_topk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    return select_k(score, n, k, seed, idx, 1.0f);
}
int spti_bottomk(const float *score, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    return select_k(score, n, k, seed, idx, -1.0f);
}
