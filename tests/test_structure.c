/* Structured sparsity (SPT_MP_STRUCTURE) through the public API: the
 * invariant of each structure holds at creation and after every step of
 * static, SET, RigL and SNFS runs on a small MLP and a small ResNet
 * (fanin: every row of a sparse layer holds exactly its fan-in; nm: never
 * more than N in any group of M consecutive inputs of a row, and each row's
 * count unchanged), the topology does move, runs are reproducible for one
 * seed, and every unsupported combination fails trainer creation cleanly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "test_support.h"

enum { F = 24, H = 40, K = 3, BATCH = 16, STEPS = 24, DT = 3 };
enum { IMG = 8, IC = 3 };

typedef struct run {
    spt_model *model;
    spt_optimizer *opt;
    spt_trainer *trainer;
    int64_t in_size; /* features per example */
} run;

static spt_method_config *make_config(int method, int structure, int n, int m) {
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(method, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SEED, 7), SPT_OK);
    int uses = 0;
    assert_status(spt_method_uses_param(method, SPT_MP_DELTA_T, &uses), SPT_OK);
    if (uses) assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, DT), SPT_OK);
    if (method == SPT_METHOD_GMP) {
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_START, 2), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_END, 20), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 3), SPT_OK);
    }
    if (method == SPT_METHOD_LOTTERY) assert_status(spt_method_config_set(cfg, SPT_MP_LOTTERY_ROUNDS, 2), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_STRUCTURE, structure), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_STRUCTURE_N, n), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_STRUCTURE_M, m), SPT_OK);
    return cfg;
}

/* Kernel side of each primitive layer of the last model made (1: linear
 * or no weight). */
static int64_t kernel_side[64];

/* conv(3 -> 12, 3x3) - relu - conv(12 -> 16, 1x1) - relu - conv(16 -> 16,
 * 3x3) - global avgpool - linear(K): kernels of 9 and of 1. */
static spt_model *make_convnet(int64_t *in_size) {
    spt_net *net = NULL;
    int64_t node;
    assert_status(spt_net_create(IC, IMG, IMG, &net), SPT_OK);
    const int64_t outs[3] = {12, 16, 16}, ks[3] = {3, 1, 3};
    for (int i = 0; i < 64; i++) kernel_side[i] = 1;
    for (int i = 0; i < 3; i++) {
        assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, NULL, &node), SPT_OK);
        assert_status(spt_net_set(net, node, SPT_LP_OUT, (double)outs[i]), SPT_OK);
        assert_status(spt_net_set(net, node, SPT_LP_KERNEL, (double)ks[i]), SPT_OK);
        assert_status(spt_net_set(net, node, SPT_LP_PADDING, ks[i] == 3 ? 1 : 0), SPT_OK);
        kernel_side[node] = ks[i];
        assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, NULL, NULL), SPT_OK);
    }
    assert_status(spt_net_add_layer(net, SPT_LAYER_GLOBAL_AVGPOOL, NULL, NULL), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, NULL, NULL), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, NULL, &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, K), SPT_OK);
    spt_model *model = NULL;
    assert_status(spt_model_create(net, 13, &model), SPT_OK);
    spt_net_destroy(net);
    *in_size = IC * IMG * IMG;
    return model;
}

static spt_model *make_model(int conv, int64_t *in_size) {
    spt_model *model = NULL;
    if (conv == 2) {
        model = make_convnet(in_size);
    } else if (conv) {
        assert_status(spt_model_create_resnet(IC, IMG, IMG, 1, 1, K, 11, &model), SPT_OK);
        *in_size = IC * IMG * IMG;
    } else {
        int64_t widths[4] = {F, H, H, K};
        assert_status(spt_model_create_mlp(widths, 4, 31, &model), SPT_OK);
        *in_size = F;
    }
    /* The kernel side of every convolution, from the model's description. */
    spt_net *net = NULL;
    int64_t nodes = 0;
    assert_status(spt_model_net(model, &net), SPT_OK);
    assert_status(spt_net_num_nodes(net, &nodes), SPT_OK);
    assert_true(nodes <= 64);
    for (int64_t i = 0; i < 64; i++) kernel_side[i] = 1;
    for (int64_t i = 0; i < nodes; i++) {
        int kind = -1;
        double k = 1;
        assert_status(spt_net_node(net, i, &kind, NULL, NULL), SPT_OK);
        if (kind == SPT_LAYER_CONV2D) assert_status(spt_net_get(net, i, SPT_LP_KERNEL, &k), SPT_OK);
        kernel_side[i] = (int64_t)k;
    }
    spt_net_destroy(net);
    return model;
}

static int start(run *r, int conv, spt_method_config *cfg) {
    memset(r, 0, sizeof *r);
    r->model = make_model(conv, &r->in_size);
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &r->opt), SPT_OK);
    assert_status(spt_optimizer_set_param(r->opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(r->opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    return spt_trainer_create(r->model, r->opt, NULL, cfg, STEPS, 1, &r->trainer);
}

static void finish(run *r) {
    spt_trainer_destroy(r->trainer);
    spt_optimizer_destroy(r->opt);
    spt_model_destroy(r->model);
}

static void make_batch(spti_rng *rng, int64_t in_size, float *x, int32_t *y) {
    for (int i = 0; i < BATCH; i++) {
        int k = (int)spti_rng_below(rng, K);
        y[i] = k;
        for (int64_t f = 0; f < in_size; f++)
            x[f * BATCH + i] = (f % K == k ? 1.0f : -0.3f) + 0.5f * spti_rng_normal(rng);
    }
}

/* Check every sparse weight of the model against the structure; row_count
 * (one slot per layer, rows entries each, filled on the first call) holds
 * each row's count, which must never change. Returns the number of sparse
 * weights seen. */
static int check_structure(const spt_model *model, int structure, int n, int m, int64_t **row_count) {
    int64_t layers = 0;
    int sparse = 0;
    assert_status(spt_model_num_layers(model, &layers), SPT_OK);
    for (int64_t i = 0; i < layers; i++) {
        int64_t rows = 0, cols = 0, nnz = 0;
        assert_status(spt_model_layer_weight(model, i, &rows, &cols, &nnz, NULL), SPT_OK);
        if (rows == 0 || nnz == rows * cols) continue;
        sparse++;
        int64_t *rp = malloc((size_t)(rows + 1) * sizeof *rp);
        int32_t *ci = malloc((size_t)nnz * sizeof *ci);
        assert_status(spt_model_layer_weight_csr(model, i, rp, rows + 1, ci, NULL, nnz), SPT_OK);
        if (!row_count[i]) {
            row_count[i] = calloc((size_t)rows, sizeof(int64_t));
            for (int64_t r = 0; r < rows; r++) row_count[i][r] = rp[r + 1] - rp[r];
        }
        for (int64_t r = 0; r < rows; r++) {
            const int64_t cnt = rp[r + 1] - rp[r];
            if (structure == SPT_STRUCTURE_FANIN || structure == SPT_STRUCTURE_NM)
                assert_int_equal(cnt, row_count[i][r]); /* a row's count never changes */
            if (structure == SPT_STRUCTURE_FANIN) {
                assert_int_equal(cnt, rp[1] - rp[0]); /* every row: the same fan-in */
                assert_true(cnt >= 1);
            }
            if (structure == SPT_STRUCTURE_NM) {
                int64_t group = -1, in_group = 0;
                for (int64_t j = rp[r]; j < rp[r + 1]; j++) {
                    const int64_t g = ci[j] / m;
                    in_group = g == group ? in_group + 1 : 1;
                    group = g;
                    assert_true(in_group <= n);
                }
            }
        }
        if (structure == SPT_STRUCTURE_FANIN) assert_int_equal(nnz, rows * (rp[1] - rp[0]));
        if (structure == SPT_STRUCTURE_CHANNEL || structure == SPT_STRUCTURE_KERNEL) {
            /* Whole groups: every active weight's group is complete. */
            const int64_t g = structure == SPT_STRUCTURE_CHANNEL ? cols : kernel_side[i] * kernel_side[i];
            assert_int_equal(cols % g, 0);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = rp[r]; j < rp[r + 1]; j++)
                    if (ci[j] % g == 0) {
                        assert_true(j + g <= rp[r + 1]);
                        assert_int_equal(ci[j + g - 1], ci[j] + g - 1); /* g consecutive columns */
                        j += g - 1;
                    } else {
                        fail_msg("layer %lld row %lld: column %d starts no whole group of %lld", (long long)i,
                                 (long long)r, ci[j], (long long)g);
                    }
        }
        free(rp);
        free(ci);
    }
    return sparse;
}

/* A run of STEPS steps, the invariant checked at creation and after every
 * step; returns the topology updates seen. */
static int run_checked(int method, int conv, int structure, int n, int m) {
    spt_method_config *cfg = make_config(method, structure, n, m);
    run r;
    assert_status(start(&r, conv, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    int64_t layers = 0;
    assert_status(spt_model_num_layers(r.model, &layers), SPT_OK);
    int64_t **row_count = calloc((size_t)layers, sizeof(int64_t *));
    const bool pruning = method == SPT_METHOD_GMP || method == SPT_METHOD_LOTTERY;
    if (pruning) {
        /* GMP / lottery tickets start dense. */
        assert_int_equal(check_structure(r.model, structure, n, m, row_count), 0);
    } else {
        assert_true(check_structure(r.model, structure, n, m, row_count) >= 2);
    }
    float *x = malloc((size_t)(r.in_size * BATCH) * sizeof(float));
    int32_t y[BATCH];
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    int updates = 0;
    for (int s = 0; s < STEPS; s++) {
        make_batch(&rng, r.in_size, x, y);
        double loss = 0.0;
        assert_status(spt_trainer_step(r.trainer, x, y, BATCH, &loss, NULL), SPT_OK);
        assert_true(isfinite(loss));
        int upd = 0;
        assert_status(spt_trainer_last_update(r.trainer, &upd, NULL), SPT_OK);
        updates += upd;
        check_structure(r.model, structure, n, m, row_count);
        if (method == SPT_METHOD_LOTTERY && (s + 1) % (STEPS / 3) == 0 && s + 1 < STEPS)
            assert_status(spt_trainer_end_round(r.trainer), SPT_OK);
    }
    if (pruning) assert_true(check_structure(r.model, structure, n, m, row_count) >= 2);
    for (int64_t i = 0; i < layers; i++) free(row_count[i]);
    free(row_count);
    free(x);
    finish(&r);
    return updates;
}

static const int DYNAMIC[] = {SPT_METHOD_SET, SPT_METHOD_RIGL, SPT_METHOD_SNFS};

static void test_fanin_mlp(void **state) {
    (void)state;
    assert_int_equal(run_checked(SPT_METHOD_STATIC, false, SPT_STRUCTURE_FANIN, 2, 4), 0);
    for (int i = 0; i < 3; i++) assert_true(run_checked(DYNAMIC[i], false, SPT_STRUCTURE_FANIN, 2, 4) > 0);
}

static void test_nm_mlp(void **state) {
    (void)state;
    assert_int_equal(run_checked(SPT_METHOD_STATIC, false, SPT_STRUCTURE_NM, 2, 4), 0);
    for (int i = 0; i < 3; i++) assert_true(run_checked(DYNAMIC[i], false, SPT_STRUCTURE_NM, 2, 4) > 0);
    /* Groups that do not divide the row, and N = 1. */
    assert_true(run_checked(SPT_METHOD_RIGL, false, SPT_STRUCTURE_NM, 1, 7) > 0);
    assert_true(run_checked(SPT_METHOD_SET, false, SPT_STRUCTURE_NM, 3, 5) > 0);
}

static void test_fanin_conv(void **state) {
    (void)state;
    assert_int_equal(run_checked(SPT_METHOD_STATIC, true, SPT_STRUCTURE_FANIN, 2, 4), 0);
    assert_true(run_checked(SPT_METHOD_RIGL, true, SPT_STRUCTURE_FANIN, 2, 4) > 0);
    assert_true(run_checked(SPT_METHOD_SET, true, SPT_STRUCTURE_FANIN, 2, 4) > 0);
}

static void test_nm_conv(void **state) {
    (void)state;
    assert_true(run_checked(SPT_METHOD_RIGL, true, SPT_STRUCTURE_NM, 2, 4) > 0);
    assert_true(run_checked(SPT_METHOD_SET, true, SPT_STRUCTURE_NM, 1, 4) > 0);
}

static void test_channel_kernel(void **state) {
    (void)state;
    for (int conv = 0; conv < 3; conv++) {
        assert_true(run_checked(SPT_METHOD_GMP, conv, SPT_STRUCTURE_CHANNEL, 2, 4) > 0);
        assert_true(run_checked(SPT_METHOD_GMP, conv, SPT_STRUCTURE_KERNEL, 2, 4) > 0);
    }
    run_checked(SPT_METHOD_LOTTERY, 0, SPT_STRUCTURE_CHANNEL, 2, 4); /* prunes in end_round: no step updates */
    run_checked(SPT_METHOD_LOTTERY, 2, SPT_STRUCTURE_KERNEL, 2, 4);
    /* Dynamic methods moving whole kernels (the convolutions of the conv
     * net and of the ResNet; linear layers run unstructured). */
    assert_int_equal(run_checked(SPT_METHOD_STATIC, 2, SPT_STRUCTURE_KERNEL, 2, 4), 0);
    for (int i = 0; i < 3; i++) assert_true(run_checked(DYNAMIC[i], 2, SPT_STRUCTURE_KERNEL, 2, 4) > 0);
    assert_true(run_checked(SPT_METHOD_RIGL, 1, SPT_STRUCTURE_KERNEL, 2, 4) > 0);
}

/* SRigL's neuron ablation: after every step each sparse layer's rows hold
 * either nothing (ablated; such a row may come back) or one common fan-in, the layer's
 * count stays within half a weight per live row of its budget, and rows do
 * get ablated at a high threshold. */
static void ablation_run(bool conv, double gamma, int64_t *ablated_out) {
    spt_method_config *cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_FANIN, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_ABLATION, gamma), SPT_OK);
    run r;
    assert_status(start(&r, conv, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    int64_t layers = 0, budget[64] = {0}, ablated = 0;
    assert_status(spt_model_num_layers(r.model, &layers), SPT_OK);
    float *x = malloc((size_t)(r.in_size * BATCH) * sizeof(float));
    int32_t y[BATCH];
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    for (int s = 0; s <= STEPS; s++) {
        if (s > 0) {
            make_batch(&rng, r.in_size, x, y);
            assert_status(spt_trainer_step(r.trainer, x, y, BATCH, NULL, NULL), SPT_OK);
        }
        ablated = 0;
        for (int64_t i = 0; i < layers; i++) {
            int64_t rows = 0, cols = 0, nnz = 0;
            assert_status(spt_model_layer_weight(r.model, i, &rows, &cols, &nnz, NULL), SPT_OK);
            if (rows == 0 || (s == 0 && nnz == rows * cols) || (s > 0 && !budget[i])) continue;
            if (s == 0) budget[i] = nnz;
            int64_t *rp = malloc((size_t)(rows + 1) * sizeof *rp);
            assert_status(spt_model_layer_weight_csr(r.model, i, rp, rows + 1, NULL, NULL, 0), SPT_OK);
            int64_t f = -1, live = 0;
            for (int64_t q = 0; q < rows; q++) {
                const int64_t cnt = rp[q + 1] - rp[q];
                if (cnt == 0) {
                    ablated++;
                    continue;
                }
                if (f < 0) f = cnt;
                assert_int_equal(cnt, f); /* one fan-in over the live rows */
                live++;
            }
            assert_true(live >= 1);
            assert_true(live * cols >= budget[i]); /* enough rows stay to hold the budget */
            assert_true(llabs(nnz - budget[i]) * 2 <= live);
            free(rp);
        }
    }
    free(x);
    finish(&r);
    *ablated_out = ablated;
}

static void test_ablation(void **state) {
    (void)state;
    int64_t ablated = 0;
    ablation_run(false, 0.9, &ablated);
    assert_true(ablated > 0);
    ablation_run(true, 0.9, &ablated);
    assert_true(ablated > 0);
    ablation_run(false, 0.05, &ablated); /* invariants at a mild threshold too */
    /* Bounds and support: [0, 1]; RigL reads it, SET does not; RigL under
     * another structure refuses it. */
    double lo = -1, hi = -1;
    int flags = -1, uses = -1;
    assert_status(spt_method_param_bounds(SPT_MP_ABLATION, &lo, &hi, &flags), SPT_OK);
    assert_true(lo == 0.0 && hi == 1.0 && flags == 0);
    assert_status(spt_method_uses_param(SPT_METHOD_RIGL, SPT_MP_ABLATION, &uses), SPT_OK);
    assert_int_equal(uses, 1);
    assert_status(spt_method_uses_param(SPT_METHOD_SET, SPT_MP_ABLATION, &uses), SPT_OK);
    assert_int_equal(uses, 0);
    spt_method_config *cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_NM, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_ABLATION, 0.3), SPT_OK);
    run r;
    assert_int_equal(start(&r, false, cfg), SPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(spt_last_error(), "ablation"));
    finish(&r);
    spt_method_config_destroy(cfg);
    cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_UNSTRUCTURED, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_ABLATION, 0.3), SPT_OK);
    assert_int_equal(start(&r, false, cfg), SPT_ERR_UNSUPPORTED);
    finish(&r);
    spt_method_config_destroy(cfg);
    assert_int_equal(spt_method_config_set(cfg = make_config(SPT_METHOD_RIGL, 4, 2, 4), SPT_MP_ABLATION, 1.5),
                     SPT_ERR_INVALID);
    spt_method_config_destroy(cfg);
}

/* Checkpoints keep the structure: a structured run saved half-way and
 * loaded gives the same bytes as the run that went on (fanin RigL with
 * ablation, n:m SET, channel GMP). */
static void dense_weights(const spt_model *m, float **out, int64_t *n_out) {
    int64_t layers, total = 0;
    assert_status(spt_model_num_layers(m, &layers), SPT_OK);
    float *all = NULL;
    for (int64_t i = 0; i < layers; i++) {
        int64_t rows, cols;
        assert_status(spt_model_layer_weight(m, i, &rows, &cols, NULL, NULL), SPT_OK);
        if (!rows) continue;
        all = realloc(all, (size_t)(total + rows * cols) * sizeof(float));
        assert_status(spt_model_layer_weight_dense(m, i, all + total, rows * cols), SPT_OK);
        total += rows * cols;
    }
    *out = all;
    *n_out = total;
}

static void resume_case(int method, int structure, double ablation) {
    spt_method_config *cfg = make_config(method, structure, 2, 4);
    if (ablation > 0) assert_status(spt_method_config_set(cfg, SPT_MP_ABLATION, ablation), SPT_OK);
    run r;
    assert_status(start(&r, 0, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    float *x = malloc((size_t)(r.in_size * BATCH) * sizeof(float));
    int32_t y[BATCH];
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    char path[] = "/tmp/spt-test-structure-XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    spti_rng at_save;
    for (int s = 0; s < STEPS; s++) {
        if (s == STEPS / 2) {
            assert_status(spt_trainer_save(r.trainer, NULL, path), SPT_OK);
            at_save = rng;
        }
        make_batch(&rng, r.in_size, x, y);
        assert_status(spt_trainer_step(r.trainer, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    float *a, *b;
    int64_t na, nb;
    dense_weights(r.model, &a, &na);
    finish(&r);
    spt_model *model = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_trainer_load(path, &model, &t, NULL), SPT_OK);
    unlink(path);
    rng = at_save;
    for (int s = STEPS / 2; s < STEPS; s++) {
        make_batch(&rng, r.in_size, x, y);
        assert_status(spt_trainer_step(t, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    dense_weights(model, &b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof(float));
    spt_trainer_destroy(t);
    spt_model_destroy(model);
    free(a);
    free(b);
    free(x);
}

/* Channel pruning (GMP, whole rows) on a ResNet: a pruned filter's output
 * is exactly 0, and the batch norm reading it skips the channel (its
 * statistics, its normalisation, its input gradient). The run gives the
 * same bytes as with the skip off (the weights' channel flag cleared after
 * the trainer set it, which turns off nothing else here: every convolution
 * is put on the direct kernels), and the skip has something to skip. */
enum { CH_BATCH = 64, CH_STEPS = 6 };

/* A network whose fused batch norm + addition + ReLU adds the network's
 * input (no gradient wanted for it), after a convolution that channel
 * pruning empties: the zero channels' backward must still take the ReLU's
 * mask value by value. */
static const char RES_ON_INPUT[] = "input 3 8 8\n"
                                   "conv2d name=c out=3 padding=1\n"
                                   "batchnorm name=bn\n"
                                   "add name=a input=input\n"
                                   "relu name=r\n"
                                   "global_avgpool\n"
                                   "linear name=fc out=3\n";

/* net_text NULL: a ResNet (first convolution dense); else that network,
 * every convolution pruned. */
static void channel_bn_run(const char *net_text, bool skip, float **w_out, int64_t *n_out, double *losses,
                           int *flagged) {
    spt_model *model = NULL;
    if (net_text) {
        spt_net *net = NULL;
        assert_status(spt_net_parse(net_text, (int64_t)strlen(net_text), &net), SPT_OK);
        assert_status(spt_model_create(net, 5, &model), SPT_OK);
        spt_net_destroy(net);
    } else {
        assert_status(spt_model_create_resnet(IC, IMG, IMG, 1, 1, K, 5, &model), SPT_OK);
    }
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_GMP, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.8), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_START, 0), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_END, 1), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 1), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_STRUCTURE, SPT_STRUCTURE_CHANNEL), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DENSE_FIRST, net_text ? 0 : 1), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DENSE_LAST, 1), SPT_OK);
    spt_optimizer *opt = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_LR, 0.05), SPT_OK);
    assert_status(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9), SPT_OK);
    spt_trainer *tr = NULL;
    assert_status(spt_trainer_create(model, opt, NULL, cfg, 100, 1, &tr), SPT_OK);
    if (!skip)
        for (int64_t i = 0; i < model->n_params; i++) model->params[i]->ws.channel = false;
    for (int i = 0; i < model->n_layers; i++) /* (the im2col path's products would differ) */
        if (!strcmp(model->layers[i]->ops->kind, "conv2d"))
            assert_status(spti_conv2d_set_path(model->layers[i], SPTI_CONV_DIRECT), SPT_OK);
    const int64_t in_size = IC * IMG * IMG;
    float *x = malloc((size_t)(in_size * CH_BATCH) * sizeof(float));
    int32_t *y = malloc(CH_BATCH * sizeof(int32_t));
    spti_rng rng;
    spti_rng_seed(&rng, 77);
    for (int step = 0; step < CH_STEPS; step++) {
        for (int i = 0; i < CH_BATCH; i++) {
            const int k = (int)spti_rng_below(&rng, K);
            y[i] = k;
            for (int64_t f = 0; f < in_size; f++)
                x[f * CH_BATCH + i] = (f % K == k ? 1.0f : -0.3f) + 0.5f * spti_rng_normal(&rng);
        }
        double loss;
        assert_status(spt_trainer_step(tr, x, y, CH_BATCH, &loss, NULL), SPT_OK);
        losses[step] = loss;
    }
    /* The pruned convolutions flag their empty rows (with the skip on). */
    uint8_t zero[256];
    *flagged = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const spti_layer *L = model->layers[i];
        if (!L->ops->zero_channels || L->out_shape.c > 256 || !L->ops->zero_channels(L, zero)) continue;
        for (int64_t c = 0; c < L->out_shape.c; c++) *flagged += zero[c];
    }
    /* evaluation: the running statistics */
    const float *logits = NULL;
    assert_status(spti_model_forward(model, x, CH_BATCH, false, &logits), SPT_OK);
    losses[CH_STEPS] = logits[0] + logits[CH_BATCH * K - 1];
    dense_weights(model, w_out, n_out);
    free(x);
    free(y);
    spt_trainer_destroy(tr);
    spt_optimizer_destroy(opt);
    spt_method_config_destroy(cfg);
    spt_model_destroy(model);
}

static void test_channel_batchnorm_skip(void **state) {
    (void)state;
    float *w[2];
    int64_t n[2];
    double losses[2][CH_STEPS + 1];
    int flagged[2];
    for (int k = 0; k < 4; k++) {
        const char *net_text = k < 2 ? NULL : RES_ON_INPUT;
        spt_set_num_threads(1 + k % 2);
        channel_bn_run(net_text, true, &w[0], &n[0], losses[0], &flagged[0]);
        channel_bn_run(net_text, false, &w[1], &n[1], losses[1], &flagged[1]);
        assert_true(flagged[0] > 0);
        assert_int_equal(flagged[1], 0);
        assert_memory_equal(losses[0], losses[1], sizeof losses[0]);
        assert_int_equal(n[0], n[1]);
        assert_memory_equal(w[0], w[1], (size_t)n[0] * sizeof(float));
        free(w[0]);
        free(w[1]);
    }
    spt_set_num_threads(0);
}

static void test_checkpoint_resume(void **state) {
    (void)state;
    resume_case(SPT_METHOD_RIGL, SPT_STRUCTURE_FANIN, 0.9);
    resume_case(SPT_METHOD_SET, SPT_STRUCTURE_NM, 0.0);
    resume_case(SPT_METHOD_GMP, SPT_STRUCTURE_CHANNEL, 0.0);
}

/* Out of memory anywhere in a structured update step: SPT_ERR_NOMEM,
 * nothing leaked, every layer on a valid structured topology. (Not
 * "nothing changed": as for unstructured RigL, spti_dst_update computes
 * every new pattern first, but a repattern failing on a later layer leaves
 * the earlier ones moved; the new patterns' selection failing changes
 * nothing.) */
static void nomem_case(int method, int conv, int structure, double ablation) {
    for (long fail = 0;; fail++) {
        spt_test_alloc_install();
        spt_method_config *cfg = make_config(method, structure, 2, 4);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 1), SPT_OK);
        if (ablation > 0) assert_status(spt_method_config_set(cfg, SPT_MP_ABLATION, ablation), SPT_OK);
        run r;
        assert_status(start(&r, conv, cfg), SPT_OK);
        spt_method_config_destroy(cfg);
        float *x = malloc((size_t)(r.in_size * BATCH) * sizeof(float));
        int32_t y[BATCH];
        spti_rng rng;
        spti_rng_seed(&rng, 5);
        make_batch(&rng, r.in_size, x, y);
        assert_status(spt_trainer_step(r.trainer, x, y, BATCH, NULL, NULL), SPT_OK);
        float *before, *after;
        int64_t nb, na;
        dense_weights(r.model, &before, &nb);
        make_batch(&rng, r.in_size, x, y);
        spt_test_alloc_fail_at(fail);
        const int rc = spt_trainer_step(r.trainer, x, y, BATCH, NULL, NULL); /* step 1: an update */
        spt_test_alloc_fail_at(-1);
        if (rc != SPT_OK) {
            assert_int_equal(rc, SPT_ERR_NOMEM);
            dense_weights(r.model, &after, &na);
            assert_int_equal(na, nb);
            free(after);
            int64_t layers = 0;
            assert_status(spt_model_num_layers(r.model, &layers), SPT_OK);
            int64_t **rc_ = calloc((size_t)layers, sizeof(int64_t *));
            if (ablation == 0.0) check_structure(r.model, structure, 2, 4, rc_); /* (ablation: empty rows) */
            for (int64_t i = 0; i < layers; i++) free(rc_[i]);
            free(rc_);
        }
        free(before);
        free(x);
        finish(&r);
        assert_int_equal(spt_test_alloc_live(), 0);
        spt_test_alloc_uninstall();
        if (rc == SPT_OK) break;
    }
}

static void test_nomem(void **state) {
    (void)state;
    nomem_case(SPT_METHOD_RIGL, 0, SPT_STRUCTURE_FANIN, 0.9);
    nomem_case(SPT_METHOD_RIGL, 0, SPT_STRUCTURE_NM, 0.0);
    nomem_case(SPT_METHOD_SET, 2, SPT_STRUCTURE_KERNEL, 0.0);
}

/* The fan-in is round(planned nnz / rows): at uniform 80% a 40 x 24 layer
 * holds 40 x 5 (0.2 x 24 = 4.8 -> 5); n:m 2:4 holds half of each row. */
static void test_counts(void **state) {
    (void)state;
    for (int s = 0; s < 2; s++) {
        const int structure = s ? SPT_STRUCTURE_NM : SPT_STRUCTURE_FANIN;
        spt_method_config *cfg = make_config(SPT_METHOD_STATIC, structure, 2, 4);
        assert_status(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_UNIFORM), SPT_OK);
        run r;
        assert_status(start(&r, false, cfg), SPT_OK);
        spt_method_config_destroy(cfg);
        int64_t rows, cols, nnz;
        assert_status(spt_model_layer_weight(r.model, 0, &rows, &cols, &nnz, NULL), SPT_OK);
        assert_int_equal(rows, H);
        assert_int_equal(cols, F);
        assert_int_equal(nnz, s ? H * F / 2 : H * 5);
        finish(&r);
    }
    /* Kept-dense layers stay dense under a structure; explicit densities
     * set each layer's fan-in. */
    spt_method_config *cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_FANIN, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_DENSE_LAST, 1), SPT_OK);
    run r;
    assert_status(start(&r, false, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    int64_t layers, rows, cols, nnz, last = -1;
    assert_status(spt_model_num_layers(r.model, &layers), SPT_OK);
    for (int64_t i = 0; i < layers; i++) {
        assert_status(spt_model_layer_weight(r.model, i, &rows, &cols, &nnz, NULL), SPT_OK);
        if (rows) last = i;
    }
    assert_status(spt_model_layer_weight(r.model, last, &rows, &cols, &nnz, NULL), SPT_OK);
    assert_int_equal(nnz, rows * cols);
    finish(&r);
    cfg = make_config(SPT_METHOD_SET, SPT_STRUCTURE_FANIN, 2, 4);
    const double dens[3] = {0.25, 0.1, 1.0};
    assert_status(spt_method_config_set_densities(cfg, dens, 3), SPT_OK);
    assert_status(start(&r, false, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    assert_status(spt_model_layer_weight(r.model, 0, &rows, &cols, &nnz, NULL), SPT_OK);
    assert_int_equal(nnz, H * 6); /* 0.25 x 24 = 6 per row */
    finish(&r);
}

/* Same seed, same bytes: the weights after a structured RigL run, on one
 * thread and on two. */
static void weights_after(int threads, int structure, float **out, int64_t *n_out) {
    spt_set_num_threads(threads);
    spt_method_config *cfg = make_config(SPT_METHOD_RIGL, structure, 2, 4);
    run r;
    assert_status(start(&r, false, cfg), SPT_OK);
    spt_method_config_destroy(cfg);
    float *x = malloc((size_t)(r.in_size * BATCH) * sizeof(float));
    int32_t y[BATCH];
    spti_rng rng;
    spti_rng_seed(&rng, 5);
    for (int s = 0; s < STEPS; s++) {
        make_batch(&rng, r.in_size, x, y);
        assert_status(spt_trainer_step(r.trainer, x, y, BATCH, NULL, NULL), SPT_OK);
    }
    int64_t layers, total = 0;
    assert_status(spt_model_num_layers(r.model, &layers), SPT_OK);
    float *all = NULL;
    for (int64_t i = 0; i < layers; i++) {
        int64_t rows, cols;
        assert_status(spt_model_layer_weight(r.model, i, &rows, &cols, NULL, NULL), SPT_OK);
        if (!rows) continue;
        all = realloc(all, (size_t)(total + rows * cols) * sizeof(float));
        assert_status(spt_model_layer_weight_dense(r.model, i, all + total, rows * cols), SPT_OK);
        total += rows * cols;
    }
    free(x);
    finish(&r);
    *out = all;
    *n_out = total;
}

static void test_reproducible(void **state) {
    (void)state;
    for (int s = 0; s < 2; s++) {
        const int structure = s ? SPT_STRUCTURE_NM : SPT_STRUCTURE_FANIN;
        float *a, *b, *c;
        int64_t na, nb, nc;
        weights_after(1, structure, &a, &na);
        weights_after(1, structure, &b, &nb);
        weights_after(2, structure, &c, &nc);
        assert_int_equal(na, nb);
        assert_int_equal(na, nc);
        assert_memory_equal(a, b, (size_t)na * sizeof(float));
        assert_memory_equal(a, c, (size_t)na * sizeof(float));
        free(a);
        free(b);
        free(c);
    }
}

/* Every method and structure: supported ones create a trainer, the others
 * fail creation with SPT_ERR_UNSUPPORTED and a message naming both. */
static void test_support_table(void **state) {
    (void)state;
    for (int method = 0; method < spt_method_count(); method++) {
        int is_user = 0;
        assert_status(spt_method_is_user(method, &is_user), SPT_OK);
        if (is_user) continue;
        for (int s = SPT_STRUCTURE_UNSTRUCTURED; s <= SPT_STRUCTURE_FANIN; s++) {
            int supported = -1;
            assert_status(spt_method_supports_structure(method, s, &supported), SPT_OK);
            const bool dst = method == SPT_METHOD_STATIC || method == SPT_METHOD_SET || method == SPT_METHOD_RIGL ||
                             method == SPT_METHOD_SNFS;
            const bool prune = method == SPT_METHOD_GMP || method == SPT_METHOD_LOTTERY;
            const bool expect =
                s == SPT_STRUCTURE_UNSTRUCTURED ||
                (dst && (s == SPT_STRUCTURE_FANIN || s == SPT_STRUCTURE_NM || s == SPT_STRUCTURE_KERNEL)) ||
                (prune && (s == SPT_STRUCTURE_CHANNEL || s == SPT_STRUCTURE_KERNEL));
            assert_int_equal(supported, expect);
            if (s == SPT_STRUCTURE_UNSTRUCTURED) continue;
            spt_method_config *cfg = make_config(method, s, 2, 4);
            run r;
            const int rc = start(&r, false, cfg);
            spt_method_config_destroy(cfg);
            if (expect) {
                assert_status(rc, SPT_OK);
            } else {
                assert_int_equal(rc, SPT_ERR_UNSUPPORTED);
                assert_null(r.trainer);
                assert_non_null(strstr(spt_last_error(), spt_method_name(method)));
                assert_non_null(strstr(spt_last_error(), spt_method_param_choice_name(SPT_MP_STRUCTURE, s)));
            }
            finish(&r);
        }
    }
    int supported = 0;
    assert_int_equal(spt_method_supports_structure(SPT_METHOD_RIGL, 99, &supported), SPT_ERR_INVALID);
    assert_int_equal(spt_method_supports_structure(-1, SPT_STRUCTURE_FANIN, &supported), SPT_ERR_INVALID);
    assert_int_equal(spt_method_supports_structure(SPT_METHOD_RIGL, SPT_STRUCTURE_FANIN, NULL), SPT_ERR_NULL);
}

/* Relations checked at trainer creation: N <= M, and no sampled growth
 * under a structure by row. Names and aliases of the choice. */
static void test_bad_combinations(void **state) {
    (void)state;
    spt_method_config *cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_NM, 5, 4);
    run r;
    assert_int_equal(start(&r, false, cfg), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "N (5)"));
    finish(&r);
    spt_method_config_destroy(cfg);
    cfg = make_config(SPT_METHOD_RIGL, SPT_STRUCTURE_FANIN, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_GROW_SAMPLE, 2.0), SPT_OK);
    assert_int_equal(start(&r, false, cfg), SPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(spt_last_error(), "grow_sample"));
    finish(&r);
    spt_method_config_destroy(cfg);
    cfg = make_config(SPT_METHOD_GMP, SPT_STRUCTURE_CHANNEL, 2, 4);
    assert_status(spt_method_config_set(cfg, SPT_MP_GLOBAL, 1), SPT_OK);
    assert_int_equal(start(&r, false, cfg), SPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(spt_last_error(), "global"));
    finish(&r);
    spt_method_config_destroy(cfg);
    int v = -1;
    assert_status(spt_method_param_choice_from_name(SPT_MP_STRUCTURE, "n:m", &v), SPT_OK);
    assert_int_equal(v, SPT_STRUCTURE_NM);
    assert_status(spt_method_param_choice_from_name(SPT_MP_STRUCTURE, "fanin", &v), SPT_OK);
    assert_int_equal(v, SPT_STRUCTURE_FANIN);
    assert_string_equal(spt_method_param_choice_name(SPT_MP_STRUCTURE, SPT_STRUCTURE_KERNEL), "kernel");
    double def = -1;
    assert_status(spt_method_param_default(SPT_METHOD_RIGL, SPT_MP_STRUCTURE, &def), SPT_OK);
    assert_true(def == SPT_STRUCTURE_UNSTRUCTURED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanin_mlp),
        cmocka_unit_test(test_nm_mlp),
        cmocka_unit_test(test_fanin_conv),
        cmocka_unit_test(test_nm_conv),
        cmocka_unit_test(test_channel_kernel),
        cmocka_unit_test(test_channel_batchnorm_skip),
        cmocka_unit_test(test_ablation),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_support_table),
        cmocka_unit_test(test_bad_combinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
