/* Internal view of a method configuration (see include/sparsetrain/method.h). */
#ifndef SPTI_METHOD_CONFIG_H
#define SPTI_METHOD_CONFIG_H

#include "../core/internal.h"

/* A user method's criteria (user_method.h); a configuration holds a copy. */
struct spt_user_method {
    char name[48];
    spt_drop_score_fn drop; /* NULL: |w| */
    void *drop_user;
    int grow_kind;          /* spt_grow_kind */
    spt_grow_score_fn grow; /* SPT_GROW_SCORE / _GRADIENT_SCORE only */
    void *grow_user;
    int update_point;       /* spt_update_point */
};

struct spt_method_config {
    int method;
    spt_user_method *user;  /* owned copy for SPT_METHOD_USER, else NULL */
    double value[SPT_MP_COUNT_];
    bool was_set[SPT_MP_COUNT_];
    double *densities; /* custom per-layer densities, or NULL */
    int64_t n_densities;
};

/* A configuration of `ops` with every key at its default (no check of
 * the method's flags: spt_method_config_create refuses user methods). */
struct spti_method_ops;
int spti_method_config_new(const struct spti_method_ops *ops, spt_method_config **out);

/* Deep copy (the trainer keeps its own). */
int spti_method_config_clone(const spt_method_config *cfg, spt_method_config **out);

#endif
