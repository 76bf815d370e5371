/* IDX reader (MNIST / Fashion-MNIST): plain and gzip decoding, every header
 * and length check, directory naming, the real Fashion-MNIST test split
 * when installed, argument checks, out-of-memory paths. */
#include <sys/stat.h>

#include "test_data_util.h"

static char dir[512];
static char img_path[1024], lab_path[1024];

static int setup(void **state) {
    (void)state;
    tdu_mkdtemp(dir, sizeof dir);
    tdu_path(img_path, sizeof img_path, dir, "img");
    tdu_path(lab_path, sizeof lab_path, dir, "lab");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tdu_rmtree(dir);
    return 0;
}

enum { MI = 0x00000803, ML = 0x00000801 };
static const unsigned char labels5[5] = {7, 0, 9, 2, 2};

/* img/lab in dir: n images of rows x cols (magic mi) and labels (magic ml). */
static void write_pair(uint32_t mi, uint32_t ni, uint32_t rows, uint32_t cols, uint32_t ml, uint32_t nl,
                       const unsigned char *labels, int gz, long img_delta) {
    size_t li, ll;
    unsigned char *bi = tdu_idx_images(mi, ni, rows, cols, &li);
    unsigned char *bl = tdu_idx_labels(ml, nl, labels, &ll);
    unsigned char *grown = calloc(li + 8, 1); /* img_delta > 0 appends bytes */
    memcpy(grown, bi, li);
    tdu_write(dir, "img", grown, (size_t)((long)li + img_delta), gz);
    tdu_write(dir, "lab", bl, ll, gz);
    free(grown);
    free(bi);
    free(bl);
}

static void check_decoded(spt_dataset *ds, int64_t want_n, int64_t rows, int64_t cols) {
    int64_t n, c, h, w, k;
    assert_status(spt_dataset_info(ds, &n, &c, &h, &w, &k), SPT_OK);
    assert_int_equal(n, want_n);
    assert_int_equal(c, 1);
    assert_int_equal(h, rows);
    assert_int_equal(w, cols);
    assert_int_equal(k, 10);
    int64_t idx[8];
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    float *x = malloc((size_t)(n * rows * cols) * sizeof(float));
    int32_t y[8];
    assert_status(spt_dataset_gather(ds, idx, n, x, n * rows * cols, y), SPT_OK);
    for (int64_t b = 0; b < n; b++) {
        assert_int_equal(y[b], labels5[b]);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t col = 0; col < cols; col++)
                assert_float_equal(x[(r * cols + col) * n + b], tdu_pixel(b, 0, r, col) / 255.0f, 1e-6);
    }
    free(x);
}

static void test_decode_plain_and_gz(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        write_pair(MI, 5, 3, 4, ML, 5, labels5, gz, 0); /* rows != cols catches a swap */
        spt_dataset *ds = NULL;
        assert_status(spt_dataset_load_idx(img_path, lab_path, 0, &ds), SPT_OK);
        check_decoded(ds, 5, 3, 4);
        spt_dataset_destroy(ds);
        assert_status(spt_dataset_load_idx(img_path, lab_path, 2, &ds), SPT_OK);
        check_decoded(ds, 2, 3, 4);
        spt_dataset_destroy(ds);
    }
}

static void expect_format(const char *needle) {
    spt_dataset *ds = (spt_dataset *)&ds;
    assert_status(spt_dataset_load_idx(img_path, lab_path, 0, &ds), SPT_ERR_FORMAT);
    assert_null(ds);
    if (strstr(spt_last_error(), needle) == NULL) fail_msg("'%s' lacks '%s'", spt_last_error(), needle);
}

static void test_header_errors(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        write_pair(ML, 5, 3, 4, ML, 5, labels5, gz, 0);
        expect_format("magic");
        expect_format("img");
        write_pair(MI, 5, 3, 4, MI, 5, labels5, gz, 0);
        expect_format("magic");
        expect_format("lab");
        write_pair(MI, 5, 0, 4, ML, 5, labels5, gz, 0);
        expect_format("zero");
        write_pair(MI, 5, 3, 4, ML, 4, labels5, gz, 0);
        expect_format("4 labels");
    }
}

static void test_length_errors(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        write_pair(MI, 5, 3, 4, ML, 5, labels5, gz, -1);
        expect_format("truncated");
        write_pair(MI, 5, 3, 4, ML, 5, labels5, gz, +1);
        expect_format("trailing");
        write_pair(MI, 5, 3, 4, ML, 5, labels5, gz, -(16 + 60 - 10)); /* cut inside the header */
        expect_format("truncated");
    }
    /* Labels file one byte short. */
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 0, 0);
    size_t ll;
    unsigned char *bl = tdu_idx_labels(ML, 5, labels5, &ll);
    tdu_write(dir, "lab", bl, ll - 1, 1);
    expect_format("truncated");
    free(bl);
}

static void test_gzip_damage(void **state) {
    (void)state;
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 1, 0);
    FILE *f = fopen(img_path, "rb");
    assert_non_null(f);
    unsigned char raw[512];
    size_t len = fread(raw, 1, sizeof raw, f);
    fclose(f);
    assert_true(len > 30 && len < sizeof raw);
    /* The compressed stream cut short (trailer and some data gone). */
    tdu_write(dir, "img", raw, len - 12, 0);
    expect_format("img");
    /* A flipped byte in the compressed data: bad data or checksum. */
    raw[len / 2] ^= 0x55;
    tdu_write(dir, "img", raw, len, 0);
    expect_format("img");
}

static void test_bad_label(void **state) {
    (void)state;
    unsigned char bad[5] = {1, 2, 3, 10, 4};
    for (int gz = 0; gz < 2; gz++) {
        write_pair(MI, 5, 3, 4, ML, 5, bad, gz, 0);
        expect_format("label 3 is 10");
    }
}

static void test_missing(void **state) {
    (void)state;
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 0, 0);
    char nope[1024];
    tdu_path(nope, sizeof nope, dir, "nope-idx");
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_idx(nope, lab_path, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "nope-idx"));
    assert_status(spt_dataset_load_idx(img_path, nope, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "nope-idx"));
    assert_null(ds);
}

/* Append raw bytes to a file as it is on disk (after its gzip stream). */
static void append_raw(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Bytes after the end of a gzip stream are refused (zlib's gzread ignores
 * them): zeros, text, a lone gzip magic byte, in either file. A file of two
 * gzip members (what `cat a.gz b.gz` makes) is one stream and loads. */
static void test_gzip_trailing_bytes(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } tails[] = {{"\0", 1}, {"\0\0\0\0\0\0\0\0", 8}, {"trailing garbage", 16}, {"\x1f", 1}, {"\x1f\x8b", 2}};
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++)
        for (int which = 0; which < 2; which++) {
            write_pair(MI, 5, 3, 4, ML, 5, labels5, 1, 0);
            append_raw(which ? lab_path : img_path, tails[t].bytes, tails[t].len);
            spt_dataset *ds = (spt_dataset *)&ds;
            int rc = spt_dataset_load_idx(img_path, lab_path, 0, &ds);
            assert_null(ds);
            assert_status(rc, SPT_ERR_FORMAT);
            const char *msg = spt_last_error();
            /* "\x1f\x8b" starts a member that never comes: a cut stream. */
            if (t + 1 < sizeof tails / sizeof tails[0] &&
                strstr(msg, "trailing bytes after the end of the gzip stream") == NULL)
                fail_msg("tail %zu in %s: '%s'", t, which ? "labels" : "images", msg);
            assert_non_null(strstr(msg, which ? lab_path : img_path));
        }
    /* Two members: the images file split after its header. */
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 1, 0);
    size_t li;
    unsigned char *bi = tdu_idx_images(MI, 5, 3, 4, &li);
    tdu_write(dir, "img", bi, 16, 1);
    tdu_write(dir, "part2", bi + 16, li - 16, 1);
    char part2[1024];
    tdu_path(part2, sizeof part2, dir, "part2");
    FILE *f = fopen(part2, "rb");
    assert_non_null(f);
    unsigned char raw[1024];
    size_t len = fread(raw, 1, sizeof raw, f);
    fclose(f);
    unlink(part2);
    append_raw(img_path, raw, len);
    spt_dataset *ds = NULL;
    int rc = spt_dataset_load_idx(img_path, lab_path, 0, &ds);
    if (rc != SPT_OK) fail_msg("two gzip members: %s", spt_last_error());
    check_decoded(ds, 5, 3, 4);
    spt_dataset_destroy(ds);
    free(bi);
}

/* A directory or a loop of symbolic links where a data file should be: an
 * I/O error about that path, not a format error. */
static void test_not_a_file(void **state) {
    (void)state;
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 1, 0);
    char sub[1024], loop_a[1024], loop_b[1024];
    tdu_path(sub, sizeof sub, dir, "a-directory");
    tdu_path(loop_a, sizeof loop_a, dir, "loop-a");
    tdu_path(loop_b, sizeof loop_b, dir, "loop-b");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(symlink("loop-b", loop_a), 0);
    assert_int_equal(symlink("loop-a", loop_b), 0);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_idx(sub, lab_path, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "a-directory is a directory"));
    assert_status(spt_dataset_load_idx(img_path, loop_a, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "loop-a"));
    assert_non_null(strstr(spt_last_error(), "loops"));
    assert_null(ds);

    /* The same found by name in an MNIST directory. */
    char mdir[512], p[1024];
    tdu_mkdtemp(mdir, sizeof mdir);
    size_t ll;
    unsigned char *bl = tdu_idx_labels(ML, 5, labels5, &ll);
    tdu_write(mdir, "t10k-labels-idx1-ubyte.gz", bl, ll, 1);
    free(bl);
    tdu_path(p, sizeof p, mdir, "t10k-images-idx3-ubyte.gz");
    assert_int_equal(symlink("t10k-images-idx3-ubyte.gz", p), 0);
    assert_status(spt_dataset_load_mnist(mdir, SPT_SPLIT_TEST, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), p));
    assert_non_null(strstr(spt_last_error(), "loops"));
    unlink(p);
    tdu_path(p, sizeof p, mdir, "t10k-images-idx3-ubyte");
    assert_int_equal(mkdir(p, 0700), 0);
    assert_status(spt_dataset_load_mnist(mdir, SPT_SPLIT_TEST, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "t10k-images-idx3-ubyte is a directory"));
    rmdir(p);
    tdu_rmtree(mdir);

    /* CIFAR-10 files. */
    const char *paths[1] = {sub};
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "a-directory is a directory"));
    paths[0] = loop_a;
    assert_status(spt_dataset_load_cifar10_files(paths, 1, 0, &ds), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), "loops"));
    assert_null(ds);
    rmdir(sub);
    unlink(loop_a);
    unlink(loop_b);
}

static void test_null_args(void **state) {
    (void)state;
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_idx(img_path, lab_path, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_dataset_load_idx(NULL, lab_path, 0, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_load_idx(img_path, NULL, 0, &ds), SPT_ERR_NULL);
    assert_status(spt_dataset_load_idx(img_path, lab_path, -1, &ds), SPT_ERR_SIZE);
    assert_status(spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, 0, NULL), SPT_ERR_NULL);
    assert_status(spt_dataset_load_mnist(dir, 7, 0, &ds), SPT_ERR_INVALID);
    assert_status(spt_dataset_load_mnist(dir, SPT_SPLIT_TEST, -1, &ds), SPT_ERR_SIZE);
    assert_null(ds);
}

/* One directory per naming scheme; images 28 x 28 (or rows x 28). */
static void mnist_dir_case(const char *img_name, const char *lab_name, int gz, int split, uint32_t rows, int want) {
    char sub[512];
    tdu_mkdtemp(sub, sizeof sub);
    size_t li, ll;
    unsigned char *bi = tdu_idx_images(MI, 5, rows, 28, &li), *bl = tdu_idx_labels(ML, 5, labels5, &ll);
    tdu_write(sub, img_name, bi, li, gz);
    tdu_write(sub, lab_name, bl, ll, gz);
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_mnist(sub, split, 0, &ds), want);
    if (want == SPT_OK) {
        check_decoded(ds, 5, 28, 28);
        spt_dataset_destroy(ds);
        assert_status(spt_dataset_load_mnist(sub, 1 - split, 0, &ds), SPT_ERR_IO);
        assert_non_null(strstr(spt_last_error(), sub));
    } else {
        assert_non_null(strstr(spt_last_error(), "28 x 28"));
    }
    free(bi);
    free(bl);
    tdu_rmtree(sub);
}

static void test_mnist_dir_names(void **state) {
    (void)state;
    mnist_dir_case("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 1, SPT_SPLIT_TEST, 28, SPT_OK);
    mnist_dir_case("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 0, SPT_SPLIT_TRAIN, 28, SPT_OK);
    mnist_dir_case("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte", 0, SPT_SPLIT_TEST, 28, SPT_OK);
    mnist_dir_case("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 1, SPT_SPLIT_TEST, 27, SPT_ERR_FORMAT);
}

static void test_fashion_mnist_real(void **state) {
    (void)state;
    struct stat st;
    if (stat(SPT_FASHION_MNIST_DIR, &st) != 0) skip();
    spt_dataset *ds = NULL;
    assert_status(spt_dataset_load_mnist(NULL, SPT_SPLIT_TEST, 0, &ds), SPT_OK);
    int64_t n, c, h, w, k;
    assert_status(spt_dataset_info(ds, &n, &c, &h, &w, &k), SPT_OK);
    assert_int_equal(n, 10000);
    assert_int_equal(c, 1);
    assert_int_equal(h, 28);
    assert_int_equal(w, 28);
    assert_int_equal(k, 10);
    int32_t *y = malloc(10000 * sizeof(int32_t));
    int per_class[10] = {0};
    assert_status(spt_dataset_labels(ds, y, 10000), SPT_OK);
    for (int i = 0; i < 10000; i++) {
        assert_true(y[i] >= 0 && y[i] < 10);
        per_class[y[i]]++;
    }
    for (int i = 0; i < 10; i++) assert_int_equal(per_class[i], 1000); /* the test split is balanced */
    float mean, std;
    assert_status(spt_dataset_compute_mean_std(ds, &mean, &std, 1), SPT_OK);
    assert_true(mean > 0.2f && mean < 0.4f && std > 0.25f && std < 0.45f);
    free(y);
    spt_dataset_destroy(ds);
}

static void test_nomem(void **state) {
    (void)state;
    write_pair(MI, 5, 3, 4, ML, 5, labels5, 1, 0);
    spt_dataset *ds = NULL;
    TDU_NOMEM_LOOP(spt_dataset_load_idx(img_path, lab_path, 0, &ds), spt_dataset_destroy(ds));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_plain_and_gz), cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_length_errors),       cmocka_unit_test(test_gzip_damage),
        cmocka_unit_test(test_bad_label),           cmocka_unit_test(test_missing),
        cmocka_unit_test(test_null_args),           cmocka_unit_test(test_mnist_dir_names),
        cmocka_unit_test(test_fashion_mnist_real),  cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_gzip_trailing_bytes), cmocka_unit_test(test_not_a_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
