/*
 * upsample.c: nearest-neighbour 2x upsampling (F.interpolate(scale_factor=2, mode="nearest")).
 *
 *   y[s,c,2i+a,2j+b] = x[s,c,i,j] for a, b in {0, 1};  dx[s,c,i,j] += sum of those four dy
 */
#include "ops/cpu/cpu.h"

// y (n, c, 2h, 2w) from x (n, c, h, w)
void lethe_cpu_upsample2x_forward(float *y, const float *x, int n, int c, int h, int w) {
    const int planes = n * c, w2 = 2 * w;
    #pragma omp parallel for schedule(static) if ((size_t)planes * h * w > LETHE_CPU_PAR_MIN / 4)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * h * w;
        float *yp = y + (size_t)pl * 4 * h * w;
        for (int i = 0; i < h; i++) {
            float *y0 = yp + (size_t)(2 * i) * w2, *y1 = y0 + w2;
            const float *xr = xp + (size_t)i * w;
            for (int j = 0; j < w; j++) y0[2 * j] = y0[2 * j + 1] = xr[j];
            memcpy(y1, y0, (size_t)w2 * sizeof(float));
        }
    }
}

// dx (n, c, h, w) += pooled sums of dy (n, c, 2h, 2w)
void lethe_cpu_upsample2x_backward(float *dx, const float *dy, int n, int c, int h, int w) {
    if (!dx) return;
    const int planes = n * c, w2 = 2 * w;
    #pragma omp parallel for schedule(static) if ((size_t)planes * h * w > LETHE_CPU_PAR_MIN / 4)
    for (int pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * h * w;
        const float *dyp = dy + (size_t)pl * 4 * h * w;
        for (int i = 0; i < h; i++) {
            const float *d0 = dyp + (size_t)(2 * i) * w2, *d1 = d0 + w2;
            float *dr = dxp + (size_t)i * w;
            for (int j = 0; j < w; j++) dr[j] += (d0[2 * j] + d0[2 * j + 1]) + (d1[2 * j] + d1[2 * j + 1]);
        }
    }
}
