/*
 * l2_normalize.c: rows scaled to unit L2 norm, torch.nn.functional.normalize(x, p=2, dim=-1,
 * eps): CLIP normalises image and text embeddings before their dot products (the logits).
 *
 *   x, y (rows, width); norm = ||x_r||_2 (in double, saved as float), d = max(norm, eps),
 *   y = x / d
 * Backward, per row: where norm >= eps, y = x / ||x|| and dx += (dy - y (y . dy)) / norm
 * (the radial part of dy is removed); where the norm was clamped, y = x / eps is linear and
 * dx += dy / eps. The comparison uses the saved float norm in both passes, so forward and
 * backward always agree on which rows were clamped.
 */
#include "ops/cpu/cpu.h"

#include <math.h>

// y (rows, width) = x / max(||x||, eps) per row; norm (rows) = ||x|| saved for backward
void lethe_cpu_l2_normalize_forward(float *y, float *norm, const float *x, int rows, int width, float eps) {
    #pragma omp parallel for schedule(static) if ((size_t)rows * width > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * width;
        float *yr = y + (size_t)r * width;
        const float nr = (float)sqrt(lethe_cpu_dot_f64(xr, xr, (size_t)width));
        const float d = nr >= eps ? nr : eps;
        norm[r] = nr;
        for (int j = 0; j < width; j++) yr[j] = xr[j] / d;   // a division, as torch's x / denom
    }
}

// dx (rows, width) += gradient given dy and the saved y, norm
void lethe_cpu_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm,
                                     int rows, int width, float eps) {
    if (!dx) return;
    #pragma omp parallel for schedule(static) if ((size_t)rows * width > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *dyr = dy + (size_t)r * width, *yr = y + (size_t)r * width;
        float *dxr = dx + (size_t)r * width;
        if (norm[r] >= eps) {
            const float dot = (float)lethe_cpu_dot_f64(yr, dyr, (size_t)width), inv = 1.0f / norm[r];
            for (int j = 0; j < width; j++) dxr[j] += (dyr[j] - yr[j] * dot) * inv;
        } else {
            const float inv = 1.0f / eps;
            for (int j = 0; j < width; j++) dxr[j] += dyr[j] * inv;
        }
    }
}
