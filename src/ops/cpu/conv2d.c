/*
 * conv2d.c: 2-D convolution (PyTorch nn.Conv2d with dilation 1, groups 1), forward and
 * backward, as im2col + OpenBLAS SGEMM. 3x3, stride 1, pad 1 convolutions with 8 or more
 * channels each way (most of a UNet's FLOPs) take Winograd F(2x2, 3x3) instead
 * (conv2d_winograd.c): y and dw there, and dx too, since dx is computed as a forward conv.
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
 * the tile budget, a tile is a band of output rows of one sample. A 1x1, stride 1, pad 0
 * conv on a large map skips im2col: x of one sample already is its col matrix.
 *
 * Threads (see threads.c): OpenMP threads take whole tiles (im2col, GEMM, scatter, all in
 * the thread's own slice of scratch, which stays in its core's cache); sgemm runs
 * single-threaded inside. In backward each thread accumulates dW of its tiles privately
 * and the partial sums are added in thread order at the end. Threads own whole samples in
 * backward, so col2im never has two threads writing the same dx plane.
 * Scratch never exceeds lethe_cpu_scratch_limit() (32 MiB by default) whatever the layer.
 */
#include "ops/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

// 1x1 convs with at least this many pixels per sample use the direct per-sample GEMM.
#define POINTWISE_DIRECT_MIN_P 1024

// Tile size per thread: about TILE_BYTES of scratch, so the columns are still in the core's
// cache when the GEMM reads them after im2col (measured on the tiny UNet: 2-4 MiB tiles
// ran ~1.6x faster than 32 MiB ones), but at least TILE_MIN_COLS columns so that packing
// the weights does not dominate the GEMM.
#define TILE_BYTES ((size_t)2 << 20)
#define TILE_MIN_COLS 1024

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

// Tiles: samples [s0, s0+ns) x output rows [r0, r0+nr), ns > 1 only when nr == oh.
// Tile t covers sample group t / bands and row band t % bands.
typedef struct {
    int ns_max, nr_max;   // samples per tile, output rows per tile
    int groups, bands;    // sample groups, row bands per group
    size_t max_cols;      // columns of the largest tile
} tile_plan;

// per_col: floats of scratch one tile column needs; nt: threads sharing the scratch limit
static tile_plan plan_tiles(const conv2d_shape *s, const conv_dims *d, size_t per_col, int nt) {
    const size_t limit_cols = lethe_cpu_scratch_limit() / sizeof(float) / per_col / (size_t)nt;
    const size_t total_cols = (size_t)s->n * d->P;
    size_t cols = TILE_BYTES / sizeof(float) / per_col;
    if (cols < TILE_MIN_COLS) cols = TILE_MIN_COLS;
    if (nt > 1 && cols > (total_cols + nt - 1) / nt) cols = (total_cols + nt - 1) / nt;   // work for every thread
    if (cols > limit_cols) cols = limit_cols;
    tile_plan t;
    if (cols >= d->P) {
        const size_t ns = cols / d->P;
        t.ns_max = ns > (size_t)s->n ? s->n : (int)ns;
        t.nr_max = d->oh;
    } else {
        const size_t nr = cols / (size_t)d->ow;
        t.ns_max = 1;
        t.nr_max = nr < 1 ? 1 : (nr > (size_t)d->oh ? d->oh : (int)nr);
    }
    t.groups = (s->n + t.ns_max - 1) / t.ns_max;
    t.bands = (d->oh + t.nr_max - 1) / t.nr_max;
    t.max_cols = (size_t)t.ns_max * t.nr_max * d->ow;
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
// "Same"-size stride-1 convs (ow == w): the valid rows of one (c, ki, kj) row of col are one
// shifted copy of a block of the image, so they take one memcpy plus zeroing |kj - pad|
// edge columns per row, instead of one short memcpy per output row.
static void im2col_same(float *col, const float *x, const conv2d_shape *s, const conv_dims *d,
                        int s0, int ns, int r0, int nr) {
    const int h = s->h, w = s->w, kh = s->kh, kw = s->kw, pad = s->pad;
    const size_t tp = (size_t)nr * w, ncol = (size_t)ns * tp;
    for (size_t row = 0; row < d->K; row++) {
        const int c = (int)(row / (size_t)(kh * kw)), ki = (int)(row / kw) % kh, kj = (int)(row % kw);
        const int off = kj - pad;
        // output rows whose input row oy - pad + ki is inside the image, within the tile
        int lo = pad - ki > r0 ? pad - ki : r0, hi = h + pad - ki < r0 + nr ? h + pad - ki : r0 + nr;
        if (hi < lo) hi = lo;
        for (int si = 0; si < ns; si++) {
            const float *xp = x + ((size_t)(s0 + si) * s->ci + c) * h * w;
            float *dst = col + row * ncol + (size_t)si * tp;
            if (lo > r0) memset(dst, 0, (size_t)(lo - r0) * w * sizeof(float));
            if (r0 + nr > hi) memset(dst + (size_t)(hi - r0) * w, 0, (size_t)(r0 + nr - hi) * w * sizeof(float));
            if (hi == lo) continue;
            const size_t count = (size_t)(hi - lo) * w, shift = (size_t)(off < 0 ? -off : off);
            float *blk = dst + (size_t)(lo - r0) * w;
            const float *src = xp + (size_t)(lo - pad + ki) * w;
            if (shift >= (size_t)w) {
                memset(blk, 0, count * sizeof(float));
                continue;
            }
            if (off < 0) memcpy(blk + shift, src, (count - shift) * sizeof(float));
            else memcpy(blk, src + shift, (count - shift) * sizeof(float));
            // columns whose input falls off the left or right edge: a store or two per row,
            // not a memset call (this loop runs for every row of every channel and tap)
            float *edge = off < 0 ? blk : blk + w - shift;
            for (int oy = lo; oy < hi; oy++, edge += w)
                for (size_t k = 0; k < shift; k++) edge[k] = 0.0f;
        }
    }
}

static void im2col(float *col, const float *x, const conv2d_shape *s, const conv_dims *d,
                   int s0, int ns, int r0, int nr) {
    const int h = s->h, w = s->w, kh = s->kh, kw = s->kw, stride = s->stride, pad = s->pad, ow = d->ow;
    if (stride == 1 && ow == w && d->oh == h) {
        im2col_same(col, x, s, d, s0, ns, r0, nr);
        return;
    }
    const size_t tp = (size_t)nr * ow, ncol = (size_t)ns * tp;
    for (size_t row = 0; row < d->K; row++) {
        const int c = (int)(row / (size_t)(kh * kw)), ki = (int)(row / kw) % kh, kj = (int)(row % kw);
        int lo, hi;
        valid_range(&lo, &hi, ow, w, stride, pad, kj);
        for (int si = 0; si < ns; si++) {
            const float *xp = x + ((size_t)(s0 + si) * s->ci + c) * h * w;
            float *dst = col + row * ncol + (size_t)si * tp;
            for (int oy = r0; oy < r0 + nr; oy++, dst += ow) {
                const int iy = oy * stride - pad + ki;
                if (iy < 0 || iy >= h) {
                    memset(dst, 0, (size_t)ow * sizeof(float));
                    continue;
                }
                const float *xr = xp + (size_t)iy * w;   // input column of ox: ox*stride + off, in [0, w) on [lo, hi)
                const int off = kj - pad;
                for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                if (stride == 1)
                    memcpy(dst + lo, xr + lo + off, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] = xr[ox * stride + off];
                for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
            }
        }
    }
}

// dx (n, ci, h, w) += col2im(dcol), the adjoint of im2col for the same tile.
static void col2im_add(float *dx, const float *dcol, const conv2d_shape *s, const conv_dims *d,
                       int s0, int ns, int r0, int nr) {
    const int h = s->h, w = s->w, kh = s->kh, kw = s->kw, stride = s->stride, pad = s->pad, ow = d->ow;
    const size_t tp = (size_t)nr * ow, ncol = (size_t)ns * tp;
    for (size_t row = 0; row < d->K; row++) {
        const int c = (int)(row / (size_t)(kh * kw)), ki = (int)(row / kw) % kh, kj = (int)(row % kw);
        int lo, hi;
        valid_range(&lo, &hi, ow, w, stride, pad, kj);
        for (int si = 0; si < ns; si++) {
            float *dxp = dx + ((size_t)(s0 + si) * s->ci + c) * h * w;
            const float *src = dcol + row * ncol + (size_t)si * tp;
            for (int oy = r0; oy < r0 + nr; oy++, src += ow) {
                const int iy = oy * stride - pad + ki;
                if (iy < 0 || iy >= h) continue;
                float *dr = dxp + (size_t)iy * w;
                const int off = kj - pad;
                if (stride == 1)
                    for (int ox = lo; ox < hi; ox++) dr[ox + off] += src[ox];
                else
                    for (int ox = lo; ox < hi; ox++) dr[ox * stride + off] += src[ox];
            }
        }
    }
}

// yt[o*ld + i] += b[o] for i < len, o < co (bias on a tile of one sample's output)
static void add_bias_rows(float *yt, const float *b, int co, size_t ld, size_t len) {
    for (int o = 0; o < co; o++) {
        float *yp = yt + (size_t)o * ld;
        const float bo = b[o];
        for (size_t i = 0; i < len; i++) yp[i] += bo;
    }
}

// y (n, co, P) for samples [s0, s0+ns) = ybuf (co, ns*P) + b (b may be NULL)
static void scatter_bias(float *y, const float *ybuf, const float *b, int co, size_t P, int s0, int ns) {
    const size_t ncol = (size_t)ns * P;
    for (int si = 0; si < ns; si++)
        for (int o = 0; o < co; o++) {
            const float *src = ybuf + (size_t)o * ncol + (size_t)si * P;
            float *dst = y + ((size_t)(s0 + si) * co + o) * P;
            const float bo = b ? b[o] : 0.0f;
            for (size_t p = 0; p < P; p++) dst[p] = src[p] + bo;
        }
}

// y (n, co, P) += ybuf (co, ns*P) for samples [s0, s0+ns)
static void scatter_add(float *y, const float *ybuf, int co, size_t P, int s0, int ns) {
    const size_t ncol = (size_t)ns * P;
    for (int si = 0; si < ns; si++)
        for (int o = 0; o < co; o++) {
            const float *src = ybuf + (size_t)o * ncol + (size_t)si * P;
            float *dst = y + ((size_t)(s0 + si) * co + o) * P;
            for (size_t p = 0; p < P; p++) dst[p] += src[p];
        }
}

// dybuf (co, ns*P) = dy (n, co, P) for samples [s0, s0+ns)
static void gather(float *dybuf, const float *dy, int co, size_t P, int s0, int ns) {
    const size_t ncol = (size_t)ns * P;
    for (int si = 0; si < ns; si++)
        for (int o = 0; o < co; o++)
            memcpy(dybuf + (size_t)o * ncol + (size_t)si * P, dy + ((size_t)(s0 + si) * co + o) * P,
                   P * sizeof(float));
}

// ---- forward ---------------------------------------------------------------------------------

// y (n, co, oh, ow) = conv(x (n, ci, h, w), w (co, ci, kh, kw)) + b (co), or no bias if b is NULL
// y = conv(x, w) + b, or y += conv(x, w) when accumulate (then b must be NULL).
static void conv_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                         int accumulate) {
    const conv_dims d = dims_of(s);
    const float beta = accumulate ? 1.0f : 0.0f;
    const int co = s->co, K = (int)d.K, P = (int)d.P;
    if (lethe_cpu_winograd_applies(s) && lethe_cpu_winograd_forward(y, x, w, b, s, accumulate)) return;
    const int nt = lethe_cpu_gemm_threads();
    if (is_pointwise_direct(s, &d)) {   // y_s (co, P) = w (co, ci) x_s (ci, P)
        #pragma omp parallel for schedule(static) if (nt > 1 && s->n > 1)
        for (int si = 0; si < s->n; si++) {
            float *ys = y + (size_t)si * co * d.P;
            lethe_cpu_sgemm(false, false, co, P, s->ci, 1.0f, w, s->ci,
                            x + (size_t)si * s->ci * d.P, P, beta, ys, P);
            if (b) add_bias_rows(ys, b, co, d.P, d.P);
        }
        return;
    }
    const tile_plan t = plan_tiles(s, &d, d.K + (size_t)co, nt);
    const size_t per_thread = (d.K + (t.ns_max > 1 ? (size_t)co : 0)) * t.max_cols;
    const size_t bytes = per_thread * (size_t)nt * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) {
        lethe_cpu_poison(y, (size_t)s->n * co * d.P, "conv2d_forward", bytes);
        return;
    }
    const int ntiles = t.groups * t.bands;
    #pragma omp parallel for schedule(dynamic, 1) if (nt > 1 && ntiles > 1)
    for (int ti = 0; ti < ntiles; ti++) {
        const int s0 = ti / t.bands * t.ns_max, r0 = ti % t.bands * t.nr_max;
        const int ns = s->n - s0 < t.ns_max ? s->n - s0 : t.ns_max;
        const int nr = d.oh - r0 < t.nr_max ? d.oh - r0 : t.nr_max;
        const int ncol = ns * nr * d.ow;
        float *col = scratch + per_thread * (size_t)lethe_cpu_thread_id();
        im2col(col, x, s, &d, s0, ns, r0, nr);
        if (ns == 1) {   // GEMM straight into y's rows [r0, r0+nr) of sample s0
            float *yt = y + (size_t)s0 * co * d.P + (size_t)r0 * d.ow;
            lethe_cpu_sgemm(false, false, co, ncol, K, 1.0f, w, K, col, ncol, beta, yt, P);
            if (b) add_bias_rows(yt, b, co, d.P, (size_t)ncol);
        } else {
            float *ybuf = col + d.K * t.max_cols;   // (co, ncol)
            lethe_cpu_sgemm(false, false, co, ncol, K, 1.0f, w, K, col, ncol, 0.0f, ybuf,
                            ncol);
            if (accumulate) scatter_add(y, ybuf, co, d.P, s0, ns);
            else scatter_bias(y, ybuf, b, co, d.P, s0, ns);
        }
    }
}

void lethe_cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s) {
    conv_forward(y, x, w, b, s, 0);
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
// w2 (ci, co, kh, kw) = w (co, ci, kh, kw) transposed in (co, ci) and flipped in space.
// Grow-only like the scratch, but separate: the forward conv that uses it takes the scratch.
static float *flipped_weights(const float *w, const conv2d_shape *s) {
    static float *buf;
    static size_t cap;
    const size_t kk = (size_t)s->kh * s->kw, n = (size_t)s->co * s->ci * kk;
    if (n > cap) {
        float *p = realloc(buf, n * sizeof(float));
        if (!p) return NULL;
        buf = p;
        cap = n;
    }
    for (int o = 0; o < s->co; o++)
        for (int c = 0; c < s->ci; c++)
            for (size_t k = 0; k < kk; k++) buf[((size_t)c * s->co + o) * kk + (kk - 1 - k)] = w[((size_t)o * s->ci + c) * kk + k];
    return buf;
}

void lethe_cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, const conv2d_shape *s) {
    const conv_dims d = dims_of(s);
    const int co = s->co, K = (int)d.K, P = (int)d.P;
    // A stride-1 conv's input gradient is itself a stride-1 conv: dy with the flipped,
    // transposed kernel and padding k-1-pad. Computed that way it runs as a forward conv
    // (GEMM inner dimension co*kh*kw instead of co, and no col2im scatter-add).
    // (Not for a handful of input channels: a GEMM with so few output rows runs slower than col2im.)
    if (dx && s->stride == 1 && s->kh == s->kw && s->pad <= s->kh - 1 && s->ci >= 8 && !is_pointwise_direct(s, &d)) {
        const float *w2 = flipped_weights(w, s);
        if (w2) {
            lethe_cpu_conv2d_backward(NULL, dw, db, dy, x, w, s);
            const conv2d_shape s2 = {.n = s->n, .ci = co, .h = d.oh, .w = d.ow, .co = s->ci, .kh = s->kh, .kw = s->kw,
                                     .stride = 1, .pad = s->kh - 1 - s->pad};
            conv_forward(dx, dy, w2, NULL, &s2, 1);
            return;
        }
    }
    if (db) bias_grad(db, dy, s->n, co, d.P);
    if (dw && !dx && lethe_cpu_winograd_applies(s) && lethe_cpu_winograd_weight_grad(dw, dy, x, s)) return;
    if (!dx && !dw) return;
    const int nt = lethe_cpu_gemm_threads();
    const int direct = is_pointwise_direct(s, &d);
    // per tile column: col (for dw, unless direct), dcol (for dx, unless direct), gathered dy
    const size_t per_col = (dw && !direct ? d.K : 0) + (dx && !direct ? d.K : 0) + (size_t)co;
    const tile_plan t = direct ? (tile_plan){1, d.oh, s->n, 1, d.P} : plan_tiles(s, &d, per_col, nt);
    const size_t ncol_bufs = (dw && !direct ? d.K : 0) + (dx && !direct ? d.K : 0) + (t.ns_max > 1 ? (size_t)co : 0);
    const size_t dw_priv = dw && nt > 1 ? (size_t)co * d.K : 0;   // per-thread dW partial sums
    const size_t per_thread = ncol_bufs * t.max_cols + (dw_priv + 15) / 16 * 16;
    const size_t bytes = per_thread * (size_t)nt * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes ? bytes : sizeof(float));
    if (!scratch) {
        lethe_cpu_poison(dx, (size_t)s->n * s->ci * s->h * s->w, "conv2d_backward", bytes);
        lethe_cpu_poison(dw, (size_t)co * d.K, "conv2d_backward", bytes);
        return;
    }
    if (dw_priv)
        for (int th = 0; th < nt; th++) memset(scratch + per_thread * th, 0, dw_priv * sizeof(float));
    // Threads own whole sample groups (static schedule: the dW summation order depends only
    // on the thread count); the row bands of a group run in order on its thread.
    #pragma omp parallel for schedule(static) if (nt > 1 && t.groups > 1)
    for (int g = 0; g < t.groups; g++) {
        float *mine = scratch + per_thread * (size_t)lethe_cpu_thread_id();
        float *dwt = dw_priv ? mine : dw;   // dW target: private partial sum or dw itself
        float *col = mine + (dw_priv + 15) / 16 * 16;
        float *dcol = col + (dw && !direct ? d.K * t.max_cols : 0);
        float *dybuf = dcol + (dx && !direct ? d.K * t.max_cols : 0);
        const int s0 = g * t.ns_max, ns = s->n - s0 < t.ns_max ? s->n - s0 : t.ns_max;
        for (int r0 = 0; r0 < d.oh; r0 += t.nr_max) {
            const int nr = d.oh - r0 < t.nr_max ? d.oh - r0 : t.nr_max;
            const int ncol = ns * nr * d.ow;
            // dY of the tile as a (co, ncol) matrix with leading dimension lddy
            const float *dyt = dy + (size_t)s0 * co * d.P + (size_t)r0 * d.ow;
            int lddy = P;
            if (ns > 1) {
                gather(dybuf, dy, co, d.P, s0, ns);
                dyt = dybuf;
                lddy = ncol;
            }
            if (direct) {   // col is x_s itself; dx_s += w^T dy_s straight into dx
                const float *xs = x + (size_t)s0 * s->ci * d.P;
                if (dw)
                    lethe_cpu_sgemm(false, true, co, K, P, 1.0f, dyt, lddy, xs, P, 1.0f, dwt,
                                    K);
                if (dx)
                    lethe_cpu_sgemm(true, false, K, P, co, 1.0f, w, K, dyt, lddy, 1.0f,
                                    dx + (size_t)s0 * s->ci * d.P, P);
                continue;
            }
            if (dw) {
                im2col(col, x, s, &d, s0, ns, r0, nr);
                lethe_cpu_sgemm(false, true, co, K, ncol, 1.0f, dyt, lddy, col, ncol, 1.0f,
                                dwt, K);
            }
            if (dx) {
                lethe_cpu_sgemm(true, false, K, ncol, co, 1.0f, w, K, dyt, lddy, 0.0f, dcol,
                                ncol);
                col2im_add(dx, dcol, s, &d, s0, ns, r0, nr);
            }
        }
    }
    if (dw_priv) {   // dw += partial sums, in thread order
        const size_t nw = (size_t)co * d.K;
        #pragma omp parallel for schedule(static) if (nw > LETHE_CPU_PAR_MIN / 4)
        for (size_t i = 0; i < nw; i++) {
            float acc = 0.0f;
            for (int th = 0; th < nt; th++) acc += scratch[per_thread * th + i];
            dw[i] += acc;
        }
    }
}
