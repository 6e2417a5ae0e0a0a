/*
 * threads.c: the CPU backend's threading policy: OpenMP owns the cores.
 *
 * OpenBLAS here is the pthread build, with its own thread pool. Two pools on the same
 * cores fight: OpenMP workers spin after each parallel region while OpenBLAS workers want
 * the core (measured on a shared 2-vCPU box: conv2d 5-15x slower than single-threaded
 * with OpenMP im2col around multi-threaded OpenBLAS GEMMs).
 * So when OpenMP has more than one thread, the backend makes OpenBLAS single-threaded and
 * parallelises GEMM work itself (conv tiles, linear row blocks), calling sgemm from
 * inside OpenMP regions. With one OpenMP thread (OMP_NUM_THREADS=1, or a build without
 * -fopenmp) OpenBLAS keeps whatever thread count it was given and GEMMs are called from
 * serial code, so they still use every core.
 */
#include "ops/cpu/cpu.h"

#include <cblas.h>

#ifdef _OPENMP
#include <omp.h>
#endif

int lethe_cpu_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int lethe_cpu_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int lethe_cpu_gemm_threads(void) {
    const int nt = lethe_cpu_max_threads();
    // checked on every call: someone (the CLI's --threads) may have raised it since
    if (nt > 1 && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    return nt;
}
