/* sampler.c: DDPM / DDIM steps and classifier-free guidance over the denoiser seam. */
#include "diffusion/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"

void sampler_initial_noise(float *x, int n, size_t numel, uint64_t seed, int first_index) {
    ops()->randn(x, (size_t)n * numel, seed, lethe_stream(LETHE_STREAM_SAMPLE, 0xffffffffu, 0),
                 (uint64_t)first_index * numel);
}

// eps with optional guidance. work: 2n*numel (x doubled) + 2n*numel (eps doubled); c2: 2n rows.
static lethe_status guided_eps(denoiser_infer *d, const sampler_opts *o, float *eps, const float *x,
                               const lethe_cond *c, int n, int t, float *x2, float *e2, float *t2, lethe_cond *c2) {
    size_t numel = denoiser_numel(d->net), sz = (size_t)n * numel;
    int guided = c && cond_has_null(&c->spec) && o->guidance > 1.0f;
    int m = guided ? 2 * n : n;
    for (int i = 0; i < m; i++) t2[i] = (float)t;
    if (!guided) return denoiser_infer_eps(d, eps, x, t2, c, n);
    cond_concat_null(c2, c);
    ops()->copy(x2, x, sz);
    ops()->copy(x2 + sz, x, sz);
    lethe_status st = denoiser_infer_eps(d, e2, x2, t2, c2, m);
    if (st) return st;
    // eps = eps_null + w (eps_cond - eps_null) = w eps_cond + (1 - w) eps_null
    ops()->axpbz(eps, o->guidance, e2, 1.0f - o->guidance, e2 + sz, sz);
    return LETHE_OK;
}

// One-step generator: x holds z on entry and x0 on return (see sampler_kind).
static lethe_status one_step_run(const lethe_schedule *s, const sampler_opts *o, denoiser_infer *d, float *x,
                                 const lethe_cond *c, int n, sampler_progress_fn progress, void *user) {
    const schedule_config *sc = &s->cfg;
    const int t = o->one_step_t;
    if (t < 1 || t >= sc->num_train_timesteps)
        return lethe_fail(LETHE_ERR_ARG, "one-step generator timestep %d is not in [1, %d]", t, sc->num_train_timesteps - 1);
    const size_t sz = (size_t)n * denoiser_numel(d->net);
    const double abar = s->alphas_cumprod[t], sig = sqrt(1.0 - abar);
    float *eps = ops()->alloc(sz * sizeof(float)), *tt = malloc((size_t)n * sizeof(float));
    lethe_status st = LETHE_OK;
    if (!eps || !tt) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for sampling buffers"); goto done; }
    for (int i = 0; i < n; i++) tt[i] = (float)t;
    ops()->axpbz(x, (float)sig, x, 0.0f, x, sz);   // x_in = sqrt(1 - abar) z
    if ((st = denoiser_infer_eps(d, eps, x, tt, c, n))) goto done;
    if (!ops()->all_finite(eps, sz)) { st = lethe_fail(LETHE_ERR_NUMERIC, "the generator produced NaN/Inf"); goto done; }
    ops()->axpbz(x, (float)(1.0 / sqrt(abar)), x, (float)(-sig / sqrt(abar)), eps, sz);
    if (sc->clip_sample) ops()->clamp(x, -sc->clip_sample_range, sc->clip_sample_range, sz);
    if (progress) progress(user, 1, 1);
done:
    ops()->release(eps);
    free(tt);
    return st;
}

lethe_status sampler_run(const lethe_schedule *s, const sampler_opts *o, denoiser_infer *d,
                         float *x, const lethe_cond *cond, int n, sampler_progress_fn progress, void *user) {
    if (o->kind == SAMPLER_ONE_STEP) return one_step_run(s, o, d, x, cond, n, progress, user);
    const schedule_config *c = &s->cfg;
    int T = c->num_train_timesteps, N = o->steps;
    if (o->kind == SAMPLER_DDIM && (o->eta < 0 || o->eta > 1))
        return lethe_fail(LETHE_ERR_ARG, "DDIM eta %g must be in [0, 1]", (double)o->eta);
    int *ts = malloc((size_t)N * sizeof *ts > 0 ? (size_t)N * sizeof *ts : 1);
    if (!ts) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = schedule_timesteps(s, N, ts);
    if (st) { free(ts); return st; }

    size_t numel = denoiser_numel(d->net), sz = (size_t)n * numel;
    float *eps = ops()->alloc(sz * sizeof(float)), *x0 = ops()->alloc(sz * sizeof(float));
    float *z = ops()->alloc(sz * sizeof(float));
    float *x2 = ops()->alloc(2 * sz * sizeof(float)), *e2 = ops()->alloc(2 * sz * sizeof(float));
    float *t2 = malloc(2 * (size_t)n * sizeof(float));
    lethe_cond c2 = {0};
    if (cond && (st = cond_alloc(&c2, &cond->spec, 2 * n))) goto done;
    if (!eps || !x0 || !z || !x2 || !e2 || !t2) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for sampling buffers"); goto done; }

    const int run = o->stop_after > 0 && o->stop_after < N ? o->stop_after : N;
    for (int m = 0; m < run; m++) {
        int t = ts[m];
        // DDPM: previous = next entry of the list (-1 after the last); DDIM: t - T/N always (spec 3.5).
        int p = o->kind == SAMPLER_DDIM ? t - T / N : (m + 1 < N ? ts[m + 1] : -1);
        double abar_t = s->alphas_cumprod[t];
        double abar_p = p >= 0 ? s->alphas_cumprod[p]
                               : (o->kind == SAMPLER_DDIM && !c->set_alpha_to_one ? s->alphas_cumprod[0] : 1.0);
        if ((st = guided_eps(d, o, eps, x, cond, n, t, x2, e2, t2, &c2))) goto done;
        if (!ops()->all_finite(eps, sz)) { st = lethe_fail(LETHE_ERR_NUMERIC, "the model produced NaN/Inf at timestep %d", t); goto done; }

        // x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clamped
        ops()->axpbz(x0, (float)(1.0 / sqrt(abar_t)), x, (float)(-sqrt(1.0 - abar_t) / sqrt(abar_t)), eps, sz);
        if (c->clip_sample) ops()->clamp(x0, -c->clip_sample_range, c->clip_sample_range, sz);
        // eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t): the direction consistent with the clipped x0
        if (c->clip_sample && o->clipped_eps && o->kind == SAMPLER_DDIM)
            ops()->axpbz(eps, (float)(1.0 / sqrt(1.0 - abar_t)), x, (float)(-sqrt(abar_t) / sqrt(1.0 - abar_t)), x0, sz);

        uint64_t stream = lethe_stream(LETHE_STREAM_SAMPLE, (uint64_t)m, 0);
        if (o->kind == SAMPLER_DDIM) {
            double var = (1 - abar_p) / (1 - abar_t) * (1 - abar_t / abar_p);
            double sigma = o->eta * sqrt(var);
            // x_p = sqrt(abar_p) x0 + sqrt(1 - abar_p - sigma^2) eps (+ sigma z)
            double dir = sqrt(fmax(1 - abar_p - sigma * sigma, 0.0));
            ops()->axpbz(x, (float)sqrt(abar_p), x0, (float)dir, eps, sz);
            if (o->eta > 0) {
                ops()->randn(z, sz, o->seed, stream, (uint64_t)o->first_index * numel);
                ops()->axpbz(x, 1.0f, x, (float)sigma, z, sz);
            }
        } else {
            double a_t = abar_t / abar_p, b_t = 1 - a_t;
            double c0 = sqrt(abar_p) * b_t / (1 - abar_t), ct = sqrt(a_t) * (1 - abar_p) / (1 - abar_t);
            ops()->axpbz(x, (float)ct, x, (float)c0, x0, sz);
            if (t > 0) {
                double var = fmax((1 - abar_p) / (1 - abar_t) * b_t, 1e-20);   // fixed_small
                ops()->randn(z, sz, o->seed, stream, (uint64_t)o->first_index * numel);
                ops()->axpbz(x, 1.0f, x, (float)sqrt(var), z, sz);
            }
        }
        if (progress) progress(user, m + 1, N);
    }
done:
    ops()->release(eps); ops()->release(x0); ops()->release(z); ops()->release(x2); ops()->release(e2);
    free(t2); free(ts);
    cond_free(&c2);
    return st;
}
