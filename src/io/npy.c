/*
 * npy.c: NumPy .npy reader (format 1.0, 2.0, 3.0; '<f4' or '<f8', C order) and
 * writer (format 1.0, '<f4'), see npy.h.
 *
 * File: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0),
 * then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ending in '\n' so the data starts at a multiple of 64, then
 * the raw array. The writer pads exactly like numpy.lib.format (including the spare
 * room numpy leaves after the header for growing the first axis), so np.save and
 * npy_write_f32 produce the same bytes for the same float32 array.
 */
#include "io/npy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAX_DIMS 8

// ----------------------------------------------------------------------------
// a small parser for the header dict

typedef struct {
    const char *p, *end;
} npy_lex;

static void npy_skip_ws(npy_lex *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static int npy_accept(npy_lex *l, char c) {
    npy_skip_ws(l);
    if (l->p < l->end && *l->p == c) { l->p++; return 1; }
    return 0;
}

// A quoted string ('...' or "...", no escapes) into out. 0 on error.
static int npy_string(npy_lex *l, char *out, size_t cap) {
    npy_skip_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return 0;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *l->p++;
    }
    if (l->p >= l->end) return 0;
    l->p++;
    out[n] = '\0';
    return 1;
}

static int npy_word(npy_lex *l, const char *w) {
    npy_skip_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0) return 0;
    if ((size_t)(l->end - l->p) > n && (isalnum((unsigned char)l->p[n]) || l->p[n] == '_')) return 0;
    l->p += n;
    return 1;
}

// (d0, d1, ...) with optional trailing comma; "()" is a scalar.
static int npy_shape(npy_lex *l, int64_t *shape, int *ndim) {
    *ndim = 0;
    if (!npy_accept(l, '(')) return 0;
    for (;;) {
        if (npy_accept(l, ')')) return 1;
        npy_skip_ws(l);
        if (l->p >= l->end || !isdigit((unsigned char)*l->p)) return 0;
        int64_t v = 0;
        while (l->p < l->end && isdigit((unsigned char)*l->p)) {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*l->p++ - '0');
        }
        if (l->p < l->end && (*l->p == 'L' || *l->p == 'l')) l->p++;   // Python 2 longs
        if (*ndim >= NPY_MAX_DIMS) return 0;
        shape[(*ndim)++] = v;
        if (npy_accept(l, ',')) continue;
        return npy_accept(l, ')');
    }
}

// ----------------------------------------------------------------------------
// reader

static lethe_status npy_parse(npy_array *out, const uint8_t *b, size_t size, const char *path) {
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a .npy file (missing the \\x93NUMPY magic)", path);
    int major = b[6], minor = b[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated .npy header", path);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return lethe_fail(LETHE_ERR_FORMAT, "%s: unsupported .npy format version %d.%d (expected 1.0, 2.0 or 3.0)",
                          path, major, minor);
    }
    if (hlen > size - hstart)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated .npy file: header of %zu bytes, only %zu bytes follow",
                          path, hlen, size - hstart);

    npy_lex l = {(const char *)b + hstart, (const char *)b + hstart + hlen};
    char descr[32] = "", key[32];
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    int64_t shape[NPY_MAX_DIMS];
    int ndim = 0;
    if (!npy_accept(&l, '{'))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy header is not a dict literal", path);
    for (;;) {
        if (npy_accept(&l, '}')) break;
        if (!npy_string(&l, key, sizeof key) || !npy_accept(&l, ':'))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: malformed .npy header dict", path);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!npy_string(&l, descr, sizeof descr))
                return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy 'descr' is not a simple dtype string "
                                  "(structured arrays are not supported)", path);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (npy_word(&l, "True")) fortran = 1;
            else if (npy_word(&l, "False")) fortran = 0;
            else return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy 'fortran_order' is not True or False", path);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!npy_shape(&l, shape, &ndim))
                return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy 'shape' is not a tuple of at most %d integers",
                                  path, NPY_MAX_DIMS);
            have_shape = 1;
        } else {
            return lethe_fail(LETHE_ERR_FORMAT, "%s: unexpected or repeated key '%s' in .npy header", path, key);
        }
        if (npy_accept(&l, ',')) continue;
        if (npy_accept(&l, '}')) break;
        return lethe_fail(LETHE_ERR_FORMAT, "%s: malformed .npy header dict", path);
    }
    npy_skip_ws(&l);
    if (l.p != l.end) return lethe_fail(LETHE_ERR_FORMAT, "%s: unexpected text after the .npy header dict", path);
    if (!have_descr || !have_order || !have_shape)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy header lacks '%s'", path,
                          !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    if (fortran)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy array is in Fortran order; save it in C order "
                          "(np.ascontiguousarray) first", path);
    size_t itemsize;
    if (strcmp(descr, "<f4") == 0) itemsize = 4;
    else if (strcmp(descr, "<f8") == 0) itemsize = 8;
    else if (strcmp(descr, ">f4") == 0 || strcmp(descr, ">f8") == 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy dtype '%s' is big-endian; expected '<f4' or '<f8'", path, descr);
    else
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy dtype '%s' is not supported; expected '<f4' (float32) "
                          "or '<f8' (float64)", path, descr);

    size_t count = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) zero = 1;
        else if (count > SIZE_MAX / 8 / (size_t)shape[i]) count = SIZE_MAX / 8 + 1;
        else count *= (size_t)shape[i];
    }
    if (zero) count = 0;
    if (count > SIZE_MAX / 8) return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy shape overflows the element count", path);
    size_t data_at = hstart + hlen, have = size - data_at, need = count * itemsize;
    if (have < need)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: truncated .npy file: expected %zu data bytes, found %zu",
                          path, need, have);
    if (have > need)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: .npy file has %zu trailing bytes after the %zu data bytes",
                          path, have - need, need);

    out->data = malloc(count ? count * sizeof(float) : 1);
    if (!out->data) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory for %zu floats", path, count);
    const uint8_t *src = b + data_at;
    if (itemsize == 4) {
        if (count) memcpy(out->data, src, count * 4);
    } else {
        for (size_t i = 0; i < count; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out->data[i] = (float)d;
        }
    }
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    out->count = count;
    return LETHE_OK;
}

lethe_status npy_read(npy_array *out, const char *path) {
    memset(out, 0, sizeof *out);
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    st = npy_parse(out, bytes, size, path);
    free(bytes);
    if (st) npy_free(out);
    return st;
}

void npy_free(npy_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

// ----------------------------------------------------------------------------
// writer

lethe_status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return lethe_fail(LETHE_ERR_ARG, "%s: .npy array with %d dimensions, expected 0..%d", path, ndim, NPY_MAX_DIMS);
    char dict[512];
    size_t at = (size_t)snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return lethe_fail(LETHE_ERR_ARG, "%s: negative dimension %lld", path, (long long)shape[i]);
        if (shape[i] > 0 && count > SIZE_MAX / 4 / (size_t)shape[i])
            return lethe_fail(LETHE_ERR_ARG, "%s: array too large", path);
        count *= (size_t)shape[i];
        at += (size_t)snprintf(dict + at, sizeof dict - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    }
    at += (size_t)snprintf(dict + at, sizeof dict - at, "%s), }", ndim == 1 ? "," : "");
    if (count > 0 && !data) return lethe_fail(LETHE_ERR_ARG, "%s: no data", path);

    // numpy: spare spaces for growing axis 0 (21 digits minus its current repr),
    // then pad so that 8 (magic+version) + 2 (length) + header + '\n' is a multiple of 64.
    if (ndim > 0) {
        char first[32];
        int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int i = digits; i < 21; i++) dict[at++] = ' ';
    }
    size_t padlen = 64 - ((8 + 2 + at + 1) % 64);
    for (size_t i = 0; i < padlen; i++) dict[at++] = ' ';
    dict[at++] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(at & 0xff), (uint8_t)(at >> 8)};
    const void *bufs[3] = {pre, dict, data};
    size_t lens[3] = {10, at, count * 4};
    return fs_write_atomic(path, bufs, lens, 3);
}
