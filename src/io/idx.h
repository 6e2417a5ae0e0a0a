/*
 * idx.h: IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (Debian ships
 * Fashion-MNIST as .gz). Big-endian header: 0x00 0x00, type byte, ndim, one u32 per dim.
 */
#ifndef LETHE_IO_IDX_H
#define LETHE_IO_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    int type;            // 0x08 u8 (the only type the datasets use; others are rejected)
    int ndim;
    int dims[4];
    size_t count;        // product of dims
    uint8_t *data;       // count bytes
} idx_array;

// Reads PATH, or PATH.gz if PATH does not exist (and gz-compressed PATH itself).
// Validates magic, type, ndim (1..4), and that the data is complete (not truncated)
// with no trailing bytes.
lethe_status idx_read(idx_array *out, const char *path);
// Parses an in-memory (decompressed) IDX image; used by idx_read and by the fuzzer.
lethe_status idx_parse(idx_array *out, const uint8_t *bytes, size_t size, const char *what);
void idx_free(idx_array *a);

// Writes u8 data as IDX (uncompressed), atomically.
lethe_status idx_write_u8(const char *path, const uint8_t *data, int ndim, const int *dims);

#endif
