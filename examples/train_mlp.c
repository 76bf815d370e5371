/*
 * spt-train-mlp: train a sparse multi-layer perceptron (default: RigL at 90%
 * sparsity, hidden widths 4000-1000-4000, on Fashion-MNIST).
 * Usage and every flag: spt-train-mlp --help, or docs/examples.md.
 */
#include <stdio.h>

#include <sparsetrain.h>

#include "common/example.h"

enum { MAX_HIDDEN = 62 };

/* Input: the flattened image; hidden widths from --widths; output: one logit per class. */
static int build_mlp(const ex_opts *o, const spt_dataset *train, spt_model **out, char *desc, size_t cap) {
    int64_t widths[MAX_HIDDEN + 2], c, h, w, classes;
    int hidden = ex_parse_int_list(o->widths, widths + 1, MAX_HIDDEN);
    spt_dataset_info(train, NULL, &c, &h, &w, &classes);
    widths[0] = c * h * w;
    widths[hidden + 1] = classes;
    int len = snprintf(desc, cap, "mlp %lld", (long long)widths[0]);
    for (int i = 1; i < hidden + 2 && len > 0 && (size_t)len < cap; i++)
        len += snprintf(desc + len, cap - (size_t)len, "-%lld", (long long)widths[i]);
    if (!out) return -1;
    int rc = spt_model_create_mlp(widths, hidden + 2, (uint64_t)o->seed, out);
    if (rc != SPT_OK) return ex_usage_error(o, "--widths %s: %s", o->widths, spt_last_error());
    if (o->dropout > 0 && (rc = spt_model_set_dropout(*out, o->dropout)) != SPT_OK)
        return ex_usage_error(o, "--dropout %g: %s", o->dropout, spt_last_error());
    return -1;
}

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_MLP, argc, argv);
    if (st >= 0) return st;
    int64_t widths[MAX_HIDDEN];
    if (ex_parse_int_list(o.widths, widths, MAX_HIDDEN) < 0)
        return ex_usage_error(&o, "--widths '%s': expected up to %d positive integers like 4000,1000,4000", o.widths,
                              MAX_HIDDEN);
    /* Checked here too so that a bad rate is refused before the data is read. */
    if (!(o.dropout >= 0 && o.dropout < 1)) return ex_usage_error(&o, "--dropout %g: must be in [0, 1)", o.dropout);

    ex_run run;
    spt_dataset *train = NULL, *test = NULL;
    bool is_cifar = false;
    if ((st = ex_setup(&o, &run)) < 0 && (st = ex_load_data(&o, &train, &test, &is_cifar)) < 0)
        st = ex_train(&o, &run, build_mlp, train, test, is_cifar);
    ex_run_free(&run);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return st;
}
