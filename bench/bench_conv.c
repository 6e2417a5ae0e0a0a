/*
 * bench_conv.c: conv2d forward and backward throughput of the active backend (CPU) on the
 * shapes of the tiny MNIST UNet, in GFLOP/s counted as 2 * multiply-adds
 * (forward: n*co*oh*ow*ci*kh*kw MACs; backward dx + dw: twice that; db not counted).
 *
 *   ./build/bench/bench_conv [batch=64] [seconds per shape=1] [scratch limit in KiB]
 * Threads: OMP_NUM_THREADS (with more than one, OpenBLAS runs single-threaded inside
 * OpenMP tiles: see ops/cpu/threads.c). Times are the best of repeated runs.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/rng.h"
#include "ops/cpu/cpu.h"
#include "ops/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_buffer(size_t n, uint64_t stream) {
    float *p = ops()->alloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory (%zu floats)\n", n);
        exit(1);
    }
    ops()->randn(p, n, 1234, stream, 0);
    return p;
}

typedef struct {
    const char *what;
    int ci, hw, co, k, stride, pad;
} bench_shape;

int main(int argc, char **argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 64;
    const double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (argc > 3) lethe_cpu_set_scratch_limit((size_t)atof(argv[3]) * 1024);
    if (n <= 0 || seconds <= 0) {
        fprintf(stderr, "usage: bench_conv [batch > 0] [seconds per shape > 0]\n");
        return 2;
    }
    const bench_shape shapes[] = {
        {"32ch 28x28 3x3", 32, 28, 32, 3, 1, 1},
        {"64ch 14x14 3x3", 64, 14, 64, 3, 1, 1},
        {"64ch 7x7 3x3", 64, 7, 64, 3, 1, 1},
        {"1->32 28x28 3x3 (input)", 1, 28, 32, 3, 1, 1},
        {"32->64 28->14 3x3 s2 (down)", 32, 28, 64, 3, 2, 1},
        {"128->64 14x14 3x3 (skip cat)", 128, 14, 64, 3, 1, 1},
        {"64ch 7x7 1x1", 64, 7, 64, 1, 1, 0},
        {"32->64 28x28 1x1", 32, 28, 64, 1, 1, 0},
    };
    int omp_threads = 1;
#ifdef _OPENMP
    omp_threads = omp_get_max_threads();
#endif
    lethe_cpu_gemm_threads();   // apply the backend's threading policy before reporting it
    printf("conv2d on backend '%s', batch %d, %d OpenMP threads, %d OpenBLAS threads per sgemm call\n", ops()->name, n,
           omp_threads, openblas_get_num_threads());
    printf("%-30s %10s %10s %10s %9s %9s\n", "shape", "fwd GF/s", "bwd GF/s", "f+b GF/s", "fwd ms", "bwd ms");
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const bench_shape *b = &shapes[t];
        const conv2d_shape s = {n, b->ci, b->hw, b->hw, b->co, b->k, b->k, b->stride, b->pad};
        const int oh = conv2d_out_h(&s), ow = conv2d_out_w(&s);
        const size_t nx = (size_t)n * s.ci * s.h * s.w, nw = (size_t)s.co * s.ci * s.kh * s.kw;
        const size_t ny = (size_t)n * s.co * oh * ow;
        float *x = random_buffer(nx, 1), *w = random_buffer(nw, 2), *bias = random_buffer(s.co, 3);
        float *y = random_buffer(ny, 4), *dy = random_buffer(ny, 5);
        float *dx = random_buffer(nx, 6), *dw = random_buffer(nw, 7), *db = random_buffer(s.co, 8);
        const double macs = (double)ny * s.ci * s.kh * s.kw;
        // warm up (scratch growth, OpenBLAS thread start), then best of repeated runs
        ops()->conv2d_forward(y, x, w, bias, &s);
        ops()->conv2d_backward(dx, dw, db, dy, x, w, &s);
        double best_f = 1e30, best_b = 1e30;
        const double t_end = now() + seconds;
        int reps = 0;
        do {
            double t0 = now();
            ops()->conv2d_forward(y, x, w, bias, &s);
            double t1 = now();
            ops()->conv2d_backward(dx, dw, db, dy, x, w, &s);
            double t2 = now();
            if (t1 - t0 < best_f) best_f = t1 - t0;
            if (t2 - t1 < best_b) best_b = t2 - t1;
            reps++;
        } while (now() < t_end || reps < 3);
        printf("%-30s %10.1f %10.1f %10.1f %9.3f %9.3f\n", b->what, 2 * macs / best_f * 1e-9,
               4 * macs / best_b * 1e-9, 6 * macs / (best_f + best_b) * 1e-9, best_f * 1e3, best_b * 1e3);
        ops()->release(x); ops()->release(w); ops()->release(bias); ops()->release(y); ops()->release(dy);
        ops()->release(dx); ops()->release(dw); ops()->release(db);
    }
    return 0;
}
