/*
 * nll.h: the DDPM variational bound on the negative log-likelihood, in bits/dim
 * (Ho et al. 2020, eq. 5; spec evaluation.md "Likelihood"):
 *
 *   L = L_T + sum_{t=1}^{T-1} L_{t-1} + L_0       (0-based timestep indices t = 0..T-1)
 *
 *   L_T      prior:     KL(q(x_{T-1} | x0) || N(0, I)), closed form
 *   L_{t-1}  diffusion: KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)) for index t >= 1
 *   L_0      decoder:   -log p(x0 | x_0-index latent), discretised Gaussian on 8-bit bins
 *
 * Each term is a mean over the C*H*W dimensions in nats, divided by ln 2 (bits/dim),
 * the convention of OpenAI improved-diffusion's GaussianDiffusion._vb_terms_bpd,
 * _prior_bpd and calc_bpd_loop (improved_diffusion/gaussian_diffusion.py, losses.py).
 *
 * Conventions (nll.c explains each):
 *   - x0 are 8-bit images scaled to [-1, 1]: k / 127.5 - 1, k = 0..255 (checked);
 *   - the forward process is the schedule's float32 abar table (schedule_abar: what training
 *     and lethe's sampler use), read as double: alpha_t = abar_t / abar_{t-1}
 *     (abar_{-1} = 1), beta_t = 1 - alpha_t, exactly as sampler.c's DDPM step;
 *   - model mean from the eps prediction:
 *       mu = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)
 *          = posterior mean of q(x_{t-1} | x_t, x0_hat), x0_hat = (x_t - sqrt(1-abar_t) eps) / sqrt(abar_t)
 *     with x0_hat optionally clamped to [-1, 1] first (clip_denoised, improved-diffusion's
 *     image_nll.py default; off by default here, so mu is the plain formula above);
 *   - fixed model variance: NLL_FIXED_SMALL = beta_tilde_t (the posterior variance, what
 *     lethe's DDPM sampler uses) or NLL_FIXED_LARGE = beta_t; at index 0 both use
 *     beta_tilde_1, as improved-diffusion's posterior_log_variance_clipped and its
 *     FIXED_LARGE table do;
 *   - decoder: bins of width 2/255 around each level, the two edge bins open to -inf/+inf,
 *     the normal CDF from erfc() in double (exact, unlike improved-diffusion's tanh
 *     approximation approx_standard_normal_cdf: off by up to 1.8e-4 in the CDF, and by far more
 *     in relative terms in the tails),
 *     and bin masses floored at 1e-12 as improved-diffusion does.
 *
 * Estimator: `timesteps` = K strata. Indices 1..T-1 are split into K contiguous strata whose
 * boundaries grow geometrically (about (T)^(q/K), each at least one index wide, so the
 * smallest t, where the terms are largest and change fastest, are evaluated exactly); per
 * image one index is drawn uniformly in each stratum and its KL weighted by the stratum
 * size (an unbiased estimate of the sum). The decoder term (index
 * 0) and the prior are always exact. K = 0 or K >= T-1 evaluates every index: no timestep
 * randomness. The only other randomness is the noise that builds each x_t.
 *
 * Randomness (Philox, core/rng.h), keyed so results do not depend on batching, and two models
 * evaluated with the same seed see the same x_t for the same (image, index):
 *   index drawn in stratum q of image g:  lethe_rand_below(seed, lethe_stream(LETHE_STREAM_NLL, g, 0xffffff), q, size_q)
 *   noise of (image g, index t):          element e of (seed, lethe_stream(LETHE_STREAM_NLL, g, t)), e < C*H*W
 * where g = first_index + i is the image's global index.
 */
#ifndef LETHE_EVAL_NLL_H
#define LETHE_EVAL_NLL_H

#include <stdint.h>

#include "core/error.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"

typedef enum { NLL_FIXED_SMALL, NLL_FIXED_LARGE } nll_variance;

typedef struct {
    int timesteps;          // K strata over indices 1..T-1; 0 or >= T-1: every index, exactly
    nll_variance variance;  // model variance (default NLL_FIXED_SMALL, as lethe's DDPM sampler)
    int clip_denoised;      // 1: clamp x0_hat to [-1, 1] before the posterior mean (default 0)
    uint64_t seed;
    int batch;              // (image, index) rows per denoiser call
} nll_opts;

// Per image, bits/dim. bpd = prior + decoder + diffusion.
typedef struct {
    double bpd, prior, decoder, diffusion;
} nll_terms;

// timesteps 50, fixed_small, no clipping, seed 0, batch 64.
void nll_opts_default(nll_opts *o);

// The bound for n images. x0: (n, C, H, W) in [-1, 1] on the backend (k / 127.5 - 1 levels);
// cond: n rows of conditioning or NULL (unconditional); first_index: global index of x0[0].
// out: n entries. progress (may be NULL) is called after each denoiser call with
// (rows done, rows in all), a row being one (image, index) network evaluation;
// rows in all = n * (K + 1) (K diffusion terms and the decoder per image).
lethe_status nll_bits_per_dim(const lethe_schedule *s, denoiser_infer *d, const nll_opts *o,
                              const float *x0, const lethe_cond *cond, int n, int first_index,
                              nll_terms *out, sampler_progress_fn progress, void *user);

// Mean and standard error of v (n values): se = sd / sqrt(n) with the n-1 sample standard
// deviation; se = 0 when n < 2 (mean = 0 when n < 1). Over per-image stratified estimates the
// se includes both the spread between images and the estimator's timestep/noise variance.
void mean_stderr(const double *v, int n, double *mean, double *se);

#endif
