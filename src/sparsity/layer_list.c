/* The layer list shared by the allocators and the FLOP counters
 * (sparsity.h, section 2): validation, per-layer sizes and dense FLOPs. */
#include "allocate.h"

int spti_layers_check(const char *func, int64_t n_layers, const int32_t *ndim, const int64_t *shape,
                      const int64_t *out_hw, int64_t *total) {
    if (ndim == NULL) return spti_fail(SPT_ERR_NULL, "%s: ndim is NULL", func);
    if (shape == NULL) return spti_fail(SPT_ERR_NULL, "%s: shape is NULL", func);
    if (n_layers < 1) return spti_fail(SPT_ERR_SIZE, "%s: n_layers (%lld) must be >= 1", func, (long long)n_layers);
    int64_t sum = 0;
    for (int64_t l = 0; l < n_layers; l++) {
        if (ndim[l] != 2 && ndim[l] != 4)
            return spti_fail(SPT_ERR_INVALID, "%s: layer %lld has ndim %d (must be 2 or 4)", func, (long long)l,
                             (int)ndim[l]);
        int64_t size = 1;
        for (int d = 0; d < ndim[l]; d++) {
            int64_t dim = shape[4 * l + d];
            if (dim < 1)
                return spti_fail(SPT_ERR_SIZE, "%s: layer %lld dim %d (%lld) must be >= 1", func, (long long)l, d,
                                 (long long)dim);
            if (!spti_mul_i64(size, dim, &size))
                return spti_fail(SPT_ERR_SIZE, "%s: layer %lld size overflows int64", func, (long long)l);
        }
        if (!spti_add_i64(sum, size, &sum))
            return spti_fail(SPT_ERR_SIZE, "%s: total number of weights overflows int64", func);
        if (out_hw != NULL && out_hw[l] < 1)
            return spti_fail(SPT_ERR_SIZE, "%s: out_hw[%lld] (%lld) must be >= 1", func, (long long)l,
                             (long long)out_hw[l]);
    }
    *total = sum;
    return SPT_OK;
}

int64_t spti_layer_size(const int32_t *ndim, const int64_t *shape, int64_t l) {
    int64_t size = 1;
    for (int d = 0; d < ndim[l]; d++) size *= shape[4 * l + d];
    return size;
}

double spti_layer_dense_flops(const int32_t *ndim, const int64_t *shape, const int64_t *out_hw, int64_t l) {
    double positions = out_hw != NULL ? (double)out_hw[l] : 1.0;
    return 2.0 * (double)spti_layer_size(ndim, shape, l) * positions;
}
