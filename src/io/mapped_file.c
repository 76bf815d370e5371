/* Atomic writing through a mapped temporary file, and read-only mapping
 * (mapped_file.h). */
#include "mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/dataset.h" /* spti_errno_text */

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

int spti_out_file_open(spti_out_file *f, const char *path) {
    /* Both names are made before the first write, so that nothing can fail
     * for want of memory once the file system has been touched. */
    size_t n = strlen(path);
    *f = (spti_out_file){.path = NULL, .fd = -1};
    f->tmp = spti_alloc_or_fail((int64_t)n + 5, 1, "temporary file name");
    f->dir = f->tmp ? spti_alloc_or_fail((int64_t)n + 2, 1, "directory name") : NULL;
    if (!f->dir) {
        spti_free(f->tmp);
        f->tmp = NULL;
        return SPT_ERR_NOMEM;
    }
    f->path = (char *)path;
    snprintf(f->tmp, n + 5, "%s.tmp", path);
    dir_of(path, f->dir, n + 2);
    return SPT_OK;
}

int spti_out_file_map(void *ctx, int64_t size, uint8_t **buf) {
    spti_out_file *f = ctx;
    char err[128];
    if (size < 1 || (uint64_t)size > (uint64_t)SIZE_MAX || (int64_t)(off_t)size != size)
        return spti_fail(SPT_ERR_SIZE, "a file of %lld bytes does not fit this platform", (long long)size);
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

int spti_out_file_close(spti_out_file *f, const char *func, int rc) {
    char err[128];
    const char *tmp = f->tmp;
    if (rc == SPT_OK && f->map && msync(f->map, (size_t)f->size, MS_SYNC) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot write %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (f->map) munmap(f->map, (size_t)f->size);
    if (rc == SPT_OK && fsync(f->fd) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot write %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (f->fd >= 0 && close(f->fd) != 0 && rc == SPT_OK)
        rc = spti_fail(SPT_ERR_IO, "cannot close %s: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (rc == SPT_OK && rename(tmp, f->path) != 0)
        rc = spti_fail(SPT_ERR_IO, "cannot rename %s over it: %s", tmp, spti_errno_text(errno, err, sizeof err));
    if (rc != SPT_OK) {
        if (f->fd >= 0) remove(tmp); /* ours: the previous file stays as it was */
        char msg[384];
        snprintf(msg, sizeof msg, "%s", spt_last_error());
        rc = spti_fail(rc, "%s: %s: %s", func, f->path, msg);
    } else {
        rc = sync_dir(func, f->path, f->dir);
    }
    spti_free(f->tmp);
    spti_free(f->dir);
    *f = (spti_out_file){.fd = -1};
    return rc;
}

int spti_map_file(const char *func, const char *path, const uint8_t **out, int64_t *len) {
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

void spti_unmap_file(const uint8_t *buf, int64_t len) {
    if (len > 0) munmap((void *)(uintptr_t)buf, (size_t)len);
}
