/* RigL / SET drop-fraction schedule and the topology-update step predicate
 * (sparsity.h, section 4). */
#include <math.h>

#include "../core/internal.h"

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
