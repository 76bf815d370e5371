/* Erdos-Renyi (ER) and Erdos-Renyi-Kernel (ERK) sparsity distributions
 * (Mocanu et al. 2018; Evci et al. 2020), with the exact solve that makes
 * the layers whose density would pass 1 dense (sparsity.h, section 3).
 *
 * Layer l gets density eps * score_l. With F the layers still free and R the
 * budget not yet spent on kept or saturated layers, eps = R / sum_F
 * score_l * size_l. When eps * max score > 1, every free layer with the
 * largest score becomes dense, pays its size from R, and eps is solved again.
 * Each round removes at least one layer, so at most n_layers rounds run. */
#include "allocate.h"

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
