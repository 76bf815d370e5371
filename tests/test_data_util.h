/* Helpers for the data test suites: a temporary directory, and small
 * CIFAR-10 and IDX files written into it (plain or gzip). */
#ifndef SPT_TEST_DATA_UTIL_H
#define SPT_TEST_DATA_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "test_support.h"

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
static inline void tdu_mkdtemp(char *buf, size_t cap) {
    const char *base = getenv("TMPDIR");
    int k = snprintf(buf, cap, "%s/spt_data_XXXXXX", base && base[0] ? base : "/tmp");
    assert_true(k > 0 && (size_t)k < cap);
    assert_non_null(mkdtemp(buf));
}

/* Remove the (flat) directory and every file in it. */
static inline void tdu_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int k = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (k > 0 && (size_t)k < sizeof path) unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static inline void tdu_path(char *buf, size_t cap, const char *dir, const char *name) {
    int k = snprintf(buf, cap, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < cap);
}

/* Write len bytes to dir/name, plain or gzip-compressed. */
static inline void tdu_write(const char *dir, const char *name, const void *data, size_t len, int gz) {
    char path[4096];
    tdu_path(path, sizeof path, dir, name);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        if (len > 0) assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (len > 0) assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

static inline void tdu_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Pixel value of example n at (c, h, w): never 0, and different for
 * neighbouring examples, channels, rows and columns. */
static inline unsigned char tdu_pixel(int64_t n, int64_t c, int64_t h, int64_t w) {
    return (unsigned char)(1 + (n * 7 + c * 101 + h * 13 + w) % 250);
}

/* A CIFAR-10 file of `records` records; example n of the file gets label
 * labels[n] and pixels tdu_pixel(first + n, ...). Returns malloc'd bytes. */
static inline unsigned char *tdu_cifar_bytes(int64_t first, int64_t records, const unsigned char *labels) {
    unsigned char *buf = malloc((size_t)records * 3073);
    assert_non_null(buf);
    for (int64_t r = 0; r < records; r++) {
        unsigned char *rec = buf + r * 3073;
        rec[0] = labels[r];
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 32; h++)
                for (int w = 0; w < 32; w++) rec[1 + (c * 32 + h) * 32 + w] = tdu_pixel(first + r, c, h, w);
    }
    return buf;
}

/* IDX image bytes: header (magic, n, rows, cols) then tdu_pixel(n,0,h,w). */
static inline unsigned char *tdu_idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, size_t *len) {
    *len = 16 + (size_t)n * rows * cols;
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    tdu_be32(buf, magic), tdu_be32(buf + 4, n), tdu_be32(buf + 8, rows), tdu_be32(buf + 12, cols);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t h = 0; h < rows; h++)
            for (uint32_t w = 0; w < cols; w++) buf[16 + ((size_t)i * rows + h) * cols + w] = tdu_pixel(i, 0, h, w);
    return buf;
}

/* IDX label bytes: header (magic, n) then labels[i]. */
static inline unsigned char *tdu_idx_labels(uint32_t magic, uint32_t n, const unsigned char *labels, size_t *len) {
    *len = 8 + n;
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    tdu_be32(buf, magic), tdu_be32(buf + 4, n);
    memcpy(buf + 8, labels, n);
    return buf;
}

/* Fail every allocation in turn: each must report SPT_ERR_NOMEM and leak
 * nothing, until the call succeeds (then `cleanup` releases the result).
 * `call` is an expression returning a status. */
#define TDU_NOMEM_LOOP(call, cleanup)                                         \
    do {                                                                      \
        spt_test_alloc_install();                                             \
        int tdu_done_ = 0;                                                    \
        for (long tdu_k_ = 0; tdu_k_ < 1000 && !tdu_done_; tdu_k_++) {        \
            spt_test_alloc_fail_at(tdu_k_);                                   \
            int tdu_rc_ = (call);                                             \
            if (tdu_rc_ == SPT_OK) {                                          \
                tdu_done_ = 1;                                                \
                assert_true(tdu_k_ > 0);                                      \
                cleanup;                                                      \
            } else {                                                          \
                assert_int_equal(tdu_rc_, SPT_ERR_NOMEM);                     \
            }                                                                 \
            assert_int_equal(spt_test_alloc_live(), 0);                       \
        }                                                                     \
        assert_true(tdu_done_);                                               \
        spt_test_alloc_uninstall();                                           \
    } while (0)

#endif
