/*
 * spare.c: SPARE, Self-distillation for PARameter-Efficient Removal (methods spec 5), for
 * class-conditional models.
 *
 * Stage 1, saliency and mask (spec 5.1): sal_j = sum over forget images of
 * |d/dtheta_j mean (eps - eps_theta(x_t, t, c))^2|, one image per backward (the code's
 * batch 1), each with its own label, t ~ U{0..T-1} and fresh noise. The pass reads the
 * first min(#forget images, 256) forget images (SPARE_SALIENCY_IMAGES; --forget-images
 * lowers it). M_W = the top q = --mask-fraction (default 0.5, the code's
 * sparsity_inclusiveness) of sal over ALL UNet parameters.
 *
 * Masked LoRA (lora.h): W = W0 + (alpha/r) M_W ⊙ (B A) on every convolution weight and the
 * attention projections to_q/to_k/to_v/to_out.0; rank r = --lora-rank (4), alpha =
 * --lora-alpha (default r, so the scale is 1); B = 0 and A = kaiming-uniform as PEFT
 * initialises them. The optimizer's trainable buffer is the concatenation of all factors
 * (u->train_params); everything else, biases, norms, embeddings and the time MLP included,
 * stays at W0. Each step materialises W into u->params from W0 (u->teacher) and the
 * factors, runs the UNet gradient into u->grads and chains it to the factors. PEFT's LoRA
 * dropout (0.1 in the tutorial) is not applied: the update is a materialised weight.
 *
 * Stage 2, self-distillation (spec 5.2); teacher = the frozen parent W0:
 *   forget: real forget images, x_t = add_noise(x0, eps, t),
 *           L_f = MSE(eps_student(x_t, t, c_f), stopgrad eps_teacher(x_t, t, c_s))
 *   retain: L_r = MSE(eps_student(x_t, t, c_r), stopgrad eps_teacher(x_t, t, c_r))
 *   loss = w_f L_f + w_r L_r,  w_f = 0.3, w_r = --retain-weight (was --alpha; 1.0): the
 *   tutorial's weights.
 * c_f is the forget image's own class, c_s = --surrogate (a retained class; required).
 * lethe adaptation: retain labels are replaced by the null class with p = 0.1 on both
 * sides, as in training, so the unconditional branch used by guidance is distilled too.
 *
 * Timesteps of L_f (spec 5.3, reconstructed): --timesteps concept (default) measures
 * D(t) = E || eps_teacher(x_t, t, c_f) - eps_teacher(x_t, t, c_s) ||^2 once per cell of 20
 * timesteps (at the cell's middle, on the first 8 forget images, fixed noise) and draws
 * a cell with probability proportional to D, then t uniformly inside it (tau = 1, no
 * floor). --timesteps uniform is the released code's U{0..T-1} (the ablation). The
 * retain term always samples uniformly.
 *
 * Defaults: AdamW lr 3e-3, weight decay 1e-2 (the tutorial's), 100 steps, gradient clipping
 * 1.0 (the loop's --max-grad-norm). The tutorial's lr is 1e-4 (for SD v1.4); on the tiny
 * Fashion-MNIST model, 200 steps at 1e-4 left the trousers half-degraded and 1e-3 turned
 * them into the surrogate (zero-initialised B factors start slowly at small lr). On the
 * reference parent (docs/unlearning.md), 100 steps at 3e-3 forgot as well as 200 at 1e-3
 * (UA 98% at 50 samples, kept classes -0.7 points mean, worst -4, FID -8%) at half the cost.
 * Setup is deterministic (fixed images, Philox keys of their own), as --resume needs.
 */
#include "unlearn/spare.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "unlearn/concepts.h"
#include "unlearn/unlearn_internal.h"

#define SPARE_W_FORGET 0.3f
#define SPARE_W_RETAIN 1.0f
// low 24 bits of the Philox streams of setup and of the concept timesteps ("SP" + id),
// apart from the loop's stream ids 1..3
#define SPARE_KEY_SALIENCY 0x535001u
#define SPARE_KEY_CONCEPT 0x535002u
#define SPARE_KEY_DRAW 0x535003u

enum { SPARE_T_CONCEPT, SPARE_T_UNIFORM };   // --timesteps, in the order of its choices

typedef struct {
    const char *surrogate;
    float retain_weight;   // w_r
    float mask_fraction;
    int lora_rank;
    float lora_alpha;      // NaN: the rank
    int timesteps;         // SPARE_T_*
} spare_opts;

static const opt_spec spare_options[] = {
    {"surrogate", NULL, OPT_STRING, offsetof(spare_opts, surrogate), {.s = NULL},
     "the retained class the forget class is mapped to", .flags = OPT_REQUIRED},
    {"retain-weight", "alpha", OPT_FLOAT, offsetof(spare_opts, retain_weight), {.f = SPARE_W_RETAIN},
     "weight w_r of the retain distillation term"},
    {"mask-fraction", NULL, OPT_FLOAT, offsetof(spare_opts, mask_fraction), {.f = 0.5f},
     "top fraction of the weights by saliency that the LoRA update may change"},
    {"lora-rank", NULL, OPT_INT, offsetof(spare_opts, lora_rank), {.i = 4}, "LoRA rank"},
    {"lora-alpha", NULL, OPT_FLOAT, offsetof(spare_opts, lora_alpha), {.f = NAN}, "LoRA alpha (scale alpha/rank)",
     "the rank"},
    {"timesteps", NULL, OPT_CHOICE, offsetof(spare_opts, timesteps), {.i = SPARE_T_CONCEPT},
     "t of the forget term: concept (where the teacher tells forget class from surrogate) or uniform", .choices = "concept|uniform"},
};

typedef struct {
    lora_adapter lora;
    int surrogate_of[LETHE_MAX_CLASSES];   // c_s of each forget class c_f
    float w_forget, w_retain;
    int concept;        // 1: t of the forget term drawn from p(t) ∝ D(t)
    int T;
    double *cdf;        // T entries (concept mode)
    int cap;            // rows of the host buffers below
    int *idx;
    lethe_cond sur;     // cap rows: the surrogate classes c_s of a batch's forget images
    float *host;        // cap images, staging for the device
} spare_state;

// ---- the concept timestep distribution ----------------------------------------------------

int spare_concept_pmf(const double *D, int T, double *p) {
    const int cells = (T + SPARE_T_CELL - 1) / SPARE_T_CELL;
    double sum = 0;
    for (int k = 0; k < cells; k++) {
        if (!(D[k] >= 0) || !isfinite(D[k])) return -1;
        sum += D[k];
    }
    if (!(sum > 0) || !isfinite(sum)) return -1;
    for (int k = 0; k < cells; k++) {
        const int lo = k * SPARE_T_CELL, w = T - lo < SPARE_T_CELL ? T - lo : SPARE_T_CELL;
        for (int t = lo; t < lo + w; t++) p[t] = D[k] / sum / w;
    }
    return 0;
}

void spare_pmf_to_cdf(const double *p, int T, double *cdf) {
    double acc = 0;
    for (int t = 0; t < T; t++) cdf[t] = acc += p[t];
    cdf[T - 1] = 1.0;
}

int spare_draw_timestep(const double *cdf, int T, double u) {
    int lo = 0, hi = T - 1;   // the answer is in [lo, hi]
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cdf[mid] >= u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static lethe_status sp_setup(unlearn_ctx *u);

const lora_adapter *spare_adapter(const unlearn_ctx *u) {
    return u->method && u->method->setup == sp_setup && u->state ? &((const spare_state *)u->state)->lora : NULL;
}

// ---- batches ---------------------------------------------------------------------------------

// Forget images first .. first+n-1 (dataset order) into b->x0, b->labels and b->cond.
static void load_forget_images(unlearn_ctx *u, spare_state *s, unlearn_batch *b, int first, int n) {
    for (int i = 0; i < n; i++) s->idx[i] = first + i;
    dataset_batch(&u->forget_set, s->idx, n, s->host, b->labels);
    ops()->to_device(b->x0, s->host, (size_t)n * u->numel * sizeof(float));
    b->n = n;
    cond_set_classes(&b->cond, b->labels, n);
}

// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for the timesteps in b->t; eps is first
// drawn from `noise_stream` when draw_eps (else b->eps is reused).
static void make_xt(unlearn_ctx *u, unlearn_batch *b, int draw_eps, uint64_t noise_stream) {
    if (draw_eps) ops()->randn(b->eps, (size_t)b->n * u->numel, u->o->seed, noise_stream, 0);
    schedule_add_noise_at(&u->sched, b->xt, b->x0, b->eps, b->t, b->n, u->numel);
}

// ---- setup ---------------------------------------------------------------------------------

// Stage 1: accumulated absolute gradients of the forget images -> M_W (top q of all weights).
static lethe_status saliency_mask(unlearn_ctx *u, spare_state *s, float q) {
    const int n_img = u->forget_set.n < SPARE_SALIENCY_IMAGES ? u->forget_set.n : SPARE_SALIENCY_IMAGES;
    const size_t np = u->n_params;
    float *sal = ops()->alloc(np * sizeof(float)), *mask = ops()->alloc(np * sizeof(float));
    float *h = NULL;
    unlearn_batch *b;
    lethe_status st = sal && mask ? LETHE_OK : lethe_fail(LETHE_ERR_NOMEM, "spare: out of memory for the saliency");
    if (!st) st = unlearn_batch_get(u, STREAM_EXTRA, 1, &b);
    for (int i = 0; i < n_img && !st; i++) {
        load_forget_images(u, s, b, i, 1);
        b->t[0] = (float)lethe_rand_below(u->o->seed, lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)i, SPARE_KEY_SALIENCY), 0,
                                          (uint32_t)s->T);
        make_xt(u, b, 1, lethe_stream(LETHE_STREAM_NOISE, (uint64_t)i, SPARE_KEY_SALIENCY));
        ops()->fill(u->grads, 0.0f, np);
        if ((st = unlearn_mse_grad(u, b->xt, b->t, &b->cond, 1, b->eps, 1.0f, NULL))) break;
        ops()->abs_accumulate(sal, u->grads, np);
    }
    ops()->fill(u->grads, 0.0f, np);
    float thr = 0;
    if (!st) st = unlearn_top_fraction_mask(sal, np, q, mask, &thr);
    if (!st) lora_set_mask(&s->lora, mask);
    if (!st && !u->o->quiet) {   // how much of the adapted weights the mask opens
        if ((h = malloc(np * sizeof(float)))) {
            ops()->to_host(h, mask, np * sizeof(float));
            size_t on = 0, all = 0;
            for (int l = 0; l < s->lora.n_layers; l++) {
                const lora_layer *ly = &s->lora.layers[l];
                const size_t n = (size_t)ly->out * ly->in;
                for (size_t j = 0; j < n; j++) on += h[ly->w_offset + j] != 0.0f;
                all += n;
            }
            fprintf(stderr, "spare: saliency of %d forget images; mask keeps the top %g of all weights (|grad| >= %.3g): "
                    "%.1f%% of the %zu adapted weights\n", n_img, (double)q, (double)thr, 100.0 * (double)on / (double)all, all);
        }
    }
    free(h);
    ops()->release(sal);
    ops()->release(mask);
    return st;
}

// D(t) on the cells and the cdf of p(t) for the forget term.
static lethe_status concept_table(unlearn_ctx *u, spare_state *s) {
    const int T = s->T, cells = (T + SPARE_T_CELL - 1) / SPARE_T_CELL;
    const int k_img = u->forget_set.n < SPARE_CONCEPT_IMAGES ? u->forget_set.n : SPARE_CONCEPT_IMAGES;
    double *D = calloc((size_t)cells, sizeof(double)), *p = malloc((size_t)T * sizeof(double));
    s->cdf = malloc((size_t)T * sizeof(double));
    unlearn_batch *b;
    lethe_status st = D && p && s->cdf ? LETHE_OK : lethe_fail(LETHE_ERR_NOMEM, "spare: out of memory");
    // one teacher pass per cell: rows [0, k) at c_f and rows [k, 2k) the same x_t at c_s
    const size_t half = (size_t)k_img * u->numel;
    if (!st) st = unlearn_batch_get(u, STREAM_EXTRA, 2 * k_img, &b);
    if (!st) {
        load_forget_images(u, s, b, 0, k_img);
        ops()->copy(b->x0 + half, b->x0, half);
        for (int i = 0; i < k_img; i++) b->labels[k_img + i] = s->surrogate_of[b->labels[i]];
        b->n = 2 * k_img;
        cond_set_classes(&b->cond, b->labels, 2 * k_img);
    }
    for (int c = 0; c < cells && !st; c++) {
        const int lo = c * SPARE_T_CELL, w = T - lo < SPARE_T_CELL ? T - lo : SPARE_T_CELL;
        for (int i = 0; i < 2 * k_img; i++) b->t[i] = (float)(lo + (w - 1) / 2);
        ops()->randn(b->eps, half, u->o->seed, lethe_stream(LETHE_STREAM_NOISE, (uint64_t)c, SPARE_KEY_CONCEPT), 0);
        ops()->copy(b->eps + half, b->eps, half);
        make_xt(u, b, 0, 0);
        if ((st = unlearn_predict(u, u->teacher, b->xt, b->t, &b->cond, 2 * k_img, b->pred))) break;
        D[c] = ops()->mse_forward(b->pred, b->pred + half, half);
    }
    if (!st) {
        if (spare_concept_pmf(D, T, p)) {   // the teacher does not tell c_f from c_s
            if (!u->o->quiet)
                fprintf(stderr, "spare: the teacher's predictions for the forget and surrogate classes do not differ "
                        "(D(t) = 0): timesteps are sampled uniformly\n");
            for (int t = 0; t < T; t++) p[t] = 1.0 / T;
        }
        spare_pmf_to_cdf(p, T, s->cdf);
        if (!u->o->quiet) {
            int t10 = spare_draw_timestep(s->cdf, T, 0.1), t50 = spare_draw_timestep(s->cdf, T, 0.5),
                t90 = spare_draw_timestep(s->cdf, T, 0.9);
            fprintf(stderr, "spare: concept timesteps from D(t) on %d forget images: p(t) quantiles 10/50/90%% at t = %d/%d/%d\n",
                    k_img, t10, t50, t90);
        }
    }
    free(D);
    free(p);
    return st;
}

static lethe_status sp_setup(unlearn_ctx *u) {
    const unlearn_opts *o = u->o;
    const spare_opts *p = u->mopt;
    if (!u->class_conditional)
        return lethe_fail(LETHE_ERR_ARG, "spare needs a class-conditional model (the surrogate is a class label); %s is "
                          "unconditional", o->model_dir ? o->model_dir : "this model");
    if (!p->surrogate || !p->surrogate[0])
        return lethe_fail(LETHE_ERR_ARG, "spare: --surrogate %s is required (%s)",
                          model_is_text(u->model) ? "CONCEPT" : "CLASS",
                          model_is_text(u->model) ? "the style or object that replaces the forgotten one in each forget "
                                                    "prompt, e.g. --surrogate photo (the plain style) for a style"
                                                  : "the retained class the forget class is mapped to");
    spare_state *s = calloc(1, sizeof *s);
    if (!s) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    u->state = s;
    lethe_status st = LETHE_OK;
    // c_s of each forget class: the surrogate class; for prompts, the forget prompt with its
    // style (or object) replaced by the surrogate's (concepts.h)
    for (int i = 0; i < u->n_forget && !st; i++) {
        const int f = u->forget[i];
        int sur;
        st = model_is_text(u->model) ? concepts_substitute(u->model, f, p->surrogate, &sur)
                                     : model_class_index(u->model, p->surrogate, &sur);
        if (st) return lethe_fail_context(st, "spare: --surrogate");
        if (u->is_forget[sur] && !model_is_text(u->model))
            return lethe_fail(LETHE_ERR_ARG, "spare: --surrogate %s is a forget class; it must be a retained class, "
                              "different from every forget class", p->surrogate);
        if (u->is_forget[sur])
            return lethe_fail(LETHE_ERR_ARG, "spare: --surrogate %s maps '%s' to '%s', a forget prompt; the surrogate "
                              "must be a concept that is kept", p->surrogate, u->model->class_names[f],
                              u->model->class_names[sur]);
        if (!u->is_kept[sur])
            return lethe_fail(LETHE_ERR_ARG, "spare: --surrogate %s: the model was never trained on that class, so it has "
                              "no images of it to map the forget class to", p->surrogate);
        s->surrogate_of[f] = sur;
    }
    const int concept = p->timesteps == SPARE_T_CONCEPT;
    const float q = p->mask_fraction, w_r = p->retain_weight;
    if (!(q > 0 && q <= 1)) return lethe_fail(LETHE_ERR_ARG, "spare: --mask-fraction must be in (0, 1] (got %g)", (double)q);
    if (!(w_r >= 0) || !isfinite(w_r))
        return lethe_fail(LETHE_ERR_ARG, "spare: --retain-weight must be >= 0 (got %g)", (double)w_r);
    const int rank = p->lora_rank;
    const float lora_alpha = knob_f(p->lora_alpha, (float)rank);

    s->w_forget = SPARE_W_FORGET;
    s->w_retain = w_r;
    s->concept = concept;
    s->T = u->sched.cfg.num_train_timesteps;
    // the weights the network says an adapter adapts (NULL hook: lora.h's rule)
    const lethe_denoiser *net = &u->model->net;
    if ((st = lora_init(&s->lora, net->table, rank, lora_alpha, net->vt->lora_target))) return lethe_fail_context(st, "spare");
    s->cap = o->batch > 2 * SPARE_CONCEPT_IMAGES ? o->batch : 2 * SPARE_CONCEPT_IMAGES;
    if ((st = unlearn_cond_alloc(u, &s->sur, s->cap))) return st;
    cond_fill_class(&s->sur, s->surrogate_of[u->forget[0]], s->cap);
    s->idx = malloc((size_t)s->cap * sizeof(int));
    s->host = malloc((size_t)s->cap * u->numel * sizeof(float));
    // the optimizer's buffer: the factors (the loop releases them since they are not u->params)
    u->train_params = ops()->alloc(s->lora.n_factors * sizeof(float));
    u->train_grads = ops()->alloc(s->lora.n_factors * sizeof(float));
    u->n_train = s->lora.n_factors;
    if (!s->idx || !s->host || !u->train_params || !u->train_grads)
        return lethe_fail(LETHE_ERR_NOMEM, "spare: out of memory for %zu LoRA factors", s->lora.n_factors);
    if ((st = lora_init_factors(&s->lora, u->train_params, o->seed))) return st;
    if (!o->quiet)
        fprintf(stderr, "spare: LoRA rank %d, alpha %g on %d layers (%zu factors); surrogate class %s; %s timesteps\n", rank,
                (double)lora_alpha, s->lora.n_layers, s->lora.n_factors, p->surrogate, concept ? "concept" : "uniform");
    if ((st = saliency_mask(u, s, q))) return st;
    if (concept && (st = concept_table(u, s))) return st;
    return LETHE_OK;
}

// ---- steps ---------------------------------------------------------------------------------

static lethe_status sp_step(unlearn_ctx *u, int step) {
    spare_state *s = u->state;
    const int n = u->o->batch, T = s->T;
    lora_materialise(&s->lora, u->params, u->teacher, u->train_params);

    // forget: student at c_f towards the teacher at c_s
    unlearn_batch *b;
    double lf = 0, lr = 0;
    lethe_status st = unlearn_batch_get(u, STREAM_FORGET, n, &b);
    if (!st) st = unlearn_sample_images(u, &u->forget_set, step, STREAM_FORGET, b, n);
    if (st) return st;
    if (s->concept) {   // t from p(t), eps from the helpers' noise stream (their uniform t is not drawn:
                        // draws are keyed by (seed, step, stream), so skipping one changes no other)
        const uint64_t ts = lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)step, SPARE_KEY_DRAW);
        for (int i = 0; i < n; i++)
            b->t[i] = (float)spare_draw_timestep(s->cdf, T, lethe_rand_uniform(u->o->seed, ts, (uint64_t)i));
        make_xt(u, b, 1, lethe_stream(LETHE_STREAM_NOISE, (uint64_t)step, STREAM_FORGET));
    } else {
        unlearn_noise(u, step, STREAM_FORGET, b, 0, T);
    }
    for (int i = 0; i < n; i++) cond_set_class(&s->sur, i, s->surrogate_of[b->labels[i]]);
    if ((st = unlearn_predict(u, u->teacher, b->xt, b->t, &s->sur, n, b->target)) ||
        (st = unlearn_mse_grad(u, b->xt, b->t, &b->cond, n, b->target, s->w_forget, &lf)))
        return st;

    // retain: student at c_r towards the teacher at c_r
    if (s->w_retain > 0) {
        unlearn_batch *r;
        if ((st = unlearn_batch_get(u, STREAM_RETAIN, n, &r)) ||
            (st = unlearn_sample_images(u, &u->retain_set, step, STREAM_RETAIN, r, n)))
            return st;
        unlearn_drop_cond(u, step, STREAM_RETAIN, r, UNLEARN_CLASS_DROPOUT);
        unlearn_noise(u, step, STREAM_RETAIN, r, 0, T);
        if ((st = unlearn_predict(u, u->teacher, r->xt, r->t, &r->cond, n, r->target)) ||
            (st = unlearn_mse_grad(u, r->xt, r->t, &r->cond, n, r->target, s->w_retain, &lr)))
            return st;
    }
    lora_chain(&s->lora, u->train_grads, u->grads, u->train_params);
    u->loss = s->w_forget * lf + s->w_retain * lr;
    unlearn_log_part(u, "forget_distill", lf);
    unlearn_log_part(u, "retain_distill", lr);
    return LETHE_OK;
}

static lethe_status sp_finish(unlearn_ctx *u) {
    spare_state *s = u->state;
    lora_materialise(&s->lora, u->params, u->teacher, u->train_params);
    return LETHE_OK;
}

static void sp_cleanup(unlearn_ctx *u) {
    spare_state *s = u->state;
    if (!s) return;
    lora_free(&s->lora);
    free(s->cdf);
    cond_free(&s->sur);
    free(s->idx);
    free(s->host);
    free(s);
    u->state = NULL;
}

const unlearn_method unlearn_spare = {
    .name = "spare",
    .summary = "saliency-masked LoRA self-distillation of the forget class onto --surrogate (concept timesteps)",
    .reconstructed = "SPARE's concept timestep sampling (p(t) proportional to the teacher's |eps(c_f) - eps(c_s)|^2 on 20-step "
                     "cells; the released code samples t uniformly: --timesteps uniform); the point where the saliency mask "
                     "enters the LoRA (here on the materialised update, W0 + alpha/r * M * (B A)); class labels c_f, c_s in "
                     "place of the paper's captions",
    .needs_teacher = 1,
    .needs_retain = 1,
    .needs_forget_data = 1,
    .default_lr = 3e-3f,
    .default_weight_decay = 1e-2f,
    .default_steps = 100,
    .setup = sp_setup,
    .step = sp_step,
    .finish = sp_finish,
    .cleanup = sp_cleanup,
    UNLEARN_OPTIONS(spare_options, spare_opts),
};
