/* Gradual magnitude pruning schedule (Zhu & Gupta 2017): the cubic
 * sparsity ramp and its pruning steps (sparsity.h, section 4). */
#include "../core/internal.h"
#include "schedule.h"

int spti_gmp_check(const char *func, int64_t t0, int64_t n, int64_t delta_t, int64_t *t_last) {
    if (t0 < 0) return spti_fail(SPT_ERR_INVALID, "%s: t0 (%lld) must be >= 0", func, (long long)t0);
    if (n < 1) return spti_fail(SPT_ERR_INVALID, "%s: n (%lld) must be >= 1", func, (long long)n);
    if (delta_t < 1)
        return spti_fail(SPT_ERR_INVALID, "%s: delta_t (%lld) must be >= 1", func, (long long)delta_t);
    int64_t span;
    if (!spti_mul_i64(n, delta_t, &span) || !spti_add_i64(t0, span, t_last))
        return spti_fail(SPT_ERR_SIZE, "%s: t0 + n * delta_t overflows int64", func);
    return SPT_OK;
}

double spti_gmp_value(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t) {
    if (t <= t0) return s_initial;
    double progress = (double)(t - t0) / ((double)n * (double)delta_t);
    if (progress >= 1.0) return s_final;
    double r = 1.0 - progress;
    return s_final + (s_initial - s_final) * r * r * r;
}

int spt_gmp_sparsity(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t,
                     double *sparsity_out) {
    SPTI_CHECK_NULL(sparsity_out);
    if (!(s_initial >= 0.0 && s_initial < 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: s_initial (%g) must be in [0, 1)", __func__, s_initial);
    if (!(s_final >= 0.0 && s_final < 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: s_final (%g) must be in [0, 1)", __func__, s_final);
    if (t < 0) return spti_fail(SPT_ERR_INVALID, "%s: t (%lld) must be >= 0", __func__, (long long)t);
    int64_t t_last;
    SPTI_TRY(spti_gmp_check(__func__, t0, n, delta_t, &t_last));
    *sparsity_out = spti_gmp_value(s_initial, s_final, t0, n, delta_t, t);
    return SPT_OK;
}

int spt_gmp_is_prune_step(int64_t t0, int64_t n, int64_t delta_t, int64_t t, int *is_prune_out) {
    SPTI_CHECK_NULL(is_prune_out);
    if (t < 0) return spti_fail(SPT_ERR_INVALID, "%s: t (%lld) must be >= 0", __func__, (long long)t);
    int64_t t_last;
    SPTI_TRY(spti_gmp_check(__func__, t0, n, delta_t, &t_last));
    *is_prune_out = t >= t0 && t <= t_last && (t - t0) % delta_t == 0;
    return SPT_OK;
}
