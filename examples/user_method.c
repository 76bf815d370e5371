/*
 * spt-user-method: SET and RigL written as your own methods
 * (include/sparsetrain/user_method.h), trained side by side with the
 * built-in SET and RigL on Fashion-MNIST, on the same batches. After every
 * step each user method's weights (pattern and values) must equal its
 * built-in twin's, bit for bit.
 *
 *   ./build/examples/spt-user-method [STEPS [DATA_DIR]]
 *
 * STEPS defaults to 300 (a few seconds), DATA_DIR to Debian's
 * /usr/share/datasets/fashion-mnist. Exit status: 0 when every step
 * matched, 1 on a mismatch or an error, 2 for a bad argument (named, before
 * the data is read), 77 when the data set is missing.
 */
#include <errno.h>
#include <math.h>
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

enum { BATCH = 64, DELTA_T = 20, TRAIN_LIMIT = 10000, RUNS = 4 };

/* ---- the criteria ------------------------------------------------------ */

/* Drop: one score per active weight (nnz of them, CSR order); the k of
 * smallest score leave. Magnitude, |w|, as SET and RigL drop. `user` counts
 * the calls. */
static int drop_magnitude(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                          const int64_t *row_ptr, const int32_t *col_idx, const float *values, uint64_t seed,
                          float *score) {
    (void)layer, (void)step, (void)rows, (void)cols, (void)row_ptr, (void)col_idx, (void)seed;
    for (int64_t j = 0; j < nnz; j++) score[j] = fabsf(values[j]);
    ++*(int64_t *)user;
    return 0;
}

/* Grow: one score per position of the rows x cols matrix (row-major); the
 * k positions of largest |score| among those not kept join. RigL's is the
 * magnitude of this mini-batch's dense gradient dL/dW (rows x cols). */
static int grow_gradient(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
                         const int64_t *row_ptr, const int32_t *col_idx, const float *values, const float *dense_grad,
                         uint64_t seed, float *score) {
    (void)layer, (void)step, (void)nnz, (void)row_ptr, (void)col_idx, (void)values, (void)seed;
    for (int64_t i = 0; i < rows * cols; i++) score[i] = fabsf(dense_grad[i]);
    ++*(int64_t *)user;
    return 0;
}

/* ---- a training run ------------------------------------------------------ */

typedef struct run {
    const char *name;
    spt_model *model;
    spt_trainer *trainer;
    double loss;
} run;

/* The same MLP 784-300-100-10 (same seed), optimizer and knobs for every
 * run; only the method differs: a built-in (u NULL) or a user method. */
static void start(run *r, const char *name, int builtin, const spt_user_method *u, int64_t steps) {
    const int64_t widths[4] = {28 * 28, 300, 100, 10};
    r->name = name;
    CHECK(spt_model_create_mlp(widths, 4, 1, &r->model));
    spt_optimizer *opt;
    CHECK(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt));
    CHECK(spt_optimizer_set_param(opt, SPT_OPT_LR, 0.1));
    CHECK(spt_optimizer_set_param(opt, SPT_OPT_MOMENTUM, 0.9));
    spt_method_config *cfg;
    if (u) CHECK(spt_method_config_create_user(u, &cfg));
    else CHECK(spt_method_config_create(builtin, &cfg));
    CHECK(spt_method_config_set(cfg, SPT_MP_SPARSITY, 0.9));
    CHECK(spt_method_config_set(cfg, SPT_MP_DISTRIBUTION, SPT_DISTRIBUTION_ERK));
    CHECK(spt_method_config_set(cfg, SPT_MP_DELTA_T, DELTA_T));
    CHECK(spt_method_config_set(cfg, SPT_MP_SEED, 1));
    CHECK(spt_trainer_create(r->model, opt, NULL, cfg, steps, 1, &r->trainer)); /* copies opt and cfg */
    spt_method_config_destroy(cfg);
    spt_optimizer_destroy(opt);
}

/* Whether two models have the same weights, pattern and values, bit for
 * bit; *bad receives the first layer that differs. */
static int same_weights(const spt_model *a, const spt_model *b, int64_t *bad) {
    int64_t layers;
    CHECK(spt_model_num_layers(a, &layers));
    for (int64_t i = 0; i < layers; i++) {
        int64_t rows, cols, nnz, rows_b, cols_b, nnz_b;
        CHECK(spt_model_layer_weight(a, i, &rows, &cols, &nnz, NULL));
        CHECK(spt_model_layer_weight(b, i, &rows_b, &cols_b, &nnz_b, NULL));
        *bad = i;
        if (rows != rows_b || cols != cols_b || nnz != nnz_b) return 0;
        if (rows == 0) continue; /* no weight: ReLU, dropout */
        /* as CSR: row_ptr[rows + 1], col_idx[nnz], values[nnz], for a then b */
        int64_t *row_ptr = malloc(2 * (size_t)(rows + 1) * sizeof *row_ptr);
        int32_t *col_idx = malloc(2 * (size_t)nnz * sizeof *col_idx);
        float *values = malloc(2 * (size_t)nnz * sizeof *values);
        if (!row_ptr || !col_idx || !values) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        CHECK(spt_model_layer_weight_csr(a, i, row_ptr, rows + 1, col_idx, values, nnz));
        CHECK(spt_model_layer_weight_csr(b, i, row_ptr + rows + 1, rows + 1, col_idx + nnz, values + nnz, nnz));
        const int same = !memcmp(row_ptr, row_ptr + rows + 1, (size_t)(rows + 1) * sizeof *row_ptr) &&
                         !memcmp(col_idx, col_idx + nnz, (size_t)nnz * sizeof *col_idx) &&
                         !memcmp(values, values + nnz, (size_t)nnz * sizeof *values);
        free(row_ptr);
        free(col_idx);
        free(values);
        if (!same) return 0;
    }
    return 1;
}

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

int main(int argc, char **argv) {
    if (argc > 3) {
        fprintf(stderr, "%s: usage: %s [STEPS [DATA_DIR]]\n", argv[0], argv[0]);
        return 2;
    }
    const int64_t steps = int_arg(argc, argv, 1, "STEPS", 300, 1, 1000000);
    const char *dir = path_arg(argc, argv, 2, "DATA_DIR", SPT_FASHION_MNIST_DIR);
    /* Fashion-MNIST: 28 x 28 grey images, 10 classes; normalised by the
     * training set's mean and standard deviation. */
    spt_dataset *train, *test;
    if (spt_dataset_load_mnist(dir, SPT_SPLIT_TRAIN, TRAIN_LIMIT, &train) != SPT_OK) {
        fprintf(stderr, "no Fashion-MNIST: %s\n", spt_last_error());
        return 77;
    }
    CHECK(spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, 0, &test));
    float mean, std;
    CHECK(spt_dataset_compute_mean_std(train, &mean, &std, 1));
    CHECK(spt_dataset_set_normalization(train, &mean, &std, 1));
    CHECK(spt_dataset_set_normalization(test, &mean, &std, 1));
    spt_batcher *batcher;
    CHECK(spt_batcher_create(train, BATCH, SPT_BATCH_SHUFFLE | SPT_BATCH_DROP_LAST, 1, &batcher));

    /* SET as a user method: drop |w|, grow at random, update after the
     * optimizer step. */
    int64_t set_calls = 0, rigl_calls = 0;
    spt_user_method *my_set, *my_rigl;
    CHECK(spt_user_method_create("my-set", &my_set));
    CHECK(spt_user_method_set_drop(my_set, drop_magnitude, &set_calls));
    CHECK(spt_user_method_set_grow(my_set, SPT_GROW_RANDOM, NULL, NULL));
    CHECK(spt_user_method_set_update(my_set, SPT_UPDATE_AFTER_STEP));
    /* RigL as a user method: drop |w|, grow |dL/dW| (a callback given the
     * dense gradient), update after backward instead of the optimizer step. */
    CHECK(spt_user_method_create("my-rigl", &my_rigl));
    CHECK(spt_user_method_set_drop(my_rigl, drop_magnitude, &rigl_calls));
    CHECK(spt_user_method_set_grow(my_rigl, SPT_GROW_GRADIENT_SCORE, grow_gradient, &rigl_calls));
    CHECK(spt_user_method_set_update(my_rigl, SPT_UPDATE_BEFORE_STEP));

    /* Four runs; runs[2i + 1] must follow runs[2i] bit for bit. */
    run runs[RUNS];
    start(&runs[0], "set", SPT_METHOD_SET, NULL, steps);
    start(&runs[1], "my-set", 0, my_set, steps);
    start(&runs[2], "rigl", SPT_METHOD_RIGL, NULL, steps);
    start(&runs[3], "my-rigl", 0, my_rigl, steps);
    spt_user_method_destroy(my_set); /* the configurations (and trainers) hold copies */
    spt_user_method_destroy(my_rigl);
    printf("MLP 784-300-100-10, 90%% sparse (ERK), update every %d steps, batch %d, %lld steps\n", DELTA_T, BATCH,
           (long long)steps);

    /* The training loop: one batch, every run, then compare. */
    float *x = malloc((size_t)(28 * 28 * BATCH) * sizeof *x); /* 784 x B, feature-major */
    int32_t y[BATCH];                                          /* B labels */
    if (!x) return 1;
    int status = 0;
    for (int64_t step = 0; step < steps && status == 0; step++) {
        int64_t B;
        CHECK(spt_batcher_next(batcher, x, 28 * 28 * BATCH, y, BATCH, &B));
        if (B == 0) CHECK(spt_batcher_next(batcher, x, 28 * 28 * BATCH, y, BATCH, &B)); /* a new epoch */
        for (int r = 0; r < RUNS; r++) CHECK(spt_trainer_step(runs[r].trainer, x, y, B, &runs[r].loss, NULL));
        for (int r = 0; r < RUNS; r += 2) {
            int64_t layer;
            if (!same_weights(runs[r].model, runs[r + 1].model, &layer)) {
                fprintf(stderr, "step %lld: %s and %s differ in layer %lld\n", (long long)step, runs[r].name,
                        runs[r + 1].name, (long long)layer);
                status = 1;
            }
        }
        if (step % 50 == 0 || step == steps - 1)
            printf("step %4lld  loss  set %.4f  my-set %.4f  rigl %.4f  my-rigl %.4f\n", (long long)step, runs[0].loss,
                   runs[1].loss, runs[2].loss, runs[3].loss);
    }

    /* Topology updates and test accuracy of each run; twins must agree. */
    int64_t updates[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double loss, acc;
        CHECK(spt_trainer_last_update(runs[r].trainer, NULL, &updates[r]));
        CHECK(spt_trainer_evaluate(runs[r].trainer, test, 256, &loss, &acc));
        printf("%-8s topology updates %3lld  test accuracy %.4f\n", runs[r].name, (long long)updates[r], acc);
    }
    printf("callbacks: my-set %lld calls, my-rigl %lld calls\n", (long long)set_calls, (long long)rigl_calls);
    if (updates[0] != updates[1] || updates[2] != updates[3]) status = 1;
    printf(status == 0 ? "OK: the user methods' masks equal the built-ins' at every step\n" : "MISMATCH\n");

    free(x);
    for (int r = 0; r < RUNS; r++) {
        spt_trainer_destroy(runs[r].trainer);
        spt_model_destroy(runs[r].model);
    }
    spt_batcher_destroy(batcher);
    spt_dataset_destroy(test);
    spt_dataset_destroy(train);
    return status;
}
