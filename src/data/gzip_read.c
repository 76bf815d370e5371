/* Exact reads through zlib's gz* interface, with errors that say which file
 * and what went wrong. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "gzip_read.h"

enum { CHUNK = 1 << 20 };

int spti_gz_open(spti_gz *g, const char *path, const char *fn) {
    char why[128];
    g->path = path, g->fn = fn;
    errno = 0;
    g->gz = gzopen(path, "rb");
    if (g->gz == NULL)
        return spti_fail(SPT_ERR_IO, "%s: cannot open %s: %s", fn, path,
                         errno ? spti_errno_text(errno, why, sizeof why) : "out of memory in zlib");
    gzbuffer(g->gz, 1 << 17);
    return SPT_OK;
}

void spti_gz_close(spti_gz *g) {
    if (g->gz != NULL) gzclose_r(g->gz);
    g->gz = NULL;
}

/* Status for a gzread that returned < 0 or ended early. */
static int read_failure(spti_gz *g, const char *what) {
    int err = Z_OK;
    const char *msg = gzerror(g->gz, &err);
    char why[128];
    if (err == Z_ERRNO)
        return spti_fail(SPT_ERR_IO, "%s: %s: read error: %s", g->fn, g->path, spti_errno_text(errno, why, sizeof why));
    if (err == Z_MEM_ERROR) return spti_fail(SPT_ERR_NOMEM, "%s: %s: out of memory in zlib", g->fn, g->path);
    if (err != Z_OK && err != Z_BUF_ERROR)
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", g->fn, g->path, msg);
    /* Z_BUF_ERROR is zlib's "unexpected end of file": a cut gzip stream. */
    return spti_fail(SPT_ERR_FORMAT, "%s: %s: truncated in %s", g->fn, g->path, what);
}

int spti_gz_read(spti_gz *g, void *buf, int64_t n, const char *what) {
    unsigned char scratch[4096];
    unsigned char *p = buf;
    while (n > 0) {
        unsigned want;
        if (p != NULL)
            want = n > CHUNK ? CHUNK : (unsigned)n;
        else
            want = n > (int64_t)sizeof scratch ? (unsigned)sizeof scratch : (unsigned)n;
        int got = gzread(g->gz, p ? p : scratch, want);
        if (got <= 0 || (unsigned)got < want) return read_failure(g, what);
        n -= got;
        if (p != NULL) p += got;
    }
    return SPT_OK;
}

int spti_gz_expect_end(spti_gz *g) {
    unsigned char extra;
    int got = gzread(g->gz, &extra, 1);
    if (got < 0) return read_failure(g, "the end");
    if (got > 0) return spti_fail(SPT_ERR_FORMAT, "%s: %s: trailing data after the last record", g->fn, g->path);
    /* gzread returns 0 both at a clean end and at a cut gzip stream. */
    int err = Z_OK;
    gzerror(g->gz, &err);
    if (err != Z_OK) return read_failure(g, "the end");
    return SPT_OK;
}

/* Deflate's densest code spends 2 bits on a 258-byte match: no gzip file
 * inflates to more than 1032 times its own size. */
enum { DEFLATE_MAX_RATIO = 1032 };

int spti_gz_check_plain_size(spti_gz *g, int64_t bytes) {
    struct stat st;
    if (stat(g->path, &st) != 0 || !S_ISREG(st.st_mode)) return SPT_OK;
    int64_t size = (int64_t)st.st_size, most;
    if (!gzdirect(g->gz)) {
        if (spti_mul_i64(size, DEFLATE_MAX_RATIO, &most) && bytes > most)
            return spti_fail(SPT_ERR_FORMAT,
                             "%s: %s: truncated: the header needs %lld bytes, more than %lld compressed bytes can hold",
                             g->fn, g->path, (long long)bytes, (long long)size);
        return SPT_OK;
    }
    if (size < bytes)
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: truncated: %lld bytes, the header needs %lld", g->fn, g->path,
                         (long long)size, (long long)bytes);
    if (size > bytes)
        return spti_fail(SPT_ERR_FORMAT, "%s: %s: trailing data: %lld bytes, the header needs %lld", g->fn, g->path,
                         (long long)size, (long long)bytes);
    return SPT_OK;
}
