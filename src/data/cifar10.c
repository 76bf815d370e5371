/* CIFAR-10 binary files: records of 1 label byte + 3072 pixel bytes (R, G,
 * B planes of 32 x 32, row-major), i.e. each record's pixels are already
 * one example of the store's "C x H x W" layout. All file sizes are checked
 * before anything is allocated, so a bad file costs no memory. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dataset.h"

enum { PIXELS = 3 * 32 * 32, RECORD = 1 + PIXELS, STD_RECORDS = 10000, CLASSES = 10, MAX_PATH = 4096 };

/* Open `path` for reading; SPT_ERR_IO naming it if that fails. With
 * `records` non-NULL, also checks the size and reports the record count. */
static int open_checked(const char *path, bool standard, int64_t *records, FILE **out, const char *fn) {
    char why[128];
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int err = errno;
        return spti_fail(SPT_ERR_IO, "%s: cannot open %s: %s%s", fn, path, spti_errno_text(err, why, sizeof why),
                         err == ELOOP ? " (a symbolic link that loops)" : "");
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        bool dir = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode);
        fclose(f);
        if (dir) return spti_fail(SPT_ERR_IO, "%s: %s is a directory, not a CIFAR-10 batch file", fn, path);
        return spti_fail(SPT_ERR_IO, "%s: %s is not a readable regular file", fn, path);
    }
    int64_t size = (int64_t)st.st_size;
    if (size == 0 || size % RECORD != 0) {
        fclose(f);
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: size %lld bytes is not a positive multiple of the %d-byte record",
                         fn, path, (long long)size, RECORD);
    }
    if (standard && size / RECORD != STD_RECORDS) {
        fclose(f);
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: holds %lld records, a CIFAR-10 batch file holds %d", fn, path,
                         (long long)(size / RECORD), STD_RECORDS);
    }
    if (records) *records = size / RECORD;
    *out = f;
    return SPT_OK;
}

/* Read `count` records of f into examples first.. of ds. */
static int read_records(FILE *f, const char *path, spt_dataset *ds, int64_t first, int64_t count, const char *fn) {
    for (int64_t i = 0; i < count; i++) {
        unsigned char label;
        int64_t e = first + i;
        if (fread(&label, 1, 1, f) != 1 || fread(ds->u8 + e * PIXELS, 1, PIXELS, f) != PIXELS) {
            if (ferror(f)) return spti_fail(SPT_ERR_IO, "%s: %s: read error at record %lld", fn, path, (long long)i);
            return spti_fail(SPT_ERR_FORMAT, "%s: %s: truncated at record %lld", fn, path, (long long)i);
        }
        if (label >= CLASSES)
            return spti_fail(SPT_ERR_FORMAT, "%s: %s: record %lld has label %d, outside 0..9", fn, path, (long long)i,
                             (int)label);
        ds->labels[e] = label;
    }
    return SPT_OK;
}

static int load_files(spt_dataset **out, const char *const *paths, int n_paths, bool standard, int64_t limit,
                      const char *fn) {
    int64_t total = 0;
    for (int i = 0; i < n_paths; i++) {
        FILE *f;
        int64_t records;
        SPTI_TRY(open_checked(paths[i], standard, &records, &f, fn));
        fclose(f);
        total += records; /* each file is below 2^63 bytes; a few can't overflow */
    }
    int64_t n = (limit > 0 && limit < total) ? limit : total;
    spt_dataset *ds;
    SPTI_TRY(spti_dataset_new(n, 3, 32, 32, CLASSES, true, fn, &ds));
    int64_t done = 0;
    for (int i = 0; i < n_paths && done < n; i++) {
        FILE *f;
        int64_t records;
        int rc = open_checked(paths[i], standard, &records, &f, fn);
        if (rc == SPT_OK) {
            int64_t take = records < n - done ? records : n - done;
            rc = read_records(f, paths[i], ds, done, take, fn);
            fclose(f);
            done += take;
        }
        if (rc != SPT_OK) {
            spt_dataset_destroy(ds);
            return rc;
        }
    }
    *out = ds;
    return SPT_OK;
}

int spt_dataset_load_cifar10_files(const char *const *paths, int n_paths, int64_t limit, spt_dataset **out) {
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(paths);
    if (n_paths < 1) return spti_fail(SPT_ERR_SIZE, "%s: n_paths (%d) must be >= 1", __func__, n_paths);
    if (limit < 0) return spti_fail(SPT_ERR_SIZE, "%s: limit (%lld) must be >= 0", __func__, (long long)limit);
    for (int i = 0; i < n_paths; i++)
        if (paths[i] == NULL) return spti_fail(SPT_ERR_NULL, "%s: paths[%d] is NULL", __func__, i);
    return load_files(out, paths, n_paths, false, limit, __func__);
}

int spt_dataset_load_cifar10(const char *dir, int split, int64_t limit, spt_dataset **out) {
    static const char *const train_names[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                              "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test_names[] = {"test_batch.bin"};
    SPTI_CHECK_NULL(out);
    *out = NULL;
    SPTI_CHECK_NULL(dir);
    if (split != SPT_SPLIT_TRAIN && split != SPT_SPLIT_TEST)
        return spti_fail(SPT_ERR_INVALID, "%s: split (%d) must be SPT_SPLIT_TRAIN or SPT_SPLIT_TEST", __func__, split);
    if (limit < 0) return spti_fail(SPT_ERR_SIZE, "%s: limit (%lld) must be >= 0", __func__, (long long)limit);
    const char *const *names = split == SPT_SPLIT_TRAIN ? train_names : test_names;
    int count = split == SPT_SPLIT_TRAIN ? 5 : 1;
    char buf[5][MAX_PATH];
    const char *paths[5];
    for (int i = 0; i < count; i++) {
        SPTI_TRY(spti_path_join(dir, names[i], buf[i], sizeof buf[i], __func__));
        paths[i] = buf[i];
    }
    return load_files(out, paths, count, true, limit, __func__);
}
