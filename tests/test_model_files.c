/* The shipped model files (examples/models/, docs/models.md): each reads,
 * builds, has the parameter count worked out here from the paper's
 * description of the architecture (own arithmetic, not the library's), and
 * takes one RigL training step at 90% sparsity on a batch of 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

/* ---- counts by hand --------------------------------------------------------------- */

static int64_t linear(int64_t in, int64_t out) { return in * out + out; }
/* k x k convolution; bias 0/1; groups divide in and out. */
static int64_t conv(int64_t in, int64_t out, int64_t k, int bias, int64_t groups) {
    return out * (in / groups) * k * k + (bias ? out : 0);
}
static int64_t bn(int64_t c) { return 2 * c; }

/* LeNet-300-100: 784-300-100-10. */
static int64_t count_lenet_300_100(void) { return linear(784, 300) + linear(300, 100) + linear(100, 10); }

/* LeNet-5 on 28 x 28 (conv1 pads 2): 6@5x5 -> pool -> 16@5x5 (10 x 10) ->
 * pool (5 x 5) -> 120 -> 84 -> 10, biases everywhere. */
static int64_t count_lenet_5(void) {
    return conv(1, 6, 5, 1, 1) + conv(6, 16, 5, 1, 1) + linear(16 * 5 * 5, 120) + linear(120, 84) + linear(84, 10);
}

/* Conv-2/4/6 (lottery tickets, Figure 2): pairs of 3x3 convolutions with
 * bias (64, 128, 256 channels), a 2x2 pool after each pair, FC 256, 256, 10
 * on 32 x 32 inputs. */
static int64_t count_conv_n(int pairs) {
    int64_t total = 0, in = 3, side = 32;
    for (int p = 0; p < pairs; p++) {
        const int64_t c = 64 << p;
        total += conv(in, c, 3, 1, 1) + conv(c, c, 3, 1, 1);
        in = c;
        side /= 2;
    }
    return total + linear(in * side * side, 256) + linear(256, 256) + linear(256, 10);
}

/* VGG-19 with batch norm (CIFAR): 16 convolutions 3x3 without bias, each
 * followed by BN; a single linear 512 -> 10 after global pooling. */
static int64_t count_vgg19(void) {
    static const int plan[16] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};
    int64_t total = 0, in = 3;
    for (int i = 0; i < 16; i++) {
        total += conv(in, plan[i], 3, 0, 1) + bn(plan[i]);
        in = plan[i];
    }
    return total + linear(512, 10);
}

/* CIFAR ResNet (He et al. 2016), as the library builds it: stem 3x3 to 16
 * with BN; n basic blocks per stage (16, 32, 64 channels), each two 3x3
 * convolutions with BN, a 1x1 convolution with BN as the shortcut where
 * the channels change (option B); linear 64 -> 10. */
static int64_t count_resnet(int n) {
    int64_t total = conv(3, 16, 3, 0, 1) + bn(16), in = 16;
    for (int s = 0; s < 3; s++) {
        const int64_t c = 16 << s;
        for (int b = 0; b < n; b++) {
            total += conv(in, c, 3, 0, 1) + bn(c) + conv(c, c, 3, 0, 1) + bn(c);
            if (in != c) total += conv(in, c, 1, 0, 1) + bn(c);
            in = c;
        }
    }
    return total + linear(64, 10);
}

/* WRN-d-k, pre-activation (Zagoruyko & Komodakis): stem 3x3 to 16; n =
 * (d - 4) / 6 blocks per stage with 16k, 32k, 64k channels, each BN, conv,
 * BN, conv; a 1x1 shortcut convolution where the channels change; final
 * BN; linear 64k -> 10. No biases in convolutions. */
static int64_t count_wrn(int depth, int k) {
    const int n = (depth - 4) / 6;
    int64_t total = conv(3, 16, 3, 0, 1), in = 16;
    for (int s = 0; s < 3; s++) {
        const int64_t c = (int64_t)(16 << s) * k;
        for (int b = 0; b < n; b++) {
            total += bn(in) + conv(in, c, 3, 0, 1) + bn(c) + conv(c, c, 3, 0, 1);
            if (in != c) total += conv(in, c, 1, 0, 1);
            in = c;
        }
    }
    return total + bn(in) + linear(in, 10);
}

/* MobileNet-v1 on CIFAR: 3x3 stem to 32 with BN, 13 blocks (depthwise 3x3
 * + BN, pointwise 1x1 + BN) to 64, 128, 128, 256, 256, 512 x 6, 1024,
 * 1024; linear 1024 -> 10. */
static int64_t count_mobilenet_v1(void) {
    static const int out[13] = {64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
    int64_t total = conv(3, 32, 3, 0, 1) + bn(32), in = 32;
    for (int i = 0; i < 13; i++) {
        total += conv(in, in, 3, 0, in) + bn(in) + conv(in, out[i], 1, 0, 1) + bn(out[i]);
        in = out[i];
    }
    return total + linear(1024, 10);
}

/* ---- the files -------------------------------------------------------------------- */

/* Read, build, compare the count, one training step; the model is returned. */
static spt_model *check_file(const char *file, int64_t expected, int64_t c, int64_t h, int64_t w) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SPT_MODELS_DIR, file);
    spt_net *net = NULL;
    if (spt_net_read(path, &net) != SPT_OK) fail_msg("%s", spt_last_error());
    spt_model *m = NULL;
    if (spt_model_create(net, 1, &m) != SPT_OK) fail_msg("%s: %s", file, spt_last_error());
    spt_net_destroy(net);
    int64_t dense = 0;
    assert_status(spt_model_num_params(m, &dense, NULL), SPT_OK);
    if (dense != expected) fail_msg("%s: %lld parameters, expected %lld", file, (long long)dense, (long long)expected);
    int64_t mc, mh, mw, classes;
    assert_status(spt_model_input_shape(m, &mc, &mh, &mw), SPT_OK);
    assert_int_equal(mc, c);
    assert_int_equal(mh, h);
    assert_int_equal(mw, w);
    assert_status(spt_model_num_classes(m, &classes), SPT_OK);
    assert_int_equal(classes, 10);

    spt_optimizer *o = NULL;
    spt_method_config *cfg = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.9), SPT_OK);
    if (spt_trainer_create(m, o, NULL, cfg, 10, 1, &t) != SPT_OK) fail_msg("%s: %s", file, spt_last_error());
    enum { N = 2 };
    const int64_t size = c * h * w;
    float *x = test_malloc((size_t)(size * N) * sizeof(float));
    for (int64_t i = 0; i < size * N; i++) x[i] = (float)((i * 7919) % 201) / 100.0f - 1.0f;
    int32_t y[N] = {3, 7};
    double loss = 0;
    if (spt_trainer_step(t, x, y, N, &loss, NULL) != SPT_OK) fail_msg("%s: %s", file, spt_last_error());
    assert_true(isfinite(loss) && loss > 0);
    test_free(x);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    return m;
}

static void test_lenet(void **state) {
    (void)state;
    assert_int_equal(count_lenet_300_100(), 266610); /* the figure the papers print */
    spt_model_destroy(check_file("lenet-300-100.model", count_lenet_300_100(), 1, 28, 28));
    assert_int_equal(count_lenet_5(), 61706);
    spt_model_destroy(check_file("lenet-5.model", count_lenet_5(), 1, 28, 28));
}

static void test_conv_n(void **state) {
    (void)state;
    /* The paper prints 4.3M, 2.4M and 1.7M (Conv-6: see docs/models.md). */
    assert_true(llabs(count_conv_n(1) - 4300000) < 50000);
    assert_true(llabs(count_conv_n(2) - 2400000) < 50000);
    spt_model_destroy(check_file("conv-2.model", count_conv_n(1), 3, 32, 32));
    spt_model_destroy(check_file("conv-4.model", count_conv_n(2), 3, 32, 32));
    spt_model_destroy(check_file("conv-6.model", count_conv_n(3), 3, 32, 32));
}

static void test_vgg19(void **state) {
    (void)state;
    assert_true(llabs(count_vgg19() - 20000000) < 50000); /* the paper: 20.0M */
    spt_model_destroy(check_file("vgg-19.model", count_vgg19(), 3, 32, 32));
}

static void test_resnets(void **state) {
    (void)state;
    static const struct {
        const char *file;
        int n;
    } nets[] = {{"resnet-20.model", 3}, {"resnet-32.model", 5}, {"resnet-56.model", 9}};
    for (int i = 0; i < 3; i++) {
        spt_model *builtin = NULL;
        assert_status(spt_model_create_resnet(3, 32, 32, nets[i].n, 1, 10, 1, &builtin), SPT_OK);
        int64_t expected = 0;
        spt_model_num_params(builtin, &expected, NULL);
        spt_model_destroy(builtin);
        assert_int_equal(expected, count_resnet(nets[i].n));
        spt_model_destroy(check_file(nets[i].file, expected, 3, 32, 32));
    }
}

static void test_wrn_22_2(void **state) {
    (void)state;
    spt_model_destroy(check_file("wrn-22-2.model", count_wrn(22, 2), 3, 32, 32));
}

/* The depthwise layers stay dense under the sparse method. */
static void test_mobilenet_v1(void **state) {
    (void)state;
    spt_model *m = check_file("mobilenet-v1.model", count_mobilenet_v1(), 3, 32, 32);
    int64_t layers = 0, dw = 0;
    spt_model_num_layers(m, &layers);
    for (int64_t i = 0; i < layers; i++) {
        const char *name, *kind;
        spt_model_layer_info(m, i, &name, &kind);
        if (strcmp(kind, "conv2d") != 0) continue;
        int64_t rows, cols, nnz;
        double density;
        assert_status(spt_model_layer_weight(m, i, &rows, &cols, &nnz, &density), SPT_OK);
        const size_t len = strlen(name);
        if (len > 3 && strcmp(name + len - 3, ".dw") == 0) {
            if (density != 1.0) fail_msg("%s: density %g", name, density);
            dw++;
        } else if (strcmp(name, "b13.pw") == 0) {
            assert_true(density < 0.5); /* the largest weight carries the sparsity */
        }
    }
    assert_int_equal(dw, 13);
    spt_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet),    cmocka_unit_test(test_conv_n),   cmocka_unit_test(test_vgg19),
        cmocka_unit_test(test_resnets),  cmocka_unit_test(test_wrn_22_2), cmocka_unit_test(test_mobilenet_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
