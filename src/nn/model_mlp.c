/*
 * Multi-layer perceptron, described with the public network API (net.h):
 * widths = (inputs, hidden..., classes). Layers: fc1, relu1, drop1, fc2,
 * relu2, drop2, ..., fcL (no activation after the last Linear). Dropout
 * layers start at rate 0 (identity) and are set with spt_model_set_dropout.
 */
#include <stdio.h>

#include "model.h"

/* Append a layer of `kind` named fmt<i> with its output size (0: none). */
static int layer(spt_net *net, int kind, const char *prefix, int i, int64_t out) {
    char name[SPTI_NET_NAME];
    snprintf(name, sizeof name, "%s%d", prefix, i);
    int64_t node;
    SPTI_TRY(spt_net_add_layer(net, kind, name, &node));
    return out > 0 ? spt_net_set(net, node, SPT_LP_OUT, (double)out) : SPT_OK;
}

int spti_net_mlp(const int64_t *widths, int n_widths, spt_net **out) {
    *out = NULL;
    if (n_widths < 2) return spti_fail(SPT_ERR_SIZE, "mlp: %d widths given, need at least 2", n_widths);
    for (int i = 0; i < n_widths; i++)
        if (widths[i] < 1 || widths[i] > INT32_MAX)
            return spti_fail(SPT_ERR_SIZE, "mlp: width %d (%lld) must be in [1, INT32_MAX]", i, (long long)widths[i]);
    spt_net *net;
    SPTI_TRY(spt_net_create(widths[0], 1, 1, &net));
    int rc = SPT_OK;
    for (int i = 1; rc == SPT_OK && i < n_widths; i++) {
        rc = layer(net, SPT_LAYER_LINEAR, "fc", i, widths[i]);
        if (rc == SPT_OK && i < n_widths - 1) rc = layer(net, SPT_LAYER_RELU, "relu", i, 0);
        if (rc == SPT_OK && i < n_widths - 1) rc = layer(net, SPT_LAYER_DROPOUT, "drop", i, 0);
    }
    if (rc != SPT_OK) {
        spt_net_destroy(net);
        return rc;
    }
    *out = net;
    return SPT_OK;
}

int spti_model_create_mlp(const int64_t *widths, int n_widths, uint64_t seed, spti_model **out) {
    *out = NULL;
    spt_net *net;
    SPTI_TRY(spti_net_mlp(widths, n_widths, &net));
    int rc = spti_model_create(net, seed, out);
    spt_net_destroy(net);
    return rc;
}
