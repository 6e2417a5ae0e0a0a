/*
 * group_norm.cu: GroupNorm (PyTorch nn.GroupNorm) forward and backward, the formulas of
 * group_norm.c, plus a fused GroupNorm + SiLU forward.
 *
 * Forward: one block per (sample, group); mean and variance in double, two passes over the
 * group (the second re-reads it from L2), then y = x a + b per channel. The fused variant
 * also writes silu(y), saving the SiLU kernel's read of y (the model keeps y for backward).
 * Backward: per (sample, channel) sums of dy and dy*x (one warp each, double), then the
 * parameter gradients (one thread per channel, samples in order) and per-group dx
 * coefficients, then one elementwise pass. Every sum has a fixed order.
 */
#include "ops/cuda/common.cuh"

static __global__ void gn_fwd(float *y, float *act, float *mean, float *rstd, const float *x, const float *gamma,
                              const float *beta, int c, int hw, int groups, float eps) {
    const int ng = blockIdx.x, g = ng % groups, cg = c / groups;
    const size_t m = (size_t)cg * hw;
    const float *xg = x + (size_t)ng * m;
    double acc = 0.0;
    for (size_t i = threadIdx.x; i < m; i += blockDim.x) acc += (double)xg[i];
    const double mu = block_sum(acc) / (double)m;
    acc = 0.0;
    for (size_t i = threadIdx.x; i < m; i += blockDim.x) {
        const double dv = (double)xg[i] - mu;
        acc += dv * dv;
    }
    const double var = block_sum(acc) / (double)m;
    const float rs = (float)(1.0 / sqrt(var + (double)eps));
    if (threadIdx.x == 0) {
        mean[ng] = (float)mu;
        rstd[ng] = rs;
    }
    float *yg = y + (size_t)ng * m;
    float *ag = act ? act + (size_t)ng * m : NULL;
    for (size_t i = threadIdx.x; i < m; i += blockDim.x) {
        const int ch = g * cg + (int)(i / hw);
        const float a = gamma ? rs * gamma[ch] : rs;
        const float b = (beta ? beta[ch] : 0.0f) - (float)mu * a;
        const float v = xg[i] * a + b;
        yg[i] = v;
        if (ag) ag[i] = v / (1.0f + expf(-v));
    }
}

static void gn_forward(const char *op, float *y, float *act, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int n, int c, int hw, int groups, float eps) {
    if (n <= 0 || c <= 0 || hw <= 0) return;
    gn_fwd<<<(unsigned)(n * groups), LETHE_CUDA_THREADS>>>(y, act, mean, rstd, x, gamma, beta, c, hw, groups, eps);
    cuda_check_launch(op);
}

// y (n, c, hw) = groupnorm(x); mean, rstd (n, groups) saved for backward
void lethe_cuda_group_norm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                                   const float *beta, int n, int c, int hw, int groups, float eps) {
    gn_forward("group_norm_forward", y, NULL, mean, rstd, x, gamma, beta, n, c, hw, groups, eps);
}

// y as group_norm_forward, and act = silu(y)
void lethe_cuda_group_norm_silu_forward(float *y, float *act, float *mean, float *rstd, const float *x,
                                        const float *gamma, const float *beta, int n, int c, int hw, int groups,
                                        float eps) {
    gn_forward("group_norm_silu_forward", y, act, mean, rstd, x, gamma, beta, n, c, hw, groups, eps);
}

// ---- backward ------------------------------------------------------------------------------------

// sums[2 sc] = sum dy, sums[2 sc + 1] = sum dy x over the hw values of (sample, channel) sc
static __global__ void gn_channel_sums(double *sums, const float *dy, const float *x, int nc, int hw) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (int sc = blockIdx.x * warps + (threadIdx.x >> 5); sc < nc; sc += gridDim.x * warps) {
        const float *d = dy + (size_t)sc * hw, *xc = x + (size_t)sc * hw;
        double a = 0.0, b = 0.0;
        for (int i = lane; i < hw; i += 32) {
            a += (double)d[i];
            b += (double)d[i] * (double)xc[i];
        }
        a = warp_sum(a);
        b = warp_sum(b);
        if (lane == 0) {
            sums[2 * (size_t)sc] = a;
            sums[2 * (size_t)sc + 1] = b;
        }
    }
}

// dgamma[ch] += sum_s rstd (sdyx - mean sdy), dbeta[ch] += sum_s sdy
static __global__ void gn_param_grads(float *dgamma, float *dbeta, const double *sums, const float *mean,
                                      const float *rstd, int n, int c, int groups) {
    const int cg = c / groups;
    CUDA_LOOP(chs, (size_t)c) {
        const int ch = (int)chs;
        double dg = 0.0, dbt = 0.0;
        for (int s = 0; s < n; s++) {
            const size_t ng = (size_t)s * groups + ch / cg, sc = (size_t)s * c + ch;
            dg += (double)rstd[ng] * (sums[2 * sc + 1] - (double)mean[ng] * sums[2 * sc]);
            dbt += sums[2 * sc];
        }
        if (dgamma) dgamma[ch] += (float)dg;
        if (dbeta) dbeta[ch] += (float)dbt;
    }
}

// per (sample, group): coef[2 ng] = bx = -rstd^2 B / m, coef[2 ng + 1] = c0 = -rstd A / m,
// A = sum gamma sdy, B = sum gamma rstd (sdyx - mean sdy) over the group's channels
static __global__ void gn_dx_coefs(float *coef, const double *sums, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw, int groups) {
    const int cg = c / groups;
    const double m = (double)cg * hw;
    CUDA_LOOP(ng, (size_t)n * groups) {
        const int s = (int)(ng / groups), g = (int)(ng % groups);
        const double mu = mean[ng], rs = rstd[ng];
        double A = 0.0, B = 0.0;
        for (int cc = g * cg; cc < (g + 1) * cg; cc++) {
            const double gm = gamma ? gamma[cc] : 1.0;
            const size_t sc = (size_t)s * c + cc;
            const double sdy = sums[2 * sc], sdyx = sums[2 * sc + 1];
            A += gm * sdy;
            B += gm * rs * (sdyx - mu * sdy);
        }
        coef[2 * ng] = (float)(-rs * rs * B / m);
        coef[2 * ng + 1] = (float)(-rs * A / m);
    }
}

// dx += a dy + bx (x - mean) + c0, a = rstd gamma[ch]
static __global__ void gn_dx(float *dx, const float *dy, const float *x, const float *coef, const float *mean,
                             const float *rstd, const float *gamma, int c, int hw, int groups, size_t total) {
    const int cg = c / groups;
    CUDA_LOOP(i, total) {
        const size_t sc = i / hw;
        const int ch = (int)(sc % c);
        const size_t ng = (sc / c) * groups + ch / cg;
        const float a = (float)((double)rstd[ng] * (gamma ? (double)gamma[ch] : 1.0));
        dx[i] += a * dy[i] + coef[2 * ng] * (x[i] - mean[ng]) + coef[2 * ng + 1];
    }
}

// dx (n, c, hw), dgamma (c), dbeta (c) += gradients given dy and the saved mean, rstd
void lethe_cuda_group_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                    const float *mean, const float *rstd, const float *gamma, int n, int c, int hw,
                                    int groups) {
    if (!dx && !dgamma && !dbeta) return;
    const int nc = n * c;
    const size_t total = (size_t)nc * hw;
    if (!total) return;
    const size_t sums_bytes = (size_t)nc * 2 * sizeof(double), coef_bytes = (size_t)n * groups * 2 * sizeof(float);
    char *buf = (char *)cuda_scratch(sums_bytes + coef_bytes);
    if (!buf) {
        cuda_poison(dx, total, "group_norm_backward", sums_bytes + coef_bytes);
        cuda_poison(dgamma, (size_t)c, "group_norm_backward", sums_bytes + coef_bytes);
        cuda_poison(dbeta, (size_t)c, "group_norm_backward", sums_bytes + coef_bytes);
        return;
    }
    double *sums = (double *)buf;
    float *coef = (float *)(buf + sums_bytes);
    const int warps = LETHE_CUDA_THREADS / 32;
    gn_channel_sums<<<(unsigned)((nc + warps - 1) / warps), LETHE_CUDA_THREADS>>>(sums, dy, x, nc, hw);
    if (dgamma || dbeta)
        gn_param_grads<<<grid_for((size_t)c), LETHE_CUDA_THREADS>>>(dgamma, dbeta, sums, mean, rstd, n, c, groups);
    if (dx) {
        gn_dx_coefs<<<grid_for((size_t)n * groups), LETHE_CUDA_THREADS>>>(coef, sums, mean, rstd, gamma, n, c, hw,
                                                                          groups);
        gn_dx<<<grid_for(total), LETHE_CUDA_THREADS>>>(dx, dy, x, coef, mean, rstd, gamma, c, hw, groups, total);
    }
    cuda_check_launch("group_norm_backward");
}
