/* FLOP accounting of the RigL paper (sparsity.h, section 5): forward FLOPs
 * of a layer list and per-method training FLOPs from f_D and f_S. */
#include <math.h>

#include "dst.h"
#include "sparsity_math.h"

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

/* Average training FLOPs when densities change during training: from a
 * caller's table of per-layer densities, or from a GMP schedule
 * (sparsity.h, section 5). */

static int check_densities(const char *func, const char *name, const double *d, int64_t n, bool allow_zero) {
    for (int64_t i = 0; i < n; i++)
        if (!((allow_zero ? d[i] >= 0.0 : d[i] > 0.0) && d[i] <= 1.0))
            return spti_fail(SPT_ERR_INVALID, "%s: %s[%lld] (%g) must be in %s, 1]", func, name, (long long)i, d[i],
                             allow_zero ? "[0" : "(0");
    return SPT_OK;
}

int spt_flops_train_schedule(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                             int64_t n_points, const double *density, double *flops_out) {
    SPTI_CHECK_NULL(density);
    SPTI_CHECK_NULL(flops_out);
    int64_t total, cells;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, out_hw, &total));
    if (n_points < 1)
        return spti_fail(SPT_ERR_SIZE, "%s: n_points (%lld) must be >= 1", __func__, (long long)n_points);
    if (!spti_mul_i64(n_points, n_layers, &cells))
        return spti_fail(SPT_ERR_SIZE, "%s: n_points * n_layers overflows int64", __func__);
    SPTI_TRY(check_densities(__func__, "density", density, cells, true));
    double sum = 0.0;
    for (int64_t p = 0; p < n_points; p++) {
        double f = 0.0;
        for (int64_t l = 0; l < n_layers; l++)
            f += density[p * n_layers + l] * spti_layer_dense_flops(ndim, shape, out_hw, l);
        sum += 3.0 * f;
    }
    *flops_out = sum / (double)n_points;
    return SPT_OK;
}

/* 3 * forward FLOPs with every layer at its GMP density of pruning step t. */
static double gmp_step_flops(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                             const double *initial_density, const double *final_density, int64_t t0, int64_t n,
                             int64_t delta_t, int64_t t) {
    double f = 0.0;
    for (int64_t l = 0; l < n_layers; l++) {
        double s_i = initial_density != NULL ? 1.0 - initial_density[l] : 0.0;
        double s_t = spti_gmp_value(s_i, 1.0 - final_density[l], t0, n, delta_t, t);
        f += (1.0 - s_t) * spti_layer_dense_flops(ndim, shape, out_hw, l);
    }
    return 3.0 * f;
}

int spt_flops_train_gmp(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const int64_t *out_hw,
                        const double *initial_density, const double *final_density, int64_t t0, int64_t n,
                        int64_t delta_t, int64_t total_steps, double *flops_out) {
    SPTI_CHECK_NULL(final_density);
    SPTI_CHECK_NULL(flops_out);
    int64_t total, t_last;
    SPTI_TRY(spti_layers_check(__func__, n_layers, ndim, shape, out_hw, &total));
    if (initial_density != NULL)
        SPTI_TRY(check_densities(__func__, "initial_density", initial_density, n_layers, false));
    SPTI_TRY(check_densities(__func__, "final_density", final_density, n_layers, false));
    SPTI_TRY(spti_gmp_check(__func__, t0, n, delta_t, &t_last));
    if (total_steps < 1)
        return spti_fail(SPT_ERR_SIZE, "%s: total_steps (%lld) must be >= 1", __func__, (long long)total_steps);

    /* Densities are piecewise constant: the initial ones before t0, then
     * those of pruning step k on [t0 + k*delta_t, t0 + (k+1)*delta_t), the
     * last one until the end. Sum each piece times its length. */
    double sum = 0.0;
    int64_t before = t0 < total_steps ? t0 : total_steps;
    if (before > 0) {
        double f = 0.0;
        for (int64_t l = 0; l < n_layers; l++)
            f += (initial_density != NULL ? initial_density[l] : 1.0) *
                 spti_layer_dense_flops(ndim, shape, out_hw, l);
        sum += 3.0 * f * (double)before;
    }
    for (int64_t k = 0; k <= n; k++) {
        int64_t start = t0 + k * delta_t; /* <= t_last: no overflow */
        if (start >= total_steps) break;
        int64_t end = total_steps;
        if (k < n && start + delta_t < total_steps) end = start + delta_t;
        sum += gmp_step_flops(n_layers, ndim, shape, out_hw, initial_density, final_density, t0, n, delta_t, start) *
               (double)(end - start);
    }
    *flops_out = sum / (double)total_steps;
    return SPT_OK;
}
