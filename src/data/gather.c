/* Building a batch: examples of the example-major store written into the
 * feature-major "C x H x W x B" layout, normalised, optionally shifted and
 * mirrored (the augmentation is a change of the source index, so it costs
 * nothing beyond a bounds test). */
#include "dataset.h"

static inline float pixel(const spt_dataset *ds, int64_t off) {
    return ds->is_u8 ? (float)ds->u8[off] : ds->f32[off];
}

static void gather_one(const spt_dataset *ds, int64_t e, const spti_aug *aug, float *x, int64_t b, int64_t B) {
    const int64_t C = ds->c, H = ds->h, W = ds->w;
    const int64_t dy = aug ? aug->dy : 0, dx = aug ? aug->dx : 0;
    const bool flip = aug && aug->flip;
    const int64_t base = e * ds->feat;
    for (int64_t c = 0; c < C; c++) {
        const float mul = ds->mul[c], add = ds->add[c];
        for (int64_t h = 0; h < H; h++) {
            float *row = x + (c * H + h) * W * B + b; /* element w is row[w*B] */
            int64_t sh = h + dy;
            if (sh < 0 || sh >= H) {
                for (int64_t w = 0; w < W; w++) row[w * B] = 0.0f;
                continue;
            }
            const int64_t src = base + (c * H + sh) * W;
            for (int64_t w = 0; w < W; w++) {
                int64_t sw = (flip ? W - 1 - w : w) + dx;
                row[w * B] = (sw < 0 || sw >= W) ? 0.0f : pixel(ds, src + sw) * mul + add;
            }
        }
    }
}

void spti_dataset_gather(const spt_dataset *ds, const int64_t *idx, int64_t n, const spti_aug *aug, float *x,
                         int32_t *y) {
    for (int64_t b = 0; b < n; b++) gather_one(ds, idx[b], aug ? &aug[b] : NULL, x, b, n);
    if (y != NULL)
        for (int64_t b = 0; b < n; b++) y[b] = ds->labels[idx[b]];
}

int spt_dataset_gather(const spt_dataset *ds, const int64_t *indices, int64_t n, float *x, int64_t x_len,
                       int32_t *labels) {
    SPTI_CHECK_NULL(ds);
    SPTI_CHECK_NULL(indices);
    SPTI_CHECK_NULL(x);
    int64_t need;
    if (n < 1) return spti_fail(SPT_ERR_SIZE, "%s: n (%lld) must be >= 1", __func__, (long long)n);
    if (!spti_mul_i64(ds->feat, n, &need) || x_len < need)
        return spti_fail(SPT_ERR_SIZE, "%s: x_len (%lld) < %lld features x %lld examples", __func__,
                         (long long)x_len, (long long)ds->feat, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return spti_fail(SPT_ERR_INVALID, "%s: indices[%lld] = %lld is outside 0..%lld", __func__, (long long)i,
                             (long long)indices[i], (long long)(ds->n - 1));
    spti_dataset_gather(ds, indices, n, NULL, x, labels);
    return SPT_OK;
}
