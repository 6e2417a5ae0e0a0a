/*
 * linear.c: fully connected layer (PyTorch nn.Linear), y = x w^T + b, on OpenBLAS SGEMM.
 *
 *   x (m, in), w (out, in), b (out) or NULL, y (m, out)
 *   dx (m, in) += dy w,  dw (out, in) += dy^T x,  db (out) += column sums of dy
 * Threads (see threads.c): large products are split into row blocks (of y and dx by
 * rows of x, of dw by output features), one single-threaded sgemm per OpenMP thread;
 * every element is still one whole dot product, so blocks do not change the sums.
 */
#include "ops/cpu/cpu.h"

// below this many multiply-adds one sgemm call does the whole product
#define LINEAR_PAR_MIN_MACS ((size_t)1 << 20)

// number of row blocks to split `rows` into
static int blocks_for(int rows, size_t macs) {
    const int nt = lethe_cpu_gemm_threads();
    if (nt <= 1 || macs < LINEAR_PAR_MIN_MACS) return 1;
    return rows < nt ? rows : nt;
}

// rows [*lo, *hi) of block bi of nb equal blocks of n
static void block_range(int n, int nb, int bi, int *lo, int *hi) {
    *lo = (int)((long long)n * bi / nb);
    *hi = (int)((long long)n * (bi + 1) / nb);
}

void lethe_cpu_linear_forward(float *y, const float *x, const float *w, const float *b, int m, int in, int out) {
    const int nb = blocks_for(m, (size_t)m * in * out);
    #pragma omp parallel for schedule(static) if (nb > 1)
    for (int bi = 0; bi < nb; bi++) {
        int r0, r1;
        block_range(m, nb, bi, &r0, &r1);
        if (r1 == r0) continue;
        if (b)   // y = b broadcast, then y += x w^T
            for (int r = r0; r < r1; r++) memcpy(y + (size_t)r * out, b, (size_t)out * sizeof(float));
        lethe_cpu_sgemm(false, true, r1 - r0, out, in, 1.0f, x + (size_t)r0 * in, in, w, in,
                        b ? 1.0f : 0.0f, y + (size_t)r0 * out, out);
    }
}

// db (out) += the column sums of dy (m, out). Each column is summed in double over the rows
// in order, as a column-by-column loop would (bit-identical), but dy is read row by row, a
// block of columns at a time: the column walk strided `out` floats per add and spent ~9% of
// a canvas-tiny training step waiting on memory.
#define BIAS_GRAD_MAX_COLS 256
static void bias_grad(float *db, const float *dy, int m, int out) {
    const int nt = lethe_cpu_gemm_threads();
    int cols = (out + nt - 1) / nt;
    cols = (cols + 15) / 16 * 16;
    if (cols > BIAS_GRAD_MAX_COLS) cols = BIAS_GRAD_MAX_COLS;
    const int nblk = (out + cols - 1) / cols;
    #pragma omp parallel for schedule(static) if ((size_t)m * out > LETHE_CPU_PAR_MIN && nblk > 1)
    for (int bk = 0; bk < nblk; bk++) {
        const int o0 = bk * cols, n = out - o0 < cols ? out - o0 : cols;
        double acc[BIAS_GRAD_MAX_COLS];
        for (int i = 0; i < n; i++) acc[i] = 0.0;
        for (int r = 0; r < m; r++) {
            const float *row = dy + (size_t)r * out + o0;
            for (int i = 0; i < n; i++) acc[i] += (double)row[i];
        }
        for (int i = 0; i < n; i++) db[o0 + i] += (float)acc[i];
    }
}

void lethe_cpu_linear_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int m, int in, int out) {
    const size_t macs = (size_t)m * in * out;
    if (dx) {   // rows of dx: dx[r0:r1] += dy[r0:r1] w
        const int nb = blocks_for(m, macs);
        #pragma omp parallel for schedule(static) if (nb > 1)
        for (int bi = 0; bi < nb; bi++) {
            int r0, r1;
            block_range(m, nb, bi, &r0, &r1);
            if (r1 > r0)
                lethe_cpu_sgemm(false, false, r1 - r0, in, out, 1.0f, dy + (size_t)r0 * out,
                                out, w, in, 1.0f, dx + (size_t)r0 * in, in);
        }
    }
    if (dw) {   // rows of dw: dw[o0:o1] += dy[:, o0:o1]^T x
        const int nb = blocks_for(out, macs);
        #pragma omp parallel for schedule(static) if (nb > 1)
        for (int bi = 0; bi < nb; bi++) {
            int o0, o1;
            block_range(out, nb, bi, &o0, &o1);
            if (o1 > o0)
                lethe_cpu_sgemm(true, false, o1 - o0, in, m, 1.0f, dy + o0, out, x, in, 1.0f,
                                dw + (size_t)o0 * in, in);
        }
    }
    if (db) bias_grad(db, dy, m, out);
}
