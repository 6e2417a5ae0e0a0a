/*
 * safetensors.h: reader and writer for the safetensors format (huggingface/safetensors).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the byte buffer.
 * The reader validates like the reference implementation: N <= 100,000,000,
 * 8 + N <= file size, JSON object, every entry has dtype/shape/data_offsets, entries
 * sorted by offset tile the buffer exactly (no holes, no overlap, first begins at 0,
 * 8 + N + last end == file size), END - BEGIN == prod(shape) * element size,
 * `__metadata__` is an object of string -> string. Any violation is an error that
 * names the file (and the tensor when there is one).
 *
 * The writer produces what safetensors.torch.save_file produces for all-F32 tensors:
 * name order, compact JSON, `__metadata__` first, header padded with spaces to a
 * multiple of 8. It writes to PATH.tmp, fsyncs and renames, so an existing file is
 * never left half-written.
 */
#ifndef LETHE_IO_SAFETENSORS_H
#define LETHE_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    char dtype[16];          // "F32", "F16", "BF16", "I64", ... as in the file
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;       // byte offsets relative to the start of the buffer
} st_tensor;

typedef struct {
    char *path;
    uint8_t *bytes;          // the whole file
    size_t size;
    size_t data_start;       // 8 + N
    st_tensor *tensors;      // in file (offset) order
    int n_tensors;
    char **meta_keys, **meta_values;
    int n_meta;
} st_file;

// Reads and validates the whole file. On failure nothing needs freeing.
lethe_status st_open(st_file *f, const char *path);
// Validates an in-memory file image (used by st_open and by the fuzzer). Takes
// ownership of `bytes` (malloc'd): st_close frees it on success, st_parse on failure.
// `what` names the source in messages (the path).
lethe_status st_parse(st_file *f, uint8_t *bytes, size_t size, const char *what);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);   // NULL if absent
const char *st_metadata(const st_file *f, const char *key);     // NULL if absent

// Copies tensor `name` into dst as float32, converting from F32, F16 or BF16.
// Errors (naming file and tensor): absent, other dtype, numel != expected_numel.
lethe_status st_read_f32(const st_file *f, const char *name, float *dst, size_t expected_numel);

typedef struct {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} st_entry;

// Writes F32 tensors (sorted by name in the file) and metadata pairs
// meta[0]=key0, meta[1]=value0, ... (n_meta pairs; may be 0). Atomic (tmp + rename).
lethe_status st_write(const char *path, const st_entry *entries, int n,
                      const char *const *meta, int n_meta);

#endif
