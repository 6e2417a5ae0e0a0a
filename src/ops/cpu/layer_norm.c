/*
 * layer_norm.c: LayerNorm over the last dimension (PyTorch nn.LayerNorm(width)), forward
 * and backward: CLIP's text transformer normalises every token this way.
 *
 * x, y (rows, width); statistics per row over its width values:
 *   mean = sum x / width,  var = sum (x - mean)^2 / width  (biased),  rstd = 1 / sqrt(var + eps)
 *   y = (x - mean) * rstd * gamma[j] + beta[j]
 * Statistics in double, two passes (mean, then squared deviations), as group_norm.c, so a
 * large mean does not cancel. gamma/beta may be NULL (elementwise_affine=False: 1 and 0).
 * Backward has only the saved float mean: its x - mean is off by up to half an ulp of the
 * mean (relative 5e-5 of the spread for mean 1000, spread 2; 1e-7 for ordinary rows).
 */
#include "ops/cpu/cpu.h"

#include <math.h>

// columns of dgamma/dbeta one thread sums at a time (a stack array of doubles)
#define LN_COL_BLOCK 64

// y (rows, width) = layernorm(x); mean, rstd (rows) saved for backward
void lethe_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int rows, int width, float eps) {
    #pragma omp parallel for schedule(static) if ((size_t)rows * width > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * width;
        float *yr = y + (size_t)r * width;
        const double mu = lethe_cpu_sum_f64(xr, (size_t)width) / (double)width;
        const double var = lethe_cpu_sqdev_f64(xr, (size_t)width, mu) / (double)width;
        const double rs = 1.0 / sqrt(var + (double)eps);
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
        // xhat in double from the double mean, not x a + b in float: a row's spread may be
        // tiny next to its mean (mean 1000, spread 2: the float mean alone is off by 3e-5)
        for (int j = 0; j < width; j++) {
            const float xh = (float)(((double)xr[j] - mu) * rs);
            yr[j] = (gamma ? xh * gamma[j] : xh) + (beta ? beta[j] : 0.0f);
        }
    }
}

// dx (rows, width), dgamma (width), dbeta (width) += gradients given dy and the saved mean,
// rstd. With xhat = (x - mean) rstd and g = gamma dy, per row:
//   dx = rstd * (g - mean(g) - xhat * mean(g xhat)),  dgamma += sum_rows dy xhat,  dbeta += sum_rows dy
void lethe_cpu_layer_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int rows, int width) {
    const size_t total = (size_t)rows * width;
    // Parameter gradients: threads own blocks of columns and add the rows in order, so the
    // sums do not depend on the thread count (no per-thread partials to combine).
    if (dgamma || dbeta) {
        const int nblocks = (width + LN_COL_BLOCK - 1) / LN_COL_BLOCK;
        #pragma omp parallel for schedule(static) if (total > LETHE_CPU_PAR_MIN)
        for (int b = 0; b < nblocks; b++) {
            const int j0 = b * LN_COL_BLOCK, nj = width - j0 < LN_COL_BLOCK ? width - j0 : LN_COL_BLOCK;
            double sg[LN_COL_BLOCK] = {0}, sb[LN_COL_BLOCK] = {0};
            for (int r = 0; r < rows; r++) {
                const float *dyr = dy + (size_t)r * width + j0, *xr = x + (size_t)r * width + j0;
                const double mu = mean[r], rs = rstd[r];
                for (int j = 0; j < nj; j++) {
                    sg[j] += (double)dyr[j] * (((double)xr[j] - mu) * rs);
                    sb[j] += (double)dyr[j];
                }
            }
            for (int j = 0; j < nj; j++) {
                if (dgamma) dgamma[j0 + j] += (float)sg[j];
                if (dbeta) dbeta[j0 + j] += (float)sb[j];
            }
        }
    }
    if (!dx) return;
    // dx = rstd (g - A / width) + bx (x - mean) with A = sum g, S = sum g (x - mean),
    //   bx = -rstd^3 S / width   (x - mean, not bx x + const: no cancellation; g - mean(g)
    //   before the factor rstd, so a row of one value gets exactly 0, not rstd times rounding)
    #pragma omp parallel for schedule(static) if (total > LETHE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *dyr = dy + (size_t)r * width, *xr = x + (size_t)r * width;
        float *dxr = dx + (size_t)r * width;
        const float muf = mean[r], rsf = rstd[r];
        const double mu = muf, rs = rsf;
        double A = 0.0, S = 0.0;
        for (int j = 0; j < width; j++) {
            const double g = (double)dyr[j] * (gamma ? (double)gamma[j] : 1.0);
            A += g;
            S += g * ((double)xr[j] - mu);
        }
        const float bx = (float)(-rs * rs * rs * S / width), mg = (float)(A / width);
        for (int j = 0; j < width; j++) {
            const float g = gamma ? gamma[j] * dyr[j] : dyr[j];
            dxr[j] += rsf * (g - mg) + bx * (xr[j] - muf);
        }
    }
}
