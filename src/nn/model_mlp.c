/*
 * Multi-layer perceptron: widths = (inputs, hidden..., classes).
 * Layers: fc1, relu1, drop1, fc2, relu2, drop2, ..., fcL (no activation
 * after the last Linear). Dropout layers start at rate 0 (identity) and are
 * set with spt_model_set_dropout.
 */
#include <stdio.h>

#include "layers.h"
#include "model.h"

int spti_model_create_mlp(const int64_t *widths, int n_widths, uint64_t seed, spti_model **out) {
    *out = NULL;
    if (n_widths < 2) return spti_fail(SPT_ERR_SIZE, "mlp: %d widths given, need at least 2", n_widths);
    for (int i = 0; i < n_widths; i++)
        if (widths[i] < 1 || widths[i] > INT32_MAX)
            return spti_fail(SPT_ERR_SIZE, "mlp: width %d (%lld) must be in [1, INT32_MAX]", i, (long long)widths[i]);
    spti_model *m;
    SPTI_TRY(spti_model_new((spti_shape){widths[0], 1, 1}, seed, &m));
    m->arch = SPTI_ARCH_MLP;
    int rc = SPT_OK;
    char name[40];
    for (int i = 1; rc == SPT_OK && i < n_widths; i++) {
        spti_layer *L;
        snprintf(name, sizeof name, "fc%d", i);
        rc = spti_linear_create(name, widths[i - 1], widths[i], true, &L);
        if (rc == SPT_OK) rc = spti_model_append(m, L);
        if (rc != SPT_OK || i == n_widths - 1) break;
        spti_shape h = {widths[i], 1, 1};
        snprintf(name, sizeof name, "relu%d", i);
        rc = spti_relu_create(name, h, &L);
        if (rc == SPT_OK) rc = spti_model_append(m, L);
        if (rc != SPT_OK) break;
        snprintf(name, sizeof name, "drop%d", i);
        rc = spti_dropout_create(name, h, 0.0f, &L);
        if (rc == SPT_OK) rc = spti_model_append(m, L);
    }
    return spti_model_build_finish(m, rc, out);
}
