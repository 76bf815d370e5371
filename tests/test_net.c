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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_of_a_graph), cmocka_unit_test(test_model_net_round_trip),
        cmocka_unit_test(test_train_and_resume),     cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
