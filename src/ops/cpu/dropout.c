/*
 * dropout.c: inverted dropout (PyTorch nn.Dropout in training mode).
 *
 * Element i is kept when u_i >= p, u_i = lethe_rand_uniform(seed, stream, i), and then
 * scaled by 1/(1-p), so E[y] = x. The mask is a pure function of (seed, stream, i):
 * the same for any thread count or backend. p = 0 keeps everything (u > 0 always);
 * p = 1 drops everything (u < 1 always).
 */
#include "ops/cpu/cpu.h"

#include "core/rng.h"

// y (n) = x * mask, mask (n) = (u >= p) / (1 - p) saved for backward (mask may be NULL)
void lethe_cpu_dropout_forward(float *y, float *mask, const float *x, size_t n, float p,
                               uint64_t seed, uint64_t stream) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const size_t blocks = (n + 3) / 4;   // u of elements 4b..4b+3 come from one Philox call
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN / 16)
    for (size_t blk = 0; blk < blocks; blk++) {
        float u[4];
        lethe_rand_uniform4(u, seed, stream, blk);
        for (size_t i = 4 * blk, k = 0; k < 4 && i < n; k++, i++) {
            const float mi = u[k] >= p ? scale : 0.0f;
            if (mask) mask[i] = mi;
            y[i] = x[i] * mi;
        }
    }
}

// dx (n) += dy * mask
void lethe_cpu_dropout_backward(float *dx, const float *dy, const float *mask, size_t n) {
    if (!dx) return;
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
}
