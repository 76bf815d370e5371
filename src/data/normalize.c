/* Per-channel normalisation: statistics of a dataset, and the affine map
 * out = (scale*pixel - mean) / std applied when batches are built. */
#include <math.h>
#include <string.h>

#include "dataset.h"

void spti_dataset_update_affine(spt_dataset *ds) {
    float scale = ds->is_u8 ? 1.0f / 255.0f : 1.0f;
    for (int64_t c = 0; c < ds->c; c++) {
        ds->mul[c] = scale / ds->std[c];
        ds->add[c] = -ds->mean[c] / ds->std[c];
    }
}

/* Byte pixels: a histogram per channel gives exact sums. */
static void stats_u8(const spt_dataset *ds, int64_t c, double *mean, double *var) {
    int64_t hist[256] = {0};
    int64_t plane = ds->h * ds->w;
    for (int64_t i = 0; i < ds->n; i++) {
        const uint8_t *p = ds->u8 + i * ds->feat + c * plane;
        for (int64_t k = 0; k < plane; k++) hist[p[k]]++;
    }
    double cnt = (double)ds->n * (double)plane, s = 0;
    for (int v = 0; v < 256; v++) s += (double)hist[v] * (v / 255.0);
    double m = s / cnt, q = 0;
    for (int v = 0; v < 256; v++) q += (double)hist[v] * (v / 255.0 - m) * (v / 255.0 - m);
    *mean = m;
    *var = q / cnt;
}

/* Float pixels: two passes (mean, then squared deviations) for accuracy. */
static void stats_f32(const spt_dataset *ds, int64_t c, double *mean, double *var) {
    int64_t plane = ds->h * ds->w;
    double s = 0, q = 0, cnt = (double)ds->n * (double)plane;
    for (int64_t i = 0; i < ds->n; i++) {
        const float *p = ds->f32 + i * ds->feat + c * plane;
        for (int64_t k = 0; k < plane; k++) s += p[k];
    }
    double m = s / cnt;
    for (int64_t i = 0; i < ds->n; i++) {
        const float *p = ds->f32 + i * ds->feat + c * plane;
        for (int64_t k = 0; k < plane; k++) q += (p[k] - m) * (p[k] - m);
    }
    *mean = m;
    *var = q / cnt;
}

int spt_dataset_compute_mean_std(const spt_dataset *ds, float *mean, float *std, int64_t channels) {
    SPTI_CHECK_NULL(ds);
    SPTI_CHECK_NULL(mean);
    SPTI_CHECK_NULL(std);
    if (channels != ds->c)
        return spti_fail(SPT_ERR_SIZE, "%s: channels (%lld) != dataset channels (%lld)", __func__,
                         (long long)channels, (long long)ds->c);
    for (int64_t c = 0; c < ds->c; c++) {
        double m, v;
        if (ds->is_u8)
            stats_u8(ds, c, &m, &v);
        else
            stats_f32(ds, c, &m, &v);
        float sd = (float)sqrt(v);
        mean[c] = (float)m;
        std[c] = sd > 0.0f ? sd : 1.0f;
    }
    return SPT_OK;
}

int spt_dataset_set_normalization(spt_dataset *ds, const float *mean, const float *std, int64_t channels) {
    SPTI_CHECK_NULL(ds);
    if ((mean == NULL) != (std == NULL))
        return spti_fail(SPT_ERR_NULL, "%s: give both mean and std, or neither", __func__);
    if (channels != ds->c)
        return spti_fail(SPT_ERR_SIZE, "%s: channels (%lld) != dataset channels (%lld)", __func__,
                         (long long)channels, (long long)ds->c);
    if (mean != NULL) {
        for (int64_t c = 0; c < channels; c++) {
            if (!isfinite(mean[c]))
                return spti_fail(SPT_ERR_INVALID, "%s: mean[%lld] is not finite", __func__, (long long)c);
            if (!isfinite(std[c]) || !(std[c] > 0.0f))
                return spti_fail(SPT_ERR_INVALID, "%s: std[%lld] (%g) must be finite and > 0", __func__,
                                 (long long)c, (double)std[c]);
            /* A tiny std would turn the folded multiply-add into Inf. */
            if (!isfinite(1.0f / std[c]) || !isfinite(mean[c] / std[c]))
                return spti_fail(SPT_ERR_INVALID, "%s: std[%lld] (%g) is too small for mean %g", __func__,
                                 (long long)c, (double)std[c], (double)mean[c]);
        }
    }
    for (int64_t c = 0; c < channels; c++) {
        ds->mean[c] = mean ? mean[c] : 0.0f;
        ds->std[c] = std ? std[c] : 1.0f;
    }
    spti_dataset_update_affine(ds);
    return SPT_OK;
}

int spt_dataset_get_normalization(const spt_dataset *ds, float *mean, float *std, int64_t channels) {
    SPTI_CHECK_NULL(ds);
    if (channels != ds->c)
        return spti_fail(SPT_ERR_SIZE, "%s: channels (%lld) != dataset channels (%lld)", __func__,
                         (long long)channels, (long long)ds->c);
    if (mean) memcpy(mean, ds->mean, (size_t)channels * sizeof(float));
    if (std) memcpy(std, ds->std, (size_t)channels * sizeof(float));
    return SPT_OK;
}
