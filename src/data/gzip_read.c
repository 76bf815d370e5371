/* Exact reads of plain or gzip files through zlib's inflate, with errors
 * that say which file and what went wrong. zlib's gz* interface is not
 * used: it silently ignores bytes after the last gzip member, which this
 * reader refuses. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "gzip_read.h"

enum { CHUNK = 1 << 20 };

/* Why a path cannot be opened, with a hint for the cases whose system text
 * is obscure. */
static int open_failure(spti_gz *g, int err) {
    char why[128];
    spti_errno_text(err, why, sizeof why);
    if (err == ELOOP)
        return spti_fail(SPT_ERR_IO, "%s: cannot open %s: %s (a symbolic link that loops)", g->fn, g->path, why);
    return spti_fail(SPT_ERR_IO, "%s: cannot open %s: %s", g->fn, g->path, why);
}

/* Refill the input buffer (after keeping the avail_in bytes not used yet).
 * Returns the bytes now available (0 at the end of the file) or -1 after
 * recording SPT_ERR_IO. */
static int64_t fill(spti_gz *g) {
    size_t keep = g->zs.avail_in;
    if (keep > 0 && g->zs.next_in != g->in) memmove(g->in, g->zs.next_in, keep);
    size_t got = fread(g->in + keep, 1, sizeof g->in - keep, g->f);
    if (got == 0 && ferror(g->f)) {
        char why[128];
        spti_fail(SPT_ERR_IO, "%s: %s: read error: %s", g->fn, g->path, spti_errno_text(errno, why, sizeof why));
        return -1;
    }
    g->zs.next_in = g->in;
    g->zs.avail_in = (uInt)(keep + got);
    return (int64_t)g->zs.avail_in;
}

int spti_gz_open(spti_gz *g, const char *path, const char *fn) {
    memset(g, 0, sizeof *g);
    g->path = path, g->fn = fn;
    struct stat st;
    if (stat(path, &st) != 0) return open_failure(g, errno);
    if (S_ISDIR(st.st_mode)) return spti_fail(SPT_ERR_IO, "%s: %s is a directory, not a data file", fn, path);
    errno = 0;
    g->f = fopen(path, "rb");
    if (g->f == NULL) return open_failure(g, errno ? errno : EIO);
    if (fill(g) < 0) return SPT_ERR_IO;
    g->direct = !(g->zs.avail_in >= 2 && g->in[0] == 0x1f && g->in[1] == 0x8b);
    if (!g->direct) {
        int zrc = inflateInit2(&g->zs, 16 + MAX_WBITS); /* gzip wrapper only */
        if (zrc != Z_OK) return spti_fail(SPT_ERR_NOMEM, "%s: %s: out of memory in zlib", fn, path);
        g->z_ready = true;
    }
    return SPT_OK;
}

void spti_gz_close(spti_gz *g) {
    if (g->z_ready) inflateEnd(&g->zs);
    if (g->f != NULL) fclose(g->f);
    g->f = NULL;
    g->z_ready = false;
}

/* A gzip member has ended: the file must end here or hold another member. */
static int member_end(spti_gz *g) {
    if (g->zs.avail_in < 2 && fill(g) < 0) return SPT_ERR_IO;
    if (g->zs.avail_in == 0) {
        g->z_done = true;
        return SPT_OK;
    }
    if (g->zs.avail_in >= 2 && g->zs.next_in[0] == 0x1f && g->zs.next_in[1] == 0x8b) {
        inflateReset(&g->zs);
        return SPT_OK;
    }
    struct stat st;
    long long size = fstat(fileno(g->f), &st) == 0 ? (long long)st.st_size : -1;
    if (size > g->raw_used)
        return spti_fail(SPT_ERR_FORMAT,
                         "%s: %s: trailing bytes after the end of the gzip stream (%lld bytes after byte %lld)", g->fn,
                         g->path, size - (long long)g->raw_used, (long long)g->raw_used);
    return spti_fail(SPT_ERR_FORMAT, "%s: %s: trailing bytes after the end of the gzip stream", g->fn, g->path);
}

/* Up to `want` bytes into out: fewer only at the end of the data. `what`
 * names the part being read for a cut gzip stream. */
static int pull(spti_gz *g, unsigned char *out, uInt want, uInt *got, const char *what) {
    *got = 0;
    if (g->direct) {
        while (*got < want) {
            if (g->zs.avail_in == 0) {
                int64_t k = fill(g);
                if (k < 0) return SPT_ERR_IO;
                if (k == 0) break;
            }
            uInt take = want - *got < g->zs.avail_in ? want - *got : g->zs.avail_in;
            if (out) memcpy(out + *got, g->zs.next_in, take);
            g->zs.next_in += take, g->zs.avail_in -= take, *got += take;
        }
        return SPT_OK;
    }
    g->zs.next_out = out;
    g->zs.avail_out = want;
    while (g->zs.avail_out > 0 && !g->z_done) {
        if (g->zs.avail_in == 0) {
            int64_t k = fill(g);
            if (k < 0) return SPT_ERR_IO;
            if (k == 0) return spti_fail(SPT_ERR_FORMAT, "%s: %s: truncated in %s", g->fn, g->path, what);
        }
        int zrc = inflate(&g->zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            g->raw_used += (int64_t)g->zs.total_in; /* total_in restarts with the next member */
            int rc = member_end(g);
            if (rc != SPT_OK) return rc;
        } else if (zrc == Z_MEM_ERROR) {
            return spti_fail(SPT_ERR_NOMEM, "%s: %s: out of memory in zlib", g->fn, g->path);
        } else if (zrc != Z_OK && !(zrc == Z_BUF_ERROR && g->zs.avail_in == 0)) {
            return spti_fail(SPT_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", g->fn, g->path,
                             g->zs.msg ? g->zs.msg : "invalid stream");
        }
    }
    *got = want - g->zs.avail_out;
    g->zs.next_out = NULL;
    return SPT_OK;
}

int spti_gz_read(spti_gz *g, void *buf, int64_t n, const char *what) {
    unsigned char scratch[4096];
    unsigned char *p = buf;
    while (n > 0) {
        uInt want, got;
        if (p != NULL)
            want = n > CHUNK ? CHUNK : (uInt)n;
        else
            want = n > (int64_t)sizeof scratch ? (uInt)sizeof scratch : (uInt)n;
        SPTI_TRY(pull(g, p ? p : scratch, want, &got, what));
        if (got < want) return spti_fail(SPT_ERR_FORMAT, "%s: %s: truncated in %s", g->fn, g->path, what);
        n -= got;
        if (p != NULL) p += got;
    }
    return SPT_OK;
}

int spti_gz_expect_end(spti_gz *g) {
    unsigned char extra;
    uInt got;
    SPTI_TRY(pull(g, &extra, 1, &got, "the end"));
    if (got > 0) return spti_fail(SPT_ERR_FORMAT, "%s: %s: trailing data after the last record", g->fn, g->path);
    return SPT_OK;
}

/* Deflate's densest code spends 2 bits on a 258-byte match: no gzip file
 * inflates to more than 1032 times its own size. */
enum { DEFLATE_MAX_RATIO = 1032 };

int spti_gz_check_plain_size(spti_gz *g, int64_t bytes) {
    struct stat st;
    if (fstat(fileno(g->f), &st) != 0 || !S_ISREG(st.st_mode)) return SPT_OK;
    int64_t size = (int64_t)st.st_size, most;
    if (!g->direct) {
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
