/* The data parsers under damage: every truncation and every single-byte
 * change (XOR 0x01, 0x80, 0xFF) of small valid IDX pairs (plain and gzip)
 * and CIFAR-10 files. Every case loads exactly what the bytes say or fails
 * with SPT_ERR_FORMAT and a message naming the file, returns no dataset and
 * leaks nothing (the corpus the fuzz targets start from, run without
 * libFuzzer). Plus the regression of a gzip header that promised more data
 * than the file can hold and made the loader allocate it first. */
#include "data/dataset.h"
#include "test_data_util.h"

static char dir[512];
static char img_path[1024], lab_path[1024], cif_path[1024];

static int setup(void **state) {
    (void)state;
    tdu_mkdtemp(dir, sizeof dir);
    tdu_path(img_path, sizeof img_path, dir, "img");
    tdu_path(lab_path, sizeof lab_path, dir, "lab");
    tdu_path(cif_path, sizeof cif_path, dir, "cifar");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tdu_rmtree(dir);
    return 0;
}

enum { MI = 0x00000803, ML = 0x00000801, N = 3, ROWS = 2, COLS = 3, RECORD = 3073 };
static const unsigned char labels3[N] = {4, 0, 9};
static const unsigned char flips[] = {0x01, 0x80, 0xFF};

/* Write len bytes to path as a new file. Unlinking first matters: rewriting
 * a file in place (truncate, write, close) makes ext4 flush it to disk
 * each time, which turns thousands of cases into a minute. */
static void put(const char *path, const void *data, size_t len) {
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A file's bytes: what tdu_write made of data (gzip or not), read back. */
typedef struct bytes {
    unsigned char *p;
    size_t len;
} bytes;

static bytes file_bytes(const void *data, size_t len, int gz) {
    char path[1024];
    tdu_write(dir, "tmp", data, len, gz);
    tdu_path(path, sizeof path, dir, "tmp");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    bytes b = {malloc(len + 4096), 0};
    assert_non_null(b.p);
    b.len = fread(b.p, 1, len + 4096, f);
    assert_true(feof(f));
    fclose(f);
    unlink(path);
    return b;
}

/* The valid pair: N images of ROWS x COLS, labels labels3; raw (plain) bytes
 * in *img_raw / *lab_raw and the file bytes (gzip when gz) returned. */
static void idx_pair(int gz, bytes *img_raw, bytes *lab_raw, bytes *img_file, bytes *lab_file) {
    img_raw->p = tdu_idx_images(MI, N, ROWS, COLS, &img_raw->len);
    lab_raw->p = tdu_idx_labels(ML, N, labels3, &lab_raw->len);
    *img_file = file_bytes(img_raw->p, img_raw->len, gz);
    *lab_file = file_bytes(lab_raw->p, lab_raw->len, gz);
}

/* Whether the failure message names a file in dir, after the function. */
static void assert_message(const char *fn) {
    const char *msg = spt_last_error();
    assert_non_null(strstr(msg, fn));
    assert_non_null(strstr(msg, dir));
}

/* Load the files as they are; on success compare with the plain images
 * `img` and labels `lab` (header included) and destroy. Returns the status
 * after checking the failure contract and that nothing leaked. */
static int try_idx(const bytes *img, const bytes *lab) {
    spt_test_alloc_install();
    spt_dataset *ds = (spt_dataset *)1;
    int rc = spt_dataset_load_idx(img_path, lab_path, 0, &ds);
    if (rc == SPT_OK) {
        assert_non_null(ds);
        int64_t n = (int64_t)lab->len - 8;
        assert_int_equal(ds->n, n);
        assert_int_equal(ds->c, 1);
        assert_int_equal(ds->h * ds->w * n, (int64_t)img->len - 16);
        assert_memory_equal(ds->u8, img->p + 16, img->len - 16);
        for (int64_t i = 0; i < n; i++) assert_int_equal(ds->labels[i], lab->p[8 + i]);
        spt_dataset_destroy(ds);
    } else {
        assert_null(ds);
        assert_true(rc == SPT_ERR_FORMAT || rc == SPT_ERR_IO);
        assert_message("spt_dataset_load_idx");
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    return rc;
}

static void test_idx_valid_pairs_load(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        bytes ir, lr, fi, fl;
        idx_pair(gz, &ir, &lr, &fi, &fl);
        assert_true(gz ? fi.p[0] == 0x1f && fi.p[1] == 0x8b : fi.len == ir.len);
        put(img_path, fi.p, fi.len);
        put(lab_path, fl.p, fl.len);
        assert_int_equal(try_idx(&ir, &lr), SPT_OK);
        free(ir.p), free(lr.p), free(fi.p), free(fl.p);
    }
}

/* Every strict prefix of either file (the other intact) is refused. */
static void test_idx_every_truncation(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++)
        for (int which = 0; which < 2; which++) {
            bytes ir, lr, fi, fl;
            idx_pair(gz, &ir, &lr, &fi, &fl);
            bytes *cut = which ? &fl : &fi;
            put(which ? img_path : lab_path, which ? fi.p : fl.p, which ? fi.len : fl.len);
            for (size_t n = 0; n < cut->len; n++) {
                put(which ? lab_path : img_path, cut->p, n);
                assert_int_equal(try_idx(&ir, &lr), SPT_ERR_FORMAT);
            }
            free(ir.p), free(lr.p), free(fi.p), free(fl.p);
        }
}

/* Plain files: a changed header byte is refused (magic, or a dimension that
 * no longer matches the other file or the file size), a changed label
 * loads if still 0..9, a changed pixel loads. */
static void test_idx_plain_every_flip(void **state) {
    (void)state;
    for (int which = 0; which < 2; which++) {
        bytes ir, lr, fi, fl;
        idx_pair(0, &ir, &lr, &fi, &fl);
        bytes *raw = which ? &lr : &ir;
        size_t header = which ? 8 : 16;
        for (size_t i = 0; i < raw->len; i++)
            for (size_t k = 0; k < sizeof flips; k++) {
                raw->p[i] ^= flips[k];
                put(img_path, ir.p, ir.len);
                put(lab_path, lr.p, lr.len);
                int want = i < header || (which && raw->p[i] > 9) ? SPT_ERR_FORMAT : SPT_OK;
                assert_int_equal(try_idx(&ir, &lr), want);
                raw->p[i] ^= flips[k];
            }
        free(ir.p), free(lr.p), free(fi.p), free(fl.p);
    }
}

/* Gzip files: a changed byte of the header, the deflate data or the trailer
 * either still inflates to the original (a header field zlib ignores) or is
 * refused; it never loads different data. */
static void test_idx_gzip_every_flip(void **state) {
    (void)state;
    int loaded = 0, refused = 0;
    for (int which = 0; which < 2; which++) {
        bytes ir, lr, fi, fl;
        idx_pair(1, &ir, &lr, &fi, &fl);
        bytes *file = which ? &fl : &fi;
        for (size_t i = 0; i < file->len; i++)
            for (size_t k = 0; k < sizeof flips; k++) {
                file->p[i] ^= flips[k];
                put(img_path, fi.p, fi.len);
                put(lab_path, fl.p, fl.len);
                if (try_idx(&ir, &lr) == SPT_OK)
                    loaded++;
                else
                    refused++;
                file->p[i] ^= flips[k];
            }
        free(ir.p), free(lr.p), free(fi.p), free(fl.p);
    }
    /* The modification time and OS bytes are not checked; the data is. */
    assert_true(loaded > 0);
    assert_true(refused > loaded);
}

/* Regression (found by fuzz_idx): a gzip IDX header whose dimensions need
 * far more bytes than the compressed file can inflate to used to allocate
 * the whole dataset before the data ran out (a 40-byte input asked for
 * 2^57 bytes). It is refused before any allocation now. */
static void test_idx_gzip_lying_header(void **state) {
    (void)state;
    unsigned char lab[8 + N], img[16 + N * ROWS * COLS];
    memcpy(lab + 8, labels3, N);
    memset(img + 16, 7, N * ROWS * COLS);
    /* n, rows, cols of the images; the label file says n too. */
    static const uint32_t dims[][3] = {{N, 65535, 65535}, {N, 1u << 20, 1}, {N, 4000, 4000}, {1u << 30, 1, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        tdu_be32(img, MI), tdu_be32(img + 4, dims[d][0]), tdu_be32(img + 8, dims[d][1]);
        tdu_be32(img + 12, dims[d][2]);
        tdu_be32(lab, ML), tdu_be32(lab + 4, dims[d][0]);
        tdu_write(dir, "img", img, sizeof img, 1);
        tdu_write(dir, "lab", lab, sizeof lab, 1);
        spt_test_alloc_install();
        spt_test_alloc_fail_at(0); /* any allocation would give SPT_ERR_NOMEM */
        spt_dataset *ds = (spt_dataset *)1;
        assert_int_equal(spt_dataset_load_idx(img_path, lab_path, 0, &ds), SPT_ERR_FORMAT);
        assert_null(ds);
        assert_non_null(strstr(spt_last_error(), "compressed bytes can hold"));
        assert_non_null(strstr(spt_last_error(), img_path));
        assert_int_equal(spt_test_alloc_count(), 0);
        spt_test_alloc_uninstall();
    }
}

/* The bound is deflate's real limit, not a guess: a megabyte of zeros,
 * gzip's best case (about 1000:1), still loads. */
static void test_idx_gzip_highly_compressed_loads(void **state) {
    (void)state;
    enum { SIDE = 1024 };
    size_t len = 16 + (size_t)SIDE * SIDE;
    unsigned char *img = calloc(len, 1);
    assert_non_null(img);
    tdu_be32(img, MI), tdu_be32(img + 4, 1), tdu_be32(img + 8, SIDE), tdu_be32(img + 12, SIDE);
    unsigned char lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    tdu_write(dir, "img", img, len, 1);
    tdu_write(dir, "lab", lab, sizeof lab, 1);
    FILE *f = fopen(img_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long packed = ftell(f);
    fclose(f);
    assert_true(packed > 0 && (size_t)packed * 500 < len); /* really that dense */
    bytes ir = {img, len}, lr = {lab, sizeof lab};
    assert_int_equal(try_idx(&ir, &lr), SPT_OK);
    free(img);
}

/* CIFAR-10 file of `records` records: labels 3, 8, ... and tdu_pixel. */
static bytes cifar_file(int64_t records) {
    unsigned char labels[4] = {3, 8, 0, 9};
    bytes b = {tdu_cifar_bytes(0, records, labels), (size_t)records * RECORD};
    return b;
}

/* Load the CIFAR file as it is; on success compare with `want` (records of
 * the file expected) and destroy. Failure contract and leaks as try_idx. */
static int try_cifar(const bytes *want) {
    spt_test_alloc_install();
    spt_dataset *ds = (spt_dataset *)1;
    const char *paths[1] = {cif_path};
    int rc = spt_dataset_load_cifar10_files(paths, 1, 0, &ds);
    if (rc == SPT_OK) {
        assert_non_null(ds);
        int64_t n = (int64_t)want->len / RECORD;
        assert_int_equal(ds->n, n);
        for (int64_t i = 0; i < n; i++) {
            assert_int_equal(ds->labels[i], want->p[i * RECORD]);
            assert_memory_equal(ds->u8 + i * (RECORD - 1), want->p + i * RECORD + 1, RECORD - 1);
        }
        spt_dataset_destroy(ds);
    } else {
        assert_null(ds);
        assert_true(rc == SPT_ERR_FORMAT || rc == SPT_ERR_IO);
        assert_message("spt_dataset_load_cifar10_files");
    }
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    return rc;
}

/* Every prefix of a 2-record file: only the whole first record loads. */
static void test_cifar_every_truncation(void **state) {
    (void)state;
    bytes b = cifar_file(2);
    for (size_t n = 0; n <= b.len; n++) {
        put(cif_path, b.p, n);
        bytes want = {b.p, n};
        int expect = n > 0 && n % RECORD == 0 ? SPT_OK : SPT_ERR_FORMAT;
        assert_int_equal(try_cifar(&want), expect);
    }
    free(b.p);
}

/* Every byte of a 2-record file changed: labels load while 0..9, pixels
 * always load, and the dataset holds the changed bytes. */
static void test_cifar_every_flip(void **state) {
    (void)state;
    bytes b = cifar_file(2);
    for (size_t i = 0; i < b.len; i++)
        for (size_t k = 0; k < sizeof flips; k++) {
            b.p[i] ^= flips[k];
            put(cif_path, b.p, b.len);
            int expect = i % RECORD == 0 && b.p[i] > 9 ? SPT_ERR_FORMAT : SPT_OK;
            assert_int_equal(try_cifar(&b), expect);
            b.p[i] ^= flips[k];
        }
    free(b.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_valid_pairs_load),
        cmocka_unit_test(test_idx_every_truncation),
        cmocka_unit_test(test_idx_plain_every_flip),
        cmocka_unit_test(test_idx_gzip_every_flip),
        cmocka_unit_test(test_idx_gzip_lying_header),
        cmocka_unit_test(test_idx_gzip_highly_compressed_loads),
        cmocka_unit_test(test_cifar_every_truncation),
        cmocka_unit_test(test_cifar_every_flip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
