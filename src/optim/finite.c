/* The NaN/Inf gate run before every optimizer step. */
#include <math.h>

#include "optim.h"

/* Index of the first non-finite of g[0..n), or -1. A branch-free pass first
 * (x - x is 0 for finite x and NaN for NaN or Inf; NaN != 0 holds), a search
 * only when something was found. */
static int64_t first_nonfinite(const float *g, int64_t n) {
    int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n >= (1 << 16)) num_threads(spti_num_threads())
    for (int64_t i = 0; i < n; i++) bad |= (g[i] - g[i]) != 0.0f;
    if (!bad) return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(g[i])) return i;
    return -1;
}

int spti_params_check_finite(spti_param *const *params, int64_t n_params) {
    SPTI_CHECK_NULL(params);
    if (n_params < 0) return spti_fail(SPT_ERR_SIZE, "%s: n_params (%lld) must be >= 0", __func__, (long long)n_params);
    for (int64_t k = 0; k < n_params; k++) {
        const spti_param *p = params[k];
        if (!p) return spti_fail(SPT_ERR_NULL, "%s: params[%lld] is NULL", __func__, (long long)k);
        int64_t bad = first_nonfinite(p->grad, p->n);
        if (bad >= 0)
            return spti_fail(SPT_ERR_NONFINITE, "%s: gradient of %s has a non-finite entry (%g at stored index %lld)",
                             __func__, p->name, (double)p->grad[bad], (long long)bad);
    }
    return SPT_OK;
}
