/* Uniform sparsity distribution: every layer not kept dense gets the same
 * density, chosen so that the whole list meets the budget (sparsity.h,
 * section 3). */
#include "allocate.h"

void spti_allocate_uniform(int64_t n_layers, const int32_t *ndim, const int64_t *shape, const uint8_t *keep,
                           double budget, double *density) {
    int64_t free_total = 0;
    for (int64_t l = 0; l < n_layers; l++)
        if (keep == NULL || !keep[l]) free_total += spti_layer_size(ndim, shape, l);
    double d = free_total > 0 ? budget / (double)free_total : 1.0;
    if (d > 1.0) d = 1.0;
    for (int64_t l = 0; l < n_layers; l++) density[l] = (keep != NULL && keep[l]) ? 1.0 : d;
}
