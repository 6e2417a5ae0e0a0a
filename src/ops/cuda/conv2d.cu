/*
 * conv2d.cu: 2-D convolution (PyTorch nn.Conv2d, dilation 1, groups 1) as im2col + cuBLAS
 * SGEMM, forward and backward; the same function as conv2d.c.
 *
 *   K = ci*kh*kw, P = oh*ow; a group of ns samples has N = ns*P columns
 *   im2col:  col (K, N), row (c, ki, kj), column (sample, oy, ox)
 *   forward: y_s (co, P) = W (co, K) col_s (K, P) for each sample: one strided-batched
 *            GEMM straight into y (no scatter), then the bias
 *   dW:      dW (co, K) += dYg (co, N) col^T, with dYg = dy of the group gathered to (co, N)
 *   dX:      dcol (K, N) = W^T dYg, then col2im as a gather: every dx element adds its own
 *            taps in a fixed order (no atomics, so the result is deterministic)
 *   db:      segment sums over (sample, pixel) in double
 * A 1x1, stride 1, pad 0 forward skips im2col (x_s already is its column matrix).
 * Samples are grouped so the group's buffers fit the scratch limit (512 MiB by default);
 * one sample always goes, whatever its size.
 */
#include "ops/cuda/common.cuh"

typedef struct {
    int oh, ow;
    size_t P, K;
} conv_dims;

static conv_dims dims_of(const conv2d_shape *s) {
    conv_dims d;
    d.oh = conv2d_out_h(s);
    d.ow = conv2d_out_w(s);
    d.P = (size_t)d.oh * d.ow;
    d.K = (size_t)s->ci * s->kh * s->kw;
    return d;
}

// samples per group when each sample needs per_sample floats of scratch
static int group_size(const conv2d_shape *s, size_t per_sample) {
    size_t ns = lethe_cuda_scratch_limit() / sizeof(float) / (per_sample ? per_sample : 1);
    if (ns < 1) ns = 1;
    return ns > (size_t)s->n ? s->n : (int)ns;
}

// ---- kernels ---------------------------------------------------------------------------------

typedef struct {
    int ci, h, w, kh, kw, stride, pad, oh, ow;
} geom;

static geom geom_of(const conv2d_shape *s, const conv_dims *d) {
    geom g = {s->ci, s->h, s->w, s->kh, s->kw, s->stride, s->pad, d->oh, d->ow};
    return g;
}

// col (K, N) for samples [s0, s0 + N/P): blockIdx.y walks rows k, threads walk columns j
static __global__ void im2col_kernel(float *col, const float *x, geom g, int s0, size_t N, int K) {
    const size_t P = (size_t)g.oh * g.ow;
    for (int k = blockIdx.y; k < K; k += gridDim.y) {
        const int c = k / (g.kh * g.kw), ki = (k / g.kw) % g.kh, kj = k % g.kw;
        float *row = col + (size_t)k * N;
        for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < N; j += (size_t)gridDim.x * blockDim.x) {
            const size_t si = j / P, p = j - si * P;
            const int oy = (int)(p / g.ow), ox = (int)(p - (size_t)oy * g.ow);
            const int iy = oy * g.stride - g.pad + ki, ix = ox * g.stride - g.pad + kj;
            float v = 0.0f;
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
                v = x[(((size_t)(s0 + si) * g.ci + c) * g.h + iy) * g.w + ix];
            row[j] = v;
        }
    }
}

// dx (samples [s0, s0+ns)) += col2im(dcol (K, N)): one thread per dx element
static __global__ void col2im_kernel(float *dx, const float *dcol, geom g, int s0, int ns, size_t N) {
    const size_t P = (size_t)g.oh * g.ow, total = (size_t)ns * g.ci * g.h * g.w;
    CUDA_LOOP(i, total) {
        const int ix = (int)(i % g.w), iy = (int)((i / g.w) % g.h);
        const size_t sc = i / ((size_t)g.h * g.w);
        const int c = (int)(sc % g.ci);
        const size_t si = sc / g.ci;
        float acc = 0.0f;
        for (int ki = 0; ki < g.kh; ki++) {
            const int ty = iy + g.pad - ki;
            if (ty < 0 || ty % g.stride) continue;
            const int oy = ty / g.stride;
            if (oy >= g.oh) continue;
            for (int kj = 0; kj < g.kw; kj++) {
                const int tx = ix + g.pad - kj;
                if (tx < 0 || tx % g.stride) continue;
                const int ox = tx / g.stride;
                if (ox >= g.ow) continue;
                const size_t k = ((size_t)c * g.kh + ki) * g.kw + kj;
                acc += dcol[k * N + si * P + (size_t)oy * g.ow + ox];
            }
        }
        dx[(size_t)s0 * g.ci * g.h * g.w + i] += acc;
    }
}

// dyg (co, N) = dy (n, co, P) of samples [s0, s0 + N/P)
static __global__ void gather_kernel(float *dyg, const float *dy, int co, size_t P, int s0, size_t N) {
    const size_t total = (size_t)co * N;
    CUDA_LOOP(i, total) {
        const size_t o = i / N, j = i - o * N, si = j / P, p = j - si * P;
        dyg[i] = dy[(((size_t)s0 + si) * co + o) * P + p];
    }
}

// y (n, co, P) += b (co)
static __global__ void bias_kernel(float *y, const float *b, int co, size_t P, size_t total) {
    CUDA_LOOP(i, total) y[i] += b[(i / P) % co];
}

static unsigned im2col_grid_x(size_t N) {
    size_t bx = (N + LETHE_CUDA_THREADS - 1) / LETHE_CUDA_THREADS;
    return bx > 4096 ? 4096u : (unsigned)(bx ? bx : 1);
}

static void im2col(float *col, const float *x, const geom *g, int s0, size_t N, int K) {
    const dim3 grid(im2col_grid_x(N), (unsigned)(K < 65535 ? K : 65535));
    im2col_kernel<<<grid, LETHE_CUDA_THREADS>>>(col, x, *g, s0, N, K);
}

// ---- forward -------------------------------------------------------------------------------------

// y (n, co, oh, ow) = conv(x (n, ci, h, w), w (co, ci, kh, kw)) + b (co), or no bias if b is NULL
void lethe_cuda_conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s) {
    const conv_dims d = dims_of(s);
    const int co = s->co, K = (int)d.K, P = (int)d.P;
    const size_t total = (size_t)s->n * co * d.P;
    if (!total) return;
    if (s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0) {   // y_s = W x_s, x_s (ci, P)
        gemm_rm_batched("conv2d_forward", 0, 0, co, P, K, 1.0f, w, K, 0, x, P, (long long)K * P, 0.0f, y, P,
                        (long long)co * P, s->n);
    } else {
        const geom g = geom_of(s, &d);
        const int ns = group_size(s, d.K * d.P);
        const size_t bytes = d.K * d.P * (size_t)ns * sizeof(float);
        float *col = (float *)cuda_scratch(bytes);
        if (!col) {
            cuda_poison(y, total, "conv2d_forward", bytes);
            return;
        }
        for (int s0 = 0; s0 < s->n; s0 += ns) {
            const int m = s->n - s0 < ns ? s->n - s0 : ns;
            const size_t N = (size_t)m * d.P;
            im2col(col, x, &g, s0, N, K);
            // batch i: B_i = columns [i P, (i+1) P) of col (ld N), C_i = y of sample s0 + i
            gemm_rm_batched("conv2d_forward", 0, 0, co, P, K, 1.0f, w, K, 0, col, (int)N, P, 0.0f,
                            y + (size_t)s0 * co * d.P, P, (long long)co * P, m);
        }
    }
    if (b) bias_kernel<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, b, co, d.P, total);
    cuda_check_launch("conv2d_forward");
}

// ---- backward ------------------------------------------------------------------------------------

void lethe_cuda_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                const conv2d_shape *s) {
    const conv_dims d = dims_of(s);
    const int co = s->co, K = (int)d.K;
    if (!s->n || !d.P) return;
    // db (co) += sum over samples and pixels of dy (n, co, P)
    if (db) segment_sum("conv2d_backward", db, 1, 1.0f, dy, co, d.P, s->n, (size_t)co * d.P, d.P);
    if (!dx && !dw) return;
    const geom g = geom_of(s, &d);
    // per sample: col (dw), dcol (dx), gathered dy
    const size_t per_sample = ((dw ? d.K : 0) + (dx ? d.K : 0) + (size_t)co) * d.P;
    const int ns = group_size(s, per_sample);
    const size_t bytes = per_sample * (size_t)ns * sizeof(float);
    float *scratch = (float *)cuda_scratch(bytes);
    if (!scratch) {
        cuda_poison(dx, (size_t)s->n * s->ci * s->h * s->w, "conv2d_backward", bytes);
        cuda_poison(dw, (size_t)co * d.K, "conv2d_backward", bytes);
        return;
    }
    const size_t Nmax = (size_t)ns * d.P;
    float *dyg = scratch, *col = dyg + (size_t)co * Nmax, *dcol = col + (dw ? d.K * Nmax : 0);
    for (int s0 = 0; s0 < s->n; s0 += ns) {
        const int m = s->n - s0 < ns ? s->n - s0 : ns;
        const size_t N = (size_t)m * d.P;
        gather_kernel<<<grid_for((size_t)co * N), LETHE_CUDA_THREADS>>>(dyg, dy, co, d.P, s0, N);
        if (dw) {   // dW (co, K) += dYg (co, N) col (K, N)^T
            im2col(col, x, &g, s0, N, K);
            gemm_rm("conv2d_backward", 0, 1, co, K, (int)N, 1.0f, dyg, (int)N, col, (int)N, 1.0f, dw, K);
        }
        if (dx) {   // dcol (K, N) = W^T dYg; dx += col2im(dcol)
            gemm_rm("conv2d_backward", 1, 0, K, (int)N, co, 1.0f, w, K, dyg, (int)N, 0.0f, dcol, (int)N);
            const size_t nx = (size_t)m * s->ci * s->h * s->w;
            col2im_kernel<<<grid_for(nx), LETHE_CUDA_THREADS>>>(dx, dcol, g, s0, m, N);
        }
    }
    cuda_check_launch("conv2d_backward");
}
