/*
 * nll.c: the DDPM variational bound in bits/dim (see nll.h).
 *
 * Formulas (re-derived, matching improved-diffusion's gaussian_diffusion.py and losses.py):
 *
 *   q(x_t | x0)          = N(sqrt(abar_t) x0, (1 - abar_t) I)
 *   q(x_{t-1} | x_t, x0) = N(c1_t x0 + c2_t x_t, beta_tilde_t I),
 *       c1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t), c2_t = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t),
 *       beta_tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
 *   p(x_{t-1} | x_t)     = N(c1_t x0_hat + c2_t x_t, v_t I)
 *   KL(N(m1, e^l1) || N(m2, e^l2)) = 0.5 (-1 + l2 - l1 + e^(l1 - l2) + (m1 - m2)^2 e^-l2)   (losses.py normal_kl)
 *
 * so per dimension, with d = x0_hat - x0, L_{t-1} = 0.5 (-1 + l_p - l_q + e^(l_q - l_p)) + 0.5 c1_t^2 mean(d^2) / v_t.
 * Without clipping, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) z gives d exactly as
 * -sqrt((1 - abar_t) / abar_t) (eps_hat - z), computed that way: no cancellation of the
 * large x_t / sqrt(abar_t) terms near t = T-1 in float32. With clipping, x0_hat is formed,
 * clamped, and x0 subtracted.
 *
 * Decoder at index 0: c1_0 = 1, c2_0 = 0 (abar_{-1} = 1), so the model mean is x0_hat and
 * -log p(x0) = -log( Phi((x0 - mean + 1/255) / s) - Phi((x0 - mean - 1/255) / s) ),
 * s = sqrt(beta_tilde_1), the lower limit -inf for k = 0 and the upper +inf for k = 255
 * (losses.py discretized_gaussian_log_likelihood; its "x < -0.999" / "x > 0.999" tests
 * are k == 0 / k == 255 here). Each bin mass is computed from the tail that avoids
 * cancellation (erfc of both limits on the same side of 0).
 *
 * Prior: KL(N(sqrt(abar) x0, 1 - abar) || N(0, 1)) = 0.5 (-log(1 - abar) - abar + abar x0^2),
 * abar = abar_{T-1}, written with log1p so it keeps its digits when abar is ~1e-5.
 *
 * Tensor work (building x_t, eps, d) goes through ops(); per-row reductions (sum_squares)
 * and the decoder's per-element CDFs run on the host in double.
 */
#include "eval/nll.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "ops/ops.h"

#define NLL_TSTREAM 0xffffffu      // lethe_stream b of the stratum draws (noise uses b = t < 2^24)
#define NLL_LEVEL_TOL 1e-5         // |x - (k/127.5 - 1)| allowed for an 8-bit level (float rounding is ~6e-8)

void nll_opts_default(nll_opts *o) {
    *o = (nll_opts){.timesteps = 50, .variance = NLL_FIXED_SMALL, .clip_denoised = 0, .seed = 0, .batch = 64};
}

void mean_stderr(const double *v, int n, double *mean, double *se) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m = n > 0 ? m / n : 0.0;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *se = n > 1 ? sqrt(ss / (n - 1) / n) : 0.0;
}

// ---- schedule coefficients ----------------------------------------------------------------------

typedef struct {
    double abar, abar_prev, beta, beta_tilde;
} step_coef;

// Coefficients of index t from the float32 alphas_cumprod table (see nll.h).
static step_coef coef_at(const lethe_schedule *s, int t) {
    step_coef c;
    c.abar = schedule_abar(s, t);
    c.abar_prev = t > 0 ? (double)schedule_abar(s, t - 1) : 1.0;
    c.beta = (c.abar_prev - c.abar) / c.abar_prev;   // 1 - abar_t / abar_{t-1}, without the 1 - x rounding
    c.beta_tilde = c.beta * (1.0 - c.abar_prev) / (1.0 - c.abar);
    return c;
}

static lethe_status check_schedule(const lethe_schedule *s) {
    int T = s->cfg.num_train_timesteps;
    if (T < 2) return lethe_fail(LETHE_ERR_ARG, "likelihood bound: needs at least 2 timesteps, the schedule has %d", T);
    double prev = 1.0;
    for (int t = 0; t < T; t++) {
        double a = schedule_abar(s, t);
        if (!(a > 0.0 && a < prev))
            return lethe_fail(LETHE_ERR_ARG, "likelihood bound: alphas_cumprod at t = %d is %g; it must lie in (0, %g) (strictly decreasing)", t, a, prev);
        prev = a;
    }
    return LETHE_OK;
}

// ---- host-side terms ----------------------------------------------------------------------------

// Standard normal upper tail Q(z) = 1 - Phi(z), accurate for large z.
static double upper_tail(double z) { return 0.5 * erfc(z / M_SQRT2); }

// log of the mass of level k's bin under N(0, 1) after standardising: lo, hi are the bin's
// limits (x0 - mean -+ 1/255) / s; k == 0 opens lo to -inf, k == 255 opens hi to +inf.
static double log_bin_mass(int k, double lo, double hi) {
    double p;
    if (k == 0) p = upper_tail(-hi);                                 // Phi(hi)
    else if (k == 255) p = upper_tail(lo);                           // 1 - Phi(lo)
    else if (lo >= 0) p = upper_tail(lo) - upper_tail(hi);           // both in the upper tail
    else if (hi <= 0) p = upper_tail(-hi) - upper_tail(-lo);         // both in the lower tail
    else p = 1.0 - upper_tail(hi) - upper_tail(-lo);                 // straddles 0
    return log(fmax(p, 1e-12));                                      // improved-diffusion's floor
}

// 8-bit level of x (k / 127.5 - 1), or -1 if x is not one.
static int level_of(float x) {
    double k = nearbyint(((double)x + 1.0) * 127.5);
    if (!(k >= 0 && k <= 255) || fabs((double)x - (k / 127.5 - 1.0)) > NLL_LEVEL_TOL) return -1;
    return (int)k;
}

// Decoder NLL in bits/dim: x0 (numel, host), d = mean - x0 (numel, host), s = decoder std.
static double decoder_bits(const float *x0, const float *d, size_t numel, double s) {
    const double half = 1.0 / 255.0;
    double sum = 0;
    for (size_t e = 0; e < numel; e++) {
        double c = -(double)d[e];   // x0 - mean
        sum += log_bin_mass(level_of(x0[e]), (c - half) / s, (c + half) / s);
    }
    return -sum / (double)numel / M_LN2;
}

// ---- the bound ----------------------------------------------------------------------------------

// Stratum q covers indices [b[q], b[q+1]); b[0] = 1, b[K] = M + 1. The boundaries grow
// geometrically ((M+1)^(q/K), each stratum at least one index): the KL terms fall off like
// 1/t, so equal-width strata leave the first one (t = 1..50 at K = 20) with most of the
// estimator's variance, while geometric strata evaluate the smallest t exactly and give
// the flat tail few, wide strata. K = M gives every index its own stratum (exact).
static void strata_bounds(int *b, int K, int M) {
    b[0] = 1;
    for (int q = 1; q < K; q++) {
        long g = lround(pow((double)(M + 1), (double)q / K));
        long lo = b[q - 1] + 1, hi = (long)M + 1 - (K - q);
        b[q] = (int)(g < lo ? lo : g > hi ? hi : g);
    }
    b[K] = M + 1;
}

lethe_status nll_bits_per_dim(const lethe_schedule *s, denoiser_infer *d, const nll_opts *o,
                              const float *x0, const lethe_cond *cond, int n, int first_index,
                              nll_terms *out, sampler_progress_fn progress, void *user) {
    const int T = s->cfg.num_train_timesteps, M = T - 1;
    if (n < 0 || first_index < 0) return lethe_fail(LETHE_ERR_ARG, "likelihood bound: bad image count %d or first index %d", n, first_index);
    if (o->timesteps < 0) return lethe_fail(LETHE_ERR_ARG, "likelihood bound: timesteps %d must be >= 0 (0 = all)", o->timesteps);
    if (o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "likelihood bound: batch %d must be >= 1", o->batch);
    if (o->variance != NLL_FIXED_SMALL && o->variance != NLL_FIXED_LARGE)
        return lethe_fail(LETHE_ERR_ARG, "likelihood bound: unknown variance type %d", (int)o->variance);
    lethe_status st = check_schedule(s);
    if (st) return st;
    if (n == 0) return LETHE_OK;

    const int K = o->timesteps == 0 || o->timesteps >= M ? M : o->timesteps;
    const int terms = K + 1;                   // K diffusion terms, then the decoder
    const size_t numel = denoiser_numel(d->net);
    const long rows_all = (long)n * terms;
    if (numel < 1) return lethe_fail(LETHE_ERR_ARG, "likelihood bound: the denoiser has no sample size");
    if (rows_all > INT_MAX)
        return lethe_fail(LETHE_ERR_ARG, "likelihood bound: %d images x %d terms is too many for one call; split the images", n, terms);
    const int B = o->batch < rows_all ? o->batch : (int)rows_all;
    const size_t bsz = (size_t)B * numel;
    const double dec_s = sqrt(coef_at(s, 1).beta_tilde);
    const step_coef last = coef_at(s, T - 1);

    float *x0b = ops()->alloc(bsz * sizeof(float)), *z = ops()->alloc(bsz * sizeof(float));
    float *xt = ops()->alloc(bsz * sizeof(float)), *eps = ops()->alloc(bsz * sizeof(float));
    float *db = ops()->alloc(bsz * sizeof(float));
    float *ca = malloc((size_t)B * sizeof(float)), *cb = malloc((size_t)B * sizeof(float));
    float *tf = malloc((size_t)B * sizeof(float));
    int *ti = malloc((size_t)B * sizeof(int)), *im = malloc((size_t)B * sizeof(int));
    lethe_cond cb_rows = {0};   // the cond of each row of a batch (image im[j]'s)
    double *wt = malloc((size_t)B * sizeof(double));
    int *bounds = malloc((size_t)(K + 1) * sizeof(int));
    float *hx = malloc(numel * sizeof(float)), *hd = malloc(numel * sizeof(float));
    if (!x0b || !z || !xt || !eps || !db || !ca || !cb || !tf || !ti || !im || !wt || !hx || !hd || !bounds) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for likelihood buffers (batch %d x %zu)", B, numel);
        goto done;
    }
    if (cond && (st = cond_alloc(&cb_rows, &cond->spec, B))) goto done;

    strata_bounds(bounds, K, M);

    // Check the data are 8-bit levels; the prior needs only mean(x0^2).
    for (int i = 0; i < n; i++) {
        ops()->to_host(hx, x0 + (size_t)i * numel, numel * sizeof(float));
        double sq = 0;
        for (size_t e = 0; e < numel; e++) {
            if (level_of(hx[e]) < 0) {
                st = lethe_fail(LETHE_ERR_ARG, "likelihood bound: image %d element %zu is %.9g, not an 8-bit level k/127.5 - 1",
                                first_index + i, e, (double)hx[e]);
                goto done;
            }
            sq += (double)hx[e] * hx[e];
        }
        double kl = 0.5 * (-log1p(-last.abar) - last.abar + last.abar * sq / (double)numel);
        out[i] = (nll_terms){.prior = kl / M_LN2};
    }

    for (long r0 = 0; r0 < rows_all; r0 += B) {
        const int m = rows_all - r0 < B ? (int)(rows_all - r0) : B;
        for (int j = 0; j < m; j++) {
            const long row = r0 + j;
            const int i = (int)(row / terms), q = (int)(row % terms);
            const uint64_t g = (uint64_t)first_index + (uint64_t)i;
            int t = 0;
            double w = 1.0;
            if (q < K) {
                const int lo = bounds[q], hi = bounds[q + 1];
                t = lo + (int)lethe_rand_below(o->seed, lethe_stream(LETHE_STREAM_NLL, g, NLL_TSTREAM), (uint64_t)q,
                                               (uint32_t)(hi - lo));
                w = hi - lo;
            }
            im[j] = i; ti[j] = t; wt[j] = w; tf[j] = (float)t;
            ops()->copy(x0b + (size_t)j * numel, x0 + (size_t)i * numel, numel);
            ops()->randn(z + (size_t)j * numel, numel, o->seed, lethe_stream(LETHE_STREAM_NLL, g, (uint64_t)t), 0);
        }
        const size_t sz = (size_t)m * numel;
        // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) z
        schedule_add_noise_at(s, xt, x0b, z, tf, m, numel);
        if (cond) cond_select(&cb_rows, cond, im, m);
        if ((st = denoiser_infer_eps(d, eps, xt, tf, cond ? &cb_rows : NULL, m))) goto done;
        if (!ops()->all_finite(eps, sz)) {
            st = lethe_fail(LETHE_ERR_NUMERIC, "likelihood bound: the model produced NaN/Inf (image %d, timestep %d)",
                            first_index + im[0], ti[0]);
            goto done;
        }
        // d = x0_hat - x0
        for (int j = 0; j < m; j++) {
            const step_coef c = coef_at(s, ti[j]);
            if (o->clip_denoised) { ca[j] = (float)(1.0 / sqrt(c.abar)); cb[j] = (float)-sqrt(1.0 / c.abar - 1.0); }
            else { cb[j] = (float)sqrt((1.0 - c.abar) / c.abar); ca[j] = -cb[j]; }
        }
        if (o->clip_denoised) {
            ops()->axpbz_rows(db, ca, xt, cb, eps, m, numel);   // x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
            ops()->clamp(db, -1.0f, 1.0f, sz);
            ops()->axpbz(db, 1.0f, db, -1.0f, x0b, sz);
        } else {
            ops()->axpbz_rows(db, ca, eps, cb, z, m, numel);    // -sqrt((1 - abar) / abar) (eps_hat - z)
        }
        for (int j = 0; j < m; j++) {
            const int i = im[j], t = ti[j];
            const float *dj = db + (size_t)j * numel;
            if (t == 0) {
                ops()->to_host(hx, x0 + (size_t)i * numel, numel * sizeof(float));
                ops()->to_host(hd, dj, numel * sizeof(float));
                out[i].decoder = decoder_bits(hx, hd, numel, dec_s);
                continue;
            }
            const step_coef c = coef_at(s, t);
            const double c1 = c.beta * sqrt(c.abar_prev) / (1.0 - c.abar);
            const double lq = log(c.beta_tilde);
            const double lp = o->variance == NLL_FIXED_SMALL ? lq : log(c.beta);
            const double msq = ops()->sum_squares(dj, numel) / (double)numel;
            const double kl = 0.5 * (-1.0 + lp - lq + exp(lq - lp)) + 0.5 * c1 * c1 * msq * exp(-lp);
            out[i].diffusion += wt[j] * kl / M_LN2;
        }
        if (progress) progress(user, (int)(r0 + m), (int)rows_all);
    }
    for (int i = 0; i < n; i++) out[i].bpd = out[i].prior + out[i].decoder + out[i].diffusion;

done:
    free(bounds);
    ops()->release(x0b); ops()->release(z); ops()->release(xt); ops()->release(eps); ops()->release(db);
    free(ca); free(cb); free(tf); cond_free(&cb_rows); free(ti); free(im); free(wt); free(hx); free(hd);
    return st;
}
