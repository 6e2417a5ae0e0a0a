/* hash.c: SHA-256 through nettle (see hash.h). */
#include "io/hash.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// 64 KiB per read: few syscalls, and small enough for the stack.
#define HASH_CHUNK 65536

static void digest_to_hex(struct sha256_ctx *ctx, char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(ctx, SHA256_DIGEST_SIZE, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

void sha256_hex(const void *data, size_t n, char hex[65]) {
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, data);
    digest_to_hex(&ctx, hex);
}

lethe_status sha256_file(const char *path, char hex[65]) {
    hex[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp) return lethe_fail(LETHE_ERR_IO, "%s: cannot open for hashing: %s", path, strerror(errno));
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    uint8_t buf[HASH_CHUNK];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) sha256_update(&ctx, got, buf);
    // fread returns 0 on both end-of-file and error (EISDIR for a directory, EIO): tell them apart.
    int failed = ferror(fp) || !feof(fp), err = errno;
    fclose(fp);
    if (failed)
        return lethe_fail(LETHE_ERR_IO, "%s: read error while hashing: %s", path, strerror(err ? err : EIO));
    digest_to_hex(&ctx, hex);
    return LETHE_OK;
}
