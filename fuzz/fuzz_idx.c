/*
 * fuzz_idx.c: libFuzzer harness for the IDX parser (idx_parse, the in-memory half of
 * idx_read after decompression). Checks that an accepted input's dimensions multiply
 * to its element count and that the copy matches the input; traps otherwise.
 *
 *   make fuzz && build-fuzz/fuzz_idx -max_total_time=180 build-fuzz/corpus-idx fuzz/corpus/idx
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/idx.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    idx_array a;
    lethe_status st = idx_parse(&a, data, size, "fuzz.idx");
    if (st != LETHE_OK) {
        CHECK(strstr(lethe_last_error(), "fuzz.idx") != NULL);
        CHECK(a.data == NULL);
        return 0;
    }
    CHECK(a.type == 0x08 && a.ndim >= 1 && a.ndim <= 4 && a.data != NULL);
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) {
        CHECK(a.dims[i] > 0);
        count *= (size_t)a.dims[i];
    }
    size_t hdr = 4 + 4 * (size_t)a.ndim;
    CHECK(count == a.count && hdr + count == size);
    CHECK(memcmp(a.data, data + hdr, count) == 0);
    idx_free(&a);
    CHECK(a.data == NULL);
    return 0;
}
