/* spt_trainer_save: encode the trainer, then replace the file atomically:
 * write "<path>.tmp" in the same directory, flush and fsync it, rename it
 * over <path>, fsync the directory. A crash at any point leaves either the
 * previous checkpoint or the new one at <path>, never a mixture. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

/* Both names are made before the first write, so that nothing can fail
 * for want of memory once the file system has been touched. */
static int write_atomic(const char *func, const char *path, const uint8_t *buf, int64_t len) {
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
    int rc = SPT_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot create %s: %s", func, path, tmp,
                       spti_errno_text(errno, err, sizeof err));
    } else {
        if (fwrite(buf, 1, (size_t)len, f) != (size_t)len || fflush(f) != 0 || fsync(fileno(f)) != 0)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot write %s: %s", func, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (fclose(f) != 0 && rc == SPT_OK)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot close %s: %s", func, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (rc == SPT_OK && rename(tmp, path) != 0)
            rc = spti_fail(SPT_ERR_IO, "%s: %s: cannot rename %s over it: %s", func, path, tmp,
                           spti_errno_text(errno, err, sizeof err));
        if (rc != SPT_OK) remove(tmp); /* ours: the previous checkpoint stays as it was */
        else rc = sync_dir(func, path, dir);
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
    uint8_t *buf;
    int64_t len;
    int rc = spti_checkpoint_encode_note(t, batcher, note, note_len, &buf, &len);
    if (rc != SPT_OK) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        return spti_fail(rc, "%s: %s: %s", func, path, msg);
    }
    rc = write_atomic(func, path, buf, len);
    spti_free(buf);
    return rc;
}

int spt_trainer_save(const spt_trainer *t, const spt_batcher *batcher, const char *path) {
    return save(__func__, t, batcher, NULL, 0, path);
}

int spt_trainer_save_note(const spt_trainer *t, const spt_batcher *batcher, const void *note, int64_t note_len,
                          const char *path) {
    return save(__func__, t, batcher, note, note_len, path);
}
