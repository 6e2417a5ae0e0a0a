/*
 * mia.h: per-image denoising loss for the loss-threshold membership-inference attack
 * (spec evaluation.md "Privacy and robustness").
 *
 *   loss_i = (1/P) sum_{j<P} mean((eps_j - f(x_t_j, t_j, label_i))^2),
 *   x_t_j  = sqrt(abar_{t_j}) x0_i + sqrt(1 - abar_{t_j}) eps_j
 *
 * The P pairs (t_j, eps_j) are the SAME for every image and every model (common random
 * numbers): t_j is element j of (seed, lethe_stream(LETHE_STREAM_MIA, 0, 1)) drawn uniformly
 * in [0, T), and eps_j is (seed, lethe_stream(LETHE_STREAM_MIA, j, 0)), elements 0..C*H*W-1.
 * Why: the loss of one image swings by orders of magnitude with t and with the noise draw
 * (small t is hard, large t easy), so with independent draws per image that noise variance
 * would dominate the member / non-member comparison and the attack's AUC would mostly
 * measure the luck of the draw. With shared pairs every image, member or not, and every
 * model (original, retrained, unlearned) is scored on exactly the same (t, eps) set, so the
 * pair-to-pair variance cancels out of the comparison and what is left is how well the model
 * fits each image.
 */
#ifndef LETHE_EVAL_MIA_H
#define LETHE_EVAL_MIA_H

#include <stdint.h>

#include "core/error.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"

// x0: (n, C, H, W) on the backend (any values; training images scaled as for training);
// cond: n rows of conditioning or NULL; loss_out: n. batch: rows (image, pair) per denoiser
// call. progress (may be NULL): called after each denoiser call with (rows done, n * pairs).
// The result does not depend on batch.
lethe_status denoising_losses(const lethe_schedule *s, denoiser_infer *d, int pairs, uint64_t seed,
                              const float *x0, const lethe_cond *cond, int n, double *loss_out, int batch,
                              sampler_progress_fn progress, void *user);

// The pairs' timesteps: t_j for j < pairs into t (host), as denoising_losses draws them.
void mia_pair_timesteps(const lethe_schedule *s, int pairs, uint64_t seed, int *t);

#endif
