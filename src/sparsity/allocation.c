/* Sparsity allocation (sparsity.h, sections 2-3): the layer list, and
 * spt_sparsity_allocate, which turns a target overall sparsity into
 * per-layer densities and integer nonzero counts: it works out the budget
 * left after the kept-dense layers, hands it to one distribution (uniform,
 * ER/ERK, below) and rounds; explicit densities (custom) last. */
#include <math.h>

#include "sparsity_math.h"

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

/* The layer list shared by the allocators and the FLOP counters
 * (sparsity.h, section 2): validation, per-layer sizes and dense FLOPs. */

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

/* Uniform sparsity distribution: every layer not kept dense gets the same
 * density, chosen so that the whole list meets the budget (sparsity.h,
 * section 3). */

void spti_allocate_uniform(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const uint8_t *keep,
                           double budget, double *density) {
    int64_t free_total = 0;
    for (int64_t l = 0; l < n_layers; l++)
        if (keep == NULL || !keep[l]) free_total += spti_layer_size(ndim, shape, l);
    double d = free_total > 0 ? budget / (double)free_total : 1.0;
    if (d > 1.0) d = 1.0;
    for (int64_t l = 0; l < n_layers; l++) density[l] = (keep != NULL && keep[l]) ? 1.0 : d;
}

/* Erdos-Renyi (ER) and Erdos-Renyi-Kernel (ERK) sparsity distributions
 * (Mocanu et al. 2018; Evci et al. 2020), with the exact solve that makes
 * the layers whose density would pass 1 dense (sparsity.h, section 3).
 *
 * Layer l gets density eps * score_l. With F the layers still free and R the
 * budget not yet spent on kept or saturated layers, eps = R / sum_F
 * score_l * size_l. When eps * max score > 1, every free layer with the
 * largest score becomes dense, pays its size from R, and eps is solved again.
 * Each round removes at least one layer, so at most n_layers rounds run. */

double spti_erdos_renyi_score(const int32_t *ndim, const int64_t *shape, int64_t l, bool kernel) {
    const int64_t *dims = shape + 4 * l;
    if (kernel || ndim[l] == 2) {
        double sum = 0.0;
        for (int d = 0; d < ndim[l]; d++) sum += (double)dims[d];
        return sum / (double)spti_layer_size(ndim, shape, l);
    }
    /* ER on a convolution: n_out, n_in only; the kernel size is ignored. */
    return ((double)dims[0] + (double)dims[1]) / ((double)dims[0] * (double)dims[1]);
}

void spti_allocate_erdos_renyi(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const uint8_t *keep,
                               double budget, bool kernel, double *density) {
    /* density[l] < 0 marks a layer still free; 1 a kept or saturated one. */
    for (int64_t l = 0; l < n_layers; l++) density[l] = (keep != NULL && keep[l]) ? 1.0 : -1.0;
    double remaining = budget;
    for (;;) {
        double divisor = 0.0, max_score = 0.0;
        bool any_free = false;
        for (int64_t l = 0; l < n_layers; l++) {
            if (density[l] >= 0.0) continue;
            double score = spti_erdos_renyi_score(ndim, shape, l, kernel);
            divisor += score * (double)spti_layer_size(ndim, shape, l);
            if (score > max_score) max_score = score;
            any_free = true;
        }
        if (!any_free) return;
        double eps = remaining / divisor;
        if (eps * max_score <= 1.0) {
            for (int64_t l = 0; l < n_layers; l++)
                if (density[l] < 0.0) density[l] = eps * spti_erdos_renyi_score(ndim, shape, l, kernel);
            return;
        }
        for (int64_t l = 0; l < n_layers; l++) {
            if (density[l] >= 0.0 || spti_erdos_renyi_score(ndim, shape, l, kernel) != max_score) continue;
            density[l] = 1.0;
            remaining -= (double)spti_layer_size(ndim, shape, l);
        }
        if (remaining < 0.0) remaining = 0.0;
    }
}

int spt_sparsity_allocate_epsilon(int distribution, double epsilon, int64_t n_layers, const int32_t *ndim,
                                  const int64_t *shape, const uint8_t *keep_dense, double *density_out,
                                  int64_t *nnz_out, double *achieved_sparsity_out) {
    SPTI_CHECK_NULL(density_out);
    SPTI_CHECK_NULL(nnz_out);
    if (distribution != SPT_DISTRIBUTION_ERDOS_RENYI && distribution != SPT_DISTRIBUTION_ERK)
        return spti_fail(SPT_ERR_INVALID, "%s: distribution %d: epsilon sets densities for er or erk only", __func__,
                         distribution);
    if (!(epsilon > 0.0 && epsilon <= 1e9))
        return spti_fail(SPT_ERR_INVALID, "%s: epsilon (%g) must be in (0, 1e9]", __func__, epsilon);
    int64_t total;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, NULL, &total));
    for (int64_t l = 0; l < n_layers; l++) {
        const double d = epsilon * spti_erdos_renyi_score(ndim, shape, l, distribution == SPT_DISTRIBUTION_ERK);
        density_out[l] = (keep_dense != NULL && keep_dense[l]) || d > 1.0 ? 1.0 : d;
    }
    int64_t placed = spti_round_nnz(n_layers, ndim, shape, density_out, nnz_out);
    if (achieved_sparsity_out != NULL) *achieved_sparsity_out = 1.0 - (double)placed / (double)total;
    return SPT_OK;
}

/* spt_sparsity_allocate_custom: integer nonzero counts for per-layer
 * densities the caller chose (sparsity.h, section 3). */

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
