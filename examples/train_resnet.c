/*
 * spt-train-resnet: train a sparse CIFAR ResNet (default: ResNet-20 with
 * RigL at 90% sparsity; CIFAR-10 with --data DIR, else Fashion-MNIST).
 * Usage and every flag: spt-train-resnet --help, or docs/examples.md.
 */
#include <stdio.h>

#include <sparsetrain.h>

#include "common/example.h"

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_RESNET, argc, argv);
    if (st >= 0) return st;
    /* Depth 6n + 2: a stem convolution, 3 stages of n two-convolution blocks, the classifier. */
    if ((o.depth - 2) % 6 != 0)
        return ex_usage_error(&o, "--depth %lld: must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...)", (long long)o.depth);
    const int64_t blocks = (o.depth - 2) / 6;

    ex_run run;
    spt_dataset *train = NULL, *test = NULL;
    spt_model *model = NULL;
    bool is_cifar = false;
    if ((st = ex_setup(&o, &run)) >= 0) goto out;
    if ((st = ex_load_data(&o, &train, &test, &is_cifar)) >= 0) goto out;

    int64_t c, h, w, classes;
    spt_dataset_info(train, NULL, &c, &h, &w, &classes);
    int rc = spt_model_create_resnet(c, h, w, blocks, o.width, classes, (uint64_t)o.seed, &model);
    if (rc != SPT_OK) {
        st = ex_usage_error(&o, "--depth %lld --width %lld: %s", (long long)o.depth, (long long)o.width,
                            spt_last_error());
        goto out;
    }
    char desc[128];
    snprintf(desc, sizeof desc, "resnet-%lld width %lld on %lldx%lldx%lld", (long long)o.depth, (long long)o.width,
             (long long)c, (long long)h, (long long)w);
    st = ex_train(&o, &run, desc, model, train, test, is_cifar);
out:
    ex_run_free(&run);
    spt_model_destroy(model);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return st;
}
