/* spt_trainer_save: encode the trainer into a new file and replace the old
 * one atomically: write "<path>.tmp" in the same directory (mapped: no copy
 * of the image in memory), flush and fsync it, rename it
 * over <path>, fsync the directory. A crash at any point leaves either the
 * previous checkpoint or the new one at <path>, never a mixture. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../data/dataset.h"
#include "checkpoint_format.h"

/* The directory holding `path` into dir (room for strlen(path) + 2). */
static void dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* fsync a directory, so that a rename inside it is durable. File systems
 * that cannot sync a directory (EINVAL) are accepted. */
static int sync_dir(const char *func, const char *path, const char *dir) {
    char err[128];
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = SPT_OK;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = spti_fail(SPT_ERR_IO, "%s: %s: saved, but its directory %s could not be synced: %s", func, path, dir,
                       spti_errno_text(errno, err, sizeof err));
    if (fd >= 0) close(fd);
    return rc;
}

/* The file sink: the image is encoded straight into "<path>.tmp", mapped
 * for writing, so that saving holds no copy of it in memory (a 3 x 600,000
 * MLP's image is about 1 GB). Its blocks are reserved first
 * (posix_fallocate), so a full disk is an error here rather than a fault
 * while writing through the mapping. Messages name the temporary file;
 * the caller prefixes the function and the path. */
typedef struct {
    const char *tmp;
    int fd;
    uint8_t *map;
    int64_t size;
} file_sink;

static int file_sink_open(void *ctx, int64_t size, uint8_t **buf) {
    file_sink *f = ctx;
    char err[128];
    if (size < 1 || (uint64_t)size > (uint64_t)SIZE_MAX || (int64_t)(off_t)size != size)
        return spti_fail(SPT_ERR_SIZE, "an image of %lld bytes does not fit this platform's files", (long long)size);
    f->fd = open(f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (f->fd < 0)
        return spti_fail(SPT_ERR_IO, "cannot create %s: %s", f->tmp, spti_errno_text(errno, err, sizeof err));
    const int e = posix_fallocate(f->fd, 0, (off_t)size);
    if (e != 0)
        return spti_fail(SPT_ERR_IO, "cannot reserve %lld bytes for %s: %s", (long long)size, f->tmp,
                         spti_errno_text(e, err, sizeof err));
    void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (m == MAP_FAILED)
        return spti_fail(SPT_ERR_IO, "cannot map %s for writing: %s", f->tmp, spti_errno_text(errno, err, sizeof err));
    f->map = m;
    f->size = size;
    *buf = m;
    return SPT_OK;
}

/* Encode into "<path>.tmp", flush it to disk, rename it over <path>, sync
 * the directory. Both names are made before the first write, so that
 * nothing can fail for want of memory once the file system has been
 * touched; on failure the temporary file is removed and <path> is as it
 * was. */
static int write_atomic(const char *func, const spt_trainer *t, const spt_batcher *batcher, const void *note,
                        int64_t note_len, const char *path) {
    size_t n = strlen(path);
    char *tmp = spti_alloc_or_fail((int64_t)n + 5, 1, "checkpoint: temporary name");
    char *dir = tmp ? spti_alloc_or_fail((int64_t)n + 2, 1, "checkpoint: directory name") : NULL;
    if (!dir) {
        spti_free(tmp);
        return SPT_ERR_NOMEM;
    }
    snprintf(tmp, n + 5, "%s.tmp", path);
    dir_of(path, dir, n + 2);
    char err[128];
    file_sink f = {.tmp = tmp, .fd = -1};
    int64_t len = 0;
    int rc = spti_checkpoint_encode_to(t, batcher, note, note_len, file_sink_open, &f, &len);
    if (rc == SPT_OK && msync(f.map, (size_t)f.size, MS_SYNC) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot write %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (f.map) munmap(f.map, (size_t)f.size);
    if (rc == SPT_OK && fsync(f.fd) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot write %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (f.fd >= 0 && close(f.fd) != 0 && rc == SPT_OK)
        rc = spti_fail(SPT_ERR_IO, "cannot close %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (rc == SPT_OK && rename(tmp, path) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot rename %s over it: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (rc != SPT_OK) {
        if (f.fd >= 0) remove(tmp); /* ours: the previous checkpoint stays as it was */
        char msg[384];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        rc = spti_fail(rc, "%s: %s: %s", func, path, msg);
    } else {
        rc = sync_dir(func, path, dir);
    }
    spti_free(tmp);
    spti_free(dir);
    return rc;
}

static int save(const char *func, const spt_trainer *t, const spt_batcher *batcher, const void *note,
                int64_t note_len, const char *path) {
    SPTI_CHECK_NULL(t);
    SPTI_CHECK_NULL(path);
    if (path[0] == '\0') return spti_fail(SPT_ERR_INVALID, "%s: path is empty", func);
    if (note_len < 0 || note_len > SPT_CHECKPOINT_NOTE_MAX)
        return spti_fail(SPT_ERR_SIZE, "%s: note_len (%lld) must be in [0, %d] (SPT_CHECKPOINT_NOTE_MAX)", func,
                         (long long)note_len, SPT_CHECKPOINT_NOTE_MAX);
    if (note_len > 0 && note == NULL) return spti_fail(SPT_ERR_NULL, "%s: note is NULL", func);
    return write_atomic(func, t, batcher, note, note_len, path);
}

int spt_trainer_save(const spt_trainer *t, const spt_batcher *batcher, const char *path) {
    return save(__func__, t, batcher, NULL, 0, path);
}

int spt_trainer_save_note(const spt_trainer *t, const spt_batcher *batcher, const void *note, int64_t note_len,
                          const char *path) {
    return save(__func__, t, batcher, note, note_len, path);
}
