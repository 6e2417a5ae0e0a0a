/*
 * geglu.c: diffusers' GEGLU activation after its projection (the feed-forward of a
 * BasicTransformerBlock): each row of x (rows, 2w) is split into a = x[:, :w] and the gate
 * b = x[:, w:] (torch's chunk(2, dim=-1) order), and
 *
 *   y (rows, w) = a * gelu(b),   gelu(b) = b Phi(b) = 0.5 b (1 + erf(b / sqrt 2))
 *
 * with the exact erf GELU (F.gelu's approximate="none"). Backward from the saved x:
 *   da += dy gelu(b),   db += dy a gelu'(b),   gelu'(b) = Phi(b) + b phi(b),
 *   phi(b) = exp(-b^2 / 2) / sqrt(2 pi).
 * Phi and exp are cpu.h's inlined forms (lethe_cpu_normal_cdf, lethe_cpu_expf), so the loops
 * vectorise; libm's scalar erff and expf took ~8% of a canvas-tiny training step. The fused op
 * needs no (rows, w) temporaries.
 */
#include "ops/cpu/cpu.h"

#define INV_SQRT_2PI 0.39894228040143268f

// y (rows, w) = x[:, :w] * gelu(x[:, w:])
void lethe_cpu_geglu_forward(float *y, const float *x, int rows, int w) {
    #pragma omp parallel for schedule(static) if ((size_t)rows * w > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *a = x + (size_t)r * 2 * w, *b = a + w;
        float *yr = y + (size_t)r * w;
        for (int i = 0; i < w; i++) yr[i] = a[i] * (b[i] * lethe_cpu_normal_cdf(b[i]));
    }
}

// dx (rows, 2w) += gradients of both halves given dy (rows, w)
void lethe_cpu_geglu_backward(float *dx, const float *dy, const float *x, int rows, int w) {
    if (!dx) return;
    #pragma omp parallel for schedule(static) if ((size_t)rows * w > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *a = x + (size_t)r * 2 * w, *b = a + w, *g = dy + (size_t)r * w;
        float *da = dx + (size_t)r * 2 * w, *db = da + w;
        for (int i = 0; i < w; i++) {
            const float cdf = lethe_cpu_normal_cdf(b[i]);
            const float pdf = INV_SQRT_2PI * lethe_cpu_expf(-0.5f * b[i] * b[i]);
            da[i] += g[i] * b[i] * cdf;
            db[i] += g[i] * a[i] * (cdf + b[i] * pdf);
        }
    }
}
