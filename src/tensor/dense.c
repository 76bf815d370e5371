/* Dense float32 tensors of 1 to 4 dimensions, row-major. */
#include <string.h>

#include "../core/internal.h"

struct spt_tensor {
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data;
};

int spt_tensor_create(int ndim, const int64_t *shape, spt_tensor **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(shape);
    if (ndim < 1 || ndim > 4) return spti_fail(SPT_ERR_SIZE, "%s: ndim (%d) must be 1..4", __func__, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return spti_fail(SPT_ERR_SIZE, "%s: shape[%d] (%lld) must be >= 1", __func__, i, (long long)shape[i]);
    int64_t numel;
    if (!spti_count_elems(shape, ndim, sizeof(float), &numel))
        return spti_fail(SPT_ERR_SIZE, "%s: the shape's element count overflows", __func__);
    spt_tensor *t = spti_calloc(1, sizeof *t);
    float *data = spti_calloc(numel, sizeof(float));
    if (!t || !data) {
        spti_free(t);
        spti_free(data);
        return spti_fail(SPT_ERR_NOMEM, "%s: out of memory for %lld floats", __func__, (long long)numel);
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->data = data;
    *out = t;
    return SPT_OK;
}

void spt_tensor_destroy(spt_tensor *t) {
    if (!t) return;
    spti_free(t->data);
    spti_free(t);
}

int spt_tensor_ndim(const spt_tensor *t) { return t ? t->ndim : -1; }

int64_t spt_tensor_dim(const spt_tensor *t, int i) { return t && i >= 0 && i < t->ndim ? t->shape[i] : -1; }

int64_t spt_tensor_numel(const spt_tensor *t) { return t ? t->numel : -1; }

float *spt_tensor_data(spt_tensor *t) { return t ? t->data : NULL; }

int spt_tensor_copy_from(spt_tensor *t, const float *src, int64_t n) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(src);
    if (n != t->numel)
        return spti_fail(SPT_ERR_SIZE, "%s: n (%lld) must equal the tensor's %lld elements", __func__, (long long)n,
                         (long long)t->numel);
    memcpy(t->data, src, (size_t)n * sizeof(float));
    return SPT_OK;
}

int spt_tensor_copy_to(const spt_tensor *t, float *dst, int64_t n) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(dst);
    if (n < t->numel)
        return spti_fail(SPT_ERR_SIZE, "%s: dst holds %lld floats, the tensor has %lld", __func__, (long long)n,
                         (long long)t->numel);
    memcpy(dst, t->data, (size_t)t->numel * sizeof(float));
    return SPT_OK;
}
