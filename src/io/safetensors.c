/*
 * safetensors.c: safetensors reader and writer (see safetensors.h and
 * shared/specs/diffusers-and-formats.md section 1).
 *
 * Reader: the whole file is read into memory and validated the way the reference
 * implementation (huggingface/safetensors, tensor.rs) does, plus what a C reader
 * must check that serde does for free: strict UTF-8, duplicate JSON keys (cJSON keeps
 * them), integers that are exact, and no size_t overflow in shape products.
 * Writer: F32 only, byte-identical to safetensors.torch.save_file for such files.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

#define ST_MAX_HEADER 100000000ull        // reference MAX_HEADER_SIZE
#define ST_MAX_EXACT_INT 9007199254740992.0   // 2^53: larger JSON numbers are not exact doubles

// ----------------------------------------------------------------------------
// dtypes (name, bits per element), as in the reference Dtype enum

typedef struct {
    const char *name;
    int bits;
} st_dtype_info;

static const st_dtype_info st_dtypes[] = {
    {"BOOL", 8},     {"U8", 8},           {"I8", 8},           {"F8_E5M2", 8}, {"F8_E4M3", 8},
    {"F8_E8M0", 8},  {"F8_E4M3FNUZ", 8},  {"F8_E5M2FNUZ", 8},  {"I16", 16},    {"U16", 16},
    {"F16", 16},     {"BF16", 16},        {"I32", 32},         {"U32", 32},    {"F32", 32},
    {"C64", 64},     {"F64", 64},         {"I64", 64},         {"U64", 64},    {"F4", 4},
    {"F6_E2M3", 6},  {"F6_E3M2", 6},
};

static int st_dtype_bits(const char *name) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return st_dtypes[i].bits;
    return 0;
}

// "[2, 3, 4]" into buf (truncated with "..." if long).
static const char *st_shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t at = 0;
    at += (size_t)snprintf(buf + at, cap - at, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
    return buf;
}

// ----------------------------------------------------------------------------
// header checks that cJSON does not do

// Index of the first byte that is not strict UTF-8 or is a control character other
// than JSON whitespace; n if all is well.
static size_t st_bad_header_byte(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
            i++;
            continue;
        }
        int len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return i;
        if (n - i < (size_t)len) return i;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += (size_t)len;
    }
    return n;
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// First key that appears twice among obj's members, or NULL. cJSON keeps duplicates.
static const char *st_duplicate_key(const cJSON *obj, lethe_status *nomem) {
    static _Thread_local char dup[256];
    int n = cJSON_GetArraySize(obj);
    *nomem = LETHE_OK;
    if (n < 2) return NULL;
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) { *nomem = LETHE_ERR_NOMEM; return NULL; }
    int k = 0;
    for (const cJSON *c = obj->child; c; c = c->next) names[k++] = c->string ? c->string : "";
    qsort(names, (size_t)k, sizeof *names, st_cmp_str);
    const char *found = NULL;
    for (int i = 1; i < k && !found; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            snprintf(dup, sizeof dup, "%s", names[i]);
            found = dup;
        }
    free(names);
    return found;
}

// A JSON number that is a non-negative integer, exactly representable.
static int st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_EXACT_INT || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static const char *st_json_type(const cJSON *v) {
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an unknown JSON value";
}

// ----------------------------------------------------------------------------
// reader

static int st_cmp_offsets(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static lethe_status st_parse_metadata(st_file *f, const cJSON *meta, const char *what) {
    if (cJSON_IsNull(meta)) return LETHE_OK;   // serde: Option<HashMap> accepts null
    if (!cJSON_IsObject(meta))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: __metadata__ must be an object of string to string, found %s",
                          what, st_json_type(meta));
    lethe_status nomem;
    const char *dup = st_duplicate_key(meta, &nomem);
    if (nomem) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    if (dup) return lethe_fail(LETHE_ERR_FORMAT, "%s: duplicate key '%s' in __metadata__", what, dup);
    int n = cJSON_GetArraySize(meta);
    if (n == 0) return LETHE_OK;
    f->meta_keys = calloc((size_t)n, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: __metadata__ value for key '%s' must be a string, found %s",
                              what, c->string, st_json_type(c));
        f->meta_keys[f->n_meta] = strdup(c->string);
        f->meta_values[f->n_meta] = strdup(c->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    }
    return LETHE_OK;
}

static lethe_status st_parse_entry(st_tensor *t, const cJSON *e, const char *what) {
    const char *name = t->name;
    if (!cJSON_IsObject(e))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': entry must be an object with dtype, shape, "
                          "data_offsets, found %s", what, name, st_json_type(e));
    lethe_status nomem;
    const char *dup = st_duplicate_key(e, &nomem);
    if (nomem) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    if (dup) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': duplicate field '%s'", what, name, dup);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dtype) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': missing 'dtype'", what, name);
    if (!shape) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': missing 'shape'", what, name);
    if (!offs) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': missing 'data_offsets'", what, name);

    if (!cJSON_IsString(dtype))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string, found %s",
                          what, name, st_json_type(dtype));
    int bits = st_dtype_bits(dtype->valuestring);
    if (!bits)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s' (expected F32, F16, BF16, "
                          "F64, I64, I32, I16, I8, U8, BOOL, ...)", what, name, dtype->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': 'shape' must be an array of integers, found %s",
                          what, name, st_json_type(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': %d dimensions, at most %d supported",
                          what, name, ndim, ST_MAX_DIMS);
    t->ndim = 0;
    size_t numel = 1;
    int overflow = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        uint64_t v;
        if (!st_json_uint(d, &v))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': shape[%d] must be a non-negative integer "
                              "(at most 2^53)", what, name, t->ndim);
        t->shape[t->ndim++] = (int64_t)v;
        if (v != 0 && numel > SIZE_MAX / v) overflow = 1;
        else numel *= (size_t)v;
    }
    char sbuf[200];
    // A zero dimension makes the tensor empty whatever the other dimensions are.
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) { numel = 0; overflow = 0; }
    if (overflow)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': shape %s overflows the element count",
                          what, name, st_shape_str(sbuf, sizeof sbuf, t->shape, t->ndim));
    t->numel = numel;

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be [BEGIN, END], found %s",
                          what, name, cJSON_IsArray(offs) ? "an array of another length" : st_json_type(offs));
    uint64_t b, en;
    if (!st_json_uint(offs->child, &b) || !st_json_uint(offs->child->next, &en))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': data_offsets must be non-negative integers",
                          what, name);
    if (en < b)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                          what, name, (unsigned long long)b, (unsigned long long)en);
    t->begin = (size_t)b;
    t->end = (size_t)en;

    if (numel > SIZE_MAX / (size_t)bits)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': shape %s of %s overflows the byte count",
                          what, name, st_shape_str(sbuf, sizeof sbuf, t->shape, t->ndim), t->dtype);
    size_t nbits = numel * (size_t)bits;
    if (nbits % 8 != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': %zu elements of %s (%d bits) are not a whole "
                          "number of bytes", what, name, numel, t->dtype, bits);
    size_t nbytes = nbits / 8;
    if (t->end - t->begin != nbytes)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, but shape "
                          "%s of %s needs %zu bytes", what, name, t->begin, t->end, t->end - t->begin,
                          st_shape_str(sbuf, sizeof sbuf, t->shape, t->ndim), t->dtype, nbytes);
    return LETHE_OK;
}

static lethe_status st_parse_inner(st_file *f, const char *what) {
    const uint8_t *bytes = f->bytes;
    size_t size = f->size;
    if (size < 8)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: file is %zu bytes, too small for a safetensors file "
                          "(expected at least the 8-byte header length)", what, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
    if (n > ST_MAX_HEADER)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header length %llu exceeds the limit of "
                          "100000000 bytes (header too large; not a safetensors file?)", what, (unsigned long long)n);
    if (n > size - 8)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header length %llu is larger than the rest of the "
                          "file (%zu bytes): truncated or not a safetensors file", what, (unsigned long long)n, size - 8);
    const uint8_t *hdr = bytes + 8;
    if (n == 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header must be a JSON object starting with '{', "
                          "found an empty header", what);
    if (hdr[0] != '{')
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header must be a JSON object starting with '{', "
                          "found byte 0x%02x%s%c%s", what, hdr[0], hdr[0] >= 0x20 && hdr[0] < 0x7f ? " ('" : "",
                          hdr[0] >= 0x20 && hdr[0] < 0x7f ? hdr[0] : ' ', hdr[0] >= 0x20 && hdr[0] < 0x7f ? "')" : "");
    size_t bad = st_bad_header_byte(hdr, (size_t)n);
    if (bad != (size_t)n)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header is not valid UTF-8 JSON text "
                          "(byte 0x%02x at header offset %zu)", what, hdr[bad], bad);
    f->data_start = 8 + (size_t)n;

    // cJSON gets a NUL-terminated copy so no parser path can read past the header.
    char *text = malloc((size_t)n + 1);
    if (!text) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory for a %llu-byte header", what, (unsigned long long)n);
    memcpy(text, hdr, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        free(text);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header is not valid JSON (error near header offset %zu)",
                          what, at);
    }
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            size_t at = (size_t)(p - text);
            free(text);
            cJSON_Delete(root);
            return lethe_fail(LETHE_ERR_FORMAT, "%s: unexpected data after the JSON object in the safetensors "
                              "header (header offset %zu)", what, at);
        }
    free(text);

    lethe_status st = LETHE_OK;
    if (!cJSON_IsObject(root)) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: safetensors header must be a JSON object, found %s",
                        what, st_json_type(root));
        goto done;
    }
    lethe_status nomem;
    const char *dup = st_duplicate_key(root, &nomem);
    if (nomem) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what); goto done; }
    if (dup) { st = lethe_fail(LETHE_ERR_FORMAT, "%s: duplicate tensor name '%s' in safetensors header", what, dup); goto done; }

    int count = cJSON_GetArraySize(root);
    f->tensors = calloc(count > 0 ? (size_t)count : 1, sizeof *f->tensors);
    if (!f->tensors) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what); goto done; }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            st = st_parse_metadata(f, c, what);
            if (st) goto done;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(c->string);
        if (!t->name) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what); goto done; }
        f->n_tensors++;
        st = st_parse_entry(t, c, what);
        if (st) goto done;
    }

    // Offsets must tile the data buffer exactly, from 0, in offset order.
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, st_cmp_offsets);
    size_t buffer_len = size - f->data_start;
    size_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->begin > at) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: hole in the data buffer: bytes [%zu, %zu) belong to no tensor "
                            "(tensor '%s' begins at %zu)", what, at, t->begin, t->name, t->begin);
            goto done;
        }
        if (t->begin < at) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' data_offsets [%zu, %zu] overlap tensor '%s' "
                            "which ends at %zu", what, t->name, t->begin, t->end, f->tensors[i - 1].name, at);
            goto done;
        }
        at = t->end;
    }
    if (at > buffer_len) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: truncated: tensor '%s' ends at byte %zu of the data buffer, "
                        "but the file holds only %zu data bytes", what, f->tensors[f->n_tensors - 1].name,
                        at, buffer_len);
        goto done;
    }
    if (at < buffer_len) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: file not fully covered: tensors end at byte %zu of the data "
                        "buffer, but it holds %zu bytes (%zu trailing bytes)", what, at, buffer_len, buffer_len - at);
        goto done;
    }
done:
    cJSON_Delete(root);
    return st;
}

lethe_status st_parse(st_file *f, uint8_t *bytes, size_t size, const char *what) {
    memset(f, 0, sizeof *f);
    if (!what) what = "<memory>";
    f->bytes = bytes;
    f->size = size;
    f->path = strdup(what);
    if (!f->path) {
        st_close(f);
        return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    }
    lethe_status st = st_parse_inner(f, what);
    if (st) st_close(f);
    return st;
}

lethe_status st_open(st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    return st_parse(f, bytes, size, path);
}

void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->bytes);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

// ----------------------------------------------------------------------------
// conversion to float32

// IEEE 754 binary16 -> binary32, exact (subnormals, infinities, NaN payloads).
static float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {   // subnormal: man * 2^-24, renormalised
            uint32_t e = 113;   // 127 - 15 + 1
            while (!(man & 0x400u)) { man <<= 1; e--; }
            bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

static float st_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

lethe_status st_read_f32(const st_file *f, const char *name, float *dst, size_t expected_numel) {
    const st_tensor *t = st_find(f, name);
    if (!t) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' not found (the file has %d tensors)",
                              f->path ? f->path : "<safetensors>", name, f->n_tensors);
    char sbuf[200];
    if (t->numel != expected_numel)
        return lethe_fail(LETHE_ERR_SHAPE, "%s: tensor '%s' has shape %s (%zu elements), expected %zu elements",
                          f->path, name, st_shape_str(sbuf, sizeof sbuf, t->shape, t->ndim), t->numel, expected_numel);
    const uint8_t *src = f->bytes + f->data_start + t->begin;
    if (strcmp(t->dtype, "F32") == 0) {
        if (t->numel) memcpy(dst, src, t->numel * 4);
    } else if (strcmp(t->dtype, "F16") == 0) {
        for (size_t i = 0; i < t->numel; i++) dst[i] = st_f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    } else if (strcmp(t->dtype, "BF16") == 0) {
        for (size_t i = 0; i < t->numel; i++) dst[i] = st_bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    } else {
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                          f->path, name, t->dtype);
    }
    return LETHE_OK;
}

// ----------------------------------------------------------------------------
// writer

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} st_buf;

static void sb_put(st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(st_buf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf_u64(st_buf *b, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    sb_put(b, tmp, (size_t)n);
}

// A JSON string escaped the way serde_json does it.
static void sb_json_string(st_buf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                char tmp[8];
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                sb_put(b, tmp, 6);
            } else {
                sb_put(b, (const char *)p, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static int st_cmp_entry_ptr(const void *a, const void *b) {
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

lethe_status st_write(const char *path, const st_entry *entries, int n, const char *const *meta, int n_meta) {
    if (!path) return lethe_fail(LETHE_ERR_ARG, "st_write: NULL path");
    if (n < 0 || (n > 0 && !entries)) return lethe_fail(LETHE_ERR_ARG, "%s: st_write: bad tensor list", path);
    if (n_meta < 0 || (n_meta > 0 && !meta)) return lethe_fail(LETHE_ERR_ARG, "%s: st_write: bad metadata list", path);
    for (int i = 0; i < n_meta; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1])
            return lethe_fail(LETHE_ERR_ARG, "%s: metadata pair %d has a NULL key or value", path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[2 * i], meta[2 * j]) == 0)
                return lethe_fail(LETHE_ERR_ARG, "%s: duplicate metadata key '%s'", path, meta[2 * i]);
    }
    size_t *nbytes = calloc((size_t)n + 1, sizeof *nbytes);
    const st_entry **order = calloc((size_t)n + 1, sizeof *order);
    const void **bufs = calloc((size_t)n + 1, sizeof *bufs);
    size_t *lens = calloc((size_t)n + 1, sizeof *lens);
    st_buf b = {0};
    lethe_status st = LETHE_OK;
    if (!nbytes || !order || !bufs || !lens) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); goto done; }

    for (int i = 0; i < n; i++) {
        const st_entry *e = &entries[i];
        if (!e->name) { st = lethe_fail(LETHE_ERR_ARG, "%s: tensor %d has no name", path, i); goto done; }
        if (strcmp(e->name, "__metadata__") == 0) {
            st = lethe_fail(LETHE_ERR_ARG, "%s: '__metadata__' is reserved and cannot name a tensor", path);
            goto done;
        }
        if (e->ndim < 0 || e->ndim > ST_MAX_DIMS) {
            st = lethe_fail(LETHE_ERR_ARG, "%s: tensor '%s' has %d dimensions, expected 0..%d", path, e->name,
                            e->ndim, ST_MAX_DIMS);
            goto done;
        }
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || (double)e->shape[d] > ST_MAX_EXACT_INT) {
                st = lethe_fail(LETHE_ERR_ARG, "%s: tensor '%s' has dimension %d = %lld", path, e->name, d,
                                (long long)e->shape[d]);
                goto done;
            }
            if (e->shape[d] != 0 && numel > SIZE_MAX / 4 / (size_t)e->shape[d]) {
                st = lethe_fail(LETHE_ERR_ARG, "%s: tensor '%s' is too large", path, e->name);
                goto done;
            }
            numel *= (size_t)e->shape[d];
        }
        if (numel > 0 && !e->data) {
            st = lethe_fail(LETHE_ERR_ARG, "%s: tensor '%s' has no data", path, e->name);
            goto done;
        }
        order[i] = e;
    }
    qsort(order, (size_t)n, sizeof *order, st_cmp_entry_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            st = lethe_fail(LETHE_ERR_ARG, "%s: duplicate tensor name '%s'", path, order[i]->name);
            goto done;
        }
    for (int i = 0; i < n; i++) {
        nbytes[i] = 4;
        for (int d = 0; d < order[i]->ndim; d++) nbytes[i] *= (size_t)order[i]->shape[d];
    }

    // 8 placeholder bytes for the length, then compact JSON.
    sb_put(&b, "\0\0\0\0\0\0\0\0", 8);
    sb_puts(&b, "{");
    int first = 1;
    if (n_meta > 0) {
        sb_puts(&b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_puts(&b, ",");
            sb_json_string(&b, meta[2 * i]);
            sb_puts(&b, ":");
            sb_json_string(&b, meta[2 * i + 1]);
        }
        sb_puts(&b, "}");
        first = 0;
    }
    size_t offset = 0;
    for (int k = 0; k < n; k++) {
        const st_entry *e = order[k];
        if (!first) sb_puts(&b, ",");
        first = 0;
        sb_json_string(&b, e->name);
        sb_puts(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) sb_puts(&b, ",");
            sb_printf_u64(&b, (unsigned long long)e->shape[d]);
        }
        sb_puts(&b, "],\"data_offsets\":[");
        sb_printf_u64(&b, (unsigned long long)offset);
        sb_puts(&b, ",");
        sb_printf_u64(&b, (unsigned long long)(offset + nbytes[k]));
        sb_puts(&b, "]}");
        bufs[k + 1] = e->data;
        lens[k + 1] = nbytes[k];
        offset += nbytes[k];
    }
    sb_puts(&b, "}");
    while ((b.len - 8) % 8 != 0) sb_puts(&b, " ");
    if (b.oom) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory building the header", path); goto done; }
    uint64_t hlen = (uint64_t)(b.len - 8);
    if (hlen > ST_MAX_HEADER) {
        st = lethe_fail(LETHE_ERR_ARG, "%s: safetensors header would be %llu bytes, over the 100000000 limit",
                        path, (unsigned long long)hlen);
        goto done;
    }
    for (int i = 0; i < 8; i++) b.s[i] = (char)(hlen >> (8 * i));
    bufs[0] = b.s;
    lens[0] = b.len;
    st = fs_write_atomic(path, bufs, lens, n + 1);
done:
    free(b.s);
    free(nbytes);
    free(order);
    free(bufs);
    free(lens);
    return st;
}
