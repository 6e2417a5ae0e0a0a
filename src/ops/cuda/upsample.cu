/*
 * upsample.cu: nearest-neighbour 2x upsampling, as upsample.c:
 *   y[s,c,2i+a,2j+b] = x[s,c,i,j];  dx[s,c,i,j] += (d00 + d01) + (d10 + d11)
 */
#include "ops/cuda/common.cuh"

static __global__ void up_fwd(float *y, const float *x, int h, int w, size_t total) {
    const int w2 = 2 * w, h2 = 2 * h;
    CUDA_LOOP(k, total) {   // k over y (planes, 2h, 2w)
        const int ox = (int)(k % w2), oy = (int)((k / w2) % h2);
        const size_t pl = k / ((size_t)h2 * w2);
        y[k] = x[(pl * h + (oy >> 1)) * w + (ox >> 1)];
    }
}

static __global__ void up_bwd(float *dx, const float *dy, int h, int w, size_t total) {
    const int w2 = 2 * w;
    CUDA_LOOP(k, total) {   // k over dx (planes, h, w)
        const int j = (int)(k % w), i = (int)((k / w) % h);
        const size_t pl = k / ((size_t)h * w);
        const float *d0 = dy + (pl * 2 * h + 2 * i) * w2 + 2 * j, *d1 = d0 + w2;
        dx[k] += (d0[0] + d0[1]) + (d1[0] + d1[1]);
    }
}

// y (n, c, 2h, 2w) from x (n, c, h, w)
void lethe_cuda_upsample2x_forward(float *y, const float *x, int n, int c, int h, int w) {
    const size_t total = (size_t)n * c * 4 * h * w;
    if (!total) return;
    up_fwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, x, h, w, total);
    cuda_check_launch("upsample2x_forward");
}

// dx (n, c, h, w) += pooled sums of dy (n, c, 2h, 2w)
void lethe_cuda_upsample2x_backward(float *dx, const float *dy, int n, int c, int h, int w) {
    const size_t total = (size_t)n * c * h * w;
    if (!dx || !total) return;
    up_bwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(dx, dy, h, w, total);
    cuda_check_launch("upsample2x_backward");
}
