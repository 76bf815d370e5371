/*
 * CIFAR ResNet family (He et al. 2016, section 4.2): conv3x3(C -> 16w), BN,
 * ReLU, three stages of n basic blocks with 16w, 32w, 64w channels (the
 * first block of stages 2 and 3 has stride 2), global average pooling and
 * Linear(64w -> classes). ResNet-20/32/56 are n = 3/5/9 with w = 1.
 * Names: conv1, bn1, relu1, layer1.0 .. layer3.<n-1> (children conv1, bn1,
 * relu1, conv2, bn2, shortcut.conv, shortcut.bn), pool, fc.
 */
#include <stdio.h>

#include "layers.h"
#include "model.h"

/* Append L when its constructor succeeded (the model then owns it). */
static int append_new(spti_model *m, int rc, spti_layer *L) { return rc == SPT_OK ? spti_model_append(m, L) : rc; }

int spti_model_create_resnet(int64_t in_c, int64_t in_h, int64_t in_w, int64_t blocks_per_stage, int64_t width_mult,
                             int64_t classes, uint64_t seed, spti_model **out) {
    *out = NULL;
    if (blocks_per_stage < 1 || blocks_per_stage > 1000)
        return spti_fail(SPT_ERR_SIZE, "resnet: blocks per stage (%lld) must be in [1, 1000]",
                         (long long)blocks_per_stage);
    if (width_mult < 1 || width_mult > (1 << 20))
        return spti_fail(SPT_ERR_SIZE, "resnet: width multiplier (%lld) must be in [1, 2^20]", (long long)width_mult);
    if (classes < 1 || classes > INT32_MAX)
        return spti_fail(SPT_ERR_SIZE, "resnet: classes (%lld) must be in [1, INT32_MAX]", (long long)classes);
    spti_model *m;
    SPTI_TRY(spti_model_new((spti_shape){in_c, in_h, in_w}, seed, &m));
    m->arch = SPTI_ARCH_RESNET;
    const int64_t c0 = 16 * width_mult;
    spti_layer *L = NULL;
    spti_conv2d_spec stem = {in_c, in_h, in_w, c0, 3, 3, 1, 1, false, 1};
    int rc = spti_conv2d_create("conv1", &stem, &L);
    rc = append_new(m, rc, L);
    if (rc == SPT_OK) {
        rc = spti_batchnorm2d_create("bn1", c0, in_h, in_w, &L);
        rc = append_new(m, rc, L);
    }
    if (rc == SPT_OK) {
        rc = spti_relu_create("relu1", (spti_shape){c0, in_h, in_w}, &L);
        rc = append_new(m, rc, L);
    }
    spti_shape cur = {c0, in_h, in_w};
    char name[40];
    for (int stage = 0; rc == SPT_OK && stage < 3; stage++) {
        const int64_t ch = c0 << stage;
        for (int64_t b = 0; rc == SPT_OK && b < blocks_per_stage; b++) {
            const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
            snprintf(name, sizeof name, "layer%d.%lld", stage + 1, (long long)b);
            rc = spti_residual_block_create(name, cur.c, cur.h, cur.w, ch, stride, &L);
            rc = append_new(m, rc, L);
            if (rc == SPT_OK) cur = L->out_shape;
        }
    }
    if (rc == SPT_OK) {
        rc = spti_global_avgpool_create("pool", cur.c, cur.h, cur.w, &L);
        rc = append_new(m, rc, L);
    }
    if (rc == SPT_OK) {
        rc = spti_linear_create("fc", cur.c, classes, true, &L);
        rc = append_new(m, rc, L);
    }
    return spti_model_build_finish(m, rc, out);
}
