/*
 * dropout.cu: inverted dropout, as dropout.c: element i is kept when
 * u_i = uniform(seed, stream, i) >= p, scaled by 1/(1-p). The same Philox values as the
 * CPU (rng.cuh), so the mask is identical on both backends.
 */
#include "ops/cuda/common.cuh"
#include "ops/cuda/rng.cuh"

static __global__ void dropout_fwd(float *y, float *mask, const float *x, size_t n, float p, float scale,
                                   uint64_t seed, uint64_t stream) {
    CUDA_LOOP(i, n) {
        const float mi = rand_uniform_dev(seed, stream, i) >= p ? scale : 0.0f;
        if (mask) mask[i] = mi;
        y[i] = x[i] * mi;
    }
}

static __global__ void dropout_bwd(float *dx, const float *dy, const float *mask, size_t n) {
    CUDA_LOOP(i, n) dx[i] += dy[i] * mask[i];
}

// y (n) = x * mask, mask (n) = (u >= p) / (1 - p) saved for backward (mask may be NULL)
void lethe_cuda_dropout_forward(float *y, float *mask, const float *x, size_t n, float p, uint64_t seed,
                                uint64_t stream) {
    if (!n) return;
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    dropout_fwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, mask, x, n, p, scale, seed, stream);
    cuda_check_launch("dropout_forward");
}

// dx (n) += dy * mask
void lethe_cuda_dropout_backward(float *dx, const float *dy, const float *mask, size_t n) {
    if (!dx || !n) return;
    dropout_bwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(dx, dy, mask, n);
    cuda_check_launch("dropout_backward");
}
