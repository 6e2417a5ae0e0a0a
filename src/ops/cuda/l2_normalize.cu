/*
 * l2_normalize.cu: rows scaled to unit L2 norm (F.normalize(x, p=2, dim=-1, eps)), the
 * formulas of l2_normalize.c: y = x / max(||x||, eps), norm = ||x|| saved; backward
 * dx += (dy - y (y . dy)) / norm where norm >= eps, dx += dy / eps where it was clamped.
 * One warp per row, the row sums in double; the clamp test uses the saved float norm in
 * both passes, as on the CPU.
 */
#include "ops/cuda/common.cuh"

static __global__ void l2n_fwd(float *y, float *norm, const float *x, int rows, int width, float eps) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < (size_t)rows; r += (size_t)gridDim.x * warps) {
        const float *xr = x + r * width;
        float *yr = y + r * width;
        double acc = 0.0;
        for (int j = lane; j < width; j += 32) acc += (double)xr[j] * (double)xr[j];
        const float nr = (float)sqrt(__shfl_sync(0xffffffffu, warp_sum(acc), 0));
        const float d = nr >= eps ? nr : eps;
        if (lane == 0) norm[r] = nr;
        for (int j = lane; j < width; j += 32) yr[j] = xr[j] / d;
    }
}

static __global__ void l2n_bwd(float *dx, const float *dy, const float *y, const float *norm, int rows, int width,
                               float eps) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < (size_t)rows; r += (size_t)gridDim.x * warps) {
        const float *dyr = dy + r * width, *yr = y + r * width;
        float *dxr = dx + r * width;
        const float nr = norm[r];
        if (nr >= eps) {   // the same branch for the whole warp: the shuffles stay uniform
            double acc = 0.0;
            for (int j = lane; j < width; j += 32) acc += (double)yr[j] * (double)dyr[j];
            const float dot = (float)__shfl_sync(0xffffffffu, warp_sum(acc), 0), inv = 1.0f / nr;
            for (int j = lane; j < width; j += 32) dxr[j] += (dyr[j] - yr[j] * dot) * inv;
        } else {
            const float inv = 1.0f / eps;
            for (int j = lane; j < width; j += 32) dxr[j] += dyr[j] * inv;
        }
    }
}

// y (rows, width) = x / max(||x||, eps) per row; norm (rows) = ||x|| saved for backward
void lethe_cuda_l2_normalize_forward(float *y, float *norm, const float *x, int rows, int width, float eps) {
    if (rows <= 0 || width <= 0) return;
    l2n_fwd<<<grid_for_warps((size_t)rows), LETHE_CUDA_THREADS>>>(y, norm, x, rows, width, eps);
    cuda_check_launch("l2_normalize_forward");
}

// dx (rows, width) += gradient given dy and the saved y, norm
void lethe_cuda_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm, int rows,
                                      int width, float eps) {
    if (!dx || rows <= 0 || width <= 0) return;
    l2n_bwd<<<grid_for_warps((size_t)rows), LETHE_CUDA_THREADS>>>(dx, dy, y, norm, rows, width, eps);
    cuda_check_launch("l2_normalize_backward");
}
