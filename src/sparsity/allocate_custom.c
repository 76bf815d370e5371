/* spt_sparsity_allocate_custom: integer nonzero counts for per-layer
 * densities the caller chose (sparsity.h, section 3). */
#include "allocate.h"

int spt_sparsity_allocate_custom(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const double *density,
                                 int64_t *nnz_out, double *achieved_sparsity_out) {
    SPTI_CHECK_NULL(density);
    SPTI_CHECK_NULL(nnz_out);
    int64_t total;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, NULL, &total));
    for (int64_t l = 0; l < n_layers; l++)
        if (!(density[l] > 0.0 && density[l] <= 1.0))
            return spti_fail(SPT_ERR_INVALID, "%s: density[%lld] (%g) must be in (0, 1]", __func__, (long long)l,
                             density[l]);
    int64_t placed = spti_round_nnz(n_layers, ndim, shape, density, nnz_out);
    if (achieved_sparsity_out != NULL) *achieved_sparsity_out = 1.0 - (double)placed / (double)total;
    return SPT_OK;
}
