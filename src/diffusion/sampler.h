/*
 * sampler.h: DDPM ancestral and DDIM sampling with classifier-free guidance (spec 3.4-3.8).
 *
 * Samplers see the model only through the network seam (denoiser.h), bound to its weights:
 * eps = f(x_t, t, cond). Guidance (w > 1, a cond with a null row): the batch is run as
 * [cond, null] and eps = eps_null + w (eps_cond - eps_null), the convention of diffusers'
 * DiT pipeline.
 */
#ifndef LETHE_DIFFUSION_SAMPLER_H
#define LETHE_DIFFUSION_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "diffusion/denoiser.h"
#include "diffusion/schedule.h"

// SAMPLER_ONE_STEP: a one-step generator (SFD, methods spec 6.1): with z the initial noise,
// x0 = (x_in - sqrt(1 - abar_t) eps(x_in, t, c)) / sqrt(abar_t), x_in = sqrt(1 - abar_t) z,
// at t = one_step_t: one network evaluation, no guidance.
typedef enum { SAMPLER_DDPM, SAMPLER_DDIM, SAMPLER_ONE_STEP } sampler_kind;

typedef struct {
    sampler_kind kind;
    int steps;              // inference steps (DDPM: any; 1000 = the full chain)
    float eta;              // DDIM only: 0 deterministic, 1 = DDPM variance
    float guidance;         // w; guidance is applied iff w > 1 and the cond has a null row
    uint64_t seed;          // sampler noise: Philox (seed, stream(sample, step), sample index)
    int first_index;        // global index of x[0], so noise is the same however the run is batched
    int stop_after;         // > 0: run only the first stop_after steps of the `steps`-step chain and
                            // return that intermediate x (ESD's partial sample); 0: the whole chain
    int one_step_t;         // SAMPLER_ONE_STEP: the generator's timestep (t_init)
    int clipped_eps;        // DDIM with clip_sample: step along the eps re-derived from the clipped x0
                            // (diffusers' use_clipped_model_output, GLIDE's sampler); 0: along the
                            // network's eps, diffusers' default, which with strong guidance pushes
                            // samples out of range (saturated images)
} sampler_opts;

// Called after each step (may be NULL): step index, total steps.
typedef void (*sampler_progress_fn)(void *user, int step, int total);

// Runs the chain in place: x holds x_T on entry (n samples) and x_0 on return (with
// o->stop_after = k in [1, steps): x after k steps, i.e. at the noise level of timestep
// ts[k-1] - T/steps for DDIM, where ts are the chain's timesteps).
// c: n rows of conditioning or NULL (unconditional). Work buffers come from the backend.
lethe_status sampler_run(const lethe_schedule *s, const sampler_opts *o, denoiser_infer *d,
                         float *x, const lethe_cond *c, int n, sampler_progress_fn progress, void *user);

// x_T ~ N(0, I): Philox (seed, stream(sample, 0xffffffff)) at offset first_index * numel.
void sampler_initial_noise(float *x, int n, size_t numel, uint64_t seed, int first_index);

#endif
