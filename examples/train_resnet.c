/*
 * spt-train-resnet: train a sparse CIFAR ResNet (default: ResNet-20 with
 * RigL at 90% sparsity; CIFAR-10 with --data DIR, else Fashion-MNIST).
 * Usage and every flag: spt-train-resnet --help, or docs/examples.md.
 */
#include <stdio.h>

#include <sparsetrain.h>

#include "common/example.h"

/* Depth 6n + 2: a stem convolution, 3 stages of n two-convolution blocks,
 * the classifier. The description alone (spt_net_create_resnet). */
static int resnet_net(const ex_opts *o, int64_t c, int64_t h, int64_t w, int64_t classes, spt_net **out,
                      char *desc, size_t cap) {
    if ((o->depth - 2) % 6 != 0)
        return ex_usage_error(o, "--depth %lld: must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...)", (long long)o->depth);
    snprintf(desc, cap, "resnet-%lld width %lld on %lldx%lldx%lld", (long long)o->depth, (long long)o->width,
             (long long)c, (long long)h, (long long)w);
    int rc = spt_net_create_resnet(c, h, w, (o->depth - 2) / 6, o->width, classes, out);
    if (rc == SPT_ERR_NOMEM)
        return ex_fail(o, "--depth %lld --width %lld: %s", (long long)o->depth, (long long)o->width, spt_last_error());
    if (rc != SPT_OK)
        return ex_usage_error(o, "--depth %lld --width %lld: %s", (long long)o->depth, (long long)o->width,
                              spt_last_error());
    return -1;
}

int main(int argc, char **argv) {
    ex_opts o;
    int st = ex_parse_args(&o, EX_RESNET, argc, argv);
    if (st >= 0) return st;
    return ex_main(&o, resnet_net);
}
