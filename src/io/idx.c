/*
 * idx.c: IDX reader/writer (see idx.h and shared/specs/diffusers-and-formats.md 5.1).
 *
 * idx_read goes through zlib's gz* functions, which read gzip and plain files alike,
 * with a 1 GiB cap on the decompressed size (a decompression bomb is an error, not an
 * OOM kill) and a check that a gzip stream was not cut short.
 */
#include "io/idx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/fsutil.h"

#define IDX_MAX_BYTES (1ull << 30)   // decompressed size cap for idx_read

static const char *idx_type_name(int type) {
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "unknown";
}

// Validates the header and size; fills out's fields except data. *header = data offset.
static lethe_status idx_check(idx_array *out, const uint8_t *bytes, size_t size, const char *what, size_t *header) {
    memset(out, 0, sizeof *out);
    if (size < 4)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated IDX file: %zu bytes, expected at least a 4-byte magic",
                          what, size);
    if (bytes[0] != 0 || bytes[1] != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: bad IDX magic: expected 00 00 xx xx, found %02x %02x %02x %02x "
                          "(not an IDX file?)", what, bytes[0], bytes[1], bytes[2], bytes[3]);
    int type = bytes[2], ndim = bytes[3];
    if (type != 0x08)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: unsupported IDX type 0x%02x (%s); only 0x08 (unsigned byte) "
                          "is supported", what, type, idx_type_name(type));
    if (ndim < 1 || ndim > 4)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: IDX file has %d dimensions, expected 1 to 4", what, ndim);
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (size < hdr)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated IDX header: %zu bytes, expected %zu for %d dimensions",
                          what, size, hdr, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = bytes + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0 || d > INT_MAX)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: IDX dimension %d is %u, expected 1 to %d", what, i, d, INT_MAX);
        if (count > SIZE_MAX / d || count * d > SIZE_MAX - hdr)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: IDX dimensions overflow the element count", what);
        count *= d;
        out->dims[i] = (int)d;
    }
    if (size - hdr < count)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated IDX file: expected %zu data bytes, found %zu",
                          what, count, size - hdr);
    if (size - hdr > count)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: IDX file has %zu trailing bytes after %zu data bytes",
                          what, size - hdr - count, count);
    out->type = type;
    out->ndim = ndim;
    out->count = count;
    *header = hdr;
    return LETHE_OK;
}

lethe_status idx_parse(idx_array *out, const uint8_t *bytes, size_t size, const char *what) {
    size_t hdr = 0;
    if (!what) what = "<memory>";
    lethe_status st = idx_check(out, bytes, size, what, &hdr);
    if (st) return st;
    out->data = malloc(out->count);
    if (!out->data) {
        memset(out, 0, sizeof *out);
        return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory for %zu bytes", what, size - hdr);
    }
    memcpy(out->data, bytes + hdr, out->count);
    return LETHE_OK;
}

void idx_free(idx_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

// Whole (decompressed) contents of path, at most IDX_MAX_BYTES.
static lethe_status idx_slurp(const char *path, uint8_t **bytes, size_t *size) {
    *bytes = NULL;
    *size = 0;
    if (fs_is_dir(path)) return lethe_fail(LETHE_ERR_IO, "%s: is a directory, expected an IDX file", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return lethe_fail(LETHE_ERR_IO, "%s: cannot open IDX file", path);
    gzbuffer(gz, 1 << 17);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) { gzclose(gz); return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); }
    for (;;) {
        if (n == cap) {
            if (cap >= IDX_MAX_BYTES) {
                free(buf);
                gzclose(gz);
                return lethe_fail(LETHE_ERR_FORMAT, "%s: decompresses to more than %llu bytes; refusing "
                                  "(corrupt file or decompression bomb)", path, IDX_MAX_BYTES);
            }
            size_t ncap = cap * 2 > IDX_MAX_BYTES ? IDX_MAX_BYTES + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) { free(buf); gzclose(gz); return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0) {
            int errnum;
            const char *msg = gzerror(gz, &errnum);
            lethe_status st = lethe_fail(LETHE_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", path, msg);
            free(buf);
            gzclose(gz);
            return st;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        lethe_status st = lethe_fail(LETHE_ERR_FORMAT, "%s: truncated or corrupt gzip data: %s", path, msg);
        free(buf);
        gzclose(gz);
        return st;
    }
    gzclose(gz);
    *bytes = buf;
    *size = n;
    return LETHE_OK;
}

lethe_status idx_read(idx_array *out, const char *path) {
    memset(out, 0, sizeof *out);
    const char *use = path;
    char *gzpath = NULL;
    if (!fs_exists(path)) {
        size_t len = strlen(path);
        gzpath = malloc(len + 4);
        if (!gzpath) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
        memcpy(gzpath, path, len);
        memcpy(gzpath + len, ".gz", 4);
        if (!fs_exists(gzpath)) {
            lethe_status st = lethe_fail(LETHE_ERR_IO, "%s: no such file (also tried %s)", path, gzpath);
            free(gzpath);
            return st;
        }
        use = gzpath;
    }
    uint8_t *bytes;
    size_t size = 0, hdr = 0;
    lethe_status st = idx_slurp(use, &bytes, &size);
    if (!st) {
        st = idx_check(out, bytes, size, use, &hdr);
        if (!st) {
            // Move the data to the front of the buffer instead of copying it.
            memmove(bytes, bytes + hdr, out->count);
            uint8_t *shrunk = realloc(bytes, out->count);
            out->data = shrunk ? shrunk : bytes;
        } else {
            free(bytes);
        }
    }
    free(gzpath);
    return st;
}

lethe_status idx_write_u8(const char *path, const uint8_t *data, int ndim, const int *dims) {
    if (ndim < 1 || ndim > 4)
        return lethe_fail(LETHE_ERR_ARG, "%s: IDX needs 1 to 4 dimensions, got %d", path, ndim);
    uint8_t hdr[20] = {0, 0, 0x08, (uint8_t)ndim};
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0) return lethe_fail(LETHE_ERR_ARG, "%s: IDX dimension %d is %d, expected > 0", path, i, dims[i]);
        if (count > SIZE_MAX / (size_t)dims[i]) return lethe_fail(LETHE_ERR_ARG, "%s: IDX array too large", path);
        count *= (size_t)dims[i];
        uint32_t d = (uint32_t)dims[i];
        hdr[4 + 4 * i] = (uint8_t)(d >> 24);
        hdr[5 + 4 * i] = (uint8_t)(d >> 16);
        hdr[6 + 4 * i] = (uint8_t)(d >> 8);
        hdr[7 + 4 * i] = (uint8_t)d;
    }
    if (!data) return lethe_fail(LETHE_ERR_ARG, "%s: no data", path);
    const void *bufs[2] = {hdr, data};
    size_t lens[2] = {4 + 4 * (size_t)ndim, count};
    return fs_write_atomic(path, bufs, lens, 2);
}
