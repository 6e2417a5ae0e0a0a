/*
 * test_io.c: file formats: safetensors (byte-exact writer, every corruption the reader
 * must reject, F16/BF16 conversion), IDX (plain, gzip, truncated, bad magic/type),
 * NPY, PNG grids, CIFAR-10 batches, atomic writes. Files go to a mkdtemp dir in /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "io/cifar10.h"
#include "core/fsutil.h"
#include "io/idx.h"
#include "io/npy.h"
#include "io/png.h"
#include "io/safetensors.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#pragma GCC diagnostic pop

// ----------------------------------------------------------------------------
// temp dir helpers

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lethe-test-io-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// Path of `name` in the temp dir (a few rotating buffers).
static const char *tpath(const char *name) {
    static char bufs[8][512];
    static int at = 0;
    char *b = bufs[at++ % 8];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static uint8_t *read_file(const char *path, size_t *len) {
    uint8_t *b;
    assert_int_equal(fs_read_all(path, &b, len), LETHE_OK);
    return b;
}

#define assert_msg_has(s) do { \
    const char *m_ = lethe_last_error(); \
    if (!strstr(m_, (s))) fail_msg("error message \"%s\" lacks \"%s\"", m_, (s)); \
} while (0)

// ----------------------------------------------------------------------------
// safetensors

// The spec's example: a = [1.0, 2.0], metadata {"format": "pt"}, 104 bytes.
static void test_st_example_bytes(void **state) {
    (void)state;
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    assert_int_equal(strlen(json), 85);
    uint8_t expect[104];
    memcpy(expect, "\x58\0\0\0\0\0\0\0", 8);
    memcpy(expect + 8, json, 85);
    memset(expect + 93, ' ', 3);
    memcpy(expect + 96, "\x00\x00\x80\x3f\x00\x00\x00\x40", 8);

    float a[2] = {1.0f, 2.0f};
    st_entry e = {"a", a, 1, {2}};
    const char *meta[2] = {"format", "pt"};
    const char *path = tpath("example.safetensors");
    assert_int_equal(st_write(path, &e, 1, meta, 1), LETHE_OK);
    size_t len;
    uint8_t *got = read_file(path, &len);
    assert_int_equal(len, 104);
    assert_memory_equal(got, expect, 104);
    free(got);
    assert_false(fs_exists(tpath("example.safetensors.tmp")));

    st_file f;
    assert_int_equal(st_open(&f, path), LETHE_OK);
    assert_int_equal(f.n_tensors, 1);
    assert_int_equal(f.data_start, 96);
    assert_string_equal(st_metadata(&f, "format"), "pt");
    assert_null(st_metadata(&f, "nope"));
    float back[2];
    assert_int_equal(st_read_f32(&f, "a", back, 2), LETHE_OK);
    assert_memory_equal(back, a, sizeof a);
    st_close(&f);
}

static void test_st_roundtrip(void **state) {
    (void)state;
    float w[24], b[3] = {0.5f, NAN, -INFINITY}, s[1] = {42.0f}, z[1] = {0};
    for (int i = 0; i < 24; i++) w[i] = (float)i * 0.25f - 3.0f;
    st_entry e[4] = {
        {"up.weight", w, 4, {2, 3, 2, 2}},
        {"down.bias", b, 1, {3}},
        {"scalar", s, 0, {0}},
        {"empty", z, 2, {0, 5}},
    };
    const char *meta[4] = {"format", "pt", "note", "quote \" backslash \\ newline \n"};
    const char *path = tpath("rt.safetensors");
    assert_int_equal(st_write(path, e, 4, meta, 2), LETHE_OK);

    st_file f;
    assert_int_equal(st_open(&f, path), LETHE_OK);
    assert_int_equal(f.n_tensors, 4);
    assert_int_equal(f.n_meta, 2);
    assert_int_equal(f.data_start % 8, 0);
    assert_string_equal(st_metadata(&f, "note"), meta[3]);
    // Offset order is name order for an all-F32 file; "empty" has 0 bytes at offset 0.
    assert_string_equal(f.tensors[0].name, "down.bias");
    assert_string_equal(f.tensors[1].name, "empty");
    assert_string_equal(f.tensors[2].name, "scalar");
    assert_string_equal(f.tensors[3].name, "up.weight");
    const st_tensor *t = st_find(&f, "up.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 4);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 24);
    assert_string_equal(t->dtype, "F32");
    assert_int_equal(st_find(&f, "scalar")->ndim, 0);
    assert_int_equal(st_find(&f, "scalar")->numel, 1);
    assert_int_equal(st_find(&f, "empty")->numel, 0);
    assert_null(st_find(&f, "missing"));

    float got[24];
    assert_int_equal(st_read_f32(&f, "up.weight", got, 24), LETHE_OK);
    assert_memory_equal(got, w, sizeof w);
    assert_int_equal(st_read_f32(&f, "down.bias", got, 3), LETHE_OK);
    assert_true(got[0] == 0.5f && isnan(got[1]) && isinf(got[2]) && got[2] < 0);
    assert_int_equal(st_read_f32(&f, "scalar", got, 1), LETHE_OK);
    assert_true(got[0] == 42.0f);
    assert_int_equal(st_read_f32(&f, "empty", got, 0), LETHE_OK);
    st_close(&f);
    assert_null(f.bytes);
    st_close(&f);   // twice is harmless
}

static void test_st_write_rejects(void **state) {
    (void)state;
    float a[2] = {1, 2};
    st_entry dup[2] = {{"x", a, 1, {2}}, {"x", a, 1, {2}}};
    const char *path = tpath("dup.safetensors");
    assert_int_equal(st_write(path, dup, 2, NULL, 0), LETHE_ERR_ARG);
    assert_msg_has(path);
    assert_msg_has("duplicate tensor name 'x'");
    assert_false(fs_exists(path));
    st_entry reserved = {"__metadata__", a, 1, {2}};
    assert_int_equal(st_write(path, &reserved, 1, NULL, 0), LETHE_ERR_ARG);
    st_entry neg = {"n", a, 1, {-2}};
    assert_int_equal(st_write(path, &neg, 1, NULL, 0), LETHE_ERR_ARG);
    const char *meta[4] = {"k", "1", "k", "2"};
    assert_int_equal(st_write(path, dup, 1, meta, 2), LETHE_ERR_ARG);
    assert_msg_has("duplicate metadata key 'k'");
    assert_false(fs_exists(path));
    // No tensors, no metadata: "{}" padded to 8.
    assert_int_equal(st_write(path, NULL, 0, NULL, 0), LETHE_OK);
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(b, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(b);
}

// 8-byte length + header + data, as a file; returns its path.
static const char *make_st(const char *name, uint64_t hlen, const char *header, const void *data, size_t dlen) {
    size_t h = strlen(header);
    uint8_t *buf = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, header, h);
    if (dlen) memcpy(buf + 8 + h, data, dlen);
    const char *path = tpath(name);
    write_file(path, buf, 8 + h + dlen);
    free(buf);
    return path;
}

typedef struct {
    const char *label;
    const char *header;
    size_t dlen;           // bytes of data after the header
    int64_t hlen_delta;    // added to strlen(header) for the length field
    const char *expect;    // substring of the error message
} st_bad_case;

static void test_st_corrupt(void **state) {
    (void)state;
    static const st_bad_case cases[] = {
        {"length > file", "{}", 0, 1000, "larger than the rest of the file"},
        {"not json", "{\"a\":", 0, 0, "not valid JSON"},
        {"not json 2", "{\"a\" {}}", 0, 0, "not valid JSON"},
        {"not an object", "[1, 2]", 0, 0, "starting with '{'"},
        {"empty header", "", 0, 0, "starting with '{'"},
        {"garbage after", "{}x", 0, 0, "unexpected data after"},
        {"bad utf8", "{\"\xff\":1}", 0, 0, "not valid UTF-8"},
        {"control char", "{\"a\x01\":1}", 0, 0, "not valid UTF-8"},
        {"entry not object", "{\"a\":1}", 0, 0, "tensor 'a': entry must be an object"},
        {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "tensor 'a': missing 'dtype'"},
        {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, 0, "tensor 'a': missing 'shape'"},
        {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, "tensor 'a': missing 'data_offsets'"},
        {"bad dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "unknown dtype 'F33'"},
        {"lowercase dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "unknown dtype"},
        {"dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "'dtype' must be a string"},
        {"shape not array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, 0, "'shape' must be an array"},
        {"negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0, "non-negative integer"},
        {"fractional shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, 0, "non-negative integer"},
        {"string shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, 0, "non-negative integer"},
        {"9 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0, "9 dimensions"},
        {"shape overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
         8, 0, "overflows"},
        {"offsets length", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, 0, "[BEGIN, END]"},
        {"offsets negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, 0, "non-negative"},
        {"end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, 0, "end before"},
        {"wrong byte count", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0,
         "hold 8 bytes, but shape [3] of F32 needs 12 bytes"},
        {"offsets out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0, "truncated"},
        {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0, "overlap"},
        {"hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, 0, "hole"},
        {"not from 0", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "hole"},
        {"trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, 0,
         "not fully covered"},
        {"no tensors, trailing", "{}", 4, 0, "not fully covered"},
        {"duplicate key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "duplicate tensor name 'a'"},
        {"duplicate field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0,
         "duplicate field 'dtype'"},
        {"metadata non-string", "{\"__metadata__\":{\"epoch\":3}}", 0, 0, "must be a string"},
        {"metadata not object", "{\"__metadata__\":[\"x\"]}", 0, 0, "__metadata__ must be an object"},
        {"metadata duplicate", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, 0, "duplicate key 'k' in __metadata__"},
        {"sub-byte misaligned", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, 0,
         "not a whole number of bytes"},
    };
    uint8_t zeros[64] = {0};
    char name[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const st_bad_case *c = &cases[i];
        snprintf(name, sizeof name, "bad%02zu.safetensors", i);
        const char *path = make_st(name, strlen(c->header) + (uint64_t)c->hlen_delta, c->header, zeros, c->dlen);
        st_file f;
        memset(&f, 0x5a, sizeof f);
        lethe_status st = st_open(&f, path);
        if (st != LETHE_ERR_FORMAT) fail_msg("case '%s': expected a format error, got %d", c->label, st);
        const char *m = lethe_last_error();
        if (getenv("LETHE_TEST_VERBOSE")) printf("  %-22s %s\n", c->label, m);
        if (!strstr(m, path)) fail_msg("case '%s': message \"%s\" does not name the file", c->label, m);
        if (!strstr(m, c->expect)) fail_msg("case '%s': message \"%s\" lacks \"%s\"", c->label, m, c->expect);
        assert_null(f.bytes);      // nothing to free after a failure
        assert_int_equal(f.n_tensors, 0);
    }
}

static void test_st_corrupt_sizes(void **state) {
    (void)state;
    st_file f;
    // Under 8 bytes.
    const char *path = tpath("tiny.safetensors");
    write_file(path, "\x02\0\0", 3);
    assert_int_equal(st_open(&f, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("too small");
    // Header length over the 100 MB limit (the file itself is small).
    path = make_st("huge.safetensors", 200000000ull, "{}", NULL, 0);
    assert_int_equal(st_open(&f, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("exceeds the limit");
    // 2^64 - 1 must not wrap around.
    path = make_st("wrap.safetensors", UINT64_MAX, "{}", NULL, 0);
    assert_int_equal(st_open(&f, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    // A valid file cut short.
    float a[4] = {1, 2, 3, 4};
    st_entry e = {"w", a, 1, {4}};
    path = tpath("cut.safetensors");
    assert_int_equal(st_write(path, &e, 1, NULL, 0), LETHE_OK);
    size_t len;
    uint8_t *b = read_file(path, &len);
    write_file(path, b, len - 3);
    free(b);
    assert_int_equal(st_open(&f, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("truncated");
    // Missing file.
    path = tpath("absent.safetensors");
    assert_int_equal(st_open(&f, path), LETHE_ERR_IO);
    assert_msg_has(path);
}

static void test_st_lenient_but_valid(void **state) {
    (void)state;
    st_file f;
    // Whitespace padding, null metadata, unknown extra field, other dtypes, zero-size tensors at
    // the same offset, a scalar: all accepted like the reference reader does.
    const char *hdr = "{ \"__metadata__\" : null, \"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8],\"x\":1},"
                      "\"e1\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                      "\"e2\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[8,8]},"
                      "\"f4\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[8,9]} }   \n ";
    uint8_t data[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0x21};
    const char *path = make_st("ok.safetensors", strlen(hdr), hdr, data, 9);
    assert_int_equal(st_open(&f, path), LETHE_OK);
    assert_int_equal(f.n_tensors, 4);
    assert_int_equal(f.n_meta, 0);
    assert_string_equal(f.tensors[0].name, "i");
    assert_int_equal(st_find(&f, "e2")->numel, 0);
    float x[1];
    assert_int_equal(st_read_f32(&f, "i", x, 1), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("tensor 'i' has dtype I64");
    assert_int_equal(st_read_f32(&f, "e1", x, 0), LETHE_OK);
    st_close(&f);
}

static void test_st_read_errors(void **state) {
    (void)state;
    float a[6] = {0};
    st_entry e = {"conv.weight", a, 2, {2, 3}};
    const char *path = tpath("err.safetensors");
    assert_int_equal(st_write(path, &e, 1, NULL, 0), LETHE_OK);
    st_file f;
    assert_int_equal(st_open(&f, path), LETHE_OK);
    float out[8];
    assert_int_equal(st_read_f32(&f, "conv.weight", out, 8), LETHE_ERR_SHAPE);
    assert_msg_has(path);
    assert_msg_has("'conv.weight'");
    assert_msg_has("[2, 3]");
    assert_msg_has("expected 8");
    assert_int_equal(st_read_f32(&f, "conv.bias", out, 2), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("'conv.bias' not found");
    st_close(&f);
}

// Reference binary16 decoding by arithmetic, independent of the bit-twiddling reader.
static float half_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(1024 + m), e - 25);
    return s ? -v : v;
}

static void test_st_f16_bf16(void **state) {
    (void)state;
    // Every F16 bit pattern, then a few BF16 values.
    enum { NH = 65536, NB = 6 };
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{\"b\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[%d,%d]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[256,256],\"data_offsets\":[0,%d]}}", NB, 2 * NH,
                      2 * NH + 2 * NB, 2 * NH);
    uint8_t *data = malloc(2 * NH + 2 * NB);
    for (int i = 0; i < NH; i++) { data[2 * i] = (uint8_t)i; data[2 * i + 1] = (uint8_t)(i >> 8); }
    static const uint16_t bf[NB] = {0x3F80, 0xC049, 0x7F80, 0xFF80, 0x7FC0, 0x0001};
    for (int i = 0; i < NB; i++) { data[2 * NH + 2 * i] = (uint8_t)bf[i]; data[2 * NH + 2 * i + 1] = (uint8_t)(bf[i] >> 8); }
    const char *path = make_st("half.safetensors", (uint64_t)hl, hdr, data, 2 * NH + 2 * NB);
    free(data);

    st_file f;
    assert_int_equal(st_open(&f, path), LETHE_OK);
    float *h = malloc(NH * sizeof *h);
    assert_int_equal(st_read_f32(&f, "h", h, NH), LETHE_OK);
    for (int i = 0; i < NH; i++) {
        float r = half_ref((uint16_t)i);
        if (isnan(r)) {
            if (!isnan(h[i])) fail_msg("F16 0x%04x: expected NaN, got %g", i, h[i]);
            if (signbit(h[i]) != signbit(r)) fail_msg("F16 0x%04x: NaN sign", i);
        } else if (memcmp(&r, &h[i], 4) != 0) {
            fail_msg("F16 0x%04x: expected %.9g, got %.9g", i, r, h[i]);
        }
    }
    // Spot checks that do not depend on half_ref.
    assert_true(h[0x3C00] == 1.0f && h[0xC000] == -2.0f && h[0x7BFF] == 65504.0f);
    assert_true(h[0x0001] == 5.9604644775390625e-08f && h[0x03FF] == 6.097555160522461e-05f);
    assert_true(h[0x3555] == 0.333251953125f);
    assert_true(h[0x8000] == 0.0f && signbit(h[0x8000]));
    free(h);

    float b[NB];
    assert_int_equal(st_read_f32(&f, "b", b, NB), LETHE_OK);
    assert_true(b[0] == 1.0f && b[1] == -3.140625f);
    assert_true(isinf(b[2]) && b[2] > 0 && isinf(b[3]) && b[3] < 0 && isnan(b[4]));
    uint32_t bits;
    memcpy(&bits, &b[5], 4);
    assert_int_equal(bits, 0x00010000u);
    st_close(&f);
}

// ----------------------------------------------------------------------------
// IDX

static void gzip_file(const char *src, const char *dst) {
    size_t len;
    uint8_t *b = read_file(src, &len);
    gzFile gz = gzopen(dst, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
    free(b);
}

static void test_idx_roundtrip(void **state) {
    (void)state;
    uint8_t data[60];
    for (int i = 0; i < 60; i++) data[i] = (uint8_t)(i * 7);
    int dims[3] = {5, 4, 3};
    const char *path = tpath("a-idx3-ubyte");
    assert_int_equal(idx_write_u8(path, data, 3, dims), LETHE_OK);
    size_t len;
    uint8_t *raw = read_file(path, &len);
    assert_int_equal(len, 4 + 12 + 60);
    assert_memory_equal(raw, "\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\x03", 16);
    free(raw);

    idx_array a;
    assert_int_equal(idx_read(&a, path), LETHE_OK);
    assert_int_equal(a.type, 8);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.dims[0], 5);
    assert_int_equal(a.dims[2], 3);
    assert_int_equal(a.count, 60);
    assert_memory_equal(a.data, data, 60);
    idx_free(&a);
    assert_null(a.data);

    // gzip: PATH missing, PATH.gz present; and the .gz path named directly.
    const char *gzpath = tpath("b-idx3-ubyte.gz");
    gzip_file(path, gzpath);
    assert_int_equal(idx_read(&a, tpath("b-idx3-ubyte")), LETHE_OK);
    assert_int_equal(a.count, 60);
    assert_memory_equal(a.data, data, 60);
    idx_free(&a);
    assert_int_equal(idx_read(&a, gzpath), LETHE_OK);
    assert_int_equal(a.dims[1], 4);
    idx_free(&a);

    // 1-D labels.
    int d1[1] = {60};
    assert_int_equal(idx_write_u8(tpath("l-idx1-ubyte"), data, 1, d1), LETHE_OK);
    assert_int_equal(idx_read(&a, tpath("l-idx1-ubyte")), LETHE_OK);
    assert_int_equal(a.ndim, 1);
    idx_free(&a);
}

static void test_idx_errors(void **state) {
    (void)state;
    idx_array a;
    uint8_t good[4 + 8 + 6] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    uint8_t buf[64];
    // Truncated data, plain.
    const char *path = tpath("trunc-idx");
    write_file(path, good, sizeof good - 1);
    assert_int_equal(idx_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("truncated");
    assert_msg_has("expected 6 data bytes, found 5");
    assert_null(a.data);
    // Truncated header.
    assert_int_equal(idx_parse(&a, good, 9, "mem"), LETHE_ERR_FORMAT);
    assert_msg_has("truncated IDX header");
    assert_int_equal(idx_parse(&a, good, 2, "mem"), LETHE_ERR_FORMAT);
    assert_msg_has("truncated");
    // Trailing bytes.
    memcpy(buf, good, sizeof good);
    buf[sizeof good] = 9;
    assert_int_equal(idx_parse(&a, buf, sizeof good + 1, "mem"), LETHE_ERR_FORMAT);
    assert_msg_has("trailing");
    // Bad magic.
    memcpy(buf, good, sizeof good);
    buf[0] = 0x1f;
    path = tpath("magic-idx");
    write_file(path, buf, sizeof good);
    assert_int_equal(idx_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("bad IDX magic");
    // Wrong type (float32).
    memcpy(buf, good, sizeof good);
    buf[2] = 0x0D;
    assert_int_equal(idx_parse(&a, buf, sizeof good, "t.idx"), LETHE_ERR_FORMAT);
    assert_msg_has("t.idx");
    assert_msg_has("unsupported IDX type 0x0d");
    // ndim 0 and 5, zero dimension.
    memcpy(buf, good, sizeof good);
    buf[3] = 0;
    assert_int_equal(idx_parse(&a, buf, sizeof good, "mem"), LETHE_ERR_FORMAT);
    assert_msg_has("0 dimensions");
    buf[3] = 5;
    assert_int_equal(idx_parse(&a, buf, sizeof good, "mem"), LETHE_ERR_FORMAT);
    memcpy(buf, good, sizeof good);
    buf[7] = 0;
    assert_int_equal(idx_parse(&a, buf, sizeof good, "mem"), LETHE_ERR_FORMAT);
    assert_msg_has("dimension 0 is 0");
    // Huge dims: product must not overflow into a small number.
    uint8_t big[4 + 16] = {0, 0, 8, 4, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
                           0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(idx_parse(&a, big, sizeof big, "mem"), LETHE_ERR_FORMAT);
    // Valid in memory.
    assert_int_equal(idx_parse(&a, good, sizeof good, "mem"), LETHE_OK);
    assert_int_equal(a.count, 6);
    assert_int_equal(a.data[5], 6);
    idx_free(&a);

    // Truncated gzip stream.
    uint8_t *big_data = malloc(100000);
    for (int i = 0; i < 100000; i++) big_data[i] = (uint8_t)(i * 2654435761u >> 24);
    int dims[2] = {100, 1000};
    assert_int_equal(idx_write_u8(tpath("z-idx"), big_data, 2, dims), LETHE_OK);
    free(big_data);
    gzip_file(tpath("z-idx"), tpath("z-idx.gz"));
    size_t len;
    uint8_t *gz = read_file(tpath("z-idx.gz"), &len);
    write_file(tpath("zcut-idx.gz"), gz, len / 2);
    free(gz);
    path = tpath("zcut-idx.gz");
    assert_int_not_equal(idx_read(&a, path), LETHE_OK);
    assert_msg_has(path);
    assert_true(strstr(lethe_last_error(), "truncated") != NULL);
    assert_null(a.data);

    // Missing file names both candidates.
    path = tpath("none-idx");
    assert_int_equal(idx_read(&a, path), LETHE_ERR_IO);
    assert_msg_has(path);
    assert_msg_has("none-idx.gz");
    // Writer argument checks.
    assert_int_equal(idx_write_u8(tpath("w"), good, 5, dims), LETHE_ERR_ARG);
    assert_false(fs_exists(tpath("w")));
}

// ----------------------------------------------------------------------------
// NPY

static void test_npy_roundtrip(void **state) {
    (void)state;
    float x[6] = {1.5f, -2.0f, 0.0f, 3.25f, NAN, 1e-30f};
    int64_t shp[2] = {2, 3};
    const char *path = tpath("x.npy");
    assert_int_equal(npy_write_f32(path, x, 2, shp), LETHE_OK);
    size_t len;
    uint8_t *raw = read_file(path, &len);
    assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
    size_t hlen = raw[8] | raw[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(raw[10 + hlen - 1], '\n');
    assert_int_equal(len, 10 + hlen + 24);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_memory_equal(raw + 10, dict, strlen(dict));
    assert_int_equal(10 + hlen, 128);   // what numpy >= 1.24 writes for this array
    free(raw);

    npy_array a;
    assert_int_equal(npy_read(&a, path), LETHE_OK);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.count, 6);
    assert_memory_equal(a.data, x, sizeof x);
    npy_free(&a);

    // 1-D ("(5,)") and scalar ("()").
    int64_t s1[1] = {5};
    assert_int_equal(npy_write_f32(tpath("v.npy"), x, 1, s1), LETHE_OK);
    raw = read_file(tpath("v.npy"), &len);
    assert_non_null(strstr((const char *)raw + 10, "'shape': (5,), }"));
    free(raw);
    assert_int_equal(npy_read(&a, tpath("v.npy")), LETHE_OK);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.count, 5);
    npy_free(&a);
    assert_int_equal(npy_write_f32(tpath("s.npy"), x, 0, NULL), LETHE_OK);
    assert_int_equal(npy_read(&a, tpath("s.npy")), LETHE_OK);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.count, 1);
    assert_true(a.data[0] == 1.5f);
    npy_free(&a);
}

// A .npy file with the given version, header text (padded here) and data.
static const char *make_npy(const char *name, int major, const char *dict, const void *data, size_t dlen) {
    uint8_t buf[512];
    size_t pre = major == 1 ? 10 : 12, n = strlen(dict);
    size_t hlen = n + 1;
    while ((pre + hlen) % 64) hlen++;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
    if (major != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, n);
    memset(buf + pre + n, ' ', hlen - n - 1);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, dlen);
    const char *path = tpath(name);
    write_file(path, buf, pre + hlen + dlen);
    return path;
}

static void test_npy_errors_and_f8(void **state) {
    (void)state;
    npy_array a;
    double d[3] = {0.1, -2.5, 1e300};
    const char *path = make_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, 24);
    assert_int_equal(npy_read(&a, path), LETHE_OK);
    assert_int_equal(a.count, 3);
    assert_true(a.data[0] == (float)0.1 && a.data[1] == -2.5f && isinf(a.data[2]));
    npy_free(&a);
    // Version 2.0, double quotes, key order and spacing like other writers.
    float f[4] = {1, 2, 3, 4};
    path = make_npy("v2.npy", 2, "{\"shape\":(2,2),\"fortran_order\":False,\"descr\":\"<f4\"}", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_OK);
    assert_int_equal(a.ndim, 2);
    assert_true(a.data[3] == 4.0f);
    npy_free(&a);

    path = make_npy("fort.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("Fortran order");
    assert_null(a.data);
    path = make_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has("big-endian");
    path = make_npy("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has("'<i4' is not supported");
    path = make_npy("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has("truncated");
    path = make_npy("nokey.npy", 1, "{'descr': '<f4', 'shape': (4,), }", f, 16);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has("fortran_order");
    path = tpath("notnpy.npy");
    write_file(path, "PK\x03\x04 zip!", 10);
    assert_int_equal(npy_read(&a, path), LETHE_ERR_FORMAT);
    assert_msg_has("not a .npy file");
}

// ----------------------------------------------------------------------------
// PNG

static void test_png_grid(void **state) {
    (void)state;
    // 3 gray 2x2 images in 2 columns, 1 pixel of padding valued 7: a 7x7 image.
    float img[3 * 4] = {-1, 1, 0, 0.5f, 1, 1, 1, 1, -1, -1, -1, 2};
    const char *path = tpath("grid.png");
    assert_int_equal(png_write_grid(path, img, 3, 1, 2, 2, 2, 1, 7), LETHE_OK);
    size_t len;
    uint8_t *raw = read_file(path, &len);
    assert_true(len > 8);
    assert_memory_equal(raw, "\x89PNG\r\n\x1a\n", 8);
    int w, h, comp;
    unsigned char *px = stbi_load_from_memory(raw, (int)len, &w, &h, &comp, 0);
    assert_non_null(px);
    assert_int_equal(w, 7);
    assert_int_equal(h, 7);
    assert_int_equal(comp, 1);
    assert_int_equal(px[0], 7);            // border
    assert_int_equal(px[1 * 7 + 1], 0);     // image 0, (0,0): -1
    assert_int_equal(px[1 * 7 + 2], 255);   // image 0, (0,1): 1
    assert_int_equal(px[2 * 7 + 1], 128);   // 0 -> 127.5 -> 128 (numpy rounds half to even)
    assert_int_equal(px[2 * 7 + 2], 191);   // 0.5 -> 191.25
    assert_int_equal(px[1 * 7 + 4], 255);   // image 1
    assert_int_equal(px[4 * 7 + 1], 0);     // image 2, (0,0)
    assert_int_equal(px[5 * 7 + 2], 255);   // 2 clamps to 1
    assert_int_equal(px[4 * 7 + 4], 7);     // empty fourth slot
    stbi_image_free(px);
    free(raw);

    // RGB from uint8 CHW: one 1x2 image, R=(10,20), G=(30,40), B=(50,60).
    unsigned char rgb[6] = {10, 20, 30, 40, 50, 60};
    path = tpath("rgb.png");
    assert_int_equal(png_write_grid_u8(path, rgb, 1, 3, 1, 2, 4, 0, 0), LETHE_OK);
    raw = read_file(path, &len);
    px = stbi_load_from_memory(raw, (int)len, &w, &h, &comp, 0);
    assert_non_null(px);
    assert_int_equal(w, 2);
    assert_int_equal(h, 1);
    assert_int_equal(comp, 3);
    unsigned char expect[6] = {10, 30, 50, 20, 40, 60};
    assert_memory_equal(px, expect, 6);
    stbi_image_free(px);
    free(raw);

    assert_int_equal(png_write_grid_u8(tpath("bad.png"), rgb, 1, 2, 1, 3, 1, 0, 0), LETHE_ERR_ARG);
    assert_msg_has("bad.png");
    assert_int_equal(png_write_grid_u8(tpath("bad.png"), rgb, 1, 3, 1, 2, 1, 0, 300), LETHE_ERR_ARG);
    assert_false(fs_exists(tpath("bad.png")));
    assert_int_equal(png_write_grid(tpath("nodir/x.png"), img, 1, 1, 2, 2, 1, 0, 0), LETHE_ERR_IO);
    assert_msg_has("nodir/x.png");
}

// ----------------------------------------------------------------------------
// CIFAR-10

static void test_cifar10_batch(void **state) {
    (void)state;
    const char *dir = tpath("cifar");
    assert_int_equal(fs_mkdir_p(dir), LETHE_OK);
    assert_int_equal(cifar10_detect(dir), 0);
    size_t size = (size_t)CIFAR10_FILE_BYTES;
    uint8_t *b = malloc(size);
    for (int i = 0; i < CIFAR10_RECORDS; i++) {
        uint8_t *r = b + (size_t)i * CIFAR10_RECORD_BYTES;
        r[0] = (uint8_t)(i % 10);
        for (int j = 0; j < CIFAR10_PIXELS; j++) r[1 + j] = (uint8_t)(i + j);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_file(path, b, size);
    assert_int_equal(cifar10_detect(dir), 1);
    uint8_t *px;
    int *lb, n;
    assert_int_equal(cifar10_read(dir, 0, &px, &lb, &n), LETHE_OK);
    assert_int_equal(n, 10000);
    assert_int_equal(lb[1234], 4);
    assert_int_equal(px[1234 * 3072 + 1000], (uint8_t)(1234 + 1000));
    free(px);
    free(lb);
    // Train batches missing.
    assert_int_equal(cifar10_read(dir, 1, &px, &lb, &n), LETHE_ERR_IO);
    assert_msg_has("data_batch_1.bin");
    assert_null(px);
    // Bad label, wrong size.
    b[5 * CIFAR10_RECORD_BYTES] = 10;
    write_file(path, b, size);
    assert_int_equal(cifar10_read(dir, 0, &px, &lb, &n), LETHE_ERR_FORMAT);
    assert_msg_has("record 5 has label 10");
    write_file(path, b, size - 1);
    assert_int_equal(cifar10_read(dir, 0, &px, &lb, &n), LETHE_ERR_FORMAT);
    assert_msg_has(path);
    assert_msg_has("expected 30730000");
    free(b);
    remove(path);

    char names[10][32];
    assert_int_equal(cifar10_class_names(dir, names, 10, &n), LETHE_OK);
    assert_string_equal(names[0], "airplane");
    assert_string_equal(names[9], "truck");
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    write_file(path, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n", 21);
    assert_int_equal(cifar10_class_names(dir, names, 10, &n), LETHE_OK);
    assert_string_equal(names[9], "j");
    write_file(path, "a\nb\n", 4);
    assert_int_equal(cifar10_class_names(dir, names, 10, &n), LETHE_ERR_FORMAT);
    assert_msg_has("found 2 class names");
    remove(path);
}

// ----------------------------------------------------------------------------
// fsutil

static void test_fs_atomic(void **state) {
    (void)state;
    const char *path = tpath("no/such/dir/file.bin");
    assert_int_equal(fs_write_text_atomic(path, "x"), LETHE_ERR_IO);
    assert_msg_has(path);
    assert_false(fs_exists(tpath("no")));

    path = tpath("over.txt");
    assert_int_equal(fs_write_text_atomic(path, "old contents"), LETHE_OK);
    assert_int_equal(fs_write_text_atomic(path, "new"), LETHE_OK);
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "new", 3);
    free(b);
    assert_false(fs_exists(tpath("over.txt.tmp")));

    // Several buffers, one empty.
    const void *bufs[3] = {"ab", "", "cd"};
    size_t lens[3] = {2, 0, 2};
    assert_int_equal(fs_write_atomic(path, bufs, lens, 3), LETHE_OK);
    b = read_file(path, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "abcd", 4);
    free(b);

    // A write that fails half way (file size limit: EFBIG) leaves the old file and no tmp.
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 1000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *big = calloc(1, 100000);
    const void *bb[1] = {big};
    size_t bl[1] = {100000};
    lethe_status st = fs_write_atomic(path, bb, bl, 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    free(big);
    assert_int_equal(st, LETHE_ERR_IO);
    assert_msg_has(path);
    assert_msg_has("failed");
    b = read_file(path, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "abcd", 4);
    free(b);
    assert_false(fs_exists(tpath("over.txt.tmp")));

    // Writing over a directory is refused.
    assert_int_equal(fs_write_text_atomic(tmpdir, "x"), LETHE_ERR_IO);
}

// ENOSPC for real on a 64 KiB tmpfs; needs root (mount), skipped otherwise.
static void test_fs_disk_full(void **state) {
    (void)state;
    const char *mnt = tpath("tiny-fs");
    assert_int_equal(fs_mkdir_p(mnt), LETHE_OK);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) skip();
    char path[600];
    snprintf(path, sizeof path, "%s/keep.txt", mnt);
    lethe_status first = fs_write_text_atomic(path, "original");
    size_t n = 1 << 20;
    char *big = calloc(1, n);
    const void *bb[1] = {big};
    size_t bl[1] = {n};
    lethe_status st = fs_write_atomic(path, bb, bl, 1);
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", lethe_last_error());
    free(big);
    size_t len = 0;
    uint8_t *b = NULL;
    lethe_status rd = fs_read_all(path, &b, &len);
    char tmp[620];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int tmp_left = fs_exists(tmp);
    int um = umount(mnt);
    assert_int_equal(first, LETHE_OK);
    assert_int_equal(st, LETHE_ERR_IO);
    if (!strstr(msg, "disk full") || !strstr(msg, path)) fail_msg("message: %s", msg);
    assert_int_equal(rd, LETHE_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(b, "original", 8);
    free(b);
    assert_false(tmp_left);
    assert_int_equal(um, 0);
}

static void test_fs_dirs(void **state) {
    (void)state;
    const char *deep = tpath("d1/d2//d3/");
    assert_int_equal(fs_mkdir_p(deep), LETHE_OK);
    assert_true(fs_is_dir(tpath("d1/d2/d3")));
    assert_int_equal(fs_mkdir_p(deep), LETHE_OK);   // again: fine
    assert_int_equal(fs_write_text_atomic(tpath("d1/file"), "x"), LETHE_OK);
    assert_true(fs_exists(tpath("d1/file")));
    assert_false(fs_is_dir(tpath("d1/file")));
    assert_int_equal(fs_mkdir_p(tpath("d1/file/sub")), LETHE_ERR_IO);
    assert_msg_has("not a directory");
    assert_int_equal(fs_ensure_writable_dir(tpath("d1/w")), LETHE_OK);
    assert_true(fs_is_dir(tpath("d1/w")));
    assert_int_equal(fs_ensure_writable_dir(tpath("d1/file")), LETHE_ERR_IO);
    uint8_t *b;
    size_t len;
    assert_int_equal(fs_read_all(tpath("d1"), &b, &len), LETHE_ERR_IO);
    assert_msg_has("directory");
    assert_int_equal(fs_read_all(tpath("d1/absent"), &b, &len), LETHE_ERR_IO);
    assert_msg_has("d1/absent");
    // Empty file reads as 0 bytes.
    write_file(tpath("empty"), "", 0);
    assert_int_equal(fs_read_all(tpath("empty"), &b, &len), LETHE_OK);
    assert_int_equal(len, 0);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_example_bytes),
        cmocka_unit_test(test_st_roundtrip),
        cmocka_unit_test(test_st_write_rejects),
        cmocka_unit_test(test_st_corrupt),
        cmocka_unit_test(test_st_corrupt_sizes),
        cmocka_unit_test(test_st_lenient_but_valid),
        cmocka_unit_test(test_st_read_errors),
        cmocka_unit_test(test_st_f16_bf16),
        cmocka_unit_test(test_idx_roundtrip),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_npy_roundtrip),
        cmocka_unit_test(test_npy_errors_and_f8),
        cmocka_unit_test(test_png_grid),
        cmocka_unit_test(test_cifar10_batch),
        cmocka_unit_test(test_fs_atomic),
        cmocka_unit_test(test_fs_disk_full),
        cmocka_unit_test(test_fs_dirs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
