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

// GEGLU (diffusers' feed-forward activation), as geglu.c: y (rows, w) = a * gelu(b) with
// [a, b] = x (rows, 2w) split in halves, exact erf GELU; backward from the saved x
#define GEGLU_INV_SQRT2 0.70710678118654752f
#define GEGLU_INV_SQRT_2PI 0.39894228040143268f

static __global__ void geglu_fwd(float *y, const float *x, size_t rows, int w) {
    CUDA_LOOP(e, rows * (size_t)w) {
        const size_t r = e / (size_t)w, i = e % (size_t)w;
        const float a = x[r * 2 * w + i], b = x[r * 2 * w + w + i];
        y[e] = a * (0.5f * b * (1.0f + erff(b * GEGLU_INV_SQRT2)));
    }
}

static __global__ void geglu_bwd(float *dx, const float *dy, const float *x, size_t rows, int w) {
    CUDA_LOOP(e, rows * (size_t)w) {
        const size_t r = e / (size_t)w, i = e % (size_t)w;
        const float a = x[r * 2 * w + i], b = x[r * 2 * w + w + i];
        const float cdf = 0.5f * (1.0f + erff(b * GEGLU_INV_SQRT2)), pdf = GEGLU_INV_SQRT_2PI * expf(-0.5f * b * b);
        dx[r * 2 * w + i] += dy[e] * b * cdf;
        dx[r * 2 * w + w + i] += dy[e] * a * (cdf + b * pdf);
    }
}

void lethe_cuda_geglu_forward(float *y, const float *x, int rows, int w) {
    if (rows <= 0 || w <= 0) return;
    const size_t n = (size_t)rows * w;
    geglu_fwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, x, (size_t)rows, w);
    cuda_check_launch("geglu_forward");
}

void lethe_cuda_geglu_backward(float *dx, const float *dy, const float *x, int rows, int w) {
    if (!dx || rows <= 0 || w <= 0) return;
    const size_t n = (size_t)rows * w;
    geglu_bwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(dx, dy, x, (size_t)rows, w);
    cuda_check_launch("geglu_backward");
}
