/* CIFAR-10 binary reader: decoding, sizes, labels, the standard directory,
 * argument checks, out-of-memory paths. Files are written by the tests. */
#include "test_data_util.h"

static char dir[4096];

static int setup(void **state) {
    (void)state;
    tdu_mkdtemp(dir, sizeof dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tdu_rmtree(dir);
    return 0;
}

/* Writes a.bin (3 records) and b.bin (2 records), examples 0..4. */
static const unsigned char labels_ab[5] = {3, 0, 9, 5, 1};
static void write_ab(char *pa, char *pb, size_t cap) {
    unsigned char *a = tdu_cifar_bytes(0, 3, labels_ab), *b = tdu_cifar_bytes(3, 2, labels_ab + 3);
    tdu_write(dir, "a.bin", a, 3 * 3073, 0);
    tdu_write(dir, "b.bin", b, 2 * 3073, 0);
    free(a);
    free(b);
    tdu_path(pa, cap, dir, "a.bin");
    tdu_path(pb, cap, dir, "b.bin");
}

static void test_decode(void **state) {
    (void)state;
    char pa[4096], pb[4096];
    write_ab(pa, pb, sizeof pa);
    const char *paths[2] = {pa, pb};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_cifar10_files(paths, 2, 0, &ds), SPT_OK);
    int64_t n, c, h, w, k;
    assert_status(spt_dataset_info(ds, &n, &c, &h, &w, &k), SPT_OK);
    assert_int_equal(n, 5);
    assert_int_equal(c, 3);
    assert_int_equal(h, 32);
    assert_int_equal(w, 32);
    assert_int_equal(k, 10);
    int64_t idx[5] = {0, 1, 2, 3, 4};
    float *x = malloc(3072 * 5 * sizeof(float));
    int32_t y[5];
    assert_status(spt_dataset_gather(ds, idx, 5, x, 3072 * 5, y), SPT_OK);
    /* Planes R, G, B of 32x32 row-major become channel 0, 1, 2, and the
     * batch is the fastest index. */
    for (int b = 0; b < 5; b++) {
        assert_int_equal(y[b], labels_ab[b]);
        for (int ch = 0; ch < 3; ch++)
            for (int r = 0; r < 32; r++)
                for (int col = 0; col < 32; col++)
                    assert_float_equal(x[((ch * 32 + r) * 32 + col) * 5 + b], tdu_pixel(b, ch, r, col) / 255.0f, 1e-6);
    }
    int32_t all[5];
    assert_status(spt_dataset_labels(ds, all, 5), SPT_OK);
    for (int b = 0; b < 5; b++) assert_int_equal(all[b], labels_ab[b]);
    assert_status(spt_dataset_labels(ds, all, 4), SPT_ERR_SIZE);
    free(x);
    spt_dataset_destroy(ds);
}

static void test_limit(void **state) {
    (void)state;
    char pa[4096], pb[4096];
    write_ab(pa, pb, sizeof pa);
    const char *paths[2] = {pa, pb};
    spt_dataset *ds = NULL;
    /* 4 crosses the file boundary: 3 from a.bin, 1 from b.bin. */
    assert_status(spt_dataset_load_cifar10_files(paths, 2, 4, &ds), SPT_OK);
    int64_t n;
    assert_status(spt_dataset_info(ds, &n, NULL, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(n, 4);
    int32_t y[4];
    assert_status(spt_dataset_labels(ds, y, 4), SPT_OK);
    assert_int_equal(y[3], 5);
    int64_t last = 3;
    float *x = malloc(3072 * sizeof(float));
    assert_status(spt_dataset_gather(ds, &last, 1, x, 3072, NULL), SPT_OK);
    assert_float_equal(x[3071], tdu_pixel(3, 2, 31, 31) / 255.0f, 1e-6);
    free(x);
    spt_dataset_destroy(ds);
    assert_status(spt_dataset_load_cifar10_files(paths, 2, 1000, &ds), SPT_OK);
    assert_status(spt_dataset_info(ds, &n, NULL, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(n, 5);
    spt_dataset_destroy(ds);
    assert_status(spt_dataset_load_cifar10_files(paths, 2, -1, &ds), SPT_ERR_SIZE);
    assert_null(ds);
}

static void test_bad_size(void **state) {
    (void)state;
    unsigned char lab[3] = {1, 2, 3};
    unsigned char *buf = tdu_cifar_bytes(0, 3, lab); /* 3 records: room for the over-long write */
    char p[4096];
    tdu_path(p, sizeof p, dir, "short.bin");
    const char *paths[1] = {p};
    spt_dataset *ds = (spt_dataset *)&ds; /* must be reset to NULL */
    tdu_write(dir, "short.bin", buf, 2 * 3073 - 1, 0);
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(spt_last_error(), "short.bin"));
    assert_non_null(strstr(spt_last_error(), "multiple"));
    tdu_write(dir, "short.bin", buf, 2 * 3073 + 1, 0); /* one trailing byte */
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_FORMAT);
    tdu_write(dir, "short.bin", buf, 0, 0); /* empty */
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_FORMAT);
    free(buf);
}

static void test_bad_label(void **state) {
    (void)state;
    unsigned char lab[3] = {1, 2, 10};
    unsigned char *buf = tdu_cifar_bytes(0, 3, lab);
    tdu_write(dir, "lab.bin", buf, 3 * 3073, 0);
    free(buf);
    char p[4096];
    tdu_path(p, sizeof p, dir, "lab.bin");
    const char *paths[1] = {p};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(spt_last_error(), "lab.bin"));
    assert_non_null(strstr(spt_last_error(), "label 10"));
    /* Labels are checked for the records loaded. */
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 2, &ds), SPT_OK);
    spt_dataset_destroy(ds);
}

static void test_missing(void **state) {
    (void)state;
    char p[4096];
    tdu_path(p, sizeof p, dir, "nope.bin");
    const char *paths[1] = {p};
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "nope.bin"));
    const char *dirs[1] = {dir}; /* a directory is not a data file */
    assert_status(spt_dataset_load_cifar10_files(dirs, 1, 0, &ds), SPT_ERR_IO);
    assert_null(ds);
}

static void test_null_args(void **state) {
    (void)state;
    spt_dataset *ds = NULL;
    const char *paths[2] = {"x", NULL};
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_dataset_load_cifar10_files(NULL, 1, 0, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_load_cifar10_files(paths, 2, 0, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_load_cifar10_files(paths, 0, 0, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_dataset_load_cifar10(NULL, SPT_SPLIT_TEST, 0, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_load_cifar10(dir, 2, 0, &ds), SPT_ERR_INVALID);
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, -3, &ds), SPT_ERR_SIZE);
    assert_null(ds);
    assert_status(spt_dataset_info(NULL, NULL, NULL, NULL, NULL, NULL), SPT_ERR_NULL);
    spt_dataset_destroy(NULL);
}

static void test_standard_dir(void **state) {
    (void)state;
    spt_dataset *ds = NULL;
    /* Nothing there yet: the first file of the split is named. */
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TRAIN, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "data_batch_1.bin"));
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "test_batch.bin"));

    /* A standard file holds exactly 10000 records. */
    unsigned char *labels = malloc(10000);
    for (int i = 0; i < 10000; i++) labels[i] = (unsigned char)((i * 7) % 10);
    unsigned char *buf = tdu_cifar_bytes(0, 10000, labels);
    tdu_write(dir, "data_batch_1.bin", buf, 2 * 3073, 0);
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TRAIN, 0, &ds), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "data_batch_1.bin"));
    assert_non_null(strstr(spt_last_error(), "10000"));
    tdu_write(dir, "data_batch_1.bin", buf, 10000 * 3073, 0);
    /* Batches 2..5 missing: named even with a limit that batch 1 covers. */
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TRAIN, 5, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "data_batch_2.bin"));
    assert_null(ds);

    tdu_write(dir, "test_batch.bin", buf, 10000 * 3073, 0);
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, 0, &ds), SPT_OK);
    int64_t n;
    assert_status(spt_dataset_info(ds, &n, NULL, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(n, 10000);
    int32_t *y = malloc(10000 * sizeof(int32_t));
    assert_status(spt_dataset_labels(ds, y, 10000), SPT_OK);
    for (int i = 0; i < 10000; i++) assert_int_equal(y[i], labels[i]);
    int64_t e = 9999;
    float *x = malloc(3072 * sizeof(float));
    assert_status(spt_dataset_gather(ds, &e, 1, x, 3072, NULL), SPT_OK);
    assert_float_equal(x[0], tdu_pixel(9999, 0, 0, 0) / 255.0f, 1e-6);
    assert_float_equal(x[1024 + 33], tdu_pixel(9999, 1, 1, 1) / 255.0f, 1e-6);
    spt_dataset_destroy(ds);
    assert_status(spt_dataset_load_cifar10(dir, SPT_SPLIT_TEST, 10, &ds), SPT_OK);
    assert_status(spt_dataset_info(ds, &n, NULL, NULL, NULL, NULL), SPT_OK);
    assert_int_equal(n, 10);
    spt_dataset_destroy(ds);
    /* A directory path with a trailing slash works too. */
    char slash[4200];
    snprintf(slash, sizeof slash, "%s/", dir);
    assert_status(spt_dataset_load_cifar10(slash, SPT_SPLIT_TEST, 1, &ds), SPT_OK);
    spt_dataset_destroy(ds);
    free(x);
    free(y);
    free(buf);
    free(labels);
}

static void test_nomem(void **state) {
    (void)state;
    char pa[4096], pb[4096];
    write_ab(pa, pb, sizeof pa);
    const char *paths[2] = {pa, pb};
    spt_dataset *ds = NULL;
    TDU_NOMEM_LOOP(spt_dataset_load_cifar10_files(paths, 2, 0, &ds), spt_dataset_destroy(ds));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),       cmocka_unit_test(test_limit),   cmocka_unit_test(test_bad_size),
        cmocka_unit_test(test_bad_label),    cmocka_unit_test(test_missing), cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_standard_dir), cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
