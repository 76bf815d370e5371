/* Sparsity reached by iterative magnitude pruning (lottery tickets) after a
 * number of rounds (sparsity.h, section 4). */
#include <math.h>

#include "../core/internal.h"

int spt_lottery_sparsity(double prune_fraction, int64_t round, double *sparsity_out) {
    SPTI_CHECK_NULL(sparsity_out);
    if (!(prune_fraction >= 0.0 && prune_fraction < 1.0))
        return spti_fail(SPT_ERR_INVALID, "%s: prune_fraction (%g) must be in [0, 1)", __func__, prune_fraction);
    if (round < 0) return spti_fail(SPT_ERR_INVALID, "%s: round (%lld) must be >= 0", __func__, (long long)round);
    *sparsity_out = 1.0 - pow(1.0 - prune_fraction, (double)round);
    return SPT_OK;
}
