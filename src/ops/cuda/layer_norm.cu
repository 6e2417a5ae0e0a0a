/*
 * layer_norm.cu: LayerNorm over the last dimension (PyTorch nn.LayerNorm(width)), the
 * formulas of layer_norm.c.
 *
 * Forward: one warp per row (CLIP's width is 512: 16 values a lane); mean and variance in
 * double, two passes over the row (the second re-reads it from L1), then y elementwise
 * with x - mean in double.
 * Backward: dx one warp per row (the row sums of g and g (x - mean) in double, then dx);
 * dgamma/dbeta one thread per column adding the rows in order (double), so every sum has
 * a fixed order and no atomics are needed. That column loop is serial over rows: fine for
 * a text encoder's few thousand tokens, not written for millions.
 */
#include "ops/cuda/common.cuh"

static __global__ void ln_fwd(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                              const float *beta, int rows, int width, float eps) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < (size_t)rows; r += (size_t)gridDim.x * warps) {
        const float *xr = x + r * width;
        float *yr = y + r * width;
        double acc = 0.0;
        for (int j = lane; j < width; j += 32) acc += (double)xr[j];
        const double mu = __shfl_sync(0xffffffffu, warp_sum(acc), 0) / (double)width;
        acc = 0.0;
        for (int j = lane; j < width; j += 32) {
            const double dv = (double)xr[j] - mu;
            acc += dv * dv;
        }
        const double var = __shfl_sync(0xffffffffu, warp_sum(acc), 0) / (double)width;
        const double rs = 1.0 / sqrt(var + (double)eps);
        if (lane == 0) {
            mean[r] = (float)mu;
            rstd[r] = (float)rs;
        }
        for (int j = lane; j < width; j += 32) {   // xhat in double, as layer_norm.c
            const float xh = (float)(((double)xr[j] - mu) * rs);
            yr[j] = (gamma ? xh * gamma[j] : xh) + (beta ? beta[j] : 0.0f);
        }
    }
}

// y (rows, width) = layernorm(x); mean, rstd (rows) saved for backward
void lethe_cuda_layer_norm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                                   const float *beta, int rows, int width, float eps) {
    if (rows <= 0 || width <= 0) return;
    ln_fwd<<<grid_for_warps((size_t)rows), LETHE_CUDA_THREADS>>>(y, mean, rstd, x, gamma, beta, rows, width, eps);
    cuda_check_launch("layer_norm_forward");
}

// ---- backward ------------------------------------------------------------------------------------

// dgamma[j] += sum_r dy (x - mean) rstd, dbeta[j] += sum_r dy, rows in order
static __global__ void ln_param_grads(float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                                      const float *rstd, int rows, int width) {
    CUDA_LOOP(js, (size_t)width) {
        double sg = 0.0, sb = 0.0;
        for (int r = 0; r < rows; r++) {
            const size_t i = (size_t)r * width + js;
            sg += (double)dy[i] * (((double)x[i] - (double)mean[r]) * (double)rstd[r]);
            sb += (double)dy[i];
        }
        if (dgamma) dgamma[js] += (float)sg;
        if (dbeta) dbeta[js] += (float)sb;
    }
}

// dx += rstd (g - A / width) + bx (x - mean) with g = gamma dy, A = sum g, S = sum g (x - mean),
// bx = -rstd^3 S / width (the arrangement of layer_norm.c)
static __global__ void ln_dx(float *dx, const float *dy, const float *x, const float *mean, const float *rstd,
                             const float *gamma, int rows, int width) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < (size_t)rows; r += (size_t)gridDim.x * warps) {
        const float *dyr = dy + r * width, *xr = x + r * width;
        float *dxr = dx + r * width;
        const float muf = mean[r], rsf = rstd[r];
        const double mu = muf, rs = rsf;
        double A = 0.0, S = 0.0;
        for (int j = lane; j < width; j += 32) {
            const double g = (double)dyr[j] * (gamma ? (double)gamma[j] : 1.0);
            A += g;
            S += g * ((double)xr[j] - mu);
        }
        A = __shfl_sync(0xffffffffu, warp_sum(A), 0);
        S = __shfl_sync(0xffffffffu, warp_sum(S), 0);
        const float bx = (float)(-rs * rs * rs * S / width), mg = (float)(A / width);
        for (int j = lane; j < width; j += 32) {
            const float g = gamma ? gamma[j] * dyr[j] : dyr[j];
            dxr[j] += rsf * (g - mg) + bx * (xr[j] - muf);
        }
    }
}

// dx (rows, width), dgamma (width), dbeta (width) += gradients given dy and the saved mean, rstd
void lethe_cuda_layer_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                    const float *mean, const float *rstd, const float *gamma, int rows, int width) {
    if ((!dx && !dgamma && !dbeta) || rows <= 0 || width <= 0) return;
    if (dgamma || dbeta)
        ln_param_grads<<<grid_for((size_t)width), LETHE_CUDA_THREADS>>>(dgamma, dbeta, dy, x, mean, rstd, rows, width);
    if (dx) ln_dx<<<grid_for_warps((size_t)rows), LETHE_CUDA_THREADS>>>(dx, dy, x, mean, rstd, gamma, rows, width);
    cuda_check_launch("layer_norm_backward");
}
