/* spt_trainer_load: map a checkpoint file (no copy in memory), parse it,
 * rebuild the model and the trainer. The in-memory path (spti_checkpoint_load_buffer)
 * is shared with the fuzz target. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/dataset.h"
#include "checkpoint_format.h"

/* Re-state the failure as "<func>: <name>: <problem>". */
static int name_fail(const char *func, const char *name, int rc) {
    char msg[384];
    snprintf(msg, sizeof msg, "%s", spt_last_error());
    return spti_fail(rc, "%s: %s: %s", func, name, msg);
}

int64_t spti_checkpoint_span_limit(int64_t len) {
    /* 2^24 rows and columns for any file, plus 1024 per byte
     * (checkpoint_restore.c, check_sizes): the values themselves are in
     * the file, so a hostile file of B bytes cannot make the loader build
     * more than ~8 KiB of structure per byte. */
    int64_t extra;
    if (len < 0 || !spti_mul_i64(len, 1024, &extra) || !spti_add_i64(extra, (int64_t)1 << 24, &extra))
        return INT64_MAX;
    return extra;
}

static int load_image(const char *func, const uint8_t *buf, int64_t len, const char *name,
                      const spt_user_method *user, spti_model **mo, spti_trainer **to, spt_batcher *b) {
    spti_ckpt_view v;
    int rc = spti_checkpoint_parse(buf, len, &v);
    if (rc == SPT_OK) rc = spti_checkpoint_restore(&v, user, spti_checkpoint_span_limit(len), mo, to, b);
    spti_checkpoint_view_free(&v);
    return rc == SPT_OK ? SPT_OK : name_fail(func, name, rc);
}

int spti_checkpoint_load_buffer(const uint8_t *buf, int64_t len, const char *name, spti_model **model_out,
                                spti_trainer **trainer_out, spt_batcher *b) {
    SPTI_CHECK_NULL(model_out);
    SPTI_CHECK_NULL(trainer_out);
    *model_out = NULL;
    *trainer_out = NULL;
    SPTI_CHECK_NULL(buf);
    if (len < 0) return spti_fail(SPT_ERR_SIZE, "%s: len (%lld) must be >= 0", __func__, (long long)len);
    return load_image(__func__, buf, len, name ? name : "(memory)", NULL, model_out, trainer_out, b);
}

/* The whole file, mapped read-only: the parser and the restore read the
 * image in place, so loading holds no copy of it in memory (the pages are
 * the page cache's). Release with unmap_file. A checkpoint is replaced by
 * rename (spt_trainer_save), which leaves a mapped old file intact. */
static int map_file(const char *func, const char *path, const uint8_t **out, int64_t *len) {
    static const uint8_t empty[1];
    char err[128];
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return spti_fail(SPT_ERR_IO, "%s: %s: cannot open: %s", func, path, spti_errno_text(errno, err, sizeof err));
    struct stat st;
    int rc = SPT_OK;
    if (fstat(fd, &st) != 0)
        rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot stat: %s", func, path, spti_errno_text(errno, err, sizeof err));
    else if (!S_ISREG(st.st_mode))
        rc = spti_fail(SPT_ERR_IO, "%s: %s: not a regular file", func, path);
    else if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX)
        rc = spti_fail(SPT_ERR_SIZE, "%s: %s: %lld bytes do not fit this platform's memory", func, path,
                       (long long)st.st_size);
    const uint8_t *buf = empty;
    if (rc == SPT_OK && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = spti_fail(errno == ENOMEM ? SPT_ERR_NOMEM : SPT_ERR_IO, "%s: %s: cannot map %lld bytes: %s", func,
                           path, (long long)st.st_size, spti_errno_text(errno, err, sizeof err));
        else {
            buf = m;
            posix_madvise(m, (size_t)st.st_size, POSIX_MADV_SEQUENTIAL);
        }
    }
    close(fd);
    if (rc != SPT_OK) return rc;
    *out = buf;
    *len = (int64_t)st.st_size;
    return SPT_OK;
}

static void unmap_file(const uint8_t *buf, int64_t len) {
    if (len > 0) munmap((void *)(uintptr_t)buf, (size_t)len);
}

static int load_file(const char *func, const char *path, const spt_user_method *user, spt_model **model_out,
                     spt_trainer **trainer_out, spt_batcher *batcher) {
    if (model_out) *model_out = NULL;
    if (trainer_out) *trainer_out = NULL;
    SPTI_CHECK_NULL(path);
    SPTI_CHECK_NULL(model_out);
    SPTI_CHECK_NULL(trainer_out);
    const uint8_t *buf;
    int64_t len;
    SPTI_TRY(map_file(func, path, &buf, &len));
    int rc = load_image(func, buf, len, path, user, model_out, trainer_out, batcher);
    unmap_file(buf, len);
    return rc;
}

int spt_trainer_load(const char *path, spt_model **model_out, spt_trainer **trainer_out, spt_batcher *batcher) {
    return load_file(__func__, path, NULL, model_out, trainer_out, batcher);
}

int spt_trainer_load_user(const char *path, const spt_user_method *u, spt_model **model_out,
                          spt_trainer **trainer_out, spt_batcher *batcher) {
    if (model_out) *model_out = NULL;
    if (trainer_out) *trainer_out = NULL;
    SPTI_CHECK_NULL(u);
    return load_file(__func__, path, u, model_out, trainer_out, batcher);
}

int spt_checkpoint_read_note(const char *path, void *buf, int64_t cap, int64_t *len) {
    SPTI_CHECK_NULL(path);
    SPTI_CHECK_NULL(len);
    *len = 0;
    if (cap < 0) return spti_fail(SPT_ERR_SIZE, "%s: cap (%lld) must be >= 0", __func__, (long long)cap);
    if (cap > 0 && buf == NULL) return spti_fail(SPT_ERR_NULL, "%s: buf is NULL with cap %lld", __func__, (long long)cap);
    const uint8_t *img;
    int64_t n;
    SPTI_TRY(map_file(__func__, path, &img, &n));
    spti_ckpt_view v;
    int rc = spti_checkpoint_parse(img, n, &v);
    if (rc != SPT_OK) {
        unmap_file(img, n);
        return name_fail(__func__, path, rc);
    }
    *len = v.note_len;
    if (v.note_len > cap)
        rc = spti_fail(SPT_ERR_SIZE, "%s: %s: the note has %lld bytes, more than cap (%lld)", __func__, path,
                       (long long)v.note_len, (long long)cap);
    else if (v.note_len > 0)
        memcpy(buf, v.note, (size_t)v.note_len);
    spti_checkpoint_view_free(&v);
    unmap_file(img, n);
    return rc;
}
