/*
 * tensor_ops.c: layout and elementwise ops on flat buffers: channel concat, per-(sample,
 * channel) bias, last-two-dims transpose, axpbz (y = a x + b z), clamp, randn, and the
 * reductions sum_squares and all_finite.
 *
 * Reductions sum fixed blocks in double and then add the block sums in order, so the
 * result is the same for any number of threads.
 */
#include "ops/cpu/cpu.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"

// ---- concat ------------------------------------------------------------------------------------

// y (n, ca + cb, hw) = [a (n, ca, hw), b (n, cb, hw)] along channels
void lethe_cpu_concat_forward(float *y, const float *a, const float *b, int n, int ca, int cb, int hw) {
    const size_t sa = (size_t)ca * hw, sb = (size_t)cb * hw;
    for (int s = 0; s < n; s++) {
        memcpy(y + (size_t)s * (sa + sb), a + (size_t)s * sa, sa * sizeof(float));
        memcpy(y + (size_t)s * (sa + sb) + sa, b + (size_t)s * sb, sb * sizeof(float));
    }
}

// da (n, ca, hw) += dy[:, :ca], db (n, cb, hw) += dy[:, ca:]
void lethe_cpu_concat_backward(float *da, float *db, const float *dy, int n, int ca, int cb, int hw) {
    const size_t sa = (size_t)ca * hw, sb = (size_t)cb * hw;
    #pragma omp parallel for schedule(static) if ((size_t)n * (sa + sb) > LETHE_CPU_PAR_MIN)
    for (int s = 0; s < n; s++) {
        const float *g = dy + (size_t)s * (sa + sb);
        if (da) {
            float *d = da + (size_t)s * sa;
            for (size_t i = 0; i < sa; i++) d[i] += g[i];
        }
        if (db) {
            float *d = db + (size_t)s * sb;
            for (size_t i = 0; i < sb; i++) d[i] += g[sa + i];
        }
    }
}

// ---- per-(sample, channel) bias ------------------------------------------------------------------

// y (n, c, hw) += bias (n, c)
void lethe_cpu_add_channel_bias_forward(float *y, const float *bias, int n, int c, int hw) {
    const int nc = n * c;
    #pragma omp parallel for schedule(static) if ((size_t)nc * hw > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) {
        float *yp = y + (size_t)sc * hw;
        const float bv = bias[sc];
        for (int i = 0; i < hw; i++) yp[i] += bv;
    }
}

// dbias (n, c) += sum over hw of dy (n, c, hw)
void lethe_cpu_add_channel_bias_backward(float *dbias, const float *dy, int n, int c, int hw) {
    if (!dbias) return;
    const int nc = n * c;
    #pragma omp parallel for schedule(static) if ((size_t)nc * hw > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) dbias[sc] += (float)lethe_cpu_sum_f64(dy + (size_t)sc * hw, (size_t)hw);
}

// ---- mean over space ------------------------------------------------------------------------------

// y (n, c) = mean over hw of x (n, c, hw)
void lethe_cpu_spatial_mean_forward(float *y, const float *x, int n, int c, int hw) {
    const int nc = n * c;
    #pragma omp parallel for schedule(static) if ((size_t)nc * hw > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) y[sc] = (float)(lethe_cpu_sum_f64(x + (size_t)sc * hw, (size_t)hw) / hw);
}

// dx (n, c, hw) += dy (n, c) / hw
void lethe_cpu_spatial_mean_backward(float *dx, const float *dy, int n, int c, int hw) {
    if (!dx) return;
    const int nc = n * c;
    #pragma omp parallel for schedule(static) if ((size_t)nc * hw > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) {
        float *d = dx + (size_t)sc * hw;
        const float g = dy[sc] / (float)hw;
        for (int i = 0; i < hw; i++) d[i] += g;
    }
}

// ---- transpose -------------------------------------------------------------------------------------

// one matrix: dst (cols, rows) = src (rows, cols)^T, or += if accumulate; 32x32 blocks keep
// both sides in cache
#define TBLOCK 32
static void transpose_one(float *dst, const float *src, int rows, int cols, int accumulate) {
    for (int r0 = 0; r0 < rows; r0 += TBLOCK)
        for (int c0 = 0; c0 < cols; c0 += TBLOCK) {
            const int r1 = r0 + TBLOCK < rows ? r0 + TBLOCK : rows;
            const int c1 = c0 + TBLOCK < cols ? c0 + TBLOCK : cols;
            for (int c = c0; c < c1; c++) {
                float *d = dst + (size_t)c * rows;
                if (accumulate)
                    for (int r = r0; r < r1; r++) d[r] += src[(size_t)r * cols + c];
                else
                    for (int r = r0; r < r1; r++) d[r] = src[(size_t)r * cols + c];
            }
        }
}

// y (n, cols, rows) = x (n, rows, cols) transposed per sample
void lethe_cpu_transpose_forward(float *y, const float *x, int n, int rows, int cols) {
    const size_t per = (size_t)rows * cols;
    #pragma omp parallel for schedule(static) if ((size_t)n * per > LETHE_CPU_PAR_MIN)
    for (int s = 0; s < n; s++) transpose_one(y + (size_t)s * per, x + (size_t)s * per, rows, cols, 0);
}

// dx (n, rows, cols) += dy (n, cols, rows) transposed
void lethe_cpu_transpose_backward(float *dx, const float *dy, int n, int rows, int cols) {
    if (!dx) return;
    const size_t per = (size_t)rows * cols;
    #pragma omp parallel for schedule(static) if ((size_t)n * per > LETHE_CPU_PAR_MIN)
    for (int s = 0; s < n; s++) transpose_one(dx + (size_t)s * per, dy + (size_t)s * per, cols, rows, 1);
}

// ---- elementwise arithmetic ------------------------------------------------------------------------

// y = a x + b z (n). y may alias x or z (each element is read before it is written);
// b == 0 ignores z entirely (z may be NULL, and NaN in z does not leak into y).
void lethe_cpu_axpbz(float *y, float a, const float *x, float b, const float *z, size_t n) {
    if (b == 0.0f || !z) {
        #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = a * x[i];
    } else {
        #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = a * x[i] + b * z[i];
    }
}

// y[r,:] = a[r] x[r,:] + b[r] z[r,:] for rows of per_row elements (a, b host arrays (rows))
void lethe_cpu_axpbz_rows(float *y, const float *a, const float *x, const float *b, const float *z,
                          int rows, size_t per_row) {
    for (int r = 0; r < rows; r++) {
        const size_t off = (size_t)r * per_row;
        lethe_cpu_axpbz(y + off, a[r], x + off, b ? b[r] : 0.0f, z ? z + off : NULL, per_row);
    }
}

// x (n) = min(max(x, lo), hi); NaN stays NaN (as torch.clamp)
void lethe_cpu_clamp(float *x, float lo, float hi, size_t n) {
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}

// x[i] = N(0, 1) element (offset + i) of (seed, stream)
void lethe_cpu_randn(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    // elements [offset, offset + n) in whole Philox blocks of 4 (one call and two
    // Box-Muller pairs per block, instead of a block and a pair per element)
    const uint64_t b0 = offset / 4, b1 = (offset + n + 3) / 4;
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN / 16)
    for (uint64_t blk = b0; blk < b1; blk++) {
        float z[4];
        lethe_rand_normal4(z, seed, stream, blk);
        for (uint64_t e = 4 * blk, k = 0; k < 4; k++, e++)
            if (e >= offset && e < offset + n) x[e - offset] = z[k];
    }
}

// ---- reductions ---------------------------------------------------------------------------------------

#define RBLOCK 65536   // elements per block of a deterministic reduction

// sum x^2 (n), in double
double lethe_cpu_sum_squares(const float *x, size_t n) {
    const size_t nb = (n + RBLOCK - 1) / RBLOCK;
    double total = 0.0;
    // blocks in parallel, block sums added in block order
    #pragma omp parallel for ordered schedule(static, 1) if (nb > 1)
    for (size_t bi = 0; bi < nb; bi++) {
        const size_t lo = bi * RBLOCK, len = n - lo < RBLOCK ? n - lo : RBLOCK;
        const double part = lethe_cpu_dot_f64(x + lo, x + lo, len);
        #pragma omp ordered
        total += part;
    }
    return total;
}

// sum w x^2 (n), in double, in the same fixed block order as sum_squares
double lethe_cpu_weighted_sum_squares(const float *x, const float *w, size_t n) {
    const size_t nb = (n + RBLOCK - 1) / RBLOCK;
    double total = 0.0;
    #pragma omp parallel for ordered schedule(static, 1) if (nb > 1)
    for (size_t bi = 0; bi < nb; bi++) {
        const size_t lo = bi * RBLOCK, len = n - lo < RBLOCK ? n - lo : RBLOCK;
        double part = 0.0;
        for (size_t i = lo; i < lo + len; i++) part += (double)w[i] * x[i] * x[i];
        #pragma omp ordered
        total += part;
    }
    return total;
}

// y = x * z (n)
void lethe_cpu_mul(float *y, const float *x, const float *z, size_t n) {
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * z[i];
}

// acc += |x| (n)
void lethe_cpu_abs_accumulate(float *acc, const float *x, size_t n) {
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) acc[i] += fabsf(x[i]);
}

// 1 if every element of x (n) is finite
int lethe_cpu_all_finite(const float *x, size_t n) {
    int bad = 0;
    // !(|v| <= FLT_MAX) is true for NaN and +-Inf; no early exit, so the loop vectorises
    #pragma omp parallel for schedule(static) reduction(| : bad) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) bad |= !(fabsf(x[i]) <= FLT_MAX);
    return !bad;
}
