/*
 * fisher.c: guided samples of the parent and the diagonal Fisher of the denoising loss on
 * them (fisher.h), shared by SA (its EWC anchor and replay) and VDU (--anchor-precision fisher).
 */
#include "unlearn/fisher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/generate.h"
#include "diffusion/sampler.h"
#include "ops/ops.h"

#define FISHER_GEN_BATCH 64   // chains per sampler call (guidance doubles the network batch)

static lethe_status empty_set(unlearn_ctx *u, lethe_dataset *d, const char *name, int n) {
    const lethe_denoiser *net = &u->model->net;
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->c = net->channels;
    d->h = d->w = net->size;
    d->n_classes = u->model->n_classes;
    memcpy(d->class_names, u->model->class_names, sizeof d->class_names);
    d->pixels = malloc((size_t)(n > 0 ? n : 1) * u->numel);
    d->labels = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    return d->pixels && d->labels ? LETHE_OK : lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d generated samples", n);
}

// samples of class k that set s takes: its share of the round robin over the set's classes
static int share(const parent_sample_set *s, int slot, int n_slots) {
    return slot < 0 ? 0 : s->n / n_slots + (slot < s->n % n_slots);
}

lethe_status unlearn_parent_samples(unlearn_ctx *u, const float *parent, const char *method, uint32_t stream,
                                    const char *purpose, parent_sample_set *sets, int n_sets) {
    // an unconditional parent has one "class": its unguided samples (label 0 in the sets)
    const int uncond = u->model->n_classes == 0, K = uncond ? 1 : u->model->n_classes;
    // slot[j][k]: index of class k among set j's classes, -1 if it is not one of them
    int slot[4][LETHE_MAX_CLASSES], n_slots[4] = {0};
    if (n_sets < 1 || n_sets > 4) return lethe_fail(LETHE_ERR_ARG, "%s: 1 to 4 sample sets", method);
    lethe_status st = LETHE_OK;
    for (int j = 0; j < n_sets; j++) {
        for (int k = 0; k < K; k++) slot[j][k] = uncond || sets[j].classes[k] ? n_slots[j]++ : -1;
        if (sets[j].n > 0 && n_slots[j] == 0)
            return lethe_fail(LETHE_ERR_ARG, "%s: no class to generate %s from", method, sets[j].name);
        if ((st = empty_set(u, sets[j].set, sets[j].name, sets[j].n))) return st;
    }
    int most = 0, total = 0;
    for (int k = 0; k < K; k++) {
        int g = 0;
        for (int j = 0; j < n_sets; j++) {
            int f = share(&sets[j], slot[j][k], n_slots[j]);
            if (f > g) g = f;
        }
        if (g > most) most = g;
        total += g;
    }
    uint8_t *buf = malloc((size_t)(most > 0 ? most : 1) * u->numel);
    if (!buf) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for generated samples");
    if (!u->o->quiet) {
        char how[32] = "unguided";   // an unconditional model has no guidance
        if (!uncond) snprintf(how, sizeof how, "guidance %g", (double)FISHER_GEN_GUIDANCE);
        fprintf(stderr, "lethe unlearn: %s: generating %d samples of the original model (DDIM %d steps, %s) %s\n",
                method, total, FISHER_GEN_STEPS, how, purpose);
    }
    denoiser_infer den;
    denoiser_infer_init(&den, &u->model->net, parent);
    sampler_opts so = {.kind = SAMPLER_DDIM, .steps = FISHER_GEN_STEPS, .eta = 0.0f, .guidance = FISHER_GEN_GUIDANCE,
                       .clipped_eps = 1, .seed = lethe_stream(LETHE_STREAM_SAMPLE, u->o->seed, stream)};
    for (int k = 0; k < K && !st; k++) {
        int g = 0;
        for (int j = 0; j < n_sets; j++) {
            int f = share(&sets[j], slot[j][k], n_slots[j]);
            if (f > g) g = f;
        }
        if (g == 0) continue;
        if ((st = eval_generate(&u->sched, &so, &den, uncond ? -1 : k, g, FISHER_GEN_BATCH, buf, NULL, NULL))) break;
        // the q-th sample of class k is sample q n_slots + slot of every set that takes it
        for (int j = 0; j < n_sets; j++) {
            const int f = share(&sets[j], slot[j][k], n_slots[j]);
            for (int q = 0; q < f; q++) {
                const int at = q * n_slots[j] + slot[j][k];
                memcpy(sets[j].set->pixels + (size_t)at * u->numel, buf + (size_t)q * u->numel, u->numel);
                sets[j].set->labels[at] = k;
            }
        }
    }
    denoiser_infer_free(&den);
    free(buf);
    return st;
}

// weight x mean((eps_theta(x_t) - target)^2) of the live weights, its gradient accumulated into
// u->grads; dropout keyed by `key` (unlearn_mse_grad keys it by the step). dpred: n images.
static lethe_status mse_grad_keyed(unlearn_ctx *u, const float *xt, const float *t, const lethe_cond *c, int n,
                                   const float *target, float weight, uint64_t key, float *dpred) {
    const size_t sz = (size_t)n * u->numel;
    arena_mark_t mark = arena_mark(&u->arena);
    nn_ctx ctx = {.arena = &u->arena, .train = 1, .seed = u->o->seed, .step = key};
    float *p = arena_floats(&u->arena, sz);
    lethe_status st = p ? denoiser_forward(&u->model->net, u->params, &ctx, p, xt, t, c, n)
                        : lethe_fail(LETHE_ERR_NOMEM, "out of memory for activations");
    if (!st) {
        ops()->fill(dpred, 0.0f, sz);
        ops()->mse_backward(dpred, p, target, sz, weight);
        st = denoiser_backward(&u->model->net, u->params, u->grads, &u->arena, dpred, NULL);
    }
    arena_release(&u->arena, mark);
    return st;
}

lethe_status unlearn_fisher_diagonal(unlearn_ctx *u, const char *method, const lethe_dataset *samples, uint32_t stream,
                                     uint64_t dropout_key, float *fisher, float *scratch) {
    const int N = samples->n, k = FISHER_TIMESTEPS, T = u->sched.cfg.num_train_timesteps;
    const size_t numel = u->numel, sz = (size_t)k * numel;
    float *host = malloc(sz * sizeof(float)), *t = malloc(k * sizeof(float));
    int *idx = malloc(k * sizeof(int)), *labels = malloc(k * sizeof(int));
    lethe_cond c = {0};
    float *x0 = ops()->alloc(sz * sizeof(float)), *eps = ops()->alloc(sz * sizeof(float)),
          *xt = ops()->alloc(sz * sizeof(float)), *dpred = ops()->alloc(sz * sizeof(float));
    lethe_status st = LETHE_OK;
    if ((st = unlearn_cond_alloc(u, &c, k))) goto done;
    if (!host || !t || !idx || !labels || !x0 || !eps || !xt || !dpred) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for the Fisher diagonal");
        goto done;
    }
    if (!u->o->quiet)
        fprintf(stderr, "lethe unlearn: %s: Fisher diagonal from %d samples x %d timesteps\n", method, N, k);
    ops()->fill(fisher, 0.0f, u->n_params);
    for (int j = 0; j < N && !st; j++) {
        for (int i = 0; i < k; i++) idx[i] = j;   // the sample k times, one row per timestep
        dataset_batch(samples, idx, k, host, labels);
        ops()->to_device(x0, host, sz * sizeof(float));
        cond_set_classes(&c, labels, k);
        const uint64_t ts = lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)j, stream);
        for (int i = 0; i < k; i++) {
            int lo = i * T / k, hi = (i + 1) * T / k;
            int tt = lo + (int)lethe_rand_below(u->o->seed, ts, (uint64_t)i, (uint32_t)(hi - lo));
            t[i] = (float)tt;
        }
        ops()->randn(eps, sz, u->o->seed, lethe_stream(LETHE_STREAM_NOISE, (uint64_t)j, stream), 0);
        schedule_add_noise_at(&u->sched, xt, x0, eps, t, k, numel);
        ops()->fill(u->grads, 0.0f, u->n_params);
        // mean over k * numel elements x (k numel) = sum_i sum_pixels
        if ((st = mse_grad_keyed(u, xt, t, &c, k, eps, (float)k * (float)numel, dropout_key + (uint64_t)j, dpred)))
            break;
        ops()->mul(scratch, u->grads, u->grads, u->n_params);
        ops()->axpbz(fisher, 1.0f, fisher, (float)T / (float)k / (float)N, scratch, u->n_params);
    }
    if (!st && !ops()->all_finite(fisher, u->n_params))
        st = lethe_fail(LETHE_ERR_NUMERIC, "%s: the Fisher diagonal is not finite (the parent's gradients overflow)",
                        method);
done:
    free(host); free(t); free(idx); free(labels);
    cond_free(&c);
    ops()->release(x0); ops()->release(eps); ops()->release(xt); ops()->release(dpred);
    return st;
}
