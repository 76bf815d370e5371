/* FLOP accounting of the RigL paper (sparsity.h, section 5): forward FLOPs
 * of a layer list and per-method training FLOPs from f_D and f_S. */
#include <math.h>

#include "allocate.h"
#include "methods.h"

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
    const spti_method_ops *ops = spti_method_find(method);
    if (!ops) return spti_fail(SPT_ERR_INVALID, "%s: unknown method %d", __func__, method);
    const spti_flops_query q = {.f_dense = f_dense, .f_sparse = f_sparse, .delta_t = delta_t};
    return spti_method_train_flops(ops, &q, flops_out);
}
