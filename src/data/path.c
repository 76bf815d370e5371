/* File-name helpers for the loaders. */
#include <stdio.h>
#include <string.h>

#include "dataset.h"

int spti_path_join(const char *dir, const char *name, char *buf, size_t cap, const char *fn) {
    size_t len = strlen(dir);
    const char *sep = (len > 0 && dir[len - 1] == '/') ? "" : "/";
    int k = snprintf(buf, cap, "%s%s%s", dir, sep, name);
    if (k < 0 || (size_t)k >= cap)
        return spti_fail(SPT_ERR_INVALID, "%s: path %s%s%s is longer than %zu bytes", fn, dir, sep, name, cap - 1);
    return SPT_OK;
}

const char *spti_errno_text(int err, char *buf, size_t cap) {
    /* The XSI strerror_r (this build asks for POSIX, not GNU): unlike
     * strerror it is safe when several threads load at once. */
    if (strerror_r(err, buf, cap) != 0) snprintf(buf, cap, "error %d", err);
    return buf;
}
