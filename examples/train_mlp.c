/*
 * spt-train-mlp: train a sparse multi-layer perceptron (default: RigL at 90%
 * sparsity, hidden widths 4000-1000-4000, on Fashion-MNIST).
 * Usage and every flag: spt-train-mlp --help, or docs/examples.md.
 */
#include <stdio.h>

#include <sparsetrain.h>

#include "common/example.h"

enum { MAX_HIDDEN = 62 };

/* Input: the flattened image; hidden widths from --widths; output: one logit
 * per class. The description alone (spt_net_create_mlp): the common code
 * sizes it against the memory, then builds it. */
static int mlp_net(const ex_opts *o, int64_t c, int64_t h, int64_t w, int64_t classes, spt_net **out, char *desc,
                   size_t cap) {
    int64_t widths[MAX_HIDDEN + 2];
    int hidden = ex_parse_int_list(o->widths, widths + 1, MAX_HIDDEN);
    if (hidden < 0)
        return ex_usage_error(o, "--widths '%s': expected up to %d positive integers like 4000,1000,4000", o->widths,
                              MAX_HIDDEN);
    for (int i = 1; i <= hidden; i++)
        if (widths[i] > INT32_MAX)
            return ex_usage_error(o, "--widths %s: width %lld is above the largest, %d", o->widths,
                                  (long long)widths[i], INT32_MAX);
    if (!(o->dropout >= 0 && o->dropout < 1)) return ex_usage_error(o, "--dropout %g: must be in [0, 1)", o->dropout);
    widths[0] = c * h * w;
    widths[hidden + 1] = classes;
    int len = snprintf(desc, cap, "mlp %lld", (long long)widths[0]);
    for (int i = 1; i < hidden + 2 && len > 0 && (size_t)len < cap; i++)
        len += snprintf(desc + len, cap - (size_t)len, "-%lld", (long long)widths[i]);
    int rc = spt_net_create_mlp(widths, hidden + 2, out);
    if (rc == SPT_ERR_NOMEM) return ex_fail(o, "--widths %s: %s", o->widths, spt_last_error());
    if (rc != SPT_OK) return ex_usage_error(o, "--widths %s: %s", o->widths, spt_last_error());
    return -1;
}

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_MLP, argc, argv);
    if (st >= 0) return st;
    return ex_main(&o, mlp_net);
}
