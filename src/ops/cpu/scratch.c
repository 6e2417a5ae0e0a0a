/*
 * scratch.c: the CPU backend's one grow-only scratch buffer (see cpu.h).
 *
 * im2col columns, attention rows and per-channel partial sums live here, so a training
 * step allocates nothing after its first iteration. Tiled ops size their tiles from the
 * soft limit (32 MiB by default), which bounds the buffer for any model size (the
 * unbounded im2col of sd.cpp#261 is the anti-example).
 */
#include "ops/cpu/cpu.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

static void *scratch;
static size_t scratch_bytes;
static size_t scratch_limit = (size_t)32 << 20;

void *lethe_cpu_scratch(size_t bytes) {
    if (bytes <= scratch_bytes) return scratch;
    size_t size = (bytes + 63) / 64 * 64;
    if (size < bytes) return NULL;   // overflow
    void *p = aligned_alloc(64, size);
    if (!p) return NULL;
    free(scratch);
    scratch = p;
    scratch_bytes = size;
    return scratch;
}

void lethe_cpu_release_scratch(void) {
    free(scratch);
    scratch = NULL;
    scratch_bytes = 0;
}

void lethe_cpu_set_scratch_limit(size_t bytes) { scratch_limit = bytes; }
size_t lethe_cpu_scratch_limit(void) { return scratch_limit; }

void lethe_cpu_poison(float *x, size_t n, const char *op, size_t bytes) {
    if (x)
        for (size_t i = 0; i < n; i++) x[i] = NAN;
    lethe_fail(LETHE_ERR_NOMEM, "%s: cannot allocate %zu bytes of scratch memory", op, bytes);
}
