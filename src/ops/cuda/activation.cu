/*
 * activation.cu: SiLU (PyTorch nn.SiLU), y = x / (1 + exp(-x)); backward from the saved
 * input: dsilu/dx = s (1 + x (1 - s)), s = sigmoid(x). As activation.c; expf here is
 * CUDA's (2 ulp), so results match the CPU to a few ulp, not bit for bit.
 */
#include "ops/cuda/common.cuh"

static __global__ void silu_fwd(float *y, const float *x, size_t n) {
    CUDA_LOOP(i, n) {
        const float v = x[i];
        y[i] = v / (1.0f + expf(-v));
    }
}

static __global__ void silu_bwd(float *dx, const float *dy, const float *x, size_t n) {
    CUDA_LOOP(i, n) {
        const float v = x[i], s = 1.0f / (1.0f + expf(-v));
        dx[i] += dy[i] * (s * (1.0f + v * (1.0f - s)));
    }
}

// y (n) = silu(x (n)); y may alias x
void lethe_cuda_silu_forward(float *y, const float *x, size_t n) {
    if (!n) return;
    silu_fwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, x, n);
    cuda_check_launch("silu_forward");
}

// dx (n) += dy * silu'(x)
void lethe_cuda_silu_backward(float *dx, const float *dy, const float *x, size_t n) {
    if (!dx || !n) return;
    silu_bwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(dx, dy, x, n);
    cuda_check_launch("silu_backward");
}
