/*
 * activation.cu: SiLU (PyTorch nn.SiLU), y = x / (1 + exp(-x)); backward from the saved
 * input: dsilu/dx = s (1 + x (1 - s)), s = sigmoid(x). QuickGELU (CLIP), y = x / (1 +
 * exp(-k x)) with k = 1.702; backward s (1 + k x (1 - s)), s = sigmoid(k x). As
 * activation.c; expf here is CUDA's (2 ulp), so results match the CPU to a few ulp, not
 * bit for bit.
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

// QuickGELU's constant (transformers: input * torch.sigmoid(1.702 * input))
#define QUICK_GELU_K 1.702f

static __global__ void quick_gelu_fwd(float *y, const float *x, size_t n) {
    CUDA_LOOP(i, n) {
        const float v = x[i];
        y[i] = v / (1.0f + expf(-(QUICK_GELU_K * v)));
    }
}

static __global__ void quick_gelu_bwd(float *dx, const float *dy, const float *x, size_t n) {
    CUDA_LOOP(i, n) {
        const float kx = QUICK_GELU_K * x[i], s = 1.0f / (1.0f + expf(-kx));
        dx[i] += dy[i] * (s * (1.0f + kx * (1.0f - s)));
    }
}

// y (n) = quick_gelu(x (n)); y may alias x
void lethe_cuda_quick_gelu_forward(float *y, const float *x, size_t n) {
    if (!n) return;
    quick_gelu_fwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, x, n);
    cuda_check_launch("quick_gelu_forward");
}

// dx (n) += dy * quick_gelu'(x)
void lethe_cuda_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    if (!dx || !n) return;
    quick_gelu_bwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(dx, dy, x, n);
    cuda_check_launch("quick_gelu_backward");
}
