/*
 * npy.h: NumPy .npy files (format 1.0/2.0), float32 C order, so a run's noise or
 * samples move to and from PyTorch (np.load / np.save).
 */
#ifndef LETHE_IO_NPY_H
#define LETHE_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    int ndim;
    int64_t shape[8];
    size_t count;
    float *data;         // converted to float32 ('<f4' as is, '<f8' narrowed)
} npy_array;

// Rejects fortran_order, big-endian and non-float dtypes with a clear message.
lethe_status npy_read(npy_array *out, const char *path);
void npy_free(npy_array *a);
// Writes '<f4', C order, atomically.
lethe_status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);

#endif
