/* Reading a possibly gzip-compressed file exactly (internal). zlib's gzread
 * passes plain files through unchanged, so one reader serves both. Every
 * failure records a message naming the calling function and the file. */
#ifndef SPTI_DATA_GZIP_READ_H
#define SPTI_DATA_GZIP_READ_H

#include <stdint.h>
#include <zlib.h>

/* Lives on the caller's stack: the path and fn strings are borrowed. */
typedef struct spti_gz {
    gzFile gz;
    const char *path;
    const char *fn;
} spti_gz;

/* Open path; SPT_ERR_IO if missing or unreadable. */
int spti_gz_open(spti_gz *g, const char *path, const char *fn);
/* Close; a never-opened (zeroed) g is a no-op. */
void spti_gz_close(spti_gz *g);
/* Read exactly n bytes into buf (buf NULL: read and discard them).
 * SPT_ERR_FORMAT if the data ends first ("truncated in <what>") or is
 * corrupt gzip; SPT_ERR_IO on a read error. */
int spti_gz_read(spti_gz *g, void *buf, int64_t n, const char *what);
/* After the first read, for a regular file: SPT_ERR_FORMAT unless a plain
 * file is exactly `bytes` long, or if a compressed file is too small to
 * inflate to `bytes` (deflate's 1032:1 limit; its exact length shows only
 * when read). Lets a header that promises more data than the file holds
 * fail before anything is allocated for it. Other files (pipes) pass. */
int spti_gz_check_plain_size(spti_gz *g, int64_t bytes);
/* SPT_ERR_FORMAT unless the data has ended (trailing bytes). */
int spti_gz_expect_end(spti_gz *g);

#endif /* SPTI_DATA_GZIP_READ_H */
