/*
 * fuzz_safetensors.c: libFuzzer harness for the safetensors reader.
 *
 * Each input is a whole file image, parsed in memory by st_parse (the same code path
 * as st_open). On success the harness checks the reader's invariants (offsets inside
 * the buffer and tiling it, lookups by name, metadata) and converts every F32/F16/BF16
 * tensor with st_read_f32; a wrong element count and other dtypes must be refused.
 * A broken invariant traps, so libFuzzer reports it as a crash.
 *
 *   make fuzz && build-fuzz/fuzz_safetensors -dict=fuzz/corpus/safetensors.dict \
 *       -max_total_time=180 build-fuzz/corpus-st fuzz/corpus/safetensors
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/safetensors.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);   // st_parse takes ownership
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    st_file f;
    lethe_status st = st_parse(&f, copy, size, "fuzz.safetensors");
    if (st != LETHE_OK) {
        // Every failure names the source and leaves nothing to free.
        CHECK(strstr(lethe_last_error(), "fuzz.safetensors") != NULL);
        CHECK(f.bytes == NULL && f.tensors == NULL && f.n_tensors == 0);
        return 0;
    }
    CHECK(f.data_start >= 8 && f.data_start <= size && f.data_start == f.size - (f.size - f.data_start));
    size_t buffer = size - f.data_start, at = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        CHECK(t->begin == at && t->begin <= t->end && t->end <= buffer);
        at = t->end;
        CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        const st_tensor *found = st_find(&f, t->name);
        CHECK(found != NULL && strcmp(found->name, t->name) == 0);
        int convertible = !strcmp(t->dtype, "F32") || !strcmp(t->dtype, "F16") || !strcmp(t->dtype, "BF16");
        float *dst = malloc(t->numel ? t->numel * sizeof(float) : 1);
        if (!dst) continue;
        st = st_read_f32(&f, t->name, dst, t->numel);
        CHECK(convertible ? st == LETHE_OK : st == LETHE_ERR_FORMAT);
        // Touch every converted value so a bad conversion shows up under the sanitizers.
        volatile float sink = 0;
        if (st == LETHE_OK)
            for (size_t k = 0; k < t->numel; k++) sink += dst[k];
        (void)sink;
        CHECK(st_read_f32(&f, t->name, dst, t->numel + 1) != LETHE_OK);
        free(dst);
    }
    CHECK(at == buffer);
    for (int i = 0; i < f.n_meta; i++) CHECK(st_metadata(&f, f.meta_keys[i]) != NULL);
    CHECK(st_find(&f, "\x01 not a tensor name") == NULL);
    float x;
    CHECK(st_read_f32(&f, "\x01 not a tensor name", &x, 1) == LETHE_ERR_FORMAT);
    st_close(&f);
    return 0;
}
