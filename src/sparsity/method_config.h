/* Internal view of a method configuration (see include/sparsetrain/method.h). */
#ifndef SPTI_METHOD_CONFIG_H
#define SPTI_METHOD_CONFIG_H

#include "../core/internal.h"

struct spt_method_config {
    int method;
    double value[SPT_MP_COUNT_];
    bool was_set[SPT_MP_COUNT_];
    double *densities; /* custom per-layer densities, or NULL */
    int64_t n_densities;
};

/* Deep copy (the trainer keeps its own). */
int spti_method_config_clone(const spt_method_config *cfg, spt_method_config **out);

#endif
