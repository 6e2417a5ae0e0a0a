/*
 * linear.cu: fully connected layer (PyTorch nn.Linear), y = x w^T + b, on cuBLAS SGEMM
 * (row-major wrappers of common.cuh), as linear.c:
 *   x (m, in), w (out, in), b (out) or NULL, y (m, out)
 *   dx (m, in) += dy w,  dw (out, in) += dy^T x,  db (out) += column sums of dy
 * db is a fixed-order column sum in double (no atomics).
 */
#include "ops/cuda/common.cuh"

// y (m, out) = b broadcast over rows
static __global__ void bias_rows(float *y, const float *b, size_t total, int out) {
    CUDA_LOOP(i, total) y[i] = b[i % out];
}

void lethe_cuda_linear_forward(float *y, const float *x, const float *w, const float *b, int m, int in, int out) {
    const size_t total = (size_t)m * out;
    if (!total) return;
    if (b) bias_rows<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, b, total, out);
    gemm_rm("linear_forward", 0, 1, m, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
    cuda_check_launch("linear_forward");
}

// Column sums of dy (m, out), stage 1: block (bx, by) covers 32 columns and row chunk by;
// threadIdx.y strides the chunk's rows, threadIdx.x is the column (coalesced reads).
#define COL_CHUNK 1024
static __global__ void colsum_stage1(double *partial, const float *dy, int m, int out) {
    __shared__ double sh[8][33];
    const int o = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * COL_CHUNK, r1 = r0 + COL_CHUNK < m ? r0 + COL_CHUNK : m;
    double acc = 0.0;
    if (o < out)
        for (int r = r0 + threadIdx.y; r < r1; r += 8) acc += (double)dy[(size_t)r * out + o];
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && o < out) {
        double s = 0.0;
        for (int k = 0; k < 8; k++) s += sh[k][threadIdx.x];
        partial[(size_t)blockIdx.y * out + o] = s;
    }
}

static __global__ void colsum_stage2(float *db, const double *partial, int chunks, int out) {
    CUDA_LOOP(o, (size_t)out) {
        double s = 0.0;
        for (int k = 0; k < chunks; k++) s += partial[(size_t)k * out + o];
        db[o] += (float)s;
    }
}

void lethe_cuda_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int m,
                                int in, int out) {
    if (m <= 0) return;
    if (dx) gemm_rm("linear_backward", 0, 0, m, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) gemm_rm("linear_backward", 1, 0, out, in, m, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) {
        const int chunks = (m + COL_CHUNK - 1) / COL_CHUNK;
        double *partial = (double *)cuda_partials((size_t)chunks * out * sizeof(double));
        if (!partial) {
            cuda_poison(db, (size_t)out, "linear_backward", (size_t)chunks * out * sizeof(double));
            return;
        }
        const dim3 grid((unsigned)((out + 31) / 32), (unsigned)chunks);
        colsum_stage1<<<grid, dim3(32, 8)>>>(partial, dy, m, out);
        colsum_stage2<<<grid_for((size_t)out), LETHE_CUDA_THREADS>>>(db, partial, chunks, out);
    }
    cuda_check_launch("linear_backward");
}
