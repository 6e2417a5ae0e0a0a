/*
 * activation.c: SiLU (PyTorch nn.SiLU), y = x * sigmoid(x) = x / (1 + exp(-x)), and
 * QuickGELU (transformers' QuickGELUActivation, CLIP's hidden_act "quick_gelu"),
 * y = x * sigmoid(1.702 x): SiLU with the sigmoid's argument scaled by k = 1.702.
 *
 * Backward from the saved input x: dsilu/dx = s (1 + x (1 - s)) with s = sigmoid(x), and
 * dquick_gelu/dx = s (1 + k x (1 - s)) with s = sigmoid(k x).
 * Uses lethe_cpu_expf so the loops vectorise (see cpu.h for its accuracy).
 */
#include "ops/cpu/cpu.h"

// y (n) = silu(x (n)); y may alias x
void lethe_cpu_silu_forward(float *y, const float *x, size_t n) {
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + lethe_cpu_expf(-x[i]));
}

// dx (n) += dy * silu'(x)
void lethe_cpu_silu_backward(float *dx, const float *dy, const float *x, size_t n) {
    if (!dx) return;
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + lethe_cpu_expf(-x[i]));
        dx[i] += dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
    }
}

// QuickGELU's constant (transformers: input * torch.sigmoid(1.702 * input))
#define QUICK_GELU_K 1.702f

// y (n) = quick_gelu(x (n)); y may alias x
void lethe_cpu_quick_gelu_forward(float *y, const float *x, size_t n) {
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + lethe_cpu_expf(-(QUICK_GELU_K * x[i])));
}

// dx (n) += dy * quick_gelu'(x)
void lethe_cpu_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    if (!dx) return;
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float kx = QUICK_GELU_K * x[i], s = 1.0f / (1.0f + lethe_cpu_expf(-kx));
        dx[i] += dy[i] * (s * (1.0f + kx * (1.0f - s)));
    }
}
