/* Memory and time follow the nonzeros (issue 20): a model whose dense form
 * could not be allocated (a 1,000,000 x 1,000,000 layer: 4 TB of floats)
 * is built, sparsified, trained (static and SET, whose growth samples
 * among 10^12 candidates), evaluated, checkpointed and resumed; and the
 * position sampler behind the topology and SET's growth is exact. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/model.h"
#include "sparsity/dst.h"
#include "test_support.h"

/* k distinct sorted values in [0, n), on both paths of the sampler, with
 * every value equally likely (chi-square over 64 buckets). */
static void test_sample_sorted(void **state) {
    (void)state;
    const int64_t ns[3] = {1000, (int64_t)1 << 30, (int64_t)1 << 40};
    const int64_t ks[3] = {300, 200000, 200000};
    for (int c = 0; c < 3; c++) {
        const int64_t n = ns[c], k = ks[c];
        int64_t *pos = malloc((size_t)k * sizeof *pos);
        spti_rng rng;
        spti_rng_seed(&rng, 5 + (uint64_t)c);
        assert_int_equal(spti_sample_sorted(&rng, n, k, pos), SPT_OK);
        int64_t bucket[64] = {0};
        for (int64_t i = 0; i < k; i++) {
            assert_true(pos[i] >= 0 && pos[i] < n);
            if (i > 0) assert_true(pos[i] > pos[i - 1]);
            bucket[(int)((double)pos[i] / (double)n * 64.0)]++;
        }
        double chi = 0, e = (double)k / 64.0;
        for (int b = 0; b < 64; b++) chi += (bucket[b] - e) * (bucket[b] - e) / e;
        assert_true(chi < 120.0); /* 63 degrees of freedom: p < 1e-5 above 120 */
        /* Same seed, same bytes. */
        int64_t *again = malloc((size_t)k * sizeof *again);
        spti_rng_seed(&rng, 5 + (uint64_t)c);
        assert_int_equal(spti_sample_sorted(&rng, n, k, again), SPT_OK);
        assert_memory_equal(pos, again, (size_t)k * sizeof *pos);
        free(again);
        free(pos);
    }
    spti_rng rng;
    spti_rng_seed(&rng, 1);
    int64_t one;
    assert_int_equal(spti_sample_sorted(&rng, 10, 11, &one), SPT_ERR_SIZE);
}

enum { IN = 8, H = 1000000, CLASSES = 4, N = 4 };

static spt_trainer *huge_trainer(int method, spt_model **model) {
    const int64_t widths[4] = {IN, H, H, CLASSES};
    assert_int_equal(spt_model_create_mlp(widths, 4, 3, model), SPT_OK);
    spt_method_config *cfg;
    assert_int_equal(spt_method_config_create(method, &cfg), SPT_OK);
    /* 8 x 10^6 at 1/8, 10^12 at 10^-6 (10^6 nonzeros), 4 x 10^6 at 1/4. */
    const double dens[3] = {0.125, 1e-6, 0.25};
    assert_int_equal(spt_method_config_set_densities(cfg, dens, 3), SPT_OK);
    if (method == SPT_METHOD_SET) assert_int_equal(spt_method_config_set(cfg, SPT_MP_DELTA_T, 2), SPT_OK);
    spt_optimizer *opt;
    assert_int_equal(spt_optimizer_create(SPT_OPTIMIZER_SGD, &opt), SPT_OK);
    spt_trainer *t;
    assert_int_equal(spt_trainer_create(*model, opt, NULL, cfg, 10, 1, &t), SPT_OK);
    spt_optimizer_destroy(opt);
    spt_method_config_destroy(cfg);
    return t;
}

static void batch(float *x, int32_t *y, uint64_t seed) {
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    for (int i = 0; i < N; i++) {
        y[i] = (int32_t)(i % CLASSES);
        for (int f = 0; f < IN; f++) x[f * N + i] = spti_rng_normal(&rng) + (f % CLASSES == y[i] ? 2.0f : 0.0f);
    }
}

/* An allocator that records, while `watch` is set, the largest block. */
static atomic_bool watch;
static atomic_size_t largest;

static void *watching_alloc(size_t size, void *user) {
    (void)user;
    if (atomic_load(&watch)) {
        size_t cur = atomic_load(&largest);
        while (size > cur && !atomic_compare_exchange_weak(&largest, &cur, size)) {
        }
    }
    return malloc(size);
}

static void watching_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

static void watch_from_zero(bool on) {
    atomic_store(&largest, 0);
    atomic_store(&watch, on);
}

static void test_layer_beyond_memory(void **state) {
    (void)state;
    const int methods[2] = {SPT_METHOD_STATIC, SPT_METHOD_SET};
    static float x[IN * N], xt[N * IN];
    static int32_t y[N];
    batch(x, y, 9);
    for (int i = 0; i < N; i++)
        for (int f = 0; f < IN; f++) xt[i * IN + f] = x[f * N + i];
    for (int mi = 0; mi < 2; mi++) {
        spt_model *m;
        spt_trainer *t = huge_trainer(methods[mi], &m);
        int64_t rows = 0, cols = 0, nnz, leaf = -1, n_leaves;
        assert_int_equal(spt_model_num_layers(m, &n_leaves), SPT_OK);
        while (!(rows == H && cols == H) && ++leaf < n_leaves) /* fc2 */
            assert_int_equal(spt_model_layer_weight(m, leaf, &rows, &cols, &nnz, NULL), SPT_OK);
        assert_true(rows == H && cols == H && nnz == H);
        double loss[3];
        for (int s = 0; s < 3; s++) { /* SET updates its topology at step 2 */
            assert_int_equal(spt_trainer_step(t, x, y, N, &loss[s], NULL), SPT_OK);
            assert_true(isfinite(loss[s]));
        }
        assert_int_equal(spt_model_layer_weight(m, leaf, &rows, &cols, &nnz, NULL), SPT_OK);
        assert_int_equal(nnz, H);
        spt_dataset *ds;
        assert_int_equal(spt_dataset_from_float(xt, y, N, IN, 1, 1, CLASSES, &ds), SPT_OK);
        double eval_loss;
        assert_int_equal(spt_trainer_evaluate(t, ds, N, &eval_loss, NULL), SPT_OK);
        assert_true(isfinite(eval_loss));
        /* Checkpoint and resume: the next step gives the same loss. */
        char path[] = "/tmp/spt-born-sparse-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        /* Saving and loading stream the image: no block as large as the
         * file (the writer encodes into the mapped file, the reader parses
         * the mapped file in place); the largest are the model's own
         * arrays (row offsets of a 10^6-row layer: 8 MB). */
        assert_int_equal(spt_set_allocator(watching_alloc, watching_free, NULL), SPT_OK);
        watch_from_zero(true);
        int rc_save = spt_trainer_save(t, NULL, path);
        watch_from_zero(false);
        if (rc_save != SPT_OK) fprintf(stderr, "%s\n", spt_last_error());
        assert_int_equal(rc_save, SPT_OK);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > (off_t)(24 << 20));
        assert_true(atomic_load(&largest) < (size_t)st.st_size / 2);
        spt_model *m2;
        spt_trainer *t2;
        watch_from_zero(true);
        int rc_load = spt_trainer_load(path, &m2, &t2, NULL);
        const size_t load_largest = atomic_load(&largest);
        watch_from_zero(false);
        if (rc_load != SPT_OK) fprintf(stderr, "%s\n", spt_last_error());
        assert_int_equal(rc_load, SPT_OK);
        assert_true(load_largest < (size_t)st.st_size / 2);
        unlink(path);
        double a, b;
        assert_int_equal(spt_trainer_step(t, x, y, N, &a, NULL), SPT_OK);
        assert_int_equal(spt_trainer_step(t2, x, y, N, &b, NULL), SPT_OK);
        assert_true(a == b);
        spt_dataset_destroy(ds);
        spt_trainer_destroy(t2);
        spt_model_destroy(m2);
        spt_trainer_destroy(t);
        spt_model_destroy(m);
    }
    assert_int_equal(spt_set_allocator(NULL, NULL, NULL), SPT_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_sorted),
        cmocka_unit_test(test_layer_beyond_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
