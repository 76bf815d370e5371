/* An in-memory file for the data fuzz targets: the loaders take paths (zlib
 * and stdio do the reading), so the input is put in an anonymous memory
 * file (memfd, never on disk) and named by its /proc/self/fd path. */
#ifndef SPT_FUZZ_MEMFILE_H
#define SPT_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* A memory file holding data[0..size-1], its path into path (cap bytes).
 * Returns the descriptor (close it when done) or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create("spt_fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)k;
    }
    int len = snprintf(path, cap, "/proc/self/fd/%d", fd);
    if (len <= 0 || (size_t)len >= cap) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif /* SPT_FUZZ_MEMFILE_H */
