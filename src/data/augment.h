/*
 * augment.h: training-time augmentation of image batches (host memory, before upload).
 *
 * Horizontal flips (right for clothing, wrong for digits, so the caller decides) and
 * small translations with background fill, both drawn from Philox (seed, stream(augment,
 * step, 0)) so a run is reproducible.
 */
#ifndef LETHE_DATA_AUGMENT_H
#define LETHE_DATA_AUGMENT_H

#include <stdint.h>

typedef struct {
    int flip;          // 1: flip each image left-right with probability 1/2
    int max_shift;     // translate by a uniform integer in [-max_shift, max_shift] in x and y
    float fill;        // value of pixels shifted in (-1 = black in [-1, 1] scaling)
} augment_opts;

// x: m images (c, h, w) on the host, changed in place.
void augment_batch(float *x, int m, int c, int h, int w, const augment_opts *o, uint64_t seed, uint64_t step);

// perm[0..n) = a uniform random permutation of 0..n-1 (Fisher-Yates), from (seed, stream).
void random_permutation(int *perm, int n, uint64_t seed, uint64_t stream);

#endif
