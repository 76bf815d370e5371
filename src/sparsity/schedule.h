/* Internal helpers of the GMP schedule (gmp_schedule.c), shared with the
 * GMP FLOP average (flops_schedule.c). */
#ifndef SPTI_SPARSITY_SCHEDULE_H
#define SPTI_SPARSITY_SCHEDULE_H

#include <stdint.h>

/* Check t0 >= 0, n >= 1, delta_t >= 1 on behalf of `func`; write the last
 * pruning step t0 + n*delta_t to *t_last (SPT_ERR_SIZE on overflow). */
int spti_gmp_check(const char *func, int64_t t0, int64_t n, int64_t delta_t, int64_t *t_last);

/* Zhu & Gupta's cubic ramp at step t (arguments already checked). */
double spti_gmp_value(double s_initial, double s_final, int64_t t0, int64_t n, int64_t delta_t, int64_t t);

#endif
