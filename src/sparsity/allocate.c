/* spt_sparsity_allocate: turns a target overall sparsity into per-layer
 * densities and integer nonzero counts. Works out the budget left after the
 * kept-dense layers, hands it to one distribution (allocate_uniform.c,
 * allocate_erk.c) and rounds. Definitions: sparsity.h, section 3. */
#include <math.h>

#include "allocate.h"

int64_t spti_round_nnz(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const double *density,
                       int64_t *nnz) {
    int64_t sum = 0;
    for (int64_t l = 0; l < n_layers; l++) {
        int64_t size = spti_layer_size(ndim, shape, l);
        /* density <= 1, so the product is at most size and fits in int64. */
        int64_t k = (int64_t)llround(density[l] * (double)size);
        if (k < 1) k = 1;
        if (k > size) k = size;
        nnz[l] = k;
        sum += k;
    }
    return sum;
}

int spt_sparsity_allocate(int distribution, double sparsity, int64_t n_layers, const int32_t *ndim,
                          const int64_t *shape, const uint8_t *keep_dense, double *density_out, int64_t *nnz_out,
                          double *achieved_sparsity_out) {
    SPTI_CHECK_NULL(density_out);
    SPTI_CHECK_NULL(nnz_out);
    if (distribution != SPT_DISTRIBUTION_UNIFORM && distribution != SPT_DISTRIBUTION_ERDOS_RENYI &&
        distribution != SPT_DISTRIBUTION_ERK)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown distribution %d", __func__, distribution);
    if (!(sparsity >= 0.0 && sparsity < 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: sparsity (%g) must be in [0, 1)", __func__, sparsity);
    int64_t total;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, NULL, &total));

    int64_t kept = 0;
    if (keep_dense != NULL)
        for (int64_t l = 0; l < n_layers; l++)
            if (keep_dense[l]) kept += spti_layer_size(ndim, shape, l); /* <= total: no overflow */
    double budget = (1.0 - sparsity) * (double)total - (double)kept;
    if (budget < -0.5)
        return spti_fail(SPT_ERR_INVALID,
                         "%s: layers kept dense hold %lld of %lld weights, so the overall sparsity cannot exceed "
                         "%.6g (asked %.6g)",
                         __func__, (long long)kept, (long long)total, 1.0 - (double)kept / (double)total, sparsity);
    if (budget < 0.0) budget = 0.0;

    if (distribution == SPT_DISTRIBUTION_UNIFORM)
        spti_allocate_uniform(n_layers, ndim, shape, keep_dense, budget, density_out);
    else
        spti_allocate_erdos_renyi(n_layers, ndim, shape, keep_dense, budget, distribution == SPT_DISTRIBUTION_ERK,
                                  density_out);

    int64_t placed = spti_round_nnz(n_layers, ndim, shape, density_out, nnz_out);
    if (achieved_sparsity_out != NULL) *achieved_sparsity_out = 1.0 - (double)placed / (double)total;
    return SPT_OK;
}
