/*
 * CIFAR ResNet family (He et al. 2016, section 4.2), described with the
 * public network API (net.h): conv3x3(C -> 16w), BN, ReLU, three stages of
 * n basic blocks with 16w, 32w, 64w channels (the first block of stages 2
 * and 3 has stride 2), global average pooling and Linear(64w -> classes).
 * ResNet-20/32/56 are n = 3/5/9 with w = 1.
 *
 * A basic block (option B shortcut), named layer<s>.<b>:
 *   conv1 (3x3, stride) bn1 relu1 conv2 (3x3) bn2          main path
 *   shortcut.conv (1x1, stride) shortcut.bn                 where the shape changes
 *   add (main + shortcut, or + the block's input) relu2
 * Names: conv1, bn1, relu1, layer1.0.conv1 .. layer3.<n-1>.relu2, pool, fc.
 */
#include <stdio.h>

#include "model.h"

typedef struct builder {
    spt_net *net;
    char prefix[SPTI_NET_NAME]; /* "layer2.0" inside a block, "" outside */
    int rc;
} builder;

/* Append a layer named <prefix>.<name>, with up to three parameters
 * (key -1: none); remember the first failure. */
static int64_t add(builder *b, int kind, const char *name, int k1, double v1, int k2, double v2, int k3, double v3) {
    int64_t node = -1;
    if (b->rc != SPT_OK) return node;
    char full[2 * SPTI_NET_NAME]; /* the description refuses names that do not fit */
    snprintf(full, sizeof full, "%s%s%s", b->prefix, b->prefix[0] ? "." : "", name);
    b->rc = spt_net_add_layer(b->net, kind, full, &node);
    const int keys[3] = {k1, k2, k3};
    const double values[3] = {v1, v2, v3};
    for (int i = 0; i < 3 && b->rc == SPT_OK; i++)
        if (keys[i] >= 0) b->rc = spt_net_set(b->net, node, keys[i], values[i]);
    return node;
}

static void conv(builder *b, const char *name, int64_t out_c, int64_t k, int64_t stride) {
    add(b, SPT_LAYER_CONV2D, name, SPT_LP_OUT, (double)out_c, SPT_LP_KERNEL, (double)k, SPT_LP_STRIDE,
        (double)stride);
    if (b->rc == SPT_OK && k == 3) { /* 3x3 pad 1: H' = (H - 1) / stride + 1, as the 1x1 unpadded shortcut */
        int64_t node;
        spt_net_tip(b->net, &node);
        b->rc = spt_net_set(b->net, node, SPT_LP_PADDING, 1);
    }
}

static void plain(builder *b, int kind, const char *name) { add(b, kind, name, -1, 0, -1, 0, -1, 0); }

/* One basic block from in_c to out_c channels. */
static void block(builder *b, int stage, int64_t index, int64_t in_c, int64_t out_c, int64_t stride) {
    snprintf(b->prefix, sizeof b->prefix, "layer%d.%lld", stage, (long long)index);
    int64_t x = -1;
    if (b->rc == SPT_OK) b->rc = spt_net_tip(b->net, &x);
    conv(b, "conv1", out_c, 3, stride);
    plain(b, SPT_LAYER_BATCHNORM, "bn1");
    plain(b, SPT_LAYER_RELU, "relu1");
    conv(b, "conv2", out_c, 3, 1);
    plain(b, SPT_LAYER_BATCHNORM, "bn2");
    int64_t main = -1, shortcut = x;
    if (b->rc == SPT_OK) b->rc = spt_net_tip(b->net, &main);
    if (stride != 1 || in_c != out_c) {
        if (b->rc == SPT_OK) b->rc = spt_net_set_tip(b->net, x);
        conv(b, "shortcut.conv", out_c, 1, stride);
        plain(b, SPT_LAYER_BATCHNORM, "shortcut.bn");
        if (b->rc == SPT_OK) b->rc = spt_net_tip(b->net, &shortcut);
        if (b->rc == SPT_OK) b->rc = spt_net_set_tip(b->net, main);
    }
    add(b, SPT_LAYER_ADD, "add", SPT_LP_INPUT, (double)shortcut, -1, 0, -1, 0);
    plain(b, SPT_LAYER_RELU, "relu2");
    b->prefix[0] = '\0';
}

int spti_net_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                    int64_t classes, spt_net **out) {
    *out = NULL;
    if (blocks_per_stage < 1 || blocks_per_stage > 1000)
        return spti_fail(SPT_ERR_SIZE, "resnet: blocks per stage (%lld) must be in [1, 1000]",
                         (long long)blocks_per_stage);
    if (width_mult < 1 || width_mult > (1 << 20))
        return spti_fail(SPT_ERR_SIZE, "resnet: width multiplier (%lld) must be in [1, 2^20]", (long long)width_mult);
    if (classes < 1 || classes > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "resnet: classes (%lld) must be in [1, INT32_MAX]", (long long)classes);
    builder b = {0};
    SPTI_TRY(spt_net_create(in_c, in_h, in_w, &b.net));
    const int64_t c0 = 16 * width_mult;
    conv(&b, "conv1", c0, 3, 1);
    plain(&b, SPT_LAYER_BATCHNORM, "bn1");
    plain(&b, SPT_LAYER_RELU, "relu1");
    int64_t c = c0;
    for (int stage = 0; stage < 3; stage++)
        for (int64_t i = 0; i < blocks_per_stage; i++) {
            const int64_t ch = c0 << stage;
            block(&b, stage + 1, i, c, ch, stage > 0 && i == 0 ? 2 : 1);
            c = ch;
        }
    plain(&b, SPT_LAYER_GLOBAL_AVGPOOL, "pool");
    add(&b, SPT_LAYER_LINEAR, "fc", SPT_LP_OUT, (double)classes, -1, 0, -1, 0);
    if (b.rc != SPT_OK) {
        spt_net_destroy(b.net);
        return b.rc;
    }
    *out = b.net;
    return SPT_OK;
}

int spti_model_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                             int64_t classes, uint64_t seed, spti_model **out) {
    *out = NULL;
    spt_net *net;
    SPTI_TRY(spti_net_resnet(in_c, in_h, in_w, blocks_per_stage, width_mult, classes, &net));
    int rc = spti_model_create(net, seed, out);
    spt_net_destroy(net);
    return rc;
}
