/* FLOP accounting of the RigL paper (sparsity.h, section 5): forward FLOPs
 * of a layer list and per-method training FLOPs from f_D and f_S. */
#include <math.h>

#include "allocate.h"

int spt_flops_forward(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                      const int64_t *nnz, double *flops_out) {
    SPTI_CHECK_NULL(flops_out);
    int64_t total;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, out_hw, &total));
    double flops = 0.0;
    for (int64_t l = 0; l < n_layers; l++) {
        double dense = spti_layer_dense_flops(ndim, shape, out_hw, l);
        if (nnz == NULL) {
            flops += dense;
            continue;
        }
        int64_t size = spti_layer_size(ndim, shape, l);
        if (nnz[l] < 0 || nnz[l] > size)
            return spti_fail(SPT_ERR_SIZE, "%s: nnz[%lld] (%lld) must be in [0, %lld]", __func__, (long long)l,
                             (long long)nnz[l], (long long)size);
        flops += dense * ((double)nnz[l] / (double)size);
    }
    *flops_out = flops;
    return SPT_OK;
}

int spt_flops_train(int method, double f_dense, double f_sparse, int64_t delta_t, double *flops_out) {
    SPTI_CHECK_NULL(flops_out);
    if (!(isfinite(f_dense) && isfinite(f_sparse) && f_sparse >= 0.0 && f_sparse <= f_dense))
        return spti_fail(SPT_ERR_INVALID, "%s: need finite 0 <= f_sparse (%g) <= f_dense (%g)", __func__, f_sparse,
                         f_dense);
    switch (method) {
    case SPT_METHOD_DENSE: *flops_out = 3.0 * f_dense; return SPT_OK;
    case SPT_METHOD_STATIC:
    case SPT_METHOD_SET:
    case SPT_METHOD_SNIP:
    case SPT_METHOD_GRASP:
    case SPT_METHOD_SYNFLOW: *flops_out = 3.0 * f_sparse; return SPT_OK;
    case SPT_METHOD_SNFS: *flops_out = 2.0 * f_sparse + f_dense; return SPT_OK;
    case SPT_METHOD_RIGL: {
        if (delta_t < 1)
            return spti_fail(SPT_ERR_INVALID, "%s: delta_t (%lld) must be >= 1 for RigL", __func__,
                             (long long)delta_t);
        double dt = (double)delta_t;
        *flops_out = (3.0 * f_sparse * dt + 2.0 * f_sparse + f_dense) / (dt + 1.0);
        return SPT_OK;
    }
    case SPT_METHOD_GMP:
    case SPT_METHOD_LOTTERY:
        return spti_fail(SPT_ERR_INVALID,
                         "%s: method %d follows a density schedule: use spt_flops_train_schedule or "
                         "spt_flops_train_gmp",
                         __func__, method);
    default: return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    }
}
