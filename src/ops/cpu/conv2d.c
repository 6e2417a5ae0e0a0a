/*
 * conv2d.c: 2-D convolution (PyTorch nn.Conv2d with dilation 1, groups 1), forward and
 * backward, as im2col + OpenBLAS SGEMM.
 *
 *   y[s,o,oy,ox] = b[o] + sum_{c,ki,kj} w[o,c,ki,kj] * x[s,c, oy*stride-pad+ki, ox*stride-pad+kj]
 *
 * (cross-correlation; x is zero outside the image). With K = ci*kh*kw and P = oh*ow:
 *
 *   im2col:  col (K, cols), row (c,ki,kj), one column per output pixel of the tile
 *   forward: Y (co, cols)  = W (co, K) col
 *   dW:      dW (co, K)   += dY (co, cols) col^T
 *   dX:      dcol (K, cols) = W^T dY, then col2im adds dcol back onto dx
 *
 * Tiles: several whole samples side by side (cols = ns*P), because one sample of a small
 * feature map (7x7, 14x14) makes a GEMM too thin to run fast; when one sample alone is over
 * the tile budget, a tile is a band of output rows of one sample. Scratch never exceeds
 * lethe_cpu_scratch_limit() (32 MiB by default) whatever the layer size. A 1x1, stride 1, pad 0
 * conv with large maps skips im2col: x of one sample already is its col matrix.
 *
 * Threads: im2col, col2im, scatter/gather and bias loops are OpenMP; SGEMM runs between
 * those parallel regions on OpenBLAS's own threads (never inside an OpenMP region, so
 * the two pools never nest and the GEMM keeps every core).
 */
#include "ops/cpu/cpu.h"

#include <cblas.h>
#include <string.h>

// 1x1 convs with at least this many pixels per sample use the direct per-sample GEMM.
#define POINTWISE_DIRECT_MIN_P 1024

typedef struct {
    int oh, ow;
    size_t P, K;   // output pixels per sample, rows of col
} conv_dims;

static conv_dims dims_of(const conv2d_shape *s) {
    conv_dims d;
    d.oh = conv2d_out_h(s);
    d.ow = conv2d_out_w(s);
    d.P = (size_t)d.oh * d.ow;
    d.K = (size_t)s->ci * s->kh * s->kw;
    return d;
}

static int is_pointwise_direct(const conv2d_shape *s, const conv_dims *d) {
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0 && d->P >= POINTWISE_DIRECT_MIN_P;
}

// ---- tiling ---------------------------------------------------------------------------------

// A tile: samples [s0, s0+ns) x output rows [r0, r0+nr); ns > 1 only when nr == oh.
typedef struct {
    int ns_max, nr_max;
} tile_plan;

// Tile size: about TILE_BYTES of scratch, so a tile's columns are still in cache (L2/L3)
// when the GEMM reads them after im2col (measured on the tiny UNet: 2-4 MiB tiles run
// ~1.6x faster than 32 MiB ones), but at least TILE_MIN_COLS columns so the GEMM is not
// dominated by packing the weights; never over the scratch limit.
#define TILE_BYTES ((size_t)4 << 20)
#define TILE_MIN_COLS 1024

// per_col: floats of scratch that one column of a tile needs.
static tile_plan plan_tiles(const conv2d_shape *s, const conv_dims *d, size_t per_col) {
    const size_t limit_cols = lethe_cpu_scratch_limit() / sizeof(float) / per_col;
    size_t budget_cols = TILE_BYTES / sizeof(float) / per_col;
    if (budget_cols < TILE_MIN_COLS) budget_cols = TILE_MIN_COLS;
    if (budget_cols > limit_cols) budget_cols = limit_cols;
    tile_plan t;
    if (budget_cols >= d->P) {
        size_t ns = budget_cols / d->P;
        t.ns_max = ns > (size_t)s->n ? s->n : (int)ns;
        t.nr_max = d->oh;
    } else {
        size_t nr = budget_cols / (size_t)d->ow;
        t.ns_max = 1;
        t.nr_max = nr < 1 ? 1 : (int)nr;
    }
    return t;
}

// Output columns ox whose input column ox*stride - pad + kj lies in [0, w): [*lo, *hi).
static void valid_range(int *lo, int *hi, int ow, int w, int stride, int pad, int kj) {
    int a = pad - kj;   // need ox*stride >= a
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = w + pad - kj;   // need ox*stride < b
    int h = b <= 0 ? 0 : (b + stride - 1) / stride;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

// col (K, ns*nr*ow) from x (n, ci, h, w) for samples [s0, s0+ns), output rows [r0, r0+nr).
static void im2col(float *col, const float *x, const conv2d_shape *s, const conv_dims *d,
                   int s0, int ns, int r0, int nr) {
    const int h = s->h, w = s->w, kh = s->kh, kw = s->kw, stride = s->stride, pad = s->pad, ow = d->ow;
    const size_t tp = (size_t)nr * ow, ncol = (size_t)ns * tp;
    const int K = (int)d->K;
    #pragma omp parallel for collapse(2) schedule(static) if (ncol * d->K > LETHE_CPU_PAR_MIN)
    for (int si = 0; si < ns; si++)
        for (int row = 0; row < K; row++) {
            const int c = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
            const float *xp = x + ((size_t)(s0 + si) * s->ci + c) * h * w;
            float *dst = col + (size_t)row * ncol + (size_t)si * tp;
            int lo, hi;
            valid_range(&lo, &hi, ow, w, stride, pad, kj);
            for (int oy = r0; oy < r0 + nr; oy++, dst += ow) {
                const int iy = oy * stride - pad + ki;
                if (iy < 0 || iy >= h) {
                    memset(dst, 0, (size_t)ow * sizeof(float));
                    continue;
                }
                const float *xr = xp + (size_t)iy * w - pad + kj;   // xr[ox*stride] = x[iy, ox*stride-pad+kj]
                for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                if (stride == 1)
                    memcpy(dst + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] = xr[(size_t)ox * stride];
                for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
            }
        }
}

// dx (n, ci, h, w) += col2im(dcol), the adjoint of im2col for the same tile.
static void col2im_add(float *dx, const float *dcol, const conv2d_shape *s, const conv_dims *d,
                       int s0, int ns, int r0, int nr) {
    const int h = s->h, w = s->w, kh = s->kh, kw = s->kw, stride = s->stride, pad = s->pad, ow = d->ow;
    const int ci = s->ci;
    const size_t tp = (size_t)nr * ow, ncol = (size_t)ns * tp;
    // Each (sample, channel) plane of dx is written by one thread only.
    #pragma omp parallel for collapse(2) schedule(static) if (ncol * d->K > LETHE_CPU_PAR_MIN)
    for (int si = 0; si < ns; si++)
        for (int c = 0; c < ci; c++) {
            float *dxp = dx + ((size_t)(s0 + si) * ci + c) * h * w;
            for (int ki = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++) {
                    const size_t row = ((size_t)c * kh + ki) * kw + kj;
                    const float *src = dcol + row * ncol + (size_t)si * tp;
                    int lo, hi;
                    valid_range(&lo, &hi, ow, w, stride, pad, kj);
                    for (int oy = r0; oy < r0 + nr; oy++, src += ow) {
                        const int iy = oy * stride - pad + ki;
                        if (iy < 0 || iy >= h) continue;
                        float *dr = dxp + (size_t)iy * w - pad + kj;
                        if (stride == 1)
                            for (int ox = lo; ox < hi; ox++) dr[ox] += src[ox];
                        else
                            for (int ox = lo; ox < hi; ox++) dr[(size_t)ox * stride] += src[ox];
                    }
                }
        }
}

// y (n, co, P) for samples [s0, s0+ns) = ybuf (co, ns*P) + b
static void scatter_bias(float *y, const float *ybuf, const float *b, int co, size_t P, int s0, int ns) {
    const size_t ncol = (size_t)ns * P;
    #pragma omp parallel for collapse(2) schedule(static) if (ncol * co > LETHE_CPU_PAR_MIN)
    for (int si = 0; si < ns; si++)
        for (int o = 0; o < co; o++) {
            const float *src = ybuf + (size_t)o * ncol + (size_t)si * P;
            float *dst = y + ((size_t)(s0 + si) * co + o) * P;
            const float bo = b ? b[o] : 0.0f;
            for (size_t p = 0; p < P; p++) dst[p] = src[p] + bo;
        }
}

// dybuf (co, ns*P) = dy (n, co, P) for samples [s0, s0+ns)
static void gather(float *dybuf, const float *dy, int co, size_t P, int s0, int ns) {
    const size_t ncol = (size_t)ns * P;
    #pragma omp parallel for collapse(2) schedule(static) if (ncol * co > LETHE_CPU_PAR_MIN)
    for (int si = 0; si < ns; si++)
        for (int o = 0; o < co; o++)
            memcpy(dybuf + (size_t)o * ncol + (size_t)si * P, dy + ((size_t)(s0 + si) * co + o) * P,
                   P * sizeof(float));
}

// yt[o*P + i] += b[o] for i < len: bias on a tile of one sample's output (ld P)
static void add_bias_tile(float *yt, const float *b, int co, size_t P, size_t len) {
    #pragma omp parallel for schedule(static) if (len * co > LETHE_CPU_PAR_MIN)
    for (int o = 0; o < co; o++) {
        float *yp = yt + (size_t)o * P;
        const float bo = b[o];
        for (size_t i = 0; i < len; i++) yp[i] += bo;
    }
}

// y (n, co, P) += b (co)
static void add_bias(float *y, const float *b, int n, int co, size_t P) {
    #pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * co * P > LETHE_CPU_PAR_MIN)
    for (int si = 0; si < n; si++)
        for (int o = 0; o < co; o++) {
            float *yp = y + ((size_t)si * co + o) * P;
            const float bo = b[o];
            for (size_t p = 0; p < P; p++) yp[p] += bo;
        }
}

// ---- forward ---------------------------------------------------------------------------------

// y (n, co, oh, ow) = conv(x (n, ci, h, w), w (co, ci, kh, kw)) + b (co) or no bias if NULL
void lethe_cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s) {
    const conv_dims d = dims_of(s);
    const int co = s->co;
    const size_t ysize = (size_t)s->n * co * d.P;
    if (is_pointwise_direct(s, &d)) {
        for (int si = 0; si < s->n; si++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, (int)d.P, s->ci, 1.0f, w, s->ci,
                        x + (size_t)si * s->ci * d.P, (int)d.P, 0.0f, y + (size_t)si * co * d.P, (int)d.P);
        if (b) add_bias(y, b, s->n, co, d.P);
        return;
    }
    const tile_plan t = plan_tiles(s, &d, d.K + (size_t)co);
    const size_t max_cols = (size_t)t.ns_max * t.nr_max * d.ow;
    const size_t bytes = (d.K + (t.ns_max > 1 ? (size_t)co : 0)) * max_cols * sizeof(float);
    float *col = lethe_cpu_scratch(bytes);
    if (!col) {
        lethe_cpu_poison(y, ysize, "conv2d_forward", bytes);
        return;
    }
    float *ybuf = col + d.K * max_cols;   // (co, cols), only for multi-sample tiles
    for (int s0 = 0; s0 < s->n; s0 += t.ns_max) {
        const int ns = s->n - s0 < t.ns_max ? s->n - s0 : t.ns_max;
        for (int r0 = 0; r0 < d.oh; r0 += t.nr_max) {
            const int nr = d.oh - r0 < t.nr_max ? d.oh - r0 : t.nr_max;
            const int ncol = ns * nr * d.ow;
            im2col(col, x, s, &d, s0, ns, r0, nr);
            if (ns == 1) {   // GEMM straight into y's rows [r0, r0+nr) of sample s0
                float *yt = y + (size_t)s0 * co * d.P + (size_t)r0 * d.ow;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, ncol, (int)d.K, 1.0f, w, (int)d.K,
                            col, ncol, 0.0f, yt, (int)d.P);
                if (b) add_bias_tile(yt, b, co, d.P, (size_t)ncol);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, ncol, (int)d.K, 1.0f, w, (int)d.K,
                            col, ncol, 0.0f, ybuf, ncol);
                scatter_bias(y, ybuf, b, co, d.P, s0, ns);
            }
        }
    }
}

// ---- backward --------------------------------------------------------------------------------

// db (co) += sum over samples and pixels of dy (n, co, P)
static void bias_grad(float *db, const float *dy, int n, int co, size_t P) {
    #pragma omp parallel for schedule(static) if ((size_t)n * co * P > LETHE_CPU_PAR_MIN)
    for (int o = 0; o < co; o++) {
        double acc = 0.0;
        for (int si = 0; si < n; si++) acc += lethe_cpu_sum_f64(dy + ((size_t)si * co + o) * P, P);
        db[o] += (float)acc;
    }
}

// dx (n, ci, h, w), dw (co, ci, kh, kw), db (co) += gradients of conv given dy (n, co, oh, ow);
// any of dx, dw, db may be NULL.
void lethe_cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, const conv2d_shape *s) {
    const conv_dims d = dims_of(s);
    const int co = s->co, K = (int)d.K, P = (int)d.P;
    if (db) bias_grad(db, dy, s->n, co, d.P);
    if (!dx && !dw) return;
    if (is_pointwise_direct(s, &d)) {
        for (int si = 0; si < s->n; si++) {
            const float *dys = dy + (size_t)si * co * d.P;
            if (dw)   // dw (co, ci) += dy_s (co, P) x_s^T (P, ci)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, s->ci, P, 1.0f, dys, P,
                            x + (size_t)si * s->ci * d.P, P, 1.0f, dw, s->ci);
            if (dx)   // dx_s (ci, P) += w^T (ci, co) dy_s (co, P)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->ci, P, co, 1.0f, w, s->ci, dys, P,
                            1.0f, dx + (size_t)si * s->ci * d.P, P);
        }
        return;
    }
    // scratch per column: col (for dw), dcol (for dx), gathered dy (multi-sample tiles)
    const size_t per_col = (dw ? d.K : 0) + (dx ? d.K : 0) + (size_t)co;
    const tile_plan t = plan_tiles(s, &d, per_col);
    const size_t max_cols = (size_t)t.ns_max * t.nr_max * d.ow;
    const size_t need = (dw ? d.K : 0) + (dx ? d.K : 0) + (t.ns_max > 1 ? (size_t)co : 0);
    const size_t bytes = need * max_cols * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) {
        lethe_cpu_poison(dx, (size_t)s->n * s->ci * s->h * s->w, "conv2d_backward", bytes);
        lethe_cpu_poison(dw, (size_t)co * d.K, "conv2d_backward", bytes);
        return;
    }
    float *col = dw ? scratch : NULL;
    float *dcol = dx ? scratch + (dw ? d.K * max_cols : 0) : NULL;
    float *dybuf = scratch + ((dw ? d.K : 0) + (dx ? d.K : 0)) * max_cols;
    for (int s0 = 0; s0 < s->n; s0 += t.ns_max) {
        const int ns = s->n - s0 < t.ns_max ? s->n - s0 : t.ns_max;
        for (int r0 = 0; r0 < d.oh; r0 += t.nr_max) {
            const int nr = d.oh - r0 < t.nr_max ? d.oh - r0 : t.nr_max;
            const int ncol = ns * nr * d.ow;
            // dY of the tile as a (co, ncol) matrix with leading dimension lddy
            const float *dyt;
            int lddy;
            if (ns == 1) {
                dyt = dy + (size_t)s0 * co * d.P + (size_t)r0 * d.ow;
                lddy = P;
            } else {
                gather(dybuf, dy, co, d.P, s0, ns);
                dyt = dybuf;
                lddy = ncol;
            }
            if (dw) {
                im2col(col, x, s, &d, s0, ns, r0, nr);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, K, ncol, 1.0f, dyt, lddy, col, ncol,
                            1.0f, dw, K);
            }
            if (dx) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ncol, co, 1.0f, w, K, dyt, lddy, 0.0f,
                            dcol, ncol);
                col2im_add(dx, dcol, s, &d, s0, ns, r0, nr);
            }
        }
    }
}
