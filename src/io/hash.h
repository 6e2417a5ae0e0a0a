/*
 * hash.h: SHA-256 (nettle) as lowercase hex, for recording which model and classifier
 * produced an evaluation (specs/evaluation.md: "model hash ... classifier hash").
 */
#ifndef LETHE_IO_HASH_H
#define LETHE_IO_HASH_H

#include <stddef.h>

#include "core/error.h"

// hex receives 64 lowercase hex digits and a terminating NUL.
void sha256_hex(const void *data, size_t n, char hex[65]);

// SHA-256 of a whole file, read in chunks (checkpoints can be large). Errors name the path
// and the system reason. On failure hex is set to the empty string.
lethe_status sha256_file(const char *path, char hex[65]);

#endif
