/*
 * The drop step of SET, RigL and SNFS: the k active weights of smallest |w|
 * (or, for a user method, of smallest drop score).
 *
 * The exact selection (spti_select_largest) runs on -|w| (NaN as the largest
 * magnitude, like infinity): one histogram pass finds the threshold bucket,
 * a quickselect inside it the threshold, and only the weights tied at the
 * threshold go through the seeded tie-break.
 */
#include "methods.h"

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
