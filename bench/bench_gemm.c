/*
 * bench_gemm.c: the OpenBLAS SGEMM ceiling on this machine, at square sizes and at the
 * shapes lethe's convolutions produce (im2col: M = out channels, K = in channels x 9).
 * ../shared/targets.md quotes ~390 GFLOP/s at n = 2048 on 2 cores for the reference
 * machine; what this prints bounds what any OpenBLAS-based step can reach here.
 *
 *   build/bench/bench_gemm            (threads from OPENBLAS_NUM_THREADS, default all)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/progress.h"

static void run(int M, int N, int K, const char *what) {
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * N * sizeof(float));
    float *C = malloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = 1e-3f * (float)(i % 7);
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = 1e-3f * (float)(i % 5);
    double best = 1e30;
    for (int r = 0; r < 10; r++) {
        double t0 = lethe_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        double t = lethe_now() - t0;
        if (t < best) best = t;
    }
    printf("%-34s M=%-5d N=%-5d K=%-5d %7.1f GFLOP/s\n", what, M, N, K, 2.0 * M * N * K / best / 1e9);
    free(A);
    free(B);
    free(C);
}

int main(void) {
    printf("OpenBLAS SGEMM, %d threads, best of 10\n", openblas_get_num_threads());
    run(2048, 2048, 2048, "square 2048");
    run(512, 512, 512, "square 512");
    run(32, 8192, 288, "tiny conv 32ch 28x28 (im2col)");
    run(64, 8192, 576, "tiny conv 64ch 14x14 (im2col)");
    run(128, 8192, 1152, "small conv 128ch 14x14 (im2col)");
    return 0;
}
