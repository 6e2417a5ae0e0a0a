/*
 * activation.c: SiLU (PyTorch nn.SiLU), y = x * sigmoid(x) = x / (1 + exp(-x)).
 *
 * Backward: dsilu/dx = s (1 + x (1 - s)) with s = sigmoid(x), from the saved input x.
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
