/*
 * fuzz_npy.c: libFuzzer harness for the .npy reader (its hand-written parser of the
 * Python dict header). npy_read takes a path, so each input goes into a memfd and is
 * read back through /proc/self/fd/N (no disk writes). Traps if an accepted array's
 * shape does not multiply to its element count.
 *
 *   make fuzz && build-fuzz/fuzz_npy -max_total_time=180 build-fuzz/corpus-npy fuzz/corpus/npy
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "io/npy.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz.npy", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    npy_array a;
    lethe_status st = npy_read(&a, path);
    if (st != LETHE_OK) {
        CHECK(strstr(lethe_last_error(), path) != NULL);
        CHECK(a.data == NULL);
        return 0;
    }
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) {
        CHECK(a.shape[i] >= 0);
        count *= (size_t)a.shape[i];
    }
    CHECK(count == a.count && a.data != NULL);
    volatile float sink = 0;
    for (size_t i = 0; i < a.count; i++) sink += a.data[i];
    (void)sink;
    npy_free(&a);
    return 0;
}
