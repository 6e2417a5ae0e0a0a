/*
 * tensor_ops.cu: layout and elementwise ops on flat buffers (as tensor_ops.c): channel
 * concat, per-(sample, channel) bias, spatial mean, last-two-dims transpose, axpbz(_rows),
 * clamp, randn, mul, abs_accumulate, and the reductions sum_squares,
 * weighted_sum_squares and all_finite (deterministic, see common.cuh).
 */
#include "ops/cuda/common.cuh"
#include "ops/cuda/rng.cuh"

// ---- concat ------------------------------------------------------------------------------------

// y (n, ca + cb, hw) = [a (n, ca, hw), b (n, cb, hw)]: two strided 2-D copies
void lethe_cuda_concat_forward(float *y, const float *a, const float *b, int n, int ca, int cb, int hw) {
    const size_t sa = (size_t)ca * hw * sizeof(float), sb = (size_t)cb * hw * sizeof(float);
    cudaError_t e = cudaSuccess;
    if (n > 0 && sa) e = cudaMemcpy2DAsync(y, sa + sb, a, sa, sa, (size_t)n, cudaMemcpyDeviceToDevice, 0);
    if (e == cudaSuccess && n > 0 && sb)
        e = cudaMemcpy2DAsync((char *)y + sa, sa + sb, b, sb, sb, (size_t)n, cudaMemcpyDeviceToDevice, 0);
    if (e != cudaSuccess) cuda_record_error("concat_forward", e);
}

static __global__ void concat_bwd(float *da, float *db, const float *dy, size_t total, size_t sa, size_t sb) {
    CUDA_LOOP(i, total) {
        const size_t s = i / (sa + sb), r = i - s * (sa + sb);
        if (r < sa) {
            if (da) da[s * sa + r] += dy[i];
        } else if (db) {
            db[s * sb + (r - sa)] += dy[i];
        }
    }
}

// da (n, ca, hw) += dy[:, :ca], db (n, cb, hw) += dy[:, ca:]
void lethe_cuda_concat_backward(float *da, float *db, const float *dy, int n, int ca, int cb, int hw) {
    const size_t sa = (size_t)ca * hw, sb = (size_t)cb * hw, total = (size_t)n * (sa + sb);
    if ((!da && !db) || !total) return;
    concat_bwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(da, db, dy, total, sa, sb);
    cuda_check_launch("concat_backward");
}

// ---- per-(sample, channel) bias and spatial mean ----------------------------------------------------

static __global__ void add_bias_kernel(float *y, const float *bias, size_t total, size_t hw) {
    CUDA_LOOP(i, total) y[i] += bias[i / hw];
}

// y (n, c, hw) += bias (n, c)
void lethe_cuda_add_channel_bias_forward(float *y, const float *bias, int n, int c, int hw) {
    const size_t total = (size_t)n * c * hw;
    if (!total) return;
    add_bias_kernel<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, bias, total, (size_t)hw);
    cuda_check_launch("add_channel_bias_forward");
}

// dbias (n, c) += sum over hw of dy (n, c, hw)
void lethe_cuda_add_channel_bias_backward(float *dbias, const float *dy, int n, int c, int hw) {
    if (!dbias) return;
    segment_sum("add_channel_bias_backward", dbias, 1, 1.0f, dy, n * c, (size_t)hw, 1, 0, (size_t)hw);
}

// y (n, c) = mean over hw of x (n, c, hw)
void lethe_cuda_spatial_mean_forward(float *y, const float *x, int n, int c, int hw) {
    segment_sum("spatial_mean_forward", y, 0, (float)hw, x, n * c, (size_t)hw, 1, 0, (size_t)hw);
}

static __global__ void spatial_mean_bwd(float *dx, const float *dy, size_t total, size_t hw, float div) {
    CUDA_LOOP(i, total) dx[i] += dy[i / hw] / div;
}

// dx (n, c, hw) += dy (n, c) / hw
void lethe_cuda_spatial_mean_backward(float *dx, const float *dy, int n, int c, int hw) {
    const size_t total = (size_t)n * c * hw;
    if (!dx || !total) return;
    spatial_mean_bwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(dx, dy, total, (size_t)hw, (float)hw);
    cuda_check_launch("spatial_mean_backward");
}

// ---- transpose ---------------------------------------------------------------------------------------

#define TILE 32
#define TILE_ROWS 8

// y (n, cols, rows) (=, or += when accumulate) x (n, rows, cols) transposed, through a
// padded shared tile so both the reads and the writes are coalesced.
static __global__ void transpose_kernel(float *y, const float *x, int n, int rows, int cols, int accumulate) {
    __shared__ float tile[TILE][TILE + 1];
    const int c0 = blockIdx.x * TILE, r0 = blockIdx.y * TILE;
    const size_t per = (size_t)rows * cols;
    for (int s = blockIdx.z; s < n; s += gridDim.z) {
        const float *xs = x + (size_t)s * per;
        float *ys = y + (size_t)s * per;
        for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
            const int r = r0 + k, c = c0 + threadIdx.x;
            if (r < rows && c < cols) tile[k][threadIdx.x] = xs[(size_t)r * cols + c];
        }
        __syncthreads();
        for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
            const int c = c0 + k, r = r0 + threadIdx.x;
            if (c < cols && r < rows) {
                const size_t at = (size_t)c * rows + r;
                const float v = tile[threadIdx.x][k];
                ys[at] = accumulate ? ys[at] + v : v;
            }
        }
        __syncthreads();
    }
}

static void transpose(const char *op, float *y, const float *x, int n, int rows, int cols, int accumulate) {
    if (n <= 0 || rows <= 0 || cols <= 0) return;
    const dim3 grid((unsigned)((cols + TILE - 1) / TILE), (unsigned)((rows + TILE - 1) / TILE),
                    (unsigned)(n < 65535 ? n : 65535));
    transpose_kernel<<<grid, dim3(TILE, TILE_ROWS)>>>(y, x, n, rows, cols, accumulate);
    cuda_check_launch(op);
}

// y (n, cols, rows) = x (n, rows, cols) transposed per sample
void lethe_cuda_transpose_forward(float *y, const float *x, int n, int rows, int cols) {
    transpose("transpose_forward", y, x, n, rows, cols, 0);
}

// dx (n, rows, cols) += dy (n, cols, rows) transposed
void lethe_cuda_transpose_backward(float *dx, const float *dy, int n, int rows, int cols) {
    if (!dx) return;
    transpose("transpose_backward", dx, dy, n, cols, rows, 1);
}

// ---- elementwise arithmetic ---------------------------------------------------------------------------

static __global__ void axpbz_kernel(float *y, float a, const float *x, float b, const float *z, size_t n) {
    if (z) {
        CUDA_LOOP(i, n) y[i] = a * x[i] + b * z[i];
    } else {
        CUDA_LOOP(i, n) y[i] = a * x[i];
    }
}

// y = a x + b z (n); y may alias x or z; b == 0 or z == NULL: z is not read
void lethe_cuda_axpbz(float *y, float a, const float *x, float b, const float *z, size_t n) {
    if (!n) return;
    axpbz_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, a, x, b, b == 0.0f ? NULL : z, n);
    cuda_check_launch("axpbz");
}

// coef = [a (rows), b (rows)] on the device
static __global__ void axpbz_rows_kernel(float *y, const float *coef, const float *x, const float *z, int has_b,
                                         int rows, size_t per_row) {
    const size_t n = (size_t)rows * per_row;
    CUDA_LOOP(i, n) {
        const size_t r = i / per_row;
        const float ar = coef[r], br = has_b ? coef[rows + r] : 0.0f;
        y[i] = (br == 0.0f || !z) ? ar * x[i] : ar * x[i] + br * z[i];
    }
}

// y[r,:] = a[r] x[r,:] + b[r] z[r,:]; a, b are host arrays (rows), b may be NULL
void lethe_cuda_axpbz_rows(float *y, const float *a, const float *x, const float *b, const float *z, int rows,
                           size_t per_row) {
    const size_t n = (size_t)rows * per_row;
    if (!n) return;
    const size_t bytes = 2 * (size_t)rows * sizeof(float);
    float *coef = (float *)cuda_coef(bytes);
    if (!coef) {
        cuda_poison(y, n, "axpbz_rows", bytes);
        return;
    }
    // cudaMemcpy is ordered after earlier kernels on the legacy stream: reusing coef is safe
    cudaError_t e = cudaMemcpy(coef, a, (size_t)rows * sizeof(float), cudaMemcpyHostToDevice);
    if (e == cudaSuccess && b) e = cudaMemcpy(coef + rows, b, (size_t)rows * sizeof(float), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        cuda_record_error("axpbz_rows", e);
        return;
    }
    axpbz_rows_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, coef, x, z, b != NULL, rows, per_row);
    cuda_check_launch("axpbz_rows");
}

static __global__ void clamp_kernel(float *x, float lo, float hi, size_t n) {
    CUDA_LOOP(i, n) {
        const float v = x[i];
        x[i] = v < lo ? lo : (v > hi ? hi : v);   // NaN stays NaN
    }
}

void lethe_cuda_clamp(float *x, float lo, float hi, size_t n) {
    if (!n) return;
    clamp_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(x, lo, hi, n);
    cuda_check_launch("clamp");
}

static __global__ void randn_kernel(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    CUDA_LOOP(i, n) x[i] = rand_normal_dev(seed, stream, offset + i);
}

// x[i] = N(0, 1) element (offset + i) of (seed, stream): the CPU's values (rng.cuh)
void lethe_cuda_randn(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    if (!n) return;
    randn_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(x, n, seed, stream, offset);
    cuda_check_launch("randn");
}

static __global__ void mul_kernel(float *y, const float *x, const float *z, size_t n) {
    CUDA_LOOP(i, n) y[i] = x[i] * z[i];
}

void lethe_cuda_mul(float *y, const float *x, const float *z, size_t n) {
    if (!n) return;
    mul_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(y, x, z, n);
    cuda_check_launch("mul");
}

static __global__ void abs_acc_kernel(float *acc, const float *x, size_t n) {
    CUDA_LOOP(i, n) acc[i] += fabsf(x[i]);
}

void lethe_cuda_abs_accumulate(float *acc, const float *x, size_t n) {
    if (!n) return;
    abs_acc_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(acc, x, n);
    cuda_check_launch("abs_accumulate");
}

// ---- reductions ---------------------------------------------------------------------------------------

struct square_of {
    const float *x;
    __device__ double operator()(size_t i) const {
        const double v = x[i];
        return v * v;
    }
};

struct weighted_square_of {
    const float *x, *w;
    __device__ double operator()(size_t i) const { return (double)w[i] * x[i] * x[i]; }
};

struct not_finite {
    const float *x;
    __device__ double operator()(size_t i) const { return fabsf(x[i]) <= 3.402823466e+38f ? 0.0 : 1.0; }
};

double lethe_cuda_sum_squares(const float *x, size_t n) { return sum_reduce("sum_squares", n, square_of{x}); }

double lethe_cuda_weighted_sum_squares(const float *x, const float *w, size_t n) {
    return sum_reduce("weighted_sum_squares", n, weighted_square_of{x, w});
}

// 1 if every element is finite; 0 also after a recorded CUDA failure (the count is NaN)
int lethe_cuda_all_finite(const float *x, size_t n) {
    if (!n) return !cuda_failed();
    return sum_reduce("all_finite", n, not_finite{x}) == 0.0;
}
