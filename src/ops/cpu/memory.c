/*
 * memory.c: CPU backend memory ops. "Device" memory is host memory, so to_device and
 * to_host are memcpy; alloc is a zero-filled, 64-byte aligned allocation (cache lines,
 * and AVX-512 loads) released with free().
 */
#include "ops/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

void *lethe_cpu_alloc(size_t bytes) {
    // aligned_alloc wants a size that is a multiple of the alignment; never 0, so that
    // NULL always means failure.
    size_t size = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    if (size < bytes) return NULL;   // overflow
    void *p = aligned_alloc(64, size);
    if (p) memset(p, 0, size);
    return p;
}

void lethe_cpu_release(void *p) { free(p); }

void lethe_cpu_to_device(void *dst, const void *src_host, size_t bytes) {
    if (bytes) memcpy(dst, src_host, bytes);
}

void lethe_cpu_to_host(void *dst_host, const void *src, size_t bytes) {
    if (bytes) memcpy(dst_host, src, bytes);
}

// dst, src (n); may overlap
void lethe_cpu_copy(float *dst, const float *src, size_t n) {
    if (n && dst != src) memmove(dst, src, n * sizeof(float));
}

// x (n) = value
void lethe_cpu_fill(float *x, float value, size_t n) {
    #pragma omp parallel for if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = value;
}
