/*
 * linear.c: fully connected layer (PyTorch nn.Linear), y = x w^T + b, on OpenBLAS SGEMM.
 *
 *   x (m, in), w (out, in), b (out) or NULL, y (m, out)
 *   dx (m, in) += dy w,  dw (out, in) += dy^T x,  db (out) += column sums of dy
 */
#include "ops/cpu/cpu.h"

#include <cblas.h>

void lethe_cpu_linear_forward(float *y, const float *x, const float *w, const float *b, int m, int in, int out) {
    if (b)   // y = b broadcast, then y += x w^T
        for (int r = 0; r < m; r++) memcpy(y + (size_t)r * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

void lethe_cpu_linear_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int m, int in, int out) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, m, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) {
        #pragma omp parallel for schedule(static) if ((size_t)m * out > LETHE_CPU_PAR_MIN)
        for (int o = 0; o < out; o++) {
            double acc = 0.0;
            for (int r = 0; r < m; r++) acc += (double)dy[(size_t)r * out + o];
            db[o] += (float)acc;
        }
    }
}
