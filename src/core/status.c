/* Status codes and the per-thread last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[512];

const char *spt_status_string(int status) {
    switch (status) {
    case SPT_OK: return "ok";
    case SPT_ERR_NULL: return "a required pointer was NULL";
    case SPT_ERR_INVALID: return "invalid argument";
    case SPT_ERR_SIZE: return "invalid or overflowing size";
    case SPT_ERR_NOMEM: return "out of memory";
    case SPT_ERR_IO: return "input/output error";
    case SPT_ERR_FORMAT: return "malformed data or file";
    case SPT_ERR_VERSION: return "file written by a newer format version";
    case SPT_ERR_CHECKSUM: return "checksum mismatch";
    case SPT_ERR_NONFINITE: return "NaN or Inf encountered";
    case SPT_ERR_STATE: return "call not valid in the current state";
    case SPT_ERR_UNSUPPORTED: return "unsupported";
    case SPT_ERR_INTERNAL: return "internal error";
    case SPT_ERR_CALLBACK: return "a callback reported failure";
    default: return "unknown status code";
    }
}

const char *spt_last_error(void) { return last_error; }

void spt_clear_error(void) { last_error[0] = '\0'; }

int spt_set_error(int status, const char *message) {
    snprintf(last_error, sizeof last_error, "%s", message ? message : "");
    return status;
}

int spti_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *spt_version_string(void) { return SPT_VERSION_STRING; }
int spt_version_number(void) { return SPT_VERSION_NUMBER; }
