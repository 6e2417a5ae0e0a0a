/*
 * context.cu: the CUDA backend's state: device selection, the cuBLAS handle, TF32,
 * error recording, the grow-only scratch pools and the segment sums (see common.cuh).
 *
 * Not reentrant, like the CPU backend: one host thread calls ops at a time.
 */
#include "ops/cuda/common.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int inited;
static cublasHandle_t blas;
static char device_name[256];
static int tf32_on;
static int failed;
static double *result;

typedef struct {
    void *p;
    size_t bytes;
} pool;
static pool scratch_pool, partial_pool, coef_pool;
static size_t scratch_limit = (size_t)512 << 20;

// ---- errors -----------------------------------------------------------------------------------

void cuda_record_error(const char *op, cudaError_t e) {
    failed = 1;
    lethe_fail(e == cudaErrorMemoryAllocation ? LETHE_ERR_NOMEM : LETHE_ERR_NUMERIC, "CUDA %s: %s", op,
               cudaGetErrorString(e));
}

void cuda_record_cublas(const char *op, cublasStatus_t s) {
    failed = 1;
    lethe_fail(s == CUBLAS_STATUS_ALLOC_FAILED ? LETHE_ERR_NOMEM : LETHE_ERR_NUMERIC, "cuBLAS %s: status %d", op,
               (int)s);
}

int cuda_failed(void) { return failed; }

static __global__ void fill_nan(float *x, size_t n) {
    CUDA_LOOP(i, n) x[i] = __int_as_float(0x7fc00000);
}

void cuda_poison(float *x, size_t n, const char *op, size_t bytes) {
    if (x && n) fill_nan<<<grid_for(n), LETHE_CUDA_THREADS>>>(x, n);
    failed = 1;
    lethe_fail(LETHE_ERR_NOMEM, "%s: cannot allocate %zu bytes of GPU scratch memory", op, bytes);
}

// ---- device -------------------------------------------------------------------------------------

int lethe_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();   // clear it: a missing driver is an answer here, not a failure
        return 0;
    }
    return n;
}

lethe_status lethe_cuda_init(void) {
    if (inited) return LETHE_OK;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lethe_fail(LETHE_ERR_ARG, "no usable NVIDIA GPU (the CUDA runtime says: %s)", cudaGetErrorString(e));
    }
    if (n < 1) return lethe_fail(LETHE_ERR_ARG, "no usable NVIDIA GPU (the CUDA runtime found no device)");
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess)
        return lethe_fail(LETHE_ERR_ARG, "CUDA device 0: %s", cudaGetErrorString(e));
    // The build carries sm_80 and sm_90 code (runs on compute capability 8.x and 9.0) and
    // compute_90 PTX (JIT-compiled for newer GPUs); older GPUs have no kernel to run.
    if (prop.major < 8)
        return lethe_fail(LETHE_ERR_ARG, "CUDA device 0 (%s) has compute capability %d.%d; lethe's kernels need 8.0 or newer",
                          prop.name, prop.major, prop.minor);
    snprintf(device_name, sizeof device_name, "%s", prop.name);
    cublasStatus_t s = cublasCreate(&blas);
    if (s != CUBLAS_STATUS_SUCCESS) return lethe_fail(LETHE_ERR_ARG, "cuBLAS could not start (status %d)", (int)s);
    // FP32 unless asked (lethe_cuda_set_tf32, or LETHE_CUDA_TF32=1 in the environment):
    // TF32 rounds GEMM inputs to 10 mantissa bits.
    const char *env = getenv("LETHE_CUDA_TF32");
    if (env && env[0] == '1') tf32_on = 1;
    cublasSetMathMode(blas, tf32_on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if ((e = cudaMalloc((void **)&result, 8 * sizeof(double))) != cudaSuccess) {
        cublasDestroy(blas);
        return lethe_fail(LETHE_ERR_NOMEM, "CUDA: %s", cudaGetErrorString(e));
    }
    inited = 1;
    return LETHE_OK;
}

const char *lethe_cuda_device_name(void) { return device_name[0] ? device_name : "no CUDA device"; }

cublasHandle_t cuda_blas(void) { return blas; }

void lethe_cuda_set_tf32(int on) {
    tf32_on = on != 0;
    if (inited) cublasSetMathMode(blas, tf32_on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}

int lethe_cuda_tf32(void) { return tf32_on; }

void lethe_cuda_synchronize(void) {
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) cuda_record_error("synchronize", e);
}

// ---- scratch ------------------------------------------------------------------------------------

static void *pool_get(pool *p, size_t bytes) {
    if (bytes <= p->bytes && p->p) return p->p;
    size_t size = (bytes + 255) / 256 * 256;
    if (size < 256) size = 256;
    if (p->p) cudaFree(p->p);   // waits for the kernels that still use it
    p->p = NULL;
    p->bytes = 0;
    if (cudaMalloc(&p->p, size) != cudaSuccess) {
        cudaGetLastError();   // reported by the caller (poisoned outputs), not sticky
        p->p = NULL;
        return NULL;
    }
    p->bytes = size;
    return p->p;
}

void *cuda_scratch(size_t bytes) { return pool_get(&scratch_pool, bytes); }
void *cuda_partials(size_t bytes) { return pool_get(&partial_pool, bytes); }
void *cuda_coef(size_t bytes) { return pool_get(&coef_pool, bytes); }
double *cuda_result(void) { return result; }

void lethe_cuda_set_scratch_limit(size_t bytes) { scratch_limit = bytes; }
size_t lethe_cuda_scratch_limit(void) { return scratch_limit; }

void lethe_cuda_release_scratch(void) {
    pool *pools[3] = {&scratch_pool, &partial_pool, &coef_pool};
    for (int i = 0; i < 3; i++) {
        if (pools[i]->p) cudaFree(pools[i]->p);
        pools[i]->p = NULL;
        pools[i]->bytes = 0;
    }
}

// ---- segment sums -------------------------------------------------------------------------------

// Short segments: one warp per output.
static __global__ void segsum_warp(float *out, int accumulate, double div, const float *x, int nout, size_t ostride,
                                   size_t sstride, size_t inner, size_t count) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t o = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); o < (size_t)nout; o += (size_t)gridDim.x * warps) {
        const float *xo = x + o * ostride;
        double acc = 0.0;
        for (size_t j = lane; j < count; j += 32) {
            const size_t s = j / inner, p = j - s * inner;
            acc += (double)xo[s * sstride + p];
        }
        acc = warp_sum(acc);
        if (lane == 0) {
            const float v = (float)(acc / div);
            out[o] = accumulate ? out[o] + v : v;
        }
    }
}

// Long segments, stage 1: block (o, c) sums chunk c of segment o.
static __global__ void segsum_stage1(double *partial, const float *x, size_t ostride, size_t sstride, size_t inner,
                                     size_t count, size_t chunk) {
    const size_t o = blockIdx.x, c = blockIdx.y;
    const size_t j0 = c * chunk, j1 = j0 + chunk < count ? j0 + chunk : count;
    const float *xo = x + o * ostride;
    double acc = 0.0;
    for (size_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        const size_t s = j / inner, p = j - s * inner;
        acc += (double)xo[s * sstride + p];
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[o * gridDim.y + c] = acc;
}

// Stage 2: chunks of each segment added in order.
static __global__ void segsum_stage2(float *out, int accumulate, double div, const double *partial, int nout,
                                     int nchunk) {
    CUDA_LOOP(o, nout) {
        double acc = 0.0;
        for (int c = 0; c < nchunk; c++) acc += partial[o * nchunk + c];
        const float v = (float)(acc / div);
        out[o] = accumulate ? out[o] + v : v;
    }
}

#define SEG_WARP_MAX 2048   // segments up to this long: one warp each
#define SEG_CHUNK 16384

void segment_sum(const char *op, float *out, int accumulate, float divisor, const float *x, int nout, size_t ostride,
                 int outer, size_t sstride, size_t inner) {
    const size_t count = (size_t)outer * inner;
    if (nout <= 0) return;
    const double div = (double)divisor;
    if (count <= SEG_WARP_MAX) {
        const int warps = LETHE_CUDA_THREADS / 32;
        unsigned blocks = (unsigned)(((size_t)nout + warps - 1) / warps);
        if (blocks > 65535u * 16u) blocks = 65535u * 16u;
        segsum_warp<<<blocks, LETHE_CUDA_THREADS>>>(out, accumulate, div, x, nout, ostride, sstride, inner, count);
        cuda_check_launch(op);
        return;
    }
    size_t nchunk = (count + SEG_CHUNK - 1) / SEG_CHUNK;
    if (nchunk > 1024) nchunk = 1024;
    const size_t chunk = (count + nchunk - 1) / nchunk;
    double *partial = (double *)cuda_partials((size_t)nout * nchunk * sizeof(double));
    if (!partial) {
        cuda_poison(out, (size_t)nout, op, (size_t)nout * nchunk * sizeof(double));
        return;
    }
    segsum_stage1<<<dim3((unsigned)nout, (unsigned)nchunk), LETHE_CUDA_THREADS>>>(partial, x, ostride, sstride, inner,
                                                                                 count, chunk);
    segsum_stage2<<<grid_for((size_t)nout), LETHE_CUDA_THREADS>>>(out, accumulate, div, partial, nout, (int)nchunk);
    cuda_check_launch(op);
}
