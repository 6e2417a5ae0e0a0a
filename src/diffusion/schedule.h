/*
 * schedule.h: the DDPM noise schedule and inference timestep spacing, as diffusers'
 * DDPMScheduler / DDIMScheduler compute them (spec 3.1-3.3), and the forward process
 * q(x_t | x0) (DDPMScheduler.add_noise): the one place x_t is made from x0 and eps.
 * Code outside diffusion/ reads the table through schedule_abar and schedule_noise_coefs.
 */
#ifndef LETHE_DIFFUSION_SCHEDULE_H
#define LETHE_DIFFUSION_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum { BETA_LINEAR, BETA_SCALED_LINEAR, BETA_SQUAREDCOS_CAP_V2 } beta_schedule;
typedef enum { SPACING_LEADING, SPACING_TRAILING, SPACING_LINSPACE } timestep_spacing;

typedef struct {
    int num_train_timesteps;        // T (1000)
    float beta_start, beta_end;     // 1e-4, 0.02
    beta_schedule schedule;
    int clip_sample;                // clamp predicted x0 to [-clip_sample_range, clip_sample_range]
    float clip_sample_range;
    timestep_spacing spacing;
    int steps_offset;
    int set_alpha_to_one;           // DDIM: abar before t=0 is 1 (else abar[0])
} schedule_config;

typedef struct {
    schedule_config cfg;
    float *betas, *alphas_cumprod;  // T each (host)
} lethe_schedule;

void schedule_config_default(schedule_config *c);   // diffusers DDPMScheduler() defaults
lethe_status schedule_init(lethe_schedule *s, const schedule_config *c);
void schedule_free(lethe_schedule *s);

// abar_t, the float32 cumulative product of (1 - beta) at index t in [0, T).
static inline float schedule_abar(const lethe_schedule *s, int t) { return s->alphas_cumprod[t]; }
// The forward process coefficients of timestep t: *ca = sqrt(abar_t), *cb = sqrt(1 - abar_t)
// (in double from the float32 table, rounded to float).
void schedule_noise_coefs(const lethe_schedule *s, int t, float *ca, float *cb);

// The weights of the DDPM bound's terms in the eps parameterisation (Ho et al. 2020, eq. 12,
// with sigma_t^2 = beta_t): C_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t))
// = beta_t / (2 (1 - beta_t) (1 - abar_t)), for t in [0, T), in double from the float32
// table, then divided by their mean so that they average 1 over t (a loss weighted by them
// keeps the scale of the unweighted one). w: T doubles.
void schedule_elbo_weights(const lethe_schedule *s, double *w);

// add_noise at given timesteps: xt[i] = sqrt(abar_t[i]) x0[i] + sqrt(1 - abar_t[i]) eps[i] for
// the n rows of numel floats (backend memory); t: n host floats holding integers in [0, T).
void schedule_add_noise_at(const lethe_schedule *s, float *xt, const float *x0, const float *eps, const float *t,
                           int n, size_t numel);
// add_noise with its draws: t[i] = t_lo + uniform below t_hi - t_lo (Philox (seed, t_stream),
// counter i) into t (host), eps ~ N(0, I) (Philox (seed, noise_stream), offset 0) into eps
// (backend), then xt as schedule_add_noise_at. Keyed draws: the caller's streams decide.
void schedule_add_noise(const lethe_schedule *s, float *xt, float *t, float *eps, const float *x0, int n, size_t numel,
                        int t_lo, int t_hi, uint64_t seed, uint64_t t_stream, uint64_t noise_stream);

// Inference timesteps for n steps (descending), into out[n]. Errors if n < 1 or n > T.
lethe_status schedule_timesteps(const lethe_schedule *s, int n, int *out);

// scheduler_config.json text (DDPMScheduler keys), caller frees; and reading one.
char *schedule_config_to_json(const schedule_config *c, const char *class_name);
lethe_status schedule_config_from_json(schedule_config *c, const char *text, const char *what);

#endif
