/*
 * spt-train-resnet: train a sparse CIFAR ResNet (default: ResNet-20 with
 * RigL at 90% sparsity; CIFAR-10 with --data DIR, else Fashion-MNIST).
 * Usage and every flag: spt-train-resnet --help, or docs/examples.md.
 */
#include <stdio.h>

#include <sparsetrain.h>

#include "common/example.h"

/* Depth 6n + 2: a stem convolution, 3 stages of n two-convolution blocks, the classifier. */
static int build_resnet(const ex_opts *o, const spt_dataset *train, spt_model **out, char *desc, size_t cap) {
    int64_t c, h, w, classes;
    spt_dataset_info(train, NULL, &c, &h, &w, &classes);
    snprintf(desc, cap, "resnet-%lld width %lld on %lldx%lldx%lld", (long long)o->depth, (long long)o->width,
             (long long)c, (long long)h, (long long)w);
    if (!out) return -1;
    int rc = spt_model_create_resnet(c, h, w, (o->depth - 2) / 6, o->width, classes, (uint64_t)o->seed, out);
    if (rc != SPT_OK)
        return ex_usage_error(o, "--depth %lld --width %lld: %s", (long long)o->depth, (long long)o->width,
                              spt_last_error());
    return -1;
}

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_RESNET, argc, argv);
    if (st >= 0) return st;
    if ((o.depth - 2) % 6 != 0)
        return ex_usage_error(&o, "--depth %lld: must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...)", (long long)o.depth);

    ex_run run;
    spt_dataset *train = NULL, *test = NULL;
    bool is_cifar = false;
    if ((st = ex_setup(&o, &run)) < 0 && (st = ex_load_data(&o, &train, &test, &is_cifar)) < 0)
        st = ex_train(&o, &run, build_resnet, train, test, is_cifar);
    ex_run_free(&run);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return st;
}
