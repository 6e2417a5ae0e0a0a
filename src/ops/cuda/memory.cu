/*
 * memory.cu: CUDA backend memory ops. alloc is cudaMalloc (256-byte aligned) zero-filled
 * as the table promises; to_device / to_host are synchronous cudaMemcpy, so the host
 * buffer may be reused as soon as they return.
 */
#include "ops/cuda/common.cuh"

#include <string.h>

void *lethe_cuda_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
        cudaGetLastError();   // NULL is the answer; the caller reports it
        return NULL;
    }
    if (cudaMemset(p, 0, bytes ? bytes : 256) != cudaSuccess) {
        cudaGetLastError();
        cudaFree(p);
        return NULL;
    }
    return p;
}

void lethe_cuda_release(void *p) {
    if (p) cudaFree(p);
}

void lethe_cuda_to_device(void *dst, const void *src_host, size_t bytes) {
    if (!bytes) return;
    cudaError_t e = cudaMemcpy(dst, src_host, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) cuda_record_error("to_device", e);
}

void lethe_cuda_to_host(void *dst_host, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaError_t e = cudaMemcpy(dst_host, src, bytes, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) cuda_record_error("to_host", e);
}

// dst, src (n); may overlap (memmove): cudaMemcpy does not allow overlap, so overlapping
// ranges go through scratch.
void lethe_cuda_copy(float *dst, const float *src, size_t n) {
    if (!n || dst == src) return;
    const size_t bytes = n * sizeof(float);
    cudaError_t e;
    if (dst + n <= src || src + n <= dst) {
        e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0);
    } else {
        float *tmp = (float *)cuda_scratch(bytes);
        if (!tmp) {
            cuda_poison(dst, n, "copy", bytes);
            return;
        }
        e = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, 0);
        if (e == cudaSuccess) e = cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, 0);
    }
    if (e != cudaSuccess) cuda_record_error("copy", e);
}

static __global__ void fill_kernel(float *x, float value, size_t n) {
    CUDA_LOOP(i, n) x[i] = value;
}

// x (n) = value
void lethe_cuda_fill(float *x, float value, size_t n) {
    if (!n) return;
    if (value == 0.0f) {   // +0.0 only: all-zero bytes
        uint32_t bits;
        memcpy(&bits, &value, sizeof bits);
        if (bits == 0) {
            cudaError_t e = cudaMemsetAsync(x, 0, n * sizeof(float), 0);
            if (e != cudaSuccess) cuda_record_error("fill", e);
            return;
        }
    }
    fill_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(x, value, n);
    cuda_check_launch("fill");
}
