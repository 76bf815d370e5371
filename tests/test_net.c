/* Network descriptions (net.h): building models of any graph, their
 * gradients (a node read twice), training a user network with RigL, its
 * checkpoint, the metadata, and every refusal. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/model.h"
#include "test_support.h"

enum { F = 6, K = 3, N = 5 };

/* x -> fc1 -> h; a = h + x; fc2(a) -> b; c = b + h; fc3(c) -> logits.
 * h is read twice (by both additions), x by fc1 and the first addition. */
static spt_net *branchy(void) {
    spt_net *net = NULL;
    int64_t h, a, node;
    assert_status(spt_net_create(F, 1, 1, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc1", &h), SPT_OK);
    assert_status(spt_net_set(net, h, SPT_LP_OUT, F), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_ADD, "skip1", &a), SPT_OK);
    assert_status(spt_net_set(net, a, SPT_LP_INPUT, -1), SPT_OK); /* + the network's input */
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc2", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, F), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_ADD, "skip2", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_INPUT, (double)h), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc3", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, K), SPT_OK);
    return net;
}

static void batch(float *x, int32_t *y, uint64_t seed) {
    spti_rng g;
    spti_rng_seed(&g, seed);
    for (int i = 0; i < F * N; i++) x[i] = spti_rng_normal(&g);
    for (int n = 0; n < N; n++) y[n] = (int32_t)spti_rng_below(&g, K);
}

/* Central differences of the loss against every weight and bias. */
static void test_gradients_of_a_graph(void **state) {
    (void)state;
    spt_net *net = branchy();
    spt_model *m = NULL;
    assert_status(spt_model_create(net, 7, &m), SPT_OK);
    spt_net_destroy(net);
    float x[F * N];
    int32_t y[N];
    batch(x, y, 3);
    double loss;
    assert_status(spti_model_train_step(m, x, y, N, &loss, NULL), SPT_OK);
    int checked = 0;
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        float *grad = test_malloc((size_t)p->n * sizeof(float));
        memcpy(grad, p->grad, (size_t)p->n * sizeof(float));
        for (int64_t j = 0; j < p->n; j++) {
            const float v = p->value[j], eps = 1e-2f;
            double lp, lm;
            p->value[j] = v + eps;
            assert_status(spti_model_eval_batch(m, x, y, N, &lp, NULL), SPT_OK);
            p->value[j] = v - eps;
            assert_status(spti_model_eval_batch(m, x, y, N, &lm, NULL), SPT_OK);
            p->value[j] = v;
            const double fd = (lp - lm) / (2.0 * eps), an = grad[j];
            if (fabs(fd - an) > 2e-3 * (1.0 + fmax(fabs(fd), fabs(an))))
                fail_msg("%s[%lld]: analytic %g, finite difference %g", p->name, (long long)j, an, fd);
            checked++;
        }
        test_free(grad);
    }
    assert_int_equal(checked, (F * F + F) * 2 + F * K + K);
    spt_model_destroy(m);
}

/* The built-in ResNet is its description: a model built from the copy it
 * keeps has the same parameters, names and logits. */
static void test_model_net_round_trip(void **state) {
    (void)state;
    spt_model *a = NULL, *b = NULL;
    assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, K, 9, &a), SPT_OK);
    spt_net *net = NULL;
    assert_status(spt_model_net(a, &net), SPT_OK);
    int64_t n = 0, nl = 0;
    assert_status(spt_net_num_nodes(net, &n), SPT_OK);
    assert_status(spt_model_num_layers(a, &nl), SPT_OK);
    assert_int_equal(n, nl);
    int kind;
    const char *name;
    int64_t input;
    assert_status(spt_net_node(net, n - 3, &kind, &name, &input), SPT_OK); /* layer3.0.relu2 */
    assert_int_equal(kind, SPT_LAYER_RELU);
    assert_string_equal(name, "layer3.0.relu2");
    assert_int_equal(input, n - 4);
    assert_status(spt_model_create(net, 9, &b), SPT_OK);
    spt_net_destroy(net);
    assert_int_equal(a->n_params, b->n_params);
    for (int64_t i = 0; i < a->n_params; i++) {
        assert_string_equal(a->params[i]->name, b->params[i]->name);
        spti_param_materialize(a->params[i]);
        spti_param_materialize(b->params[i]);
        assert_memory_equal(a->params[i]->value, b->params[i]->value, (size_t)a->params[i]->n * sizeof(float));
    }
    float x[3 * 8 * 8 * 2], la[K * 2], lb[K * 2];
    for (int i = 0; i < 3 * 8 * 8 * 2; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
    assert_status(spt_model_forward(a, x, 2, la), SPT_OK);
    assert_status(spt_model_forward(b, x, 2, lb), SPT_OK);
    assert_memory_equal(la, lb, sizeof la);
    spt_model_destroy(a);
    spt_model_destroy(b);
}

/* A user network trains with RigL; a checkpoint resumes it bit for bit;
 * per-node densities are honoured. */
static void test_train_and_resume(void **state) {
    (void)state;
    spt_net *net = branchy();
    assert_status(spt_net_set(net, 0, SPT_LP_DENSITY, 1.0), SPT_OK);  /* fc1 dense */
    assert_status(spt_net_set(net, 4, SPT_LP_DENSITY, 0.5), SPT_OK);  /* fc3 at half */
    spt_model *m = NULL;
    assert_status(spt_model_create(net, 5, &m), SPT_OK);
    spt_net_destroy(net);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_RIGL, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.3), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 20, 1, &t), SPT_OK);
    int64_t nnz, rows;
    const char *lname;
    double density;
    assert_status(spt_trainer_layer_density(t, 0, &lname, &nnz, &rows, &density), SPT_OK);
    assert_string_equal(lname, "fc1.weight");
    assert_int_equal(nnz, F * F);
    assert_status(spt_trainer_layer_density(t, 2, &lname, &nnz, &rows, &density), SPT_OK);
    assert_string_equal(lname, "fc3.weight");
    assert_int_equal(nnz, F * K / 2);
    double sparsity;
    int64_t total, dense;
    assert_status(spt_trainer_sparsity(t, &sparsity, &total, &dense), SPT_OK);
    assert_true(fabs(sparsity - 0.3) <= 3.0 / (double)dense);
    float x[F * N];
    int32_t y[N];
    int s = 0;
    for (; s < 7; s++) {
        batch(x, y, 100 + s);
        assert_status(spt_trainer_step(t, x, y, N, NULL, NULL), SPT_OK);
    }
    const char *path = "test_net.ckpt";
    assert_status(spt_trainer_save(t, NULL, path), SPT_OK);
    spt_model *m2 = NULL;
    spt_trainer *t2 = NULL;
    assert_status(spt_trainer_load(path, &m2, &t2, NULL), SPT_OK);
    for (; s < 20; s++) {
        batch(x, y, 100 + s);
        double l1, l2;
        assert_status(spt_trainer_step(t, x, y, N, &l1, NULL), SPT_OK);
        assert_status(spt_trainer_step(t2, x, y, N, &l2, NULL), SPT_OK);
        assert_memory_equal(&l1, &l2, sizeof l1);
    }
    for (int64_t i = 0; i < m->n_params; i++) {
        assert_int_equal(m->params[i]->n, m2->params[i]->n);
        assert_memory_equal(m->params[i]->value, m2->params[i]->value, (size_t)m->params[i]->n * sizeof(float));
    }
    remove(path);
    spt_trainer_destroy(t2);
    spt_model_destroy(m2);
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
}


/* ---- a ResNet basic block as a description, checked by finite differences ---- */

static void layer(spt_net *net, int kind, const char *name, int k1, double v1, int k2, double v2) {
    int64_t node;
    assert_status(spt_net_add_layer(net, kind, name, &node), SPT_OK);
    if (k1 >= 0) assert_status(spt_net_set(net, node, k1, v1), SPT_OK);
    if (k2 >= 0) assert_status(spt_net_set(net, node, k2, v2), SPT_OK);
}

/* conv3x3 bn relu conv3x3 bn (+ conv1x1 bn shortcut when the shape
 * changes) add relu, as model_resnet.c describes it; the block's output
 * is the model's. */
static spt_model *block_model(int64_t in_c, int64_t out_c, int64_t stride) {
    spt_net *net = NULL;
    assert_status(spt_net_create(in_c, 5, 5, &net), SPT_OK);
    layer(net, SPT_LAYER_CONV2D, "conv1", SPT_LP_OUT, (double)out_c, SPT_LP_STRIDE, (double)stride);
    int64_t node;
    spt_net_tip(net, &node);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    layer(net, SPT_LAYER_BATCHNORM, "bn1", -1, 0, -1, 0);
    layer(net, SPT_LAYER_RELU, "relu1", -1, 0, -1, 0);
    layer(net, SPT_LAYER_CONV2D, "conv2", SPT_LP_OUT, (double)out_c, SPT_LP_PADDING, 1);
    layer(net, SPT_LAYER_BATCHNORM, "bn2", -1, 0, -1, 0);
    int64_t main_path, shortcut = -1;
    spt_net_tip(net, &main_path);
    if (stride != 1 || in_c != out_c) {
        assert_status(spt_net_set_tip(net, -1), SPT_OK);
        layer(net, SPT_LAYER_CONV2D, "shortcut.conv", SPT_LP_OUT, (double)out_c, SPT_LP_STRIDE, (double)stride);
        spt_net_tip(net, &node);
        assert_status(spt_net_set(net, node, SPT_LP_KERNEL, 1), SPT_OK);
        layer(net, SPT_LAYER_BATCHNORM, "shortcut.bn", -1, 0, -1, 0);
        spt_net_tip(net, &shortcut);
        assert_status(spt_net_set_tip(net, main_path), SPT_OK);
    }
    layer(net, SPT_LAYER_ADD, "add", SPT_LP_INPUT, (double)shortcut, -1, 0);
    layer(net, SPT_LAYER_RELU, "relu2", -1, 0, -1, 0);
    spt_model *m = NULL;
    assert_status(spt_model_create(net, 13, &m), SPT_OK);
    spt_net_destroy(net);
    return m;
}

/* L = sum(y * r) over a training-mode forward. */
static double probe(spti_model *m, const float *x, const float *r, int64_t n_out) {
    const float *y;
    assert_status(spti_model_forward(m, x, N, true, &y), SPT_OK);
    double l = 0;
    for (int64_t i = 0; i < n_out; i++) l += (double)y[i] * r[i];
    return l;
}

/* Each gradient tensor as a vector (a probe may cross a ReLU kink, which
 * spoils that one difference): ||g - fd|| <= 2% ||fd||. A wiring mistake
 * (a branch's gradient lost or counted twice) is an error of order 100%. */
static void check_block(int64_t in_c, int64_t out_c, int64_t stride) {
    spti_model *m = block_model(in_c, out_c, stride);
    spti_rng g;
    spti_rng_seed(&g, 31);
    const int64_t n_in = in_c * 25 * N, n_out = m->classes * N;
    float *x = test_malloc((size_t)n_in * sizeof(float)), *r = test_malloc((size_t)n_out * sizeof(float));
    for (int64_t i = 0; i < n_in; i++) x[i] = spti_rng_normal(&g);
    for (int64_t i = 0; i < n_out; i++) r[i] = spti_rng_normal(&g);
    spti_model_materialize(m);
    for (int64_t i = 0; i < m->n_params; i++)
        for (int64_t k = 0; k < m->params[i]->n; k++) m->params[i]->value[k] += 0.3f * spti_rng_normal(&g);
    spti_model_zero_grad(m);
    probe(m, x, r, n_out);
    assert_status(spti_model_backward(m, x, r, N), SPT_OK);
    const float eps = 1e-3f;
    for (int64_t i = 0; i < m->n_params; i++) {
        spti_param *p = m->params[i];
        double num = 0, den = 0;
        for (int64_t k = 0; k < p->n; k++) {
            const float v = p->value[k];
            p->value[k] = v + eps;
            const double lp = probe(m, x, r, n_out);
            p->value[k] = v - eps;
            const double lm = probe(m, x, r, n_out);
            p->value[k] = v;
            const double fd = (lp - lm) / (2.0 * eps);
            num += (p->grad[k] - fd) * (p->grad[k] - fd);
            den += fd * fd;
        }
        if (sqrt(num) > 2e-2 * sqrt(den) + 1e-9) fail_msg("%s: relative error %g", p->name, sqrt(num / den));
    }
    test_free(x);
    test_free(r);
    spt_model_destroy(m);
}

static void test_residual_block_gradients(void **state) {
    (void)state;
    check_block(2, 2, 1); /* identity shortcut: the input is read twice */
    check_block(2, 3, 2); /* projection shortcut */
}

/* Pruning methods honour a node's density: SNIP (global) keeps a pinned
 * layer dense, GMP (layer-wise) prunes a layer to its own density, and a
 * global ranking refuses a layer with a density of its own. */
static void test_pruning_honours_node_density(void **state) {
    (void)state;
    const int methods[3] = {SPT_METHOD_SNIP, SPT_METHOD_GMP, SPT_METHOD_SNIP};
    for (int c = 0; c < 3; c++) {
        spt_net *net = branchy();
        assert_status(spt_net_set(net, 0, SPT_LP_DENSITY, c == 2 ? 0.5 : 1.0), SPT_OK); /* fc1 */
        if (c == 1) assert_status(spt_net_set(net, 4, SPT_LP_DENSITY, 0.5), SPT_OK);     /* fc3 */
        spt_model *m = NULL;
        assert_status(spt_model_create(net, 5, &m), SPT_OK);
        spt_net_destroy(net);
        spt_optimizer *o = NULL;
        assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
        spt_method_config *cfg = NULL;
        assert_status(spt_method_config_create(methods[c], &cfg), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.3), SPT_OK);
        if (c == 1) assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 2), SPT_OK);
        spt_trainer *t = NULL;
        int rc = spt_trainer_create(m, o, NULL, cfg, 20, 1, &t);
        float x[F * N];
        int32_t y[N];
        for (int s = 0; rc == SPT_OK && s < 20; s++) {
            batch(x, y, 100 + s);
            rc = spt_trainer_step(t, x, y, N, NULL, NULL);
        }
        if (c == 2) {
            assert_status(rc, SPT_ERR_UNSUPPORTED);
            assert_non_null(strstr(spt_last_error(), "fc1.weight"));
        } else {
            assert_status(rc, SPT_OK);
            int64_t nnz, size;
            assert_status(spt_trainer_layer_density(t, 0, NULL, &nnz, &size, NULL), SPT_OK);
            assert_int_equal(nnz, size); /* fc1 pinned dense */
            if (c == 1) {
                assert_status(spt_trainer_layer_density(t, 2, NULL, &nnz, &size, NULL), SPT_OK);
                assert_int_equal(nnz, size / 2); /* fc3 at its own 0.5 */
            }
            double sparsity;
            assert_status(spt_trainer_sparsity(t, &sparsity, NULL, NULL), SPT_OK);
            assert_true(fabs(sparsity - 0.3) < 0.05);
        }
        spt_trainer_destroy(t);
        spt_method_config_destroy(cfg);
        spt_optimizer_destroy(o);
        spt_model_destroy(m);
    }
}

/* Every method runs on a described CNN with a depthwise convolution and a
 * residual addition: the trainer is made, five steps run, the sparsity
 * reaches the target where the method has one by then. */
static void test_every_method_on_a_cnn(void **state) {
    (void)state;
    for (int method = 0; method < spt_method_count(); method++) {
        int is_user = 0;
        assert_status(spt_method_is_user(method, &is_user), SPT_OK);
        if (is_user) continue; /* tests/test_user_method.c */
        spt_net *net = NULL;
        int64_t x, node;
        assert_status(spt_net_create(2, 6, 6, &net), SPT_OK);
        layer(net, SPT_LAYER_CONV2D, "conv1", SPT_LP_OUT, 8, SPT_LP_PADDING, 1);
        layer(net, SPT_LAYER_BATCHNORM, "bn1", -1, 0, -1, 0);
        layer(net, SPT_LAYER_RELU, "relu1", -1, 0, -1, 0);
        spt_net_tip(net, &x);
        layer(net, SPT_LAYER_CONV2D, "dw", SPT_LP_OUT, 8, SPT_LP_GROUPS, 8);
        spt_net_tip(net, &node);
        assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
        layer(net, SPT_LAYER_CONV2D, "pw", SPT_LP_OUT, 8, SPT_LP_KERNEL, 1);
        layer(net, SPT_LAYER_ADD, "add", SPT_LP_INPUT, (double)x, -1, 0);
        layer(net, SPT_LAYER_GELU, "gelu", -1, 0, -1, 0);
        layer(net, SPT_LAYER_MAXPOOL, "pool", -1, 0, -1, 0);
        layer(net, SPT_LAYER_FLATTEN, "flat", -1, 0, -1, 0);
        layer(net, SPT_LAYER_LINEAR, "fc", SPT_LP_OUT, K, -1, 0);
        spt_model *m = NULL;
        assert_status(spt_model_create(net, 3, &m), SPT_OK);
        spt_net_destroy(net);
        spt_optimizer *o = NULL;
        assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
        spt_method_config *cfg = NULL;
        assert_status(spt_method_config_create(method, &cfg), SPT_OK);
        if (method != SPT_METHOD_DENSE) assert_status(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.5), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_PRUNE_FREQ, 1), SPT_OK);
        assert_status(spt_method_config_set(cfg, SPT_MP_SYNFLOW_ITERS, 3), SPT_OK);
        int64_t rounds = 1;
        assert_status(spt_method_config_rounds(cfg, &rounds), SPT_OK);
        spt_trainer *t = NULL;
        assert_status(spt_trainer_create(m, o, NULL, cfg, 10 * rounds, 1, &t), SPT_OK);
        float xb[2 * 36 * N];
        int32_t y[N];
        spti_rng g;
        spti_rng_seed(&g, 8);
        for (int64_t r = 0; r < rounds; r++) {
            for (int s = 0; s < 10; s++) {
                for (int i = 0; i < 2 * 36 * N; i++) xb[i] = spti_rng_normal(&g);
                for (int n = 0; n < N; n++) y[n] = (int32_t)spti_rng_below(&g, K);
                int rc = spt_trainer_step(t, xb, y, N, NULL, NULL);
                if (rc != SPT_OK) fail_msg("%s step %d: %s", spt_method_name(method), s, spt_last_error());
            }
            if (r + 1 < rounds) assert_status(spt_trainer_end_round(t), SPT_OK);
        }
        double sparsity;
        assert_status(spt_trainer_sparsity(t, &sparsity, NULL, NULL), SPT_OK);
        if (method == SPT_METHOD_DENSE) assert_true(sparsity == 0.0);
        else if (fabs(sparsity - 0.5) > 0.02) fail_msg("%s: sparsity %g", spt_method_name(method), sparsity);
        spt_trainer_destroy(t);
        spt_method_config_destroy(cfg);
        spt_optimizer_destroy(o);
        spt_model_destroy(m);
    }
}

static void test_refusals(void **state) {
    (void)state;
    spt_net *net = NULL;
    spt_model *m = NULL;
    int64_t node = -5, fc;
    assert_status(spt_net_create(0, 1, 1, &net), SPT_ERR_SIZE);
    assert_null(net);
    assert_status(spt_net_create(4, 1, 1, NULL), SPT_ERR_NULL);
    assert_status(spt_net_create(4, 1, 1, &net), SPT_OK);
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_SIZE); /* no layers */
    assert_status(spt_net_add_layer(net, 99, "x", &node), SPT_ERR_INVALID);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "bad name", &node), SPT_ERR_INVALID);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "", &node), SPT_ERR_INVALID);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &fc), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "fc", &node), SPT_ERR_INVALID); /* taken */
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_INVALID);                        /* out unset */
    assert_non_null(strstr(spt_last_error(), "fc"));
    assert_status(spt_net_set(net, fc, SPT_LP_KERNEL, 3), SPT_ERR_INVALID); /* not a linear key */
    assert_status(spt_net_set(net, fc, SPT_LP_OUT, 0.5), SPT_ERR_INVALID);
    assert_status(spt_net_set(net, fc, SPT_LP_OUT, NAN), SPT_ERR_INVALID);
    assert_status(spt_net_set(net, fc, SPT_LP_DENSITY, 0), SPT_ERR_INVALID);
    assert_status(spt_net_set(net, fc, SPT_LP_DENSITY, 1.5), SPT_ERR_INVALID);
    assert_status(spt_net_set(net, 7, SPT_LP_OUT, 3), SPT_ERR_SIZE);
    assert_status(spt_net_set(net, fc, SPT_LP_OUT, 4), SPT_OK);
    int64_t add;
    assert_status(spt_net_add_layer(net, SPT_LAYER_ADD, "add", &add), SPT_OK);
    assert_status(spt_net_set(net, add, SPT_LP_INPUT, (double)add), SPT_ERR_INVALID); /* not earlier */
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_INVALID);                      /* input unset */
    assert_status(spt_net_set(net, add, SPT_LP_INPUT, -1), SPT_OK);
    assert_status(spt_model_create(net, 1, &m), SPT_OK);
    spt_model_destroy(m);
    /* Shapes that do not fit: an addition of different sizes, a kernel
     * larger than its input, a node whose output nothing reads. */
    assert_status(spt_net_set(net, fc, SPT_LP_OUT, 5), SPT_OK);
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_SIZE);
    assert_null(m);
    spt_net_destroy(net);
    assert_status(spt_net_create(1, 4, 4, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 2), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_KERNEL, 5), SPT_OK);
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_SIZE);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 1), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, "dead", NULL), SPT_OK);
    assert_status(spt_net_set_tip(net, node), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, NULL, NULL), SPT_OK);
    assert_status(spt_model_create(net, 1, &m), SPT_ERR_INVALID);
    assert_non_null(strstr(spt_last_error(), "dead"));
    assert_status(spt_net_set_tip(net, 9), SPT_ERR_SIZE);
    spt_net_destroy(net);
    spt_net_destroy(NULL);
    assert_status(spt_model_create(NULL, 1, &m), SPT_ERR_NULL);
}

static void test_metadata(void **state) {
    (void)state;
    for (int k = 0; k < SPT_LAYER_KIND_COUNT_; k++) {
        int back = -1;
        assert_non_null(spt_layer_kind_name(k));
        assert_status(spt_layer_kind_from_name(spt_layer_kind_name(k), &back), SPT_OK);
        assert_int_equal(back, k);
    }
    assert_null(spt_layer_kind_name(SPT_LAYER_KIND_COUNT_));
    for (int k = 0; k < SPT_LP_COUNT_; k++) {
        int back = -1;
        assert_status(spt_layer_param_from_name(spt_layer_param_name(k), &back), SPT_OK);
        assert_int_equal(back, k);
    }
    int uses;
    double v;
    assert_status(spt_layer_param_default(SPT_LAYER_CONV2D, SPT_LP_KERNEL, &uses, &v), SPT_OK);
    assert_true(uses == 1 && v == 3);
    assert_status(spt_layer_param_default(SPT_LAYER_LINEAR, SPT_LP_BIAS, &uses, &v), SPT_OK);
    assert_true(uses == 1 && v == 1);
    assert_status(spt_layer_param_default(SPT_LAYER_RELU, SPT_LP_OUT, &uses, &v), SPT_OK);
    assert_true(uses == 0 && v == 0);
    assert_status(spt_layer_param_default(-1, 0, &uses, &v), SPT_ERR_INVALID);
    assert_status(spt_layer_kind_from_name("lstm", &uses), SPT_ERR_INVALID);
}

/* spt_net_create_mlp / spt_net_create_resnet describe the built-in
 * networks (a model of the description equals the builder's), and
 * spt_net_size counts them without building: parameters, values, the
 * sparsifiable weights and one example's activations, checked by hand. */
static void test_builtin_descriptions_and_size(void **state) {
    (void)state;
    const int64_t widths[] = {12, 7, 5, 3};
    spt_net *net = NULL;
    assert_status(spt_net_create_mlp(widths, 4, &net), SPT_OK);
    int64_t np = -1, nv = -1, nw = -1, na = -1;
    assert_status(spt_net_size(net, &np, &nv, &nw, &na), SPT_OK);
    assert_int_equal(np, 6);
    assert_int_equal(nw, 12 * 7 + 7 * 5 + 5 * 3);
    assert_int_equal(nv, nw + 7 + 5 + 3);
    /* fc1, relu1, drop1 (7 each), fc2, relu2, drop2 (5 each), fc3 (3) */
    assert_int_equal(na, 3 * 7 + 3 * 5 + 3);
    spt_model *a = NULL, *b = NULL;
    assert_status(spt_model_create(net, 9, &a), SPT_OK);
    assert_status(spt_model_create_mlp(widths, 4, 9, &b), SPT_OK);
    int64_t dense_a, dense_b, nz;
    assert_status(spt_model_num_params(a, &dense_a, &nz), SPT_OK);
    assert_status(spt_model_num_params(b, &dense_b, &nz), SPT_OK);
    assert_int_equal(dense_a, nv);
    assert_int_equal(dense_b, nv);
    float x[12 * 2], la[3 * 2], lb[3 * 2];
    for (int i = 0; i < 24; i++) x[i] = (float)i / 10.0f - 1.0f;
    assert_status(spt_model_forward(a, x, 2, la), SPT_OK);
    assert_status(spt_model_forward(b, x, 2, lb), SPT_OK);
    assert_memory_equal(la, lb, sizeof la);
    spt_model_destroy(a);
    spt_model_destroy(b);
    int64_t ic = 0, ih = 0, iw = 0, outs = 0;
    assert_status(spt_net_shapes(net, &ic, &ih, &iw, &outs), SPT_OK);
    assert_true(ic == 12 && ih == 1 && iw == 1 && outs == 3);
    spt_net_destroy(net);
    /* Outputs may be NULL. */
    assert_status(spt_net_create_mlp(widths, 2, &net), SPT_OK);
    assert_status(spt_net_size(net, NULL, NULL, &nw, NULL), SPT_OK);
    assert_int_equal(nw, 12 * 7);
    spt_net_destroy(net);

    /* ResNet-8 on 3 x 8 x 8, 10 classes: the same model as the builder's. */
    assert_status(spt_net_create_resnet(3, 8, 8, 1, 1, 10, &net), SPT_OK);
    assert_status(spt_net_size(net, &np, &nv, &nw, &na), SPT_OK);
    /* conv 3->16, block 16->16 (2 convs), 16->32 (2 + 1x1 shortcut), 32->64 (2 + shortcut), fc 64->10 */
    const int64_t w_conv = 16 * 3 * 9 + 2 * 16 * 16 * 9 + (32 * 16 * 9 + 32 * 32 * 9 + 32 * 16) +
                           (64 * 32 * 9 + 64 * 64 * 9 + 64 * 32);
    assert_int_equal(nw, w_conv + 64 * 10);
    assert_status(spt_net_shapes(net, &ic, &ih, &iw, &outs), SPT_OK);
    assert_true(ic == 3 && ih == 8 && iw == 8 && outs == 10);
    assert_status(spt_net_shapes(net, NULL, NULL, NULL, NULL), SPT_OK);
    assert_status(spt_net_shapes(NULL, &ic, &ih, &iw, &outs), SPT_ERR_NULL);
    assert_status(spt_model_create(net, 3, &a), SPT_OK);
    assert_status(spt_model_create_resnet(3, 8, 8, 1, 1, 10, 3, &b), SPT_OK);
    assert_status(spt_model_num_params(a, &dense_a, &nz), SPT_OK);
    assert_status(spt_model_num_params(b, &dense_b, &nz), SPT_OK);
    assert_int_equal(dense_a, nv);
    assert_int_equal(dense_b, nv);
    float xr[3 * 8 * 8], ra[10], rb[10];
    for (int i = 0; i < 3 * 8 * 8; i++) xr[i] = (float)(i % 7) / 7.0f;
    assert_status(spt_model_forward(a, xr, 1, ra), SPT_OK);
    assert_status(spt_model_forward(b, xr, 1, rb), SPT_OK);
    assert_memory_equal(ra, rb, sizeof ra);
    spt_model_destroy(a);
    spt_model_destroy(b);
    spt_net_destroy(net);

    /* Refusals: as the builders; a huge network is measured, not built. */
    assert_status(spt_net_create_mlp(widths, 1, &net), SPT_ERR_SIZE);
    assert_null(net);
    assert_non_null(strstr(spt_last_error(), "spt_net_create_mlp"));
    assert_status(spt_net_create_mlp(NULL, 2, &net), SPT_ERR_NULL);
    assert_status(spt_net_create_resnet(3, 8, 8, 0, 1, 10, &net), SPT_ERR_SIZE);
    assert_status(spt_net_size(NULL, &np, &nv, &nw, &na), SPT_ERR_NULL);
    const int64_t huge[] = {784, 2000000000, 2000000000, 10};
    assert_status(spt_net_create_mlp(huge, 4, &net), SPT_OK);
    assert_status(spt_net_size(net, &np, &nv, &nw, &na), SPT_OK);
    assert_true(nw > (int64_t)4000000000000000000 / 1000);
    spt_net_destroy(net);
    assert_status(spt_net_create(4, 1, 1, &net), SPT_OK);
    nv = 77;
    assert_status(spt_net_size(net, &np, &nv, &nw, &na), SPT_ERR_SIZE);
    assert_int_equal(nv, 77);
    assert_status(spt_net_shapes(net, &ic, NULL, NULL, &outs), SPT_ERR_SIZE); /* no layers: no output */
    assert_status(spt_net_shapes(net, &ic, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(ic, 4);
    spt_net_destroy(net);
}

/* spt_net_weights lists a description's weights as a layer list (grouped
 * and depthwise convolutions, linear after flatten, pinned densities),
 * counts with capacity 0, writes nothing when short, and the epsilon
 * allocation over that list is exactly what a trainer allocates. */
static void test_net_weights(void **state) {
    (void)state;
    spt_net *net = NULL;
    int64_t node = -1;
    assert_status(spt_net_create(4, 6, 6, &net), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "c1", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 8), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_GROUPS, 2), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_RELU, NULL, NULL), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_CONV2D, "dw", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 8), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_GROUPS, 8), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_KERNEL, 1), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_PADDING, 0), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_DENSITY, 1.0), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_FLATTEN, NULL, NULL), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "fc", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 40), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_DENSITY, 0.25), SPT_OK);
    assert_status(spt_net_add_layer(net, SPT_LAYER_LINEAR, "out", &node), SPT_OK);
    assert_status(spt_net_set(net, node, SPT_LP_OUT, 3), SPT_OK);

    int64_t n = -1;
    assert_status(spt_net_weights(net, 0, NULL, NULL, NULL, &n), SPT_OK);
    assert_int_equal(n, 4);
    int32_t ndim[4] = {-7, -7, -7, -7};
    int64_t shape[16];
    double dens[4] = {-7, -7, -7, -7};
    n = -1;
    assert_status(spt_net_weights(net, 3, ndim, shape, dens, &n), SPT_OK); /* short: counted, nothing written */
    assert_int_equal(n, 4);
    assert_int_equal(ndim[0], -7);
    assert_status(spt_net_weights(net, 4, ndim, shape, dens, &n), SPT_OK);
    const int64_t want[16] = {8, 2, 3, 3, 8, 1, 1, 1, 40, 8 * 4 * 4, 1, 1, 3, 40, 1, 1}; /* c1 has no padding: 4 x 4 out */;
    const int32_t want_ndim[4] = {4, 4, 2, 2};
    const double want_d[4] = {0, 1, 0.25, 0};
    for (int l = 0; l < 4; l++) {
        assert_int_equal(ndim[l], want_ndim[l]);
        assert_true(dens[l] == want_d[l]);
        for (int j = 0; j < (ndim[l] == 4 ? 4 : 2); j++) assert_int_equal(shape[4 * l + j], want[4 * l + j]);
    }
    /* Refusals, outputs unchanged. */
    n = 99;
    assert_status(spt_net_weights(NULL, 4, ndim, shape, dens, &n), SPT_ERR_NULL);
    assert_status(spt_net_weights(net, 4, ndim, shape, dens, NULL), SPT_ERR_NULL);
    assert_status(spt_net_weights(net, 4, NULL, shape, dens, &n), SPT_ERR_NULL);
    assert_status(spt_net_weights(net, -1, ndim, shape, dens, &n), SPT_ERR_INVALID);
    assert_int_equal(n, 99);

    /* The trainer's allocation under epsilon is the list's. */
    double eps_d[4];
    int64_t nnz[4];
    uint8_t keep[4] = {0, 1, 0, 0};
    assert_status(spt_sparsity_allocate_epsilon(SPT_DISTRIBUTION_ERK, 1.5, 4, ndim, shape, keep, eps_d, nnz, NULL),
                  SPT_OK);
    spt_model *m = NULL;
    assert_status(spt_model_create(net, 2, &m), SPT_OK);
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_SET, &cfg), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_ERK), SPT_OK);
    assert_status(spt_method_config_set(cfg, SPT_MP_EPSILON, 1.5), SPT_OK);
    spt_trainer *t = NULL;
    assert_status(spt_trainer_create(m, o, NULL, cfg, 10, 1, &t), SPT_OK);
    for (int l = 0; l < 4; l++) {
        int64_t got = 0, rows = 0;
        double d = 0;
        assert_status(spt_trainer_layer_density(t, l, NULL, &got, &rows, &d), SPT_OK);
        assert_int_equal(got, l == 2 ? 40 * 128 / 4 : nnz[l]);
    }
    spt_trainer_destroy(t);
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(o);
    spt_model_destroy(m);
    spt_net_destroy(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_of_a_graph), cmocka_unit_test(test_model_net_round_trip),
        cmocka_unit_test(test_builtin_descriptions_and_size), cmocka_unit_test(test_net_weights),
        cmocka_unit_test(test_train_and_resume),     cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_metadata),             cmocka_unit_test(test_residual_block_gradients),
        cmocka_unit_test(test_pruning_honours_node_density), cmocka_unit_test(test_every_method_on_a_cnn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
