/*
 * schedule.h: the DDPM noise schedule and inference timestep spacing, as diffusers'
 * DDPMScheduler / DDIMScheduler compute them (spec 3.1-3.3).
 */
#ifndef LETHE_DIFFUSION_SCHEDULE_H
#define LETHE_DIFFUSION_SCHEDULE_H

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

// Inference timesteps for n steps (descending), into out[n]. Errors if n < 1 or n > T.
lethe_status schedule_timesteps(const lethe_schedule *s, int n, int *out);

// scheduler_config.json text (DDPMScheduler keys), caller frees; and reading one.
char *schedule_config_to_json(const schedule_config *c, const char *class_name);
lethe_status schedule_config_from_json(schedule_config *c, const char *text, const char *what);

#endif
