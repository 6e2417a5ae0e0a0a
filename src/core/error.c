/* error.c: thread-local last-error message (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[2048];

lethe_status lethe_fail(lethe_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

lethe_status lethe_fail_context(lethe_status code, const char *fmt, ...) {
    char prefix[1024], old[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_message, sizeof old);
    snprintf(last_message, sizeof last_message, "%s: %s", prefix, old);
    return code;
}

const char *lethe_last_error(void) { return last_message[0] ? last_message : "unknown error"; }

const char *lethe_status_name(lethe_status s) {
    switch (s) {
    case LETHE_OK: return "ok";
    case LETHE_ERR_IO: return "I/O error";
    case LETHE_ERR_FORMAT: return "format error";
    case LETHE_ERR_SHAPE: return "shape error";
    case LETHE_ERR_ARG: return "invalid argument";
    case LETHE_ERR_NOMEM: return "out of memory";
    case LETHE_ERR_NUMERIC: return "numeric error";
    }
    return "error";
}
