/* Reading a possibly gzip-compressed file exactly (internal). A file that
 * starts with the gzip magic (1f 8b) is inflated member after member; any
 * other file is read as it is. Unlike zlib's gzread, which ignores whatever
 * follows the last gzip member, bytes after the end of the compressed data
 * are an error. Every failure records a message naming the calling
 * function and the file. */
#ifndef SPTI_DATA_GZIP_READ_H
#define SPTI_DATA_GZIP_READ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

enum { SPTI_GZ_INBUF = 16384 };

/* Lives on the caller's stack: the path and fn strings are borrowed. No
 * allocation of the library's allocator (zlib allocates its own state). */
typedef struct spti_gz {
    FILE *f;
    const char *path;
    const char *fn;
    bool direct;      /* not gzip: bytes are read as they are */
    bool z_ready;     /* zs initialised (inflateInit2) */
    bool z_done;      /* the last gzip member ended and the file ended with it */
    z_stream zs;
    int64_t raw_used; /* compressed bytes consumed so far (offset in the file) */
    unsigned char in[SPTI_GZ_INBUF];
} spti_gz;

/* Open path; SPT_ERR_IO if missing, unreadable, a directory or another
 * non-file (message naming it and why, e.g. a symbolic-link loop). */
int spti_gz_open(spti_gz *g, const char *path, const char *fn);
/* Close; a never-opened (zeroed) g is a no-op. */
void spti_gz_close(spti_gz *g);
/* Read exactly n bytes into buf (buf NULL: read and discard them).
 * SPT_ERR_FORMAT if the data ends first ("truncated in <what>"), is
 * corrupt gzip, or has bytes after the end of its gzip stream; SPT_ERR_IO
 * on a read error. */
int spti_gz_read(spti_gz *g, void *buf, int64_t n, const char *what);
/* After the first read, for a regular file: SPT_ERR_FORMAT unless a plain
 * file is exactly `bytes` long, or if a compressed file is too small to
 * inflate to `bytes` (deflate's 1032:1 limit; its exact length shows only
 * when read). Lets a header that promises more data than the file holds
 * fail before anything is allocated for it. Other files (pipes) pass. */
int spti_gz_check_plain_size(spti_gz *g, int64_t bytes);
/* SPT_ERR_FORMAT unless the data has ended: no more decompressed bytes
 * ("trailing data after the last record") and, for a gzip file, no bytes
 * after the end of the gzip stream ("trailing bytes after the end of the
 * gzip stream"). */
int spti_gz_expect_end(spti_gz *g);

#endif /* SPTI_DATA_GZIP_READ_H */
