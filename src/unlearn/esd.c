/*
 * esd.c: ESD, Erasing Concepts from Diffusion Models (Gandikota et al., ICCV 2023; methods
 * spec 7.4), in its class-conditional DDPM form (SFD repo `train_esd`: the unconditional
 * branch is the null class). Each step:
 *
 *   t_enc ~ U{0..49}; x_T ~ N(0, I); x_t = the first 50 - t_enc steps of a 50-step DDIM chain
 *       (eta 0) of the CURRENT model for the forget class with guidance 3 ("start guidance");
 *   t ~ U[20 t_enc, 20 (t_enc + 1))   (T/50 = 20: the DDPM timesteps of that DDIM slot)
 *   target = eps*(x_t, null, t) - eta (eps*(x_t, c_f, t) - eps*(x_t, null, t))   (eps* = the frozen parent)
 *   L = MSE(eps_theta(x_t, c_f, t), target)                                   (mean over elements)
 *
 * eta is ESD's negative guidance (--negative-guidance, was --alpha; default 1). Defaults as
 * the code: lr 1e-5, 1000 iterations, all parameters trained (--params all, "full"; the
 * paper's ESD-u trains the non-cross-attention weights). --params conditioning trains only
 * the weights that read the condition, ESD-x's choice for prompts (the cross-attention): in a
 * class-conditional UNet that is the class embedding, and since ESD's loss asks only for the
 * forget classes, only their rows move, so every kept class samples exactly as before.
 * --params non-conditioning trains every other weight (ESD-u, the paper's choice for
 * objects). On a text-to-image model the forget "classes" are prompts (concepts.h): the
 * chains run on the forget concept's prompts and the null row is the empty prompt.
 * Guidance is lethe's convention (sampler.h), which for w = 3 is the same formula as ESD's
 * scale 3.
 *
 * Choices where the method leaves room:
 * - batch: --batch chains per step, each with its own x_T, class and t, sharing one t_enc
 *   (the chain is run as one batch). ESD's code uses 1; pass --batch 1 to match it (the loop's
 *   default is 32, which costs 32x the sampling per step).
 * - where the partial chain stops: after 50 - t_enc of the 50 DDIM steps x is at the noise
 *   level of DDPM step 20 t_enc (leading spacing), i.e. at the bottom of the window its t is
 *   drawn from. ESD's CompVis sampler stops one step later (51 - t_enc steps, `index + 1 ==
 *   till_T`), so its x is a little less noisy than its t; t_enc = 0 runs the whole chain in both.
 * - with several forget classes each chain draws its class uniformly among them (ESD draws a
 *   random word of its prompt list per iteration).
 * After a step, the forget batch (unlearn_batch_get(u, STREAM_FORGET, ...)) still holds
 * x_t (xt), t, the labels and the target, which is what the tests check.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/sampler.h"
#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"

#define ESD_DDIM_STEPS 50
#define ESD_START_GUIDANCE 3.0f
#define ESD_STREAM 16   // the b index of this method's Philox streams (the helpers use 1..3)

typedef struct {
    float negative_guidance;   // eta
    int params;                // UNLEARN_PARAMS_*
} esd_opts;

static const opt_spec esd_options[] = {
    {"negative-guidance", "alpha", OPT_FLOAT, offsetof(esd_opts, negative_guidance), {.f = 1.0f},
     "ESD's eta: the target is eps*(null) - eta (eps*(forget class) - eps*(null))"},
    {"params", NULL, OPT_CHOICE, offsetof(esd_opts, params), {.i = UNLEARN_PARAMS_ALL}, UNLEARN_PARAMS_HELP,
     .choices = UNLEARN_PARAMS_CHOICES},
};

typedef struct {
    denoiser_infer live;  // the live weights as the sampler's denoiser
    lethe_cond null;      // batch rows of the null (unconditional) cond
} esd_state;

static lethe_status esd_setup(unlearn_ctx *u) {
    if (!u->class_conditional)
        return lethe_fail(LETHE_ERR_ARG, "esd needs a class-conditional model: its target contrasts the forget class "
                          "with the unconditional (null-class) prediction, and this model is unconditional");
    if (ESD_DDIM_STEPS > u->sched.cfg.num_train_timesteps)
        return lethe_fail(LETHE_ERR_ARG, "esd: the schedule has %d timesteps, fewer than the %d DDIM steps of ESD",
                          u->sched.cfg.num_train_timesteps, ESD_DDIM_STEPS);
    esd_state *s = calloc(1, sizeof *s);
    if (!s) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    u->state = s;
    lethe_status st = unlearn_cond_alloc(u, &s->null, u->o->batch);   // every row null
    if (st) return st;
    // the loop's optimiser leaves the weights outside --params untouched
    if ((st = unlearn_params_mask(u, ((const esd_opts *)u->mopt)->params, "esd"))) return st;
    denoiser_infer_init(&s->live, &u->model->net, u->params);
    return LETHE_OK;
}

static lethe_status esd_step(unlearn_ctx *u, int step) {
    esd_state *s = u->state;
    const unlearn_opts *o = u->o;
    const float eta = ((const esd_opts *)u->mopt)->negative_guidance;
    const int n = o->batch, N = ESD_DDIM_STEPS, T = u->sched.cfg.num_train_timesteps, slot = T / N;
    unlearn_batch *b;
    lethe_status st = unlearn_batch_get(u, STREAM_FORGET, n, &b);
    if (st) return st;

    // t_enc for the step, then a class and a DDPM t in the t_enc slot for each chain
    const uint64_t ts = lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)step, ESD_STREAM);
    const uint64_t cs = lethe_stream(LETHE_STREAM_BATCH, (uint64_t)step, ESD_STREAM);
    const int t_enc = (int)lethe_rand_below(o->seed, ts, 0, (uint32_t)N);
    for (int i = 0; i < n; i++) {
        b->labels[i] = u->forget[lethe_rand_below(o->seed, cs, (uint64_t)i, (uint32_t)u->n_forget)];
        b->t[i] = (float)(t_enc * slot + (int)lethe_rand_below(o->seed, ts, (uint64_t)i + 1, (uint32_t)slot));
    }
    cond_set_classes(&b->cond, b->labels, n);

    // x_t: the current model's guided DDIM chain from x_T, stopped after N - t_enc steps (stepping
    // along the eps of the clipped x0, as lethe's samples do: the states the model is seen in)
    const size_t sz = (size_t)n * u->numel;
    ops()->randn(b->xt, sz, o->seed, lethe_stream(LETHE_STREAM_NOISE, (uint64_t)step, ESD_STREAM), 0);
    sampler_opts so = {.kind = SAMPLER_DDIM, .steps = N, .eta = 0.0f, .guidance = ESD_START_GUIDANCE,
                       .clipped_eps = 1, .seed = o->seed, .stop_after = N - t_enc};
    if ((st = sampler_run(&u->sched, &so, &s->live, b->xt, &b->cond, n, NULL, NULL))) return st;

    // target = eps*(null) - eta (eps*(c_f) - eps*(null)) = (1 + eta) eps*(null) - eta eps*(c_f)
    if ((st = unlearn_predict(u, u->teacher, b->xt, b->t, &s->null, n, b->eps)) ||
        (st = unlearn_predict(u, u->teacher, b->xt, b->t, &b->cond, n, b->pred)))
        return st;
    ops()->axpbz(b->target, 1.0f + eta, b->eps, -eta, b->pred, sz);

    double loss = 0;
    st = unlearn_mse_grad(u, b->xt, b->t, &b->cond, n, b->target, 1.0f, &loss);
    u->loss = loss;
    unlearn_log_part(u, "esd_mse", loss);
    unlearn_log_part(u, "t_enc", t_enc);
    return st;
}

static void esd_cleanup(unlearn_ctx *u) {
    esd_state *s = u->state;
    if (!s) return;
    denoiser_infer_free(&s->live);
    cond_free(&s->null);
    free(s);
    u->state = NULL;
}

const unlearn_method unlearn_esd = {
    .name = "esd",
    .summary = "ESD: pull eps(x_t, forget class) to the parent's negatively guided eps on the model's own samples "
               "(eta = --negative-guidance, 1; ESD's batch is 1: --batch 1)",
    .needs_teacher = 1,
    .default_lr = 1e-5f,
    .default_steps = 1000,
    .default_batch = 1,   // ESD's: each image of a batch costs a guided DDIM chain
    .setup = esd_setup,
    .step = esd_step,
    .cleanup = esd_cleanup,
    UNLEARN_OPTIONS(esd_options, esd_opts),
};
