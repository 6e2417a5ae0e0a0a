/*
 * group_norm.c: GroupNorm (PyTorch nn.GroupNorm), forward and backward.
 *
 * x, y (n, c, hw); channels split into `groups` groups of cg = c/groups consecutive
 * channels; statistics over the m = cg*hw values of each (sample, group):
 *   mean = sum x / m,  var = sum (x - mean)^2 / m  (biased),  rstd = 1 / sqrt(var + eps)
 *   y = (x - mean) * rstd * gamma[ch] + beta[ch]
 * Statistics are accumulated in double, two passes (mean, then squared deviations), so
 * large means do not cancel. gamma/beta may be NULL (affine=False: 1 and 0).
 */
#include "ops/cpu/cpu.h"

#include <math.h>

// y (n, c, hw) = groupnorm(x), and act = silu(y) unless act is NULL; mean, rstd (n, groups)
// saved for backward. With act, each group's SiLU is taken while its y is still in cache (as
// two ops, SiLU read the whole tensor back from memory), bit for bit as the two ops in turn.
static void group_norm(float *y, float *act, float *mean, float *rstd, const float *x, const float *gamma,
                       const float *beta, int n, int c, int hw, int groups, float eps) {
    const int cg = c / groups, ng_total = n * groups;
    const size_t m = (size_t)cg * hw;
    #pragma omp parallel for schedule(static) if ((size_t)n * c * hw > LETHE_CPU_PAR_MIN)
    for (int ng = 0; ng < ng_total; ng++) {
        // the group's channels are contiguous: (s*c + g*cg)*hw = ng*m
        const float *xg = x + (size_t)ng * m;
        const double mu = lethe_cpu_sum_f64(xg, m) / (double)m;
        const double var = lethe_cpu_sqdev_f64(xg, m, mu) / (double)m;
        const float rs = (float)(1.0 / sqrt(var + (double)eps));
        mean[ng] = (float)mu;
        rstd[ng] = rs;
        const int g = ng % groups;
        for (int cc = 0; cc < cg; cc++) {
            const int ch = g * cg + cc;
            // y = x * a + b with a = rstd*gamma, b = beta - mean*a (PyTorch's CPU kernel does the same)
            const float a = gamma ? rs * gamma[ch] : rs;
            const float bb = (beta ? beta[ch] : 0.0f) - (float)mu * a;
            const size_t at = (size_t)ng * m + (size_t)cc * hw;
            const float *xc = x + at;
            float *yc = y + at;
            if (!act) {
                for (int i = 0; i < hw; i++) yc[i] = xc[i] * a + bb;
                continue;
            }
            float *ac = act + at;
            for (int i = 0; i < hw; i++) {
                const float v = xc[i] * a + bb;
                yc[i] = v;
                ac[i] = v / (1.0f + lethe_cpu_expf(-v));   // as lethe_cpu_silu_forward
            }
        }
    }
}

void lethe_cpu_group_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta,
                                  int n, int c, int hw, int groups, float eps) {
    group_norm(y, NULL, mean, rstd, x, gamma, beta, n, c, hw, groups, eps);
}

void lethe_cpu_group_norm_silu_forward(float *y, float *act, float *mean, float *rstd, const float *x,
                                       const float *gamma, const float *beta,
                                       int n, int c, int hw, int groups, float eps) {
    group_norm(y, act, mean, rstd, x, gamma, beta, n, c, hw, groups, eps);
}

// dx (n, c, hw), dgamma (c), dbeta (c) += gradients given dy (n, c, hw) and the saved
// mean, rstd (n, groups). With xhat = (x - mean) rstd, g = gamma[ch] dy, per group:
//   dx = rstd * (g - mean(g) - xhat * mean(g xhat)),  dgamma += sum dy xhat,  dbeta += sum dy
void lethe_cpu_group_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw, int groups) {
    if (!dx && !dgamma && !dbeta) return;
    const int cg = c / groups, nc = n * c;
    const size_t total = (size_t)n * c * hw;
    // per (sample, channel): sdy = sum dy, sdyx = sum dy * x
    const size_t bytes = (size_t)nc * 2 * sizeof(double);
    double *sums = lethe_cpu_scratch(bytes);
    if (!sums) {
        lethe_cpu_poison(dx, total, "group_norm_backward", bytes);
        lethe_cpu_poison(dgamma, (size_t)c, "group_norm_backward", bytes);
        lethe_cpu_poison(dbeta, (size_t)c, "group_norm_backward", bytes);
        return;
    }
    #pragma omp parallel for schedule(static) if (total > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) {
        const float *dyc = dy + (size_t)sc * hw, *xc = x + (size_t)sc * hw;
        sums[2 * sc] = lethe_cpu_sum_f64(dyc, (size_t)hw);
        sums[2 * sc + 1] = lethe_cpu_dot_f64(dyc, xc, (size_t)hw);
    }
    // dgamma[ch] += sum_s rstd (sdyx - mean sdy), dbeta[ch] += sum_s sdy
    if (dgamma || dbeta)
        for (int ch = 0; ch < c; ch++) {
            double dg = 0.0, dbt = 0.0;
            for (int s = 0; s < n; s++) {
                const int ng = s * groups + ch / cg, sc = s * c + ch;
                dg += (double)rstd[ng] * (sums[2 * sc + 1] - (double)mean[ng] * sums[2 * sc]);
                dbt += sums[2 * sc];
            }
            if (dgamma) dgamma[ch] += (float)dg;
            if (dbeta) dbeta[ch] += (float)dbt;
        }
    if (!dx) return;
    // dx = a[ch] dy + bx (x - mean) + c0 with a = rstd gamma, and per group
    //   A = sum gamma dy,  B = sum gamma dy xhat = sum_ch gamma rstd (sdyx - mean sdy)
    //   bx = -rstd^2 B / m,  c0 = -rstd A / m   (x - mean, not bx x + const: no cancellation)
    const double m = (double)cg * hw;
    #pragma omp parallel for schedule(static) if (total > LETHE_CPU_PAR_MIN)
    for (int sc = 0; sc < nc; sc++) {
        const int s = sc / c, ch = sc % c, g = ch / cg, ng = s * groups + g;
        const double mu = mean[ng], rs = rstd[ng];
        double A = 0.0, B = 0.0;
        for (int cc = g * cg; cc < (g + 1) * cg; cc++) {
            const double gm = gamma ? gamma[cc] : 1.0;
            const double sdy = sums[2 * (s * c + cc)], sdyx = sums[2 * (s * c + cc) + 1];
            A += gm * sdy;
            B += gm * rs * (sdyx - mu * sdy);
        }
        const float a = (float)(rs * (gamma ? gamma[ch] : 1.0));
        const float bx = (float)(-rs * rs * B / m);
        const float c0 = (float)(-rs * A / m), muf = mean[ng];
        const float *dyc = dy + (size_t)sc * hw, *xc = x + (size_t)sc * hw;
        float *dxc = dx + (size_t)sc * hw;
        for (int i = 0; i < hw; i++) dxc[i] += a * dyc[i] + bx * (xc[i] - muf) + c0;
    }
}
