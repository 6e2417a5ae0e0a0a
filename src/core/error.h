/*
 * error.h: errors are values in the library, messages at the edge.
 *
 * Library functions return a lethe_status and, on failure, leave one
 * human-readable message (naming the file, tensor, expected and found) that
 * the CLI prints. Nothing in the library prints or exits on bad input.
 *
 *   if (bad) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", path, name, dt);
 */
#ifndef LETHE_CORE_ERROR_H
#define LETHE_CORE_ERROR_H

// include/lethe.h repeats this enum for programs that embed lethe (same guard, same values;
// tests/test_api.c checks the names of both agree).
#ifndef LETHE_STATUS_DEFINED
#define LETHE_STATUS_DEFINED
typedef enum {
    LETHE_OK = 0,
    LETHE_ERR_IO,       // file missing, unreadable, unwritable, disk full
    LETHE_ERR_FORMAT,   // file exists but its content is corrupt or not what we expect
    LETHE_ERR_SHAPE,    // tensor/config shapes disagree
    LETHE_ERR_ARG,      // bad user argument (unknown class, config, flag value)
    LETHE_ERR_NOMEM,    // allocation failed
    LETHE_ERR_NUMERIC,  // NaN/Inf loss or values
} lethe_status;
#endif

// Records the message (printf-style) and returns `code`, so callers can write
// `return lethe_fail(...)`. The message is thread-local and overwritten by the next failure.
lethe_status lethe_fail(lethe_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Prefixes the current message with more context ("loading model DIR: <old message>").
lethe_status lethe_fail_context(lethe_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *lethe_last_error(void);
const char *lethe_status_name(lethe_status s);

#endif
