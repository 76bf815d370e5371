/* Checkpoints under damage and failure: every truncation and every
 * single-byte flip of a small valid checkpoint is refused with the right
 * status and leaks nothing (the corpus the fuzz target starts from, run
 * without libFuzzer); content damage behind a valid checksum never crashes;
 * newer versions, wrong magic, missing files, NULL arguments, unwritable
 * places, allocation failures. */
#include <sys/stat.h>
#include <zlib.h>

#include "core/le_io.h"
#include "test_checkpoint_util.h"

static char g_dir[64];

static void path_in_dir(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

/* A small valid image: RigL-sparse MLP (CSR params, Adam slots, schedule,
 * method state) with its batcher, after a few steps. */
static uint8_t *small_image(int64_t *len) {
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 4, NULL);
    uint8_t *img = NULL;
    assert_status(spti_checkpoint_encode(r.t, r.b, &img, len), SPT_OK);
    uint8_t *copy = malloc((size_t)*len);
    assert_non_null(copy);
    memcpy(copy, img, (size_t)*len);
    spti_free(img);
    ck_run_free(&r);
    return copy;
}

/* Load from memory; on success destroy what came back. Returns the status
 * and checks that a failure returns nothing and names the image. */
static int try_load(const uint8_t *buf, int64_t len) {
    spt_model *m = (spt_model *)1;
    spt_trainer *t = (spt_trainer *)1;
    int rc = spti_checkpoint_load_buffer(buf, len, "image", &m, &t, NULL);
    if (rc == SPT_OK) {
        assert_non_null(m);
        assert_non_null(t);
        spt_trainer_destroy(t);
        spt_model_destroy(m);
    } else {
        assert_null(m);
        assert_null(t);
        assert_non_null(strstr(spt_last_error(), "image: "));
    }
    return rc;
}

static void restamp_crc(uint8_t *buf, int64_t len) {
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    spti_store_u32(buf + len - 4, crc);
}

static void test_valid_image_loads(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    assert_memory_equal(img, "SPTCKPT\0", 8);
    assert_int_equal(spti_load_u32(img + 8), SPT_CHECKPOINT_FORMAT_VERSION);
    assert_int_equal(try_load(img, len), SPT_OK);
    free(img);
}

static void test_every_truncation(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spt_test_alloc_install();
    for (int64_t n = 0; n < len; n++) {
        uint8_t *cut = malloc((size_t)n + 1); /* exact length: ASan sees any over-read */
        assert_non_null(cut);
        memcpy(cut, img, (size_t)n);
        assert_int_equal(try_load(cut, n), SPT_ERR_FORMAT);
        assert_int_equal(spt_test_alloc_live(), 0);
        free(cut);
    }
    spt_test_alloc_uninstall();
    free(img);
}

static void test_every_byte_flip(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spt_test_alloc_install();
    const uint8_t flips[2] = {0x01, 0xff};
    for (int64_t i = 0; i < len; i++)
        for (int f = 0; f < 2; f++) {
            img[i] ^= flips[f];
            int rc = try_load(img, len);
            img[i] ^= flips[f];
            if (i < 8 || (i >= 16 && i < 24)) assert_int_equal(rc, SPT_ERR_FORMAT); /* magic, length */
            else if (i >= 8 && i < 12) assert_true(rc == SPT_ERR_VERSION || rc == SPT_ERR_FORMAT);
            else assert_int_equal(rc, SPT_ERR_CHECKSUM);
            assert_int_equal(spt_test_alloc_live(), 0);
        }
    spt_test_alloc_uninstall();
    free(img);
}

/* Damage behind a valid checksum (what a fuzzer mostly produces): each
 * byte set to a few values, the CRC restamped. Loads either succeed (a
 * float changed) or fail with a status; never crash, never leak. */
static void test_flips_behind_valid_checksum(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spt_test_alloc_install();
    const uint8_t values[3] = {0x00, 0x80, 0xff};
    int refused = 0, loaded = 0;
    for (int64_t i = 12; i < len - 4; i++)
        for (int k = 0; k < 3; k++) {
            uint8_t keep = img[i];
            if (keep == values[k]) continue;
            img[i] = values[k];
            restamp_crc(img, len);
            int rc = try_load(img, len);
            img[i] = keep;
            assert_true(rc != SPT_ERR_CHECKSUM && rc != SPT_ERR_INTERNAL);
            if (rc == SPT_OK) loaded++;
            else refused++;
            assert_int_equal(spt_test_alloc_live(), 0);
        }
    restamp_crc(img, len);
    assert_int_equal(try_load(img, len), SPT_OK);
    assert_true(refused > 0 && loaded > 0);
    spt_test_alloc_uninstall();
    free(img);
}

static void test_newer_version_and_wrong_magic(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spti_store_u32(img + 8, SPT_CHECKPOINT_FORMAT_VERSION + 1);
    restamp_crc(img, len);
    assert_int_equal(try_load(img, len), SPT_ERR_VERSION);
    assert_non_null(strstr(spt_last_error(), "newer"));
    spti_store_u32(img + 8, SPT_CHECKPOINT_FORMAT_VERSION);
    img[0] = 'X';
    restamp_crc(img, len);
    assert_int_equal(try_load(img, len), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "magic"));
    img[0] = 'S';
    /* An unknown section that is not optional needs a newer reader; an
     * optional one is skipped. */
    uint8_t *big = malloc((size_t)len + 24);
    assert_non_null(big);
    memcpy(big, img, (size_t)len - 4);
    uint8_t *sec = big + len - 4;
    memcpy(sec, "ZZZZ", 4);
    spti_store_u32(sec + 4, 0);
    spti_store_u64(sec + 8, 8);
    memset(sec + 16, 7, 8);
    spti_store_u64(big + 16, spti_load_u64(img + 16) + 24);
    spti_store_u32(big + 24, spti_load_u32(img + 24) + 1);
    restamp_crc(big, len + 24);
    assert_int_equal(try_load(big, len + 24), SPT_ERR_VERSION);
    spti_store_u32(sec + 4, 1); /* optional */
    restamp_crc(big, len + 24);
    assert_int_equal(try_load(big, len + 24), SPT_OK);
    free(big);
    free(img);
}

/* A hostile image that declares a huge model (an MLP whose sparse layers
 * store no entries) is refused before the model is built. */
static void test_huge_declared_model_refused(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spti_ckpt_view v;
    assert_status(spti_checkpoint_parse(img, len, &v), SPT_OK);
    assert_true(spti_checkpoint_span_limit(len) < (int64_t)1 << 30);
    /* A description whose first layer is 2^30 wide (format version 2). */
    assert_int_equal(v.arch, SPTI_ARCH_NET);
    uint8_t *nodes = malloc((size_t)(v.n_nodes * SPTI_CKPT_NODE_BYTES));
    memcpy(nodes, v.nodes, (size_t)(v.n_nodes * SPTI_CKPT_NODE_BYTES));
    double wide = (double)((int64_t)1 << 30);
    memcpy(nodes + 16 + SPTI_NET_NAME + 8 * SPT_LP_OUT, &wide, 8);
    const uint8_t *orig = v.nodes;
    v.nodes = nodes;
    spt_model *m0 = NULL;
    spt_trainer *t0 = NULL;
    assert_int_equal(spti_checkpoint_restore(&v, NULL, spti_checkpoint_span_limit(len), &m0, &t0, NULL),
                     SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "the architecture makes"));
    v.nodes = orig;
    free(nodes);
    /* The same as a version-1 MLP record. */
    v.arch = SPTI_ARCH_MLP;
    v.n_widths = 2;
    int64_t w[2] = {(int64_t)1 << 30, CK_K};
    uint8_t wl[16];
    spti_store_u64(wl, (uint64_t)w[0]);
    spti_store_u64(wl + 8, (uint64_t)w[1]);
    v.widths = wl;
    spt_model *m = NULL;
    spt_trainer *t = NULL;
    spt_test_alloc_install();
    assert_int_equal(spti_checkpoint_restore(&v, NULL, spti_checkpoint_span_limit(len), &m, &t, NULL), SPT_ERR_FORMAT);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
    assert_null(m);
    assert_null(t);
    spti_checkpoint_view_free(&v);
    free(img);
}

/* Forms the layers or the method cannot run are refused: a masked bias,
 * a dense weight where RigL keeps it sparse. */
static void test_form_checks(void **state) {
    (void)state;
    int64_t len;
    uint8_t *img = small_image(&len);
    spti_ckpt_view v;
    assert_status(spti_checkpoint_parse(img, len, &v), SPT_OK);
    assert_int_equal(v.params[0].kind, SPTI_PARAM_SPARSE);
    assert_int_equal(v.params[1].kind, SPTI_PARAM_DENSE);
    spt_model *m = NULL;
    spt_trainer *t = NULL;
    v.params[1].kind = SPTI_PARAM_MASKED;
    assert_int_equal(spti_checkpoint_restore(&v, NULL, INT64_MAX, &m, &t, NULL), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), "must be dense"));
    v.params[1].kind = SPTI_PARAM_DENSE;
    v.params[0].kind = SPTI_PARAM_DENSE;
    assert_int_equal(spti_checkpoint_restore(&v, NULL, INT64_MAX, &m, &t, NULL), SPT_ERR_FORMAT);
    assert_null(m);
    assert_null(t);
    v.params[0].kind = SPTI_PARAM_SPARSE;
    assert_int_equal(spti_checkpoint_restore(&v, NULL, INT64_MAX, &m, &t, NULL), SPT_OK);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    spti_checkpoint_view_free(&v);
    free(img);
}

static void test_file_errors_and_null_args(void **state) {
    (void)state;
    ck_run r;
    ck_run_init(&r, RUN_DENSE_MLP);
    char path[128], missing[128];
    path_in_dir(path, sizeof path, "ok.ckpt");
    path_in_dir(missing, sizeof missing, "missing.ckpt");
    spt_model *m = (spt_model *)1;
    spt_trainer *t = (spt_trainer *)1;
    assert_status(spt_trainer_load(missing, &m, &t, NULL), SPT_ERR_IO);
    assert_null(m);
    assert_null(t);
    assert_non_null(strstr(spt_last_error(), missing));
    assert_status(spt_trainer_load(NULL, &m, &t, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_load(path, NULL, &t, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_load(path, &m, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_save(NULL, NULL, path), SPT_ERR_NULL);
    assert_status(spt_trainer_save(r.t, NULL, NULL), SPT_ERR_NULL);
    assert_status(spt_trainer_save(r.t, NULL, ""), SPT_ERR_INVALID);
    assert_status(spti_checkpoint_load_buffer(NULL, 0, "x", &m, &t, NULL), SPT_ERR_NULL);
    /* A directory is not a checkpoint. */
    assert_status(spt_trainer_load(g_dir, &m, &t, NULL), SPT_ERR_IO);
    /* A file that is not a checkpoint, and an empty one. */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("hello, not a checkpoint", f);
    fclose(f);
    assert_status(spt_trainer_load(path, &m, &t, NULL), SPT_ERR_FORMAT);
    assert_non_null(strstr(spt_last_error(), path));
    f = fopen(path, "wb");
    fclose(f);
    assert_status(spt_trainer_load(path, &m, &t, NULL), SPT_ERR_FORMAT);
    /* Saved without a batcher, loaded with one: refused, batcher unchanged. */
    assert_status(spt_trainer_save(r.t, NULL, path), SPT_OK);
    int64_t e0, p0, e1, p1;
    assert_status(spt_batcher_get_state(r.b, &e0, &p0, NULL), SPT_OK);
    assert_status(spt_trainer_load(path, &m, &t, r.b), SPT_ERR_STATE);
    assert_status(spt_batcher_get_state(r.b, &e1, &p1, NULL), SPT_OK);
    assert_true(e0 == e1 && p0 == p1);
    /* A position that does not fit the batcher's data: refused, unchanged. */
    ck_train(r.t, r.b, r.x, r.y, r.feat, 3, NULL);
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    spt_dataset *small = ck_dataset(8, 1, 1);
    spt_dataset *tiny = NULL;
    assert_status(spt_dataset_subset(small, 0, 20, &tiny), SPT_OK);
    spt_batcher *bt = ck_batcher(tiny);
    assert_status(spt_trainer_load(path, &m, &t, bt), SPT_ERR_INVALID);
    assert_status(spt_batcher_get_state(bt, &e1, &p1, NULL), SPT_OK);
    assert_true(e1 == 0 && p1 == 0);
    assert_null(m);
    assert_null(t);
    spt_batcher_destroy(bt);
    spt_dataset_destroy(tiny);
    spt_dataset_destroy(small);
    remove(path);
    ck_run_free(&r);
}

/* The temporary file cannot be created (its name is taken by a directory)
 * or the directory does not exist: SPT_ERR_IO, the old checkpoint intact. */
static void test_unwritable_keeps_old(void **state) {
    (void)state;
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    char path[128], tmp[140], nodir[160];
    path_in_dir(path, sizeof path, "keep.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    long l0 = 0, l1 = 0;
    uint8_t *before = ck_read(path, &l0);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 2, NULL);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_ERR_IO);
    assert_non_null(strstr(spt_last_error(), path));
    uint8_t *after = ck_read(path, &l1);
    assert_int_equal(l0, l1);
    assert_memory_equal(before, after, (size_t)l0);
    free(after);
    assert_int_equal(rmdir(tmp), 0);
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.ckpt", g_dir);
    assert_status(spt_trainer_save(r.t, r.b, nodir), SPT_ERR_IO);
    /* A stale temporary file left by a crash: the checkpoint still loads,
     * and the next save replaces both. */
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs("partial write", f);
    fclose(f);
    spt_model *m = NULL;
    spt_trainer *t = NULL;
    assert_status(spt_trainer_load(path, &m, &t, NULL), SPT_OK);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    assert_int_equal(access(tmp, F_OK), -1);
    after = ck_read(path, &l1);
    assert_true(l0 != l1 || memcmp(before, after, (size_t)l0) != 0); /* the newer state */
    free(after);
    free(before);
    remove(path);
    ck_run_free(&r);
}

/* Trainers a checkpoint cannot rebuild are refused when saving. */
static void test_unsupported(void **state) {
    (void)state;
    char path[128];
    path_in_dir(path, sizeof path, "never.ckpt");
    spt_optimizer *o = NULL;
    assert_status(spt_optimizer_create(SPT_OPTIMIZER_SGD, &o), SPT_OK);
    spt_trainer *t = NULL;
    /* A trainer around a caller's method object. */
    int64_t widths[2] = {4, 2};
    spt_model *mm = NULL;
    assert_status(spt_model_create_mlp(widths, 2, 1, &mm), SPT_OK);
    spt_method_config *cfg = NULL;
    assert_status(spt_method_config_create(SPT_METHOD_STATIC, &cfg), SPT_OK);
    spti_param **w = NULL;
    int nw = 0;
    assert_status(spti_trainer_collect_weights(mm, &w, &nw), SPT_OK);
    spti_method *meth = NULL;
    assert_status(spti_method_create(cfg, w, nw, 5, &meth), SPT_OK);
    assert_status(spti_trainer_create_with_method(mm, o, NULL, meth, false, 5, 1, &t), SPT_OK);
    assert_status(spt_trainer_save(t, NULL, path), SPT_ERR_UNSUPPORTED);
    assert_int_equal(access(path, F_OK), -1);
    spt_trainer_destroy(t);
    spti_method_destroy(meth);
    spti_free(w);
    spt_method_config_destroy(cfg);
    spt_model_destroy(mm);
    spt_optimizer_destroy(o);
}

/* Every allocation of save and load failing in turn: SPT_ERR_NOMEM,
 * nothing leaked, the old file intact, nothing returned. */
static void test_nomem_paths(void **state) {
    (void)state;
    char path[128];
    path_in_dir(path, sizeof path, "nomem.ckpt");
    spt_test_alloc_install();
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 4, NULL);
    assert_status(spt_trainer_save(r.t, r.b, path), SPT_OK);
    long l0 = 0, l1 = 0;
    uint8_t *before = ck_read(path, &l0);
    ck_train(r.t, r.b, r.x, r.y, r.feat, 1, NULL);
    const long live = spt_test_alloc_live();
    int failures = 0;
    for (long k = 0;; k++) {
        spt_test_alloc_fail_at(k);
        int rc = spt_trainer_save(r.t, r.b, path);
        spt_test_alloc_fail_at(-1);
        assert_int_equal(spt_test_alloc_live(), live);
        if (rc == SPT_OK) break;
        assert_int_equal(rc, SPT_ERR_NOMEM);
        uint8_t *now = ck_read(path, &l1);
        assert_int_equal(l0, l1);
        assert_memory_equal(before, now, (size_t)l0);
        free(now);
        failures++;
    }
    assert_true(failures >= 2);
    free(before);
    failures = 0;
    spt_batcher *b2 = ck_batcher(r.ds);
    const long live2 = spt_test_alloc_live();
    for (long k = 0;; k++) {
        spt_model *m = (spt_model *)1;
        spt_trainer *t = (spt_trainer *)1;
        spt_test_alloc_fail_at(k);
        int rc = spt_trainer_load(path, &m, &t, b2);
        spt_test_alloc_fail_at(-1);
        if (rc == SPT_OK) {
            ck_assert_same_trainer(r.t, t);
            spt_trainer_destroy(t);
            spt_model_destroy(m);
            assert_int_equal(spt_test_alloc_live(), live2);
            break;
        }
        assert_int_equal(rc, SPT_ERR_NOMEM);
        assert_null(m);
        assert_null(t);
        assert_int_equal(spt_test_alloc_live(), live2);
        int64_t e, p;
        assert_status(spt_batcher_get_state(b2, &e, &p, NULL), SPT_OK);
        assert_true(e == 0 && p == 0);
        failures++;
    }
    assert_true(failures >= 10);
    spt_batcher_destroy(b2);
    remove(path);
    ck_run_free(&r);
    assert_int_equal(spt_test_alloc_live(), 0);
    spt_test_alloc_uninstall();
}

static int setup(void **state) {
    (void)state;
    ck_tmpdir(g_dir, sizeof g_dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    rmdir(g_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_image_loads),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_flips_behind_valid_checksum),
        cmocka_unit_test(test_newer_version_and_wrong_magic),
        cmocka_unit_test(test_huge_declared_model_refused),
        cmocka_unit_test(test_form_checks),
        cmocka_unit_test(test_file_errors_and_null_args),
        cmocka_unit_test(test_unwritable_keeps_old),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_nomem_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
