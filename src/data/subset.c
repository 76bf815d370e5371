/* Copies of parts of a dataset: a contiguous range, or a seeded random
 * holdout and the rest. */
#include <string.h>

#include "dataset.h"

int spti_dataset_take(const spt_dataset *ds, const int64_t *idx, int64_t n, const char *fn, spt_dataset **out) {
    spt_dataset *d;
    SPTI_TRY(spti_dataset_new(n, ds->c, ds->h, ds->w, ds->classes, ds->is_u8, fn, &d));
    size_t bytes = (size_t)ds->feat * (ds->is_u8 ? 1 : sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        if (ds->is_u8)
            memcpy(d->u8 + i * ds->feat, ds->u8 + idx[i] * ds->feat, bytes);
        else
            memcpy(d->f32 + i * ds->feat, ds->f32 + idx[i] * ds->feat, bytes);
        d->labels[i] = ds->labels[idx[i]];
    }
    memcpy(d->mean, ds->mean, (size_t)ds->c * sizeof(float));
    memcpy(d->std, ds->std, (size_t)ds->c * sizeof(float));
    spti_dataset_update_affine(d);
    *out = d;
    return SPT_OK;
}

int spt_dataset_subset(const spt_dataset *ds, int64_t start, int64_t count, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(ds);
    if (start < 0 || count < 1 || start > ds->n - count)
        return spti_fail(SPT_ERR_SIZE, "%s: range start %lld count %lld is not inside 0..%lld (count >= 1)",
                         __func__, (long long)start, (long long)count, (long long)ds->n);
    int64_t *idx = spti_alloc_or_fail(count, sizeof(int64_t), "subset indices");
    if (idx == NULL) return SPT_ERR_NOMEM;
    for (int64_t i = 0; i < count; i++) idx[i] = start + i;
    int rc = spti_dataset_take(ds, idx, count, __func__, out);
    spti_free(idx);
    return rc;
}

int spt_dataset_split_random(const spt_dataset *ds, int64_t n_holdout, uint64_t seed, spt_dataset **rest,
                             spt_dataset **holdout) {
    SPTI_CHECK_NULL(rest);
    SPTI_CHECK_NULL(holdout);
    *rest = *holdout = NULL;
    SPTI_CHECK_NULL(ds);
    if (n_holdout < 1 || n_holdout > ds->n - 1)
        return spti_fail(SPT_ERR_SIZE, "%s: n_holdout (%lld) must be in 1..%lld", __func__, (long long)n_holdout,
                         (long long)(ds->n - 1));
    int64_t n = ds->n;
    int64_t *perm = spti_alloc_or_fail(n, sizeof(int64_t), "split permutation");
    uint8_t *pick = spti_calloc_or_fail(n, 1, "split marks");
    if (perm == NULL || pick == NULL) {
        spti_free(perm);
        spti_free(pick);
        return SPT_ERR_NOMEM;
    }
    /* Partial Fisher-Yates draws the holdout; marks then keep both parts in
     * their original order. */
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = 0; i < n_holdout; i++) {
        int64_t j = i + (int64_t)spti_rng_below(&rng, (uint64_t)(n - i));
        int64_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
        pick[perm[i]] = 1;
    }
    int64_t a = 0, h = n - n_holdout; /* rest fills perm[0..), holdout perm[n-n_holdout..) */
    for (int64_t i = 0; i < n; i++) perm[pick[i] ? h++ : a++] = i;
    int rc = spti_dataset_take(ds, perm, n - n_holdout, __func__, rest);
    if (rc == SPT_OK) rc = spti_dataset_take(ds, perm + (n - n_holdout), n_holdout, __func__, holdout);
    if (rc != SPT_OK) {
        spt_dataset_destroy(*rest);
        *rest = NULL;
    }
    spti_free(perm);
    spti_free(pick);
    return rc;
}
