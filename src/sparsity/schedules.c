/* RigL / SET drop-fraction schedule and the topology-update step predicate
 * (sparsity.h, section 4). */
#include <math.h>

#include "../core/internal.h"
#include "sparsity_math.h"

int spt_drop_fraction(int schedule, double alpha, int64_t t_end, int64_t t, double *fraction_out) {
    SPTI_CHECK_NULL(fraction_out);
    if (schedule != SPT_DROP_COSINE && schedule != SPT_DROP_LINEAR && schedule != SPT_DROP_CONSTANT)
        return spti_fail(SPT_ERR_INVALID, "%s: unknown drop schedule %d", __func__, schedule);
    if (!(alpha >= 0.0 && alpha <= 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: alpha (%g) must be in [0, 1]", __func__, alpha);
    if (t_end < 0) return spti_fail(SPT_ERR_INVALID, "%s: t_end (%lld) must be >= 0", __func__, (long long)t_end);
    if (t < 0) return spti_fail(SPT_ERR_INVALID, "%s: t (%lld) must be >= 0", __func__, (long long)t);
    if (t >= t_end) {
        *fraction_out = 0.0;
        return SPT_OK;
    }
    double progress = (double)t / (double)t_end; /* in [0, 1) */
    double f = alpha;
    if (schedule == SPT_DROP_COSINE)
        f = 0.5 * alpha * (1.0 + cos(3.14159265358979323846 * progress));
    else if (schedule == SPT_DROP_LINEAR)
        f = alpha * (1.0 - progress);
    *fraction_out = f;
    return SPT_OK;
}

int spt_drop_is_update_step(int64_t delta_t, int64_t t_end, int64_t t, int *is_update_out) {
    SPTI_CHECK_NULL(is_update_out);
    if (delta_t < 1)
        return spti_fail(SPT_ERR_INVALID, "%s: delta_t (%lld) must be >= 1", __func__, (long long)delta_t);
    if (t_end < 0) return spti_fail(SPT_ERR_INVALID, "%s: t_end (%lld) must be >= 0", __func__, (long long)t_end);
    if (t < 0) return spti_fail(SPT_ERR_INVALID, "%s: t (%lld) must be >= 0", __func__, (long long)t);
    *is_update_out = t > 0 && t % delta_t == 0 && t < t_end;
    return SPT_OK;
}

/* Gradual magnitude pruning schedule (Zhu & Gupta 2017): the cubic
 * sparsity ramp and its pruning steps (sparsity.h, section 4). */

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

/* Sparsity reached by iterative magnitude pruning (lottery tickets) after a
 * number of rounds (sparsity.h, section 4). */


int spt_lottery_sparsity(double prune_fraction, int64_t round, double *sparsity_out) {
    SPTI_CHECK_NULL(sparsity_out);
    if (!(prune_fraction >= 0.0 && prune_fraction < 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: prune_fraction (%g) must be in [0, 1)", __func__, prune_fraction);
    if (round < 0) return spti_fail(SPT_ERR_INVALID, "%s: round (%lld) must be >= 0", __func__, (long long)round);
    *sparsity_out = 1.0 - pow(1.0 - prune_fraction, (double)round);
    return SPT_OK;
}
