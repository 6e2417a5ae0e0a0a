/* augment.c: flips, shifts and shuffles for classifier training (see augment.h). */
#include "data/augment.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

// one plane (h, w): flip and/or shift, through a scratch copy
static void transform_plane(float *p, float *tmp, int h, int w, int flip, int dy, int dx, float fill) {
    memcpy(tmp, p, (size_t)h * w * sizeof(float));
    for (int i = 0; i < h; i++) {
        int si = i - dy;
        for (int j = 0; j < w; j++) {
            int sj = j - dx;
            if (si < 0 || si >= h || sj < 0 || sj >= w) {
                p[i * w + j] = fill;
                continue;
            }
            if (flip) sj = w - 1 - sj;
            p[i * w + j] = tmp[si * w + sj];
        }
    }
}

void augment_batch(float *x, int m, int c, int h, int w, const augment_opts *o, uint64_t seed, uint64_t step) {
    if (!o->flip && o->max_shift <= 0) return;
    float *tmp = malloc((size_t)h * w * sizeof(float));
    if (!tmp) return;   // augmentation is an improvement, not a requirement: train on the plain batch
    uint64_t stream = lethe_stream(LETHE_STREAM_AUGMENT, step, 0);
    uint32_t span = (uint32_t)(2 * (o->max_shift > 0 ? o->max_shift : 0) + 1);
    for (int s = 0; s < m; s++) {
        int flip = o->flip ? (int)lethe_rand_below(seed, stream, 3 * (uint64_t)s, 2) : 0;
        int dy = (int)lethe_rand_below(seed, stream, 3 * (uint64_t)s + 1, span) - (int)(span / 2);
        int dx = (int)lethe_rand_below(seed, stream, 3 * (uint64_t)s + 2, span) - (int)(span / 2);
        for (int ch = 0; ch < c; ch++)
            transform_plane(x + ((size_t)s * c + ch) * h * w, tmp, h, w, flip, dy, dx, o->fill);
    }
    free(tmp);
}

void random_permutation(int *perm, int n, uint64_t seed, uint64_t stream) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)lethe_rand_below(seed, stream, (uint64_t)i, (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
