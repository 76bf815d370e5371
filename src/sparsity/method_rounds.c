/* Rounds of training a configured method runs (lottery tickets: R + 1). */
#include <math.h>

#include "method_config.h"

/* The same limit and rule as spti_lottery_create (lottery.c): a run that
 * sizes itself with this function gets as many rounds as the method prunes. */
enum { ROUNDS_MAX = 1000 };

int spt_method_config_rounds(const spt_method_config *cfg, int64_t *rounds) {
    SPTI_CHECK_NULL(cfg);
    SPTI_CHECK_NULL(rounds);
    if (cfg->method != SPT_METHOD_LOTTERY) {
        *rounds = 1;
        return SPT_OK;
    }
    if (cfg->was_set[SPT_MP_LOTTERY_ROUNDS]) {
        *rounds = (int64_t)cfg->value[SPT_MP_LOTTERY_ROUNDS] + 1;
        return SPT_OK;
    }
    const double S = cfg->value[SPT_MP_SPARSITY], rate = cfg->value[SPT_MP_LOTTERY_RATE];
    int64_t r = 1;
    /* Relative slack: pow's rounding when S is an exact power of 1 - rate. */
    while (pow(1.0 - rate, (double)r) > (1.0 - S) * (1.0 + 1e-9) && r <= ROUNDS_MAX) r++;
    if (r > ROUNDS_MAX)
        return spti_fail(SPT_ERR_INVALID, "%s: sparsity %g needs more than %d lottery rounds at rate %g", __func__, S,
                         ROUNDS_MAX, rate);
    *rounds = r + 1;
    return SPT_OK;
}
