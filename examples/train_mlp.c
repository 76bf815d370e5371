/*
 * spt-train-mlp: train a sparse multi-layer perceptron (default: RigL at 90%
 * sparsity, hidden widths 4000-1000-4000, on Fashion-MNIST).
 * Usage and every flag: spt-train-mlp --help, or docs/examples.md.
 */
#include <stdio.h>
#include <string.h>

#include <sparsetrain.h>

#include "common/example.h"

enum { MAX_HIDDEN = 62 };

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_MLP, argc, argv);
    if (st >= 0) return st;

    int64_t widths[MAX_HIDDEN + 2];
    int hidden = ex_parse_int_list(o.widths, widths + 1, MAX_HIDDEN);
    if (hidden < 0)
        return ex_usage_error(&o, "--widths '%s': expected up to %d positive integers like 4000,1000,4000", o.widths,
                              MAX_HIDDEN);
    if (!(o.dropout >= 0 && o.dropout < 1)) return ex_usage_error(&o, "--dropout %g: must be in [0, 1)", o.dropout);

    ex_run run;
    spt_dataset *train = NULL, *test = NULL;
    spt_model *model = NULL;
    bool is_cifar = false;
    if ((st = ex_setup(&o, &run)) >= 0) goto out;
    if ((st = ex_load_data(&o, &train, &test, &is_cifar)) >= 0) goto out;

    /* Input: the flattened image; output: one logit per class. */
    int64_t c, h, w, classes;
    spt_dataset_info(train, NULL, &c, &h, &w, &classes);
    widths[0] = c * h * w;
    widths[hidden + 1] = classes;
    int rc = spt_model_create_mlp(widths, hidden + 2, (uint64_t)o.seed, &model);
    if (rc != SPT_OK) {
        st = ex_usage_error(&o, "--widths %s: %s", o.widths, spt_last_error());
        goto out;
    }
    if (o.dropout > 0 && (rc = spt_model_set_dropout(model, o.dropout)) != SPT_OK) {
        st = ex_usage_error(&o, "--dropout %g: %s", o.dropout, spt_last_error());
        goto out;
    }
    char desc[512];
    int len = snprintf(desc, sizeof desc, "mlp %lld", (long long)widths[0]);
    for (int i = 1; i < hidden + 2 && len > 0 && (size_t)len < sizeof desc; i++)
        len += snprintf(desc + len, sizeof desc - (size_t)len, "-%lld", (long long)widths[i]);
    st = ex_train(&o, &run, desc, model, train, test, is_cifar);
out:
    ex_run_free(&run);
    spt_model_destroy(model);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return st;
}
