/*
 * The drop step of SET, RigL and SNFS: the k active weights of smallest |w|.
 *
 * A histogram of |w| over 2^15 order buckets (the top bits of the float)
 * finds the bucket holding the k-th smallest; only entries up to and
 * including that bucket go to the exact selection (spti_bottomk), so the
 * selection runs on about k entries instead of all nnz. The result is the
 * exact bottom-k: every entry of a lower bucket is smaller than every entry
 * of a higher one.
 */
#include "methods.h"

int spti_drop_by_magnitude(const float *values, int64_t n, int64_t k, uint64_t seed, int64_t *idx) {
    if (k < 0 || k > n)
        return spti_fail(SPT_ERR_SIZE, "%s: k (%lld) must be in [0, %lld]", __func__, (long long)k, (long long)n);
    if (k == 0) return SPT_OK;
    const uint32_t nan_bucket = SPTI_ABS_BUCKETS - 1; /* NaN ranks as the largest magnitude */
    int64_t *hist = spti_calloc_or_fail(SPTI_ABS_BUCKETS, sizeof(int64_t), "drop histogram");
    if (!hist) return SPT_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) hist[spti_abs_bucket(values[i], nan_bucket)]++;
    /* Smallest edge bucket e with count(bucket <= e) >= k. */
    int64_t below = 0;
    uint32_t edge = 0;
    for (;; edge++) {
        below += hist[edge];
        if (below >= k) break;
    }
    spti_free(hist);

    float *cand = spti_alloc(below, sizeof(float));
    int64_t *cand_idx = spti_alloc(below, sizeof(int64_t));
    int64_t *pick = spti_alloc(k, sizeof(int64_t));
    int rc = SPT_OK;
    if (!cand || !cand_idx || !pick) {
        rc = spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %lld candidates", __func__, (long long)below);
        goto done;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (spti_abs_bucket(values[i], nan_bucket) <= edge) {
            cand[m] = isnan(values[i]) ? INFINITY : fabsf(values[i]);
            cand_idx[m++] = i;
        }
    rc = spti_bottomk(cand, m, k, seed, pick);
    if (rc == SPT_OK)
        for (int64_t j = 0; j < k; j++) idx[j] = cand_idx[pick[j]]; /* pick is increasing, so idx is */
done:
    spti_free(cand);
    spti_free(cand_idx);
    spti_free(pick);
    return rc;
}
