/*
 * emu.h: just enough of CUDA and cuBLAS, on the host, to run the .cu files of src/ops/cuda as plain
 * C++ (a dev tool for machines without a GPU; see run.sh).
 *
 * Kernels run one block at a time. Kernels without barriers run their threads one after
 * another; kernels with __syncthreads or warp shuffles (translate.py marks them) run each
 * thread of the block as a ucontext fiber that yields at every barrier, so block and warp
 * barriers, shared memory and shuffles behave as on the GPU. cuBLAS is OpenBLAS's
 * column-major cblas_sgemm (the same semantics), after cuBLAS's own argument checks.
 *
 * Device memory is its own mmap, PROT_NONE whenever host code runs (LETHE_EMU_GUARD=0 turns
 * this off): host code that reads or writes device memory without to_host / to_device
 * crashes at that line, as it would (with garbage or a fault) on a real GPU.
 *
 * What it checks: kernel index arithmetic, launch geometry, the row-major <-> column-major
 * GEMM mapping, barrier and shuffle logic, scratch use. What it cannot: the GPU's memory
 * model and races, nvcc's code generation, CUDA's math library, speed.
 */
#ifndef LETHE_CUDA_EMU_H
#define LETHE_CUDA_EMU_H

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <functional>
#include <vector>

// ---- language ------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static   // one block runs at a time, so a static is the block's shared memory

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
    unsigned x, y, z;
};
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

// ---- device memory guard ----------------------------------------------------------------------
struct emu_alloc {
    void *p;
    size_t len;
};
inline std::vector<emu_alloc> emu_allocs;
inline int emu_guard = -1;
inline int emu_open_depth;

inline int emu_guarding() {
    if (emu_guard < 0) {
        const char *e = getenv("LETHE_EMU_GUARD");
        emu_guard = !(e && e[0] == '0');
    }
    return emu_guard;
}

inline void emu_protect_all(int prot) {
    for (const emu_alloc &a : emu_allocs)
        if (mprotect(a.p, a.len, prot) != 0) {
            perror("cuda emu: mprotect");
            abort();
        }
}

// Device memory is readable while one of these lives (kernels, copies, cuBLAS).
struct emu_device_scope {
    emu_device_scope() {
        if (emu_guarding() && emu_open_depth++ == 0) emu_protect_all(PROT_READ | PROT_WRITE);
    }
    ~emu_device_scope() {
        if (emu_guarding() && --emu_open_depth == 0) emu_protect_all(PROT_NONE);
    }
};

// ---- fibers and barriers -------------------------------------------------------------------------
struct emu_fiber {
    ucontext_t uc;
    uint3 tid;
    int state;          // 0 runnable, 1 waits at the block barrier, 2 at its warp barrier, 3 done
    unsigned long gen;  // barrier generation it waits for
};

struct emu_block {
    std::vector<emu_fiber> f;
    std::vector<char *> stacks;
    ucontext_t sched;
    int cur;
    unsigned long block_gen;
    int block_arrived;
    std::vector<unsigned long> warp_gen;
    std::vector<int> warp_arrived;
    std::vector<uint64_t> slots;   // [warp][2][32] shuffle values
    const std::function<void()> *body;
    int fibers_on;                 // inside a barrier kernel
};
inline emu_block emu;

inline int emu_linear_tid() { return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }

inline void emu_yield() { swapcontext(&emu.f[emu.cur].uc, &emu.sched); }

inline void emu_fail(const char *what) {
    fprintf(stderr, "cuda emu: %s\n", what);
    abort();
}

inline void __syncthreads() {
    if (!emu.fibers_on) emu_fail("__syncthreads in a kernel translate.py did not mark (no fibers)");
    emu_fiber &me = emu.f[emu.cur];
    me.state = 1;
    me.gen = emu.block_gen;
    emu.block_arrived++;
    emu_yield();
}

// All live lanes of the warp deposit a value; returns after every one of them has.
inline int emu_warp_exchange(uint64_t v, unsigned long *gen_out) {
    if (!emu.fibers_on) emu_fail("warp shuffle in a kernel translate.py did not mark (no fibers)");
    const int t = emu_linear_tid(), w = t / 32, lane = t % 32;
    const unsigned long g = emu.warp_gen[w];
    emu.slots[((size_t)w * 2 + (g & 1)) * 32 + lane] = v;
    emu_fiber &me = emu.f[emu.cur];
    me.state = 2;
    me.gen = g;
    emu.warp_arrived[w]++;
    emu_yield();
    *gen_out = g;
    return w;
}

template <typename T>
inline T emu_shfl(T v, int src_lane_offset_mode, int arg) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    unsigned long g;
    const int lane = emu_linear_tid() % 32;
    const int w = emu_warp_exchange(bits, &g);
    int src;
    if (src_lane_offset_mode == 0) src = lane + arg;        // down
    else if (src_lane_offset_mode == 1) src = lane ^ arg;   // xor
    else src = arg;                                         // broadcast from lane
    if (src < 0 || src >= 32) return v;
    uint64_t got = emu.slots[((size_t)w * 2 + (g & 1)) * 32 + src];
    T r;
    memcpy(&r, &got, sizeof r);
    return r;
}

template <typename T> inline T __shfl_down_sync(unsigned, T v, int d) { return emu_shfl(v, 0, d); }
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int m) { return emu_shfl(v, 1, m); }
template <typename T> inline T __shfl_sync(unsigned, T v, int l) { return emu_shfl(v, 2, l); }

inline void emu_trampoline() {
    (*emu.body)();
    emu.f[emu.cur].state = 3;
    // returning resumes uc_link (the scheduler)
}

// Runs one block of fibers until all are done, releasing barriers as they fill.
inline void emu_run_block_fibers(dim3 b) {
    const int nt = (int)(b.x * b.y * b.z), nw = (nt + 31) / 32;
    const size_t stack = 256 * 1024;
    while ((int)emu.stacks.size() < nt) emu.stacks.push_back((char *)malloc(stack));
    emu.f.assign((size_t)nt, emu_fiber());
    emu.warp_gen.assign((size_t)nw, 0);
    emu.warp_arrived.assign((size_t)nw, 0);
    emu.slots.assign((size_t)nw * 64, 0);
    emu.block_gen = 0;
    emu.block_arrived = 0;
    for (int t = 0; t < nt; t++) {
        emu_fiber &f = emu.f[t];
        f.tid = {(unsigned)(t % b.x), (unsigned)((t / b.x) % b.y), (unsigned)(t / (b.x * b.y))};
        f.state = 0;
        getcontext(&f.uc);
        f.uc.uc_stack.ss_sp = emu.stacks[t];
        f.uc.uc_stack.ss_size = stack;
        f.uc.uc_link = &emu.sched;
        makecontext(&f.uc, emu_trampoline, 0);
    }
    int alive = nt;
    std::vector<int> alive_w((size_t)nw, 0);
    for (int t = 0; t < nt; t++) alive_w[(size_t)t / 32]++;
    for (;;) {
        int progressed = 0;
        for (int t = 0; t < nt; t++) {
            emu_fiber &f = emu.f[t];
            if (f.state == 3) continue;
            const int w = t / 32;
            const int ready = f.state == 0 || (f.state == 1 && emu.block_gen > f.gen) ||
                              (f.state == 2 && emu.warp_gen[w] > f.gen);
            if (!ready) continue;
            f.state = 0;
            emu.cur = t;
            threadIdx = f.tid;
            swapcontext(&emu.sched, &f.uc);
            progressed = 1;
            if (f.state == 3) {
                alive--;
                alive_w[w]--;
            }
            // release barriers that are now full (threads that returned do not count)
            if (emu.block_arrived > 0 && emu.block_arrived == alive) {
                emu.block_gen++;
                emu.block_arrived = 0;
            }
            if (emu.warp_arrived[w] > 0 && emu.warp_arrived[w] == alive_w[w]) {
                emu.warp_gen[w]++;
                emu.warp_arrived[w] = 0;
            }
        }
        if (!alive) break;
        if (!progressed) emu_fail("deadlock: threads wait at a barrier others never reach");
    }
}

inline void emu_launch(int barriers, dim3 g, dim3 b, const std::function<void()> &body) {
    emu_device_scope open;
    if (b.x * b.y * b.z > 1024 || b.x * b.y * b.z == 0) emu_fail("bad block size");
    if (g.y > 65535 || g.z > 65535 || g.x == 0) emu_fail("bad grid size");
    gridDim = g;
    blockDim = b;
    for (unsigned bz = 0; bz < g.z; bz++)
        for (unsigned by = 0; by < g.y; by++)
            for (unsigned bx = 0; bx < g.x; bx++) {
                blockIdx = {bx, by, bz};
                if (!barriers) {
                    for (unsigned tz = 0; tz < b.z; tz++)
                        for (unsigned ty = 0; ty < b.y; ty++)
                            for (unsigned tx = 0; tx < b.x; tx++) {
                                threadIdx = {tx, ty, tz};
                                body();
                            }
                } else {
                    emu.body = &body;
                    emu.fibers_on = 1;
                    emu_run_block_fibers(b);
                    emu.fibers_on = 0;
                }
            }
}

// ---- device intrinsics ------------------------------------------------------------------------------
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

// ---- runtime --------------------------------------------------------------------------------------
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 };
typedef int cudaMemcpyKind;
enum { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
typedef void *cudaStream_t;
struct cudaDeviceProp {
    char name[256];
    int major, minor;
};
inline cudaError_t emu_last_error;
inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated CUDA error" : "no error"; }
inline cudaError_t cudaGetLastError() {
    cudaError_t e = emu_last_error;
    emu_last_error = 0;
    return e;
}
inline cudaError_t cudaPeekAtLastError() { return emu_last_error; }
inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    snprintf(p->name, sizeof p->name, "host emulation (dev/cuda_emu)");
    p->major = 9;
    p->minor = 0;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    const size_t len = (bytes + 4095) / 4096 * 4096 + 4096;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        *p = NULL;
        return cudaErrorMemoryAllocation;
    }
    memset(m, 0xA5, len);   // garbage, like fresh device memory
    if (emu_guarding() && emu_open_depth == 0) mprotect(m, len, PROT_NONE);
    emu_allocs.push_back({m, len});
    *p = m;
    return cudaSuccess;
}
inline cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    for (size_t i = 0; i < emu_allocs.size(); i++)
        if (emu_allocs[i].p == p) {
            munmap(p, emu_allocs[i].len);
            emu_allocs.erase(emu_allocs.begin() + (long)i);
            return cudaSuccess;
        }
    emu_fail("cudaFree of a pointer cudaMalloc did not return");
    return cudaErrorInvalidValue;
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) {
    emu_device_scope open;
    memset(p, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t = 0) { return cudaMemset(p, v, n); }
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    emu_device_scope open;
    if ((const char *)d < (const char *)s + n && (const char *)s < (const char *)d + n && d != s)
        emu_fail("cudaMemcpy with overlapping ranges");
    memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t = 0) {
    return cudaMemcpy(d, s, n, k);
}
inline cudaError_t cudaMemcpy2DAsync(void *d, size_t dpitch, const void *s, size_t spitch, size_t width, size_t height,
                                     cudaMemcpyKind, cudaStream_t = 0) {
    emu_device_scope open;
    if (width > dpitch || width > spitch) return cudaErrorInvalidValue;
    for (size_t r = 0; r < height; r++) memcpy((char *)d + r * dpitch, (const char *)s + r * spitch, width);
    return cudaSuccess;
}

// ---- cuBLAS -------------------------------------------------------------------------------------------
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_ALLOC_FAILED = 3, CUBLAS_STATUS_INVALID_VALUE = 7 };
typedef int cublasOperation_t;
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
typedef int cublasMath_t;
enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
typedef void *cublasHandle_t;
inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = (void *)1;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

// cuBLAS's argument rules for column-major C (m, n) = op(A) op(B)
inline cublasStatus_t emu_gemm_check(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb,
                                     int ldc) {
    auto mx = [](int a) { return a > 1 ? a : 1; };
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < mx(ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldb < mx(tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldc < mx(m)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const float *alpha, const float *A, int lda, const float *B, int ldb,
                                  const float *beta, float *C, int ldc) {
    emu_device_scope open;
    cublasStatus_t s = emu_gemm_check(ta, tb, m, n, k, lda, ldb, ldc);
    if (s) {
        fprintf(stderr, "cuda emu: cublasSgemm invalid arguments m %d n %d k %d lda %d ldb %d ldc %d\n", m, n, k, lda,
                ldb, ldc);
        return s;
    }
    if (!m || !n) return CUBLAS_STATUS_SUCCESS;
    if (*beta == 0.0f)   // cuBLAS does not read C when beta is 0
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[i + (size_t)j * ldc] = 0.0f;
    cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                int n, int k, const float *alpha, const float *A, int lda, long long sa,
                                                const float *B, int ldb, long long sb, const float *beta, float *C,
                                                int ldc, long long sc, int batch) {
    for (int i = 0; i < batch; i++) {
        cublasStatus_t s = cublasSgemm(h, ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
        if (s) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

#endif
