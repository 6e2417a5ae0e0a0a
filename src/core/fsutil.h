/*
 * fsutil.h: small filesystem helpers used by every writer: atomic whole-file writes
 * (PATH.tmp + fsync + rename, so an interrupted run never leaves a broken file),
 * mkdir -p, existence checks, reading a whole file.
 */
#ifndef LETHE_CORE_FSUTIL_H
#define LETHE_CORE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

// Writes the given buffers, in order, to PATH atomically. Errors name the path and
// the system reason (ENOSPC -> "disk full").
lethe_status fs_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int nbufs);
lethe_status fs_write_text_atomic(const char *path, const char *text);
lethe_status fs_read_all(const char *path, uint8_t **bytes, size_t *size);   // caller frees
// The whole file as a NUL-terminated string (JSON configs); caller frees.
lethe_status fs_read_text(const char *path, char **text);
lethe_status fs_mkdir_p(const char *path);   // error if it exists and is not a directory
int fs_exists(const char *path);
int fs_is_dir(const char *path);
// Checks that DIR can be created/written (creates it), with a clear error if not.
lethe_status fs_ensure_writable_dir(const char *dir);

#endif
