/* The dataset handle: allocation, shape queries, labels, destruction. */
#include <string.h>

#include "dataset.h"

int spti_dataset_new(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes, bool is_u8, const char *fn,
                     spt_dataset **out) {
    *out = NULL;
    if (n < 1 || c < 1 || h < 1 || w < 1 || classes < 1)
        return spti_fail(SPT_ERR_SIZE, "%s: n, c, h, w, classes (%lld, %lld, %lld, %lld, %lld) must all be >= 1", fn,
                         (long long)n, (long long)c, (long long)h, (long long)w, (long long)classes);
    if (classes > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: classes (%lld) must fit in int32", fn, (long long)classes);
    int64_t dims[4] = {n, c, h, w}, total, feat;
    size_t elem = is_u8 ? sizeof(uint8_t) : sizeof(float);
    /* The float batches built from the pixels must be addressable too. */
    if (!spti_count_elems(dims, 4, sizeof(float), &total) || !spti_count_elems(dims + 1, 3, sizeof(float), &feat))
        return spti_fail(SPT_ERR_SIZE, "%s: %lld x %lld x %lld x %lld pixels overflow", fn, (long long)n,
                         (long long)c, (long long)h, (long long)w);
    spt_dataset *ds = spti_calloc_or_fail(1, sizeof *ds, "dataset");
    if (ds == NULL) return SPT_ERR_NOMEM;
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->classes = classes, ds->feat = feat, ds->is_u8 = is_u8;
    void *pixels = spti_alloc_or_fail(total, elem, "dataset pixels");
    ds->labels = spti_alloc_or_fail(n, sizeof(int32_t), "dataset labels");
    float *norm = spti_alloc_or_fail(4 * c, sizeof(float), "dataset normalisation");
    if (is_u8)
        ds->u8 = pixels;
    else
        ds->f32 = pixels;
    if (pixels == NULL || ds->labels == NULL || norm == NULL) {
        spti_free(norm);
        spt_dataset_destroy(ds);
        return SPT_ERR_NOMEM;
    }
    ds->mean = norm, ds->std = norm + c, ds->mul = norm + 2 * c, ds->add = norm + 3 * c;
    for (int64_t i = 0; i < c; i++) ds->mean[i] = 0.0f, ds->std[i] = 1.0f;
    spti_dataset_update_affine(ds);
    *out = ds;
    return SPT_OK;
}

void spt_dataset_destroy(spt_dataset *ds) {
    if (ds == NULL) return;
    spti_free(ds->u8);
    spti_free(ds->f32);
    spti_free(ds->labels);
    spti_free(ds->mean); /* the block holding mean, std, mul and add */
    spti_free(ds);
}

int spt_dataset_info(const spt_dataset *ds, int64_t *count, int64_t *channels, int64_t *height, int64_t *width,
                     int64_t *classes) {
    SPTI_CHECK_NULL(ds);
    if (count) *count = ds->n;
    if (channels) *channels = ds->c;
    if (height) *height = ds->h;
    if (width) *width = ds->w;
    if (classes) *classes = ds->classes;
    return SPT_OK;
}

int spt_dataset_labels(const spt_dataset *ds, int32_t *labels, int64_t labels_len) {
    SPTI_CHECK_NULL(ds);
    SPTI_CHECK_NULL(labels);
    if (labels_len < ds->n)
        return spti_fail(SPT_ERR_SIZE, "%s: labels_len (%lld) < count (%lld)", __func__, (long long)labels_len,
                         (long long)ds->n);
    memcpy(labels, ds->labels, (size_t)ds->n * sizeof(int32_t));
    return SPT_OK;
}
