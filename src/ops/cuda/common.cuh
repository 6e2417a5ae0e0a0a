/*
 * common.cuh: what the CUDA op files share (CUDA C++ only): launch sizes, error recording,
 * the scratch pools, row-major GEMM wrappers over cuBLAS, and deterministic reductions.
 *
 * defines: LETHE_CUDA_THREADS, grid_for, grid_for_warps, CUDA_LOOP, cuda_check_launch,
 *          cuda_scratch, cuda_partials, cuda_result, cuda_failed, gemm_rm, gemm_rm_batched,
 *          block_sum (double), warp_sum (double), sum_reduce<F> (double on the host)
 */
#ifndef LETHE_OPS_CUDA_COMMON_CUH
#define LETHE_OPS_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "ops/cuda/cuda.h"

#define LETHE_CUDA_THREADS 256   // threads per block of every 1-D kernel (a power of two)

// Blocks of LETHE_CUDA_THREADS covering n elements, capped: kernels loop (grid stride).
static inline unsigned grid_for(size_t n) {
    size_t b = (n + LETHE_CUDA_THREADS - 1) / LETHE_CUDA_THREADS;
    if (b < 1) b = 1;
    return b > 65535u * 16u ? 65535u * 16u : (unsigned)b;
}

// Blocks for kernels that give each of `rows` rows one warp (grid-stride over rows), capped likewise.
static inline unsigned grid_for_warps(size_t rows) {
    const size_t warps = LETHE_CUDA_THREADS / 32, b = (rows + warps - 1) / warps;
    return b > 65535u * 16u ? 65535u * 16u : (unsigned)(b ? b : 1);
}

// Grid-stride loop over i in [0, n) (size_t: tensors may exceed 2^31 elements).
#define CUDA_LOOP(i, n)                                                                     \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n);          \
         i += (size_t)blockDim.x * gridDim.x)

// ---- errors (context.cu) ------------------------------------------------------------------------
// Ops return void: a failed launch or allocation is recorded (lethe_fail with the op name)
// and makes every later reduction return NaN / "not finite", so the caller's NaN checks
// stop the run, as on the CPU when scratch memory runs out.
void cuda_record_error(const char *op, cudaError_t e);
void cuda_record_cublas(const char *op, cublasStatus_t s);
int cuda_failed(void);
static inline void cuda_check_launch(const char *op) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) cuda_record_error(op, e);
}
// x[0..n) = NaN and LETHE_ERR_NOMEM recorded: the void-op failure path (x may be NULL).
void cuda_poison(float *x, size_t n, const char *op, size_t bytes);

// ---- scratch (context.cu) -----------------------------------------------------------------------
// Grow-only device buffers. Growing frees the old buffer (cudaFree waits for the device),
// so a pointer is valid until the next call of the same pool: an op asks once for all it
// needs. cuda_scratch: big work buffers (im2col columns, attention dP); cuda_partials:
// partial sums of the reductions; cuda_coef: small host-to-device parameter arrays.
void *cuda_scratch(size_t bytes);
void *cuda_partials(size_t bytes);
void *cuda_coef(size_t bytes);
// A few doubles of device memory for reduction results read back by the host.
double *cuda_result(void);

// ---- cuBLAS (context.cu) -------------------------------------------------------------------------
cublasHandle_t cuda_blas(void);

// Row-major C (M, N) = alpha op(A) op(B) + beta C, with op(A) (M, K), op(B) (K, N) and
// leading dimensions of the stored (row-major) matrices. cuBLAS is column-major: a row-major
// matrix is its transpose in column-major, so C^T = op(B)^T op(A)^T is computed instead.
static inline void gemm_rm(const char *op, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cublasStatus_t s = cublasSgemm(cuda_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                                   &alpha, B, ldb, A, lda, &beta, C, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) cuda_record_cublas(op, s);
}

// The same for `batch` independent products, matrix i at A + i*sa, B + i*sb, C + i*sc
// (sa = 0 shares one A across the batch).
static inline void gemm_rm_batched(const char *op, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                                   int lda, long long sa, const float *B, int ldb, long long sb, float beta, float *C,
                                   int ldc, long long sc, int batch) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    cublasStatus_t s = cublasSgemmStridedBatched(cuda_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                 ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, sb, A, lda,
                                                 sa, &beta, C, ldc, sc, batch);
    if (s != CUBLAS_STATUS_SUCCESS) cuda_record_cublas(op, s);
}

// ---- deterministic reductions ----------------------------------------------------------------------

// Sum over a warp; the full value lands in lane 0. Fixed butterfly order.
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. Same order on every run: lanes, then warps in index order. Safe to call again
// in the same kernel (it synchronises before and after using its shared memory).
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double part[32];
    __shared__ double total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double s = lane < nw ? part[lane] : 0.0;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

// Elements per block of the first stage: fixed, so the partition (and the rounding)
// depends only on n, never on the device.
#define REDUCE_CHUNK 16384
#define REDUCE_MAX_BLOCKS 4096

// Stage 1: block b sums f(i) for i in its contiguous chunk(s): chunk b, b + gridDim.x, ...
template <typename F>
__global__ void reduce_stage1(double *partial, size_t n, size_t chunk, F f) {
    double acc = 0.0;
    for (size_t c0 = (size_t)blockIdx.x * chunk; c0 < n; c0 += (size_t)gridDim.x * chunk) {
        const size_t end = c0 + chunk < n ? c0 + chunk : n;
        for (size_t i = c0 + threadIdx.x; i < end; i += blockDim.x) acc += f(i);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Stage 2: one block adds the partial sums; out[0] = total.
static __global__ void reduce_stage2(double *out, const double *partial, int nb) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[0] = acc;
}

// sum_{i < n} f(i) in double, deterministic; waits for the device. NaN if an earlier op failed.
template <typename F>
double sum_reduce(const char *op, size_t n, F f) {
    if (n == 0) return 0.0;
    size_t nb = (n + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    if (nb > REDUCE_MAX_BLOCKS) nb = REDUCE_MAX_BLOCKS;
    double *partial = (double *)cuda_partials(nb * sizeof(double));
    double *res = cuda_result();
    if (!partial || !res) return NAN;
    reduce_stage1<<<(unsigned)nb, LETHE_CUDA_THREADS>>>(partial, n, (size_t)REDUCE_CHUNK, f);
    reduce_stage2<<<1, LETHE_CUDA_THREADS>>>(res, partial, (int)nb);
    cuda_check_launch(op);
    double h = NAN;
    cudaError_t e = cudaMemcpy(&h, res, sizeof h, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) cuda_record_error(op, e);
    return cuda_failed() ? NAN : h;
}

// Per-segment sums: out[o] (= or +=) (sum_j x[o * ostride + off(j)]) / divisor, where
// j = s * inner + p (s < outer, p < inner) is at off(j) = s * sstride + p: `outer` runs of
// `inner` contiguous floats, `sstride` apart. In double, in a fixed order (one warp per
// short segment; two stages for long ones). Conv bias gradients, channel bias, spatial mean.
void segment_sum(const char *op, float *out, int accumulate, float divisor, const float *x, int nout, size_t ostride,
                 int outer, size_t sstride, size_t inner);

#endif
