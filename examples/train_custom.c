/*
 * spt-train-custom: your own network, described in code and trained with
 * RigL on Fashion-MNIST. One file over the public API, to be read top to
 * bottom: the network (spt_net_* calls, include/sparsetrain/net.h), the
 * data, the training loop in main, a checkpoint at the end.
 *
 *   ./build/examples/spt-train-custom [EPOCHS [TRAIN_LIMIT [DATA_DIR [CHECKPOINT]]]]
 *
 * EPOCHS defaults to 2, TRAIN_LIMIT (training examples used, 0 = all 60000)
 * to 10000, DATA_DIR to Debian's /usr/share/datasets/fashion-mnist,
 * CHECKPOINT to train_custom.ckpt (resume it with spt_trainer_load()).
 * Exit status: 0 on success, 1 on an error, 2 for a bad argument (named, before
 * the data is read), 77 when the data set is missing (ctest's "skipped").
 *
 * The network (shapes per example, C x H x W):
 *
 *   input                                      1 x 28 x 28
 *   conv1 3x3 pad 1, bn1, relu1               16 x 28 x 28   (kept dense)
 *   pool1 max 2x2                             16 x 14 x 14   = x
 *   block: conv1 3x3 stride 2 pad 1, bn1, relu1, conv2 3x3 pad 1, bn2
 *                                             32 x  7 x  7
 *          shortcut: 1x1 stride 2 conv, bn, from x
 *                                             32 x  7 x  7
 *          add (main + shortcut), relu2       32 x  7 x  7
 *   gap global average pooling                32 x  1 x  1
 *   fc linear                                 10              (the logits)
 *
 * python/examples/train_cnn.py is the same network with sparsetrain.Net.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsetrain.h>

/* A failing library call ends the program with the library's message. */
#define CHECK(call)                                                                                  \
    do {                                                                                             \
        int rc_ = (call);                                                                            \
        if (rc_ != SPT_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, spt_last_error());         \
            exit(1);                                                                                 \
        }                                                                                            \
    } while (0)

enum { BATCH = 64, WIDTH = 16, CLASSES = 10 };
static const double LR = 0.1, SPARSITY = 0.8;

/* Argument i, named `name` in the usage line: an integer in [lo, hi], or
 * `def` when it is absent. Anything else ends the program with exit status
 * 2 (a bad argument) and a message naming it, before any data is read. */
static int64_t int_arg(int argc, char **argv, int i, const char *name, int64_t def, int64_t lo, int64_t hi) {
    if (argc <= i) return def;
    char *end;
    errno = 0;
    long long v = strtoll(argv[i], &end, 10);
    if (argv[i][0] == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "%s: %s '%.64s%s': expected an integer in [%lld, %lld]\n", argv[0], name, argv[i],
                strlen(argv[i]) > 64 ? "..." : "", (long long)lo, (long long)hi);
        exit(2);
    }
    return v;
}

/* Argument i, named `name`: a path (non-empty, at most 4095 bytes), or `def`. */
static const char *path_arg(int argc, char **argv, int i, const char *name, const char *def) {
    if (argc <= i) return def;
    size_t len = strlen(argv[i]);
    if (len == 0 || len > 4095) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], name, len ? "longer than 4095 bytes" : "empty");
        exit(2);
    }
    return argv[i];
}

/* Append a layer of `kind` named `name` reading the tip; returns its id. */
static int64_t layer(spt_net *net, int kind, const char *name) {
    int64_t node;
    CHECK(spt_net_add_layer(net, kind, name, &node));
    return node;
}

/* Append a square convolution (no bias: a batch norm follows). */
static int64_t conv(spt_net *net, const char *name, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
    int64_t node = layer(net, SPT_LAYER_CONV2D, name);
    CHECK(spt_net_set(net, node, SPT_LP_OUT, (double)out));
    CHECK(spt_net_set(net, node, SPT_LP_KERNEL, (double)kernel));
    CHECK(spt_net_set(net, node, SPT_LP_STRIDE, (double)stride));
    CHECK(spt_net_set(net, node, SPT_LP_PADDING, (double)padding));
    return node;
}

int main(int argc, char **argv) {
    if (argc > 5) {
        fprintf(stderr, "%s: usage: %s [EPOCHS [TRAIN_LIMIT [DATA_DIR [CHECKPOINT]]]]\n", argv[0], argv[0]);
        return 2;
    }
    const int64_t epochs = int_arg(argc, argv, 1, "EPOCHS", 2, 1, 1000000);
    const int64_t limit = int_arg(argc, argv, 2, "TRAIN_LIMIT", 10000, 0, INT64_MAX);
    const char *dir = path_arg(argc, argv, 3, "DATA_DIR", SPT_FASHION_MNIST_DIR);
    const char *ckpt = path_arg(argc, argv, 4, "CHECKPOINT", "train_custom.ckpt");

    /* ---- data: Fashion-MNIST, 1 x 28 x 28 grey images, 10 classes,
     * normalised with the training set's mean and standard deviation. */
    spt_dataset *train, *test;
    if (spt_dataset_load_mnist(dir, SPT_SPLIT_TRAIN, limit, &train) != SPT_OK) {
        fprintf(stderr, "no Fashion-MNIST: %s\n", spt_last_error());
        return 77;
    }
    CHECK(spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, 0, &test));
    int64_t n_train, C, H, W;
    CHECK(spt_dataset_info(train, &n_train, &C, &H, &W, NULL));
    float mean, std;
    CHECK(spt_dataset_compute_mean_std(train, &mean, &std, 1));
    CHECK(spt_dataset_set_normalization(train, &mean, &std, 1));
    CHECK(spt_dataset_set_normalization(test, &mean, &std, 1));
    spt_batcher *batcher;
    CHECK(spt_batcher_create(train, BATCH, SPT_BATCH_SHUFFLE, 1, &batcher));
    int64_t batches;
    CHECK(spt_batcher_batches_per_epoch(batcher, &batches));

    /* ---- the network: each layer reads the tip (the last layer added) and
     * becomes the tip; a branch moves the tip back. */
    spt_net *net;
    CHECK(spt_net_create(C, H, W, &net));                                 /*  1 x 28 x 28 */
    int64_t c1 = conv(net, "conv1", WIDTH, 3, 1, 1);                      /* 16 x 28 x 28 */
    CHECK(spt_net_set(net, c1, SPT_LP_DENSITY, 1));                       /* 144 weights: keep them all */
    layer(net, SPT_LAYER_BATCHNORM, "bn1");
    layer(net, SPT_LAYER_RELU, "relu1");
    int64_t x = layer(net, SPT_LAYER_MAXPOOL, "pool1");                   /* 16 x 14 x 14 (kernel 2, stride 2) */
    /* the residual block's main path */
    conv(net, "block.conv1", 2 * WIDTH, 3, 2, 1);                         /* 32 x 7 x 7 */
    layer(net, SPT_LAYER_BATCHNORM, "block.bn1");
    layer(net, SPT_LAYER_RELU, "block.relu1");
    conv(net, "block.conv2", 2 * WIDTH, 3, 1, 1);                         /* 32 x 7 x 7 */
    int64_t main_path = layer(net, SPT_LAYER_BATCHNORM, "block.bn2");
    /* its shortcut: a projection of x to the main path's shape */
    CHECK(spt_net_set_tip(net, x));
    conv(net, "block.shortcut", 2 * WIDTH, 1, 2, 0);                      /* 32 x 7 x 7 */
    int64_t shortcut = layer(net, SPT_LAYER_BATCHNORM, "block.shortcut.bn");
    /* back on the main path: add the shortcut */
    CHECK(spt_net_set_tip(net, main_path));
    int64_t add = layer(net, SPT_LAYER_ADD, "block.add");                 /* main + shortcut */
    CHECK(spt_net_set(net, add, SPT_LP_INPUT, (double)shortcut));
    layer(net, SPT_LAYER_RELU, "block.relu2");
    layer(net, SPT_LAYER_GLOBAL_AVGPOOL, "gap");                          /* 32 x 1 x 1 */
    int64_t fc = layer(net, SPT_LAYER_LINEAR, "fc");                      /* 10: the logits */
    CHECK(spt_net_set(net, fc, SPT_LP_OUT, CLASSES));

    spt_model *model;
    CHECK(spt_model_create(net, 1, &model)); /* checks every shape; copies the description */
    spt_net_destroy(net);
    int64_t params;
    CHECK(spt_model_num_params(model, &params, NULL));

    /* ---- the run: SGD with momentum, a cosine schedule, RigL at 80%
     * sparsity (ERK distribution, a topology update every 50 steps). */
    const int64_t steps = epochs * batches;
    spt_optimizer *opt;
    CHECK(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt));
    CHECK(spt_optimizer_set_param(opt, SPT_OPT_LR, LR));
    CHECK(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9));
    CHECK(spt_optimizer_set_param(opt, SPT_OPT_WEIGHT_DECAY, 1e-4));
    spt_lr_schedule *sched;
    CHECK(spt_lr_schedule_create(SPT_LR_COSINE, &sched));
    CHECK(spt_lr_schedule_set_param(sched, SPT_LR_BASE, LR));
    spt_method_config *cfg;
    CHECK(spt_method_config_create(SPT_METHOD_RIGL, &cfg));
    CHECK(spt_method_config_set(cfg, SPT_MP_SPARSITY, SPARSITY));
    CHECK(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_ERK));
    CHECK(spt_method_config_set(cfg, SPT_MP_DELTA_T, 50));
    spt_trainer *trainer;
    CHECK(spt_trainer_create(model, opt, sched, cfg, steps, 1, &trainer)); /* copies opt, sched, cfg */
    spt_method_config_destroy(cfg);
    spt_lr_schedule_destroy(sched);
    spt_optimizer_destroy(opt);
    printf("custom CNN, %lld parameters, RigL at sparsity %.2f: %lld epochs of %lld batches of %d\n",
           (long long)params, SPARSITY, (long long)epochs, (long long)batches, BATCH);

    /* ---- the training loop */
    float *xb = malloc((size_t)(C * H * W * BATCH) * sizeof *xb); /* C x H x W x B, feature-major */
    int32_t yb[BATCH];                                             /* B labels */
    if (!xb) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int64_t epoch = 1; epoch <= epochs; epoch++) {
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        for (;;) {
            int64_t B; /* examples in this batch: BATCH, fewer at the end, 0 after the epoch's last */
            CHECK(spt_batcher_next(batcher, xb, C * H * W * BATCH, yb, BATCH, &B));
            if (B == 0) break;
            double loss;     /* mean cross-entropy of the batch */
            int64_t right;   /* correct predictions in the batch (before the step) */
            CHECK(spt_trainer_step(trainer, xb, yb, B, &loss, &right)); /* forward, backward, RigL, SGD */
            loss_sum += loss * (double)B;
            correct += right;
            seen += B;
        }
        double test_loss, test_acc, sparsity;
        CHECK(spt_trainer_evaluate(trainer, test, 256, &test_loss, &test_acc));
        CHECK(spt_trainer_sparsity(trainer, &sparsity, NULL, NULL));
        printf("epoch %lld  train loss %.4f  train acc %.4f  test loss %.4f  test acc %.4f  sparsity %.3f\n",
               (long long)epoch, loss_sum / (double)seen, (double)correct / (double)seen, test_loss, test_acc,
               sparsity);
        fflush(stdout);
    }

    /* ---- per-layer densities, and a checkpoint (the description, weights,
     * masks, optimizer and method state, the batcher's position) */
    int64_t weight_layers;
    CHECK(spt_trainer_num_weight_layers(trainer, &weight_layers));
    for (int64_t i = 0; i < weight_layers; i++) {
        const char *name;
        int64_t nnz, size;
        double density;
        CHECK(spt_trainer_layer_density(trainer, i, &name, &nnz, &size, &density));
        printf("  %-24s %6lld / %6lld  density %.3f\n", name, (long long)nnz, (long long)size, density);
    }
    CHECK(spt_trainer_save(trainer, batcher, ckpt));
    printf("saved %s\n", ckpt);

    free(xb);
    spt_trainer_destroy(trainer); /* before its model */
    spt_model_destroy(model);
    spt_batcher_destroy(batcher); /* before its dataset */
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return 0;
}
