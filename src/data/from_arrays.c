/* Datasets copied from caller arrays (example-major N x C x H x W). */
#include <math.h>
#include <string.h>

#include "dataset.h"

/* Labels must lie in 0 .. classes-1; checked before anything is allocated. */
static int check_labels(const int32_t *labels, int64_t n, int64_t classes, const char *fn) {
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return spti_fail(SPT_ERR_INVALID, "%s: labels[%lld] = %d is outside 0..%lld", fn, (long long)i,
                             (int)labels[i], (long long)(classes - 1));
    return SPT_OK;
}

static int from_arrays(spt_dataset **out, const void *images, bool is_u8, const int32_t *labels, int64_t n,
                       int64_t c, int64_t h, int64_t w, int64_t classes, const char *fn) {
    *out = NULL;
    spt_dataset *ds;
    SPTI_TRY(spti_dataset_new(n, c, h, w, classes, is_u8, fn, &ds));
    int rc = check_labels(labels, n, classes, fn);
    if (rc == SPT_OK && !is_u8) {
        const float *f = images;
        for (int64_t i = 0; i < n * ds->feat; i++)
            if (!isfinite(f[i])) {
                rc = spti_fail(SPT_ERR_NONFINITE, "%s: images[%lld] is not finite", fn, (long long)i);
                break;
            }
    }
    if (rc != SPT_OK) {
        spt_dataset_destroy(ds);
        return rc;
    }
    memcpy(is_u8 ? (void *)ds->u8 : (void *)ds->f32, images, (size_t)(n * ds->feat) * (is_u8 ? 1 : sizeof(float)));
    memcpy(ds->labels, labels, (size_t)n * sizeof(int32_t));
    *out = ds;
    return SPT_OK;
}

int spt_dataset_from_float(const float *images, const int32_t *labels, int64_t n, int64_t c,
                           int64_t h, int64_t w, int64_t classes, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(images);
    SPTI_CHECK_NULL(labels);
    return from_arrays(out, images, false, labels, n, c, h, w, classes, __func__);
}

int spt_dataset_from_u8(const uint8_t *images, const int32_t *labels, int64_t n, int64_t c,
                        int64_t h, int64_t w, int64_t classes, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(images);
    SPTI_CHECK_NULL(labels);
    return from_arrays(out, images, true, labels, n, c, h, w, classes, __func__);
}
