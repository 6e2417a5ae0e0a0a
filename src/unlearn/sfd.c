/*
 * sfd.c: SFD, Score Forgetting Distillation (Chen, Zhang, Zhou, ICLR 2025; methods spec 6):
 * distils the parent into a ONE-STEP generator with Score identity Distillation (SiD) while
 * the forget class's score is distilled from another class's. Data-free: no image is read,
 * only class labels (unlearn_method.data_free).
 *
 * Three networks from the parent's weights: the frozen teacher f_phi (u->teacher), a fake
 * score f_psi and the generator G_theta, the UNet evaluated at t_init (spec 6.1):
 *   x_in = sqrt(1 - abar_init) z,  x_g = (x_in - sqrt(1 - abar_init) eps_theta(x_in, t_init, c)) / sqrt(abar_init).
 * Each step (spec 6.3), with x_t = sqrt(abar_t) x_g + sqrt(1 - abar_t) eps, t ~ U[t_min, t_max):
 *   fake-score step (x_g without gradient):
 *     L_psi = l_sr sum_pix |eps_psi(x_t, c_r) - eps|^2 + l_sf (same with c_f)      (mean over the batch)
 *     clip by value, Adam(psi);
 *   generator step (psi frozen, just updated), p / s the x0-predictions of teacher / fake score:
 *     L_G = sum_pix (p - s) . ((p - x_g) - alpha (p - s)) / omega,  omega = mean_pix |p - x_g| (detached)
 *     total l_gr L_G(teacher c_r, fake c_r) + l_gf L_G(teacher c_o, fake c_f), the generator asked
 *     for c_r resp. c_f; gradients flow through p and s into x_t and on into theta;
 *     clip by value, Adam(theta) (the loop), EMA(theta).
 * The teacher's eps is classifier-free guided, eps(c) + (w - 1)(eps(c) - eps(null)) at
 * --teacher-guidance w (default 2, the guidance lethe sample and eval use; 1: the plain
 * conditional score, as the spec's CIFAR-10 recipe): the generator then learns the samples
 * it is compared with. Unguided, the parent's own samples are judged their class 84% of the
 * time against 96% guided, and a 200-step generator's kept classes fell up to 32 points;
 * guided, 400 steps keep every kept class within 2 points (docs/unlearning.md). Guidance
 * runs the teacher on one batch of 2n rows, [x_t; x_t] with [c; null].
 * c_r is uniform over the retained classes (the spec's "empirical labels": Fashion-MNIST's
 * are uniform), c_f uniform over the forget classes, c_o the --override class or a random
 * retained class per sample. Every term draws its own z, t and eps.
 *
 * Where the optimiser lives: the loop's buffer is [theta | psi | ema(theta)] with a mask that
 * lets the loop's Adam touch only theta; psi is updated here with the same Adam state's
 * slice (so --resume restores psi, its moments and the EMA with everything else), and the
 * EMA is advanced at the start of the next step (and in finish). The output model is the
 * EMA generator, marked in lethe.json as a one-step generator with its t_init.
 *
 * Defaults: the spec's CIFAR-10 recipe is alpha 1.2, t_init 440, t in [38, 712), weights
 * 1 / 0.01 / 1 / 0.01, Adam (0, 0.999), lr 1e-5 for both networks, clip 1, EMA 0.9999, batch
 * 128 for 50k steps: about 10^8 network passes, out of reach on 2 cores. lethe keeps the
 * losses, t_init, t range, alpha, betas and clipping, and shortens the run (see sfd_method's
 * defaults and docs/unlearning.md for the budget and why the learning rates are higher).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "unlearn/sfd.h"
#include "unlearn/unlearn_internal.h"

#define SFD_STREAM 32   // Philox b indices 32..47: this method's draws (the helpers use 1..3)

enum { TERM_FAKE_RETAIN, TERM_FAKE_FORGET, TERM_GEN_RETAIN, TERM_GEN_FORGET };

typedef struct {
    float sid_alpha;
    int t_init, t_min, t_max;
    float fake_lr;                 // NaN: --lr
    float w[4];                    // loss weight of each term (enum above)
    float gen_ema, clip_value;
    float teacher_guidance;        // w of the teacher's classifier-free guidance (1: none)
    const char *override;          // NULL: a random retained class per sample
} sfd_opts;

#define W(term) (offsetof(sfd_opts, w) + (term) * sizeof(float))
static const opt_spec sfd_options[] = {
    {"sid-alpha", "alpha", OPT_FLOAT, offsetof(sfd_opts, sid_alpha), {.f = 1.2f}, "SiD's alpha in the generator loss"},
    {"t-init", NULL, OPT_INT, offsetof(sfd_opts, t_init), {.i = 440}, "the generator's timestep"},
    {"t-min", NULL, OPT_INT, offsetof(sfd_opts, t_min), {.i = 38}, "lowest t of the score losses"},
    {"t-max", NULL, OPT_INT, offsetof(sfd_opts, t_max), {.i = 712}, "t of the score losses is below this"},
    {"fake-lr", NULL, OPT_FLOAT, offsetof(sfd_opts, fake_lr), {.f = NAN}, "learning rate of the fake score", "--lr"},
    {"fake-retain-weight", NULL, OPT_FLOAT, W(TERM_FAKE_RETAIN), {.f = 1.0f}, "weight l_sr of the fake score's retain term"},
    {"fake-forget-weight", NULL, OPT_FLOAT, W(TERM_FAKE_FORGET), {.f = 1.0f}, "weight l_sf of the fake score's forget term"},
    {"gen-retain-weight", NULL, OPT_FLOAT, W(TERM_GEN_RETAIN), {.f = 1.0f}, "weight l_gr of the generator's retain term"},
    {"gen-forget-weight", NULL, OPT_FLOAT, W(TERM_GEN_FORGET), {.f = 1.0f}, "weight l_gf of the generator's forget term"},
    {"gen-ema", NULL, OPT_FLOAT, offsetof(sfd_opts, gen_ema), {.f = 0.999f},
     "maximum EMA decay of the generator, reached after a warm-up (0: off)"},
    {"clip-value", NULL, OPT_FLOAT, offsetof(sfd_opts, clip_value), {.f = 1.0f}, "clip gradients by value to [-v, v] (0: off)"},
    {"teacher-guidance", NULL, OPT_FLOAT, offsetof(sfd_opts, teacher_guidance), {.f = 2.0f},
     "classifier-free guidance w of the teacher's score in the generator loss (1: none; the generator then learns the "
     "guided teacher's samples, as lethe sample and eval draw them at --guidance w)"},
    {"override", NULL, OPT_STRING, offsetof(sfd_opts, override), {.s = NULL},
     "the kept class whose teacher score the forget class learns", "a random kept class per sample"},
};
#undef W

typedef struct {
    float alpha, fake_lr, clip, ema_max, guidance;
    float w[4];                    // loss weight of each term (enum above)
    int t_init, t_min, t_max, override;   // override: class index, or -1 for a random retained class
    double abar_init;
    lethe_denoiser gen, tea, fake; // clones of the model's network: three sets of saved activations
    float *theta, *psi, *ema;      // slices of u->train_params
    float *g_theta, *g_psi;        // slices of u->train_grads
    // one term's tensors (n, C, H, W), backend
    float *z, *x_in, *eps_g, *x_g, *noise, *x_t, *eps_p, *eps_s, *p, *s, *d1, *d2, *tmp, *g_p, *g_s, *g_xt, *g_xg, *g_eps;
    float *row_dev;                // n per-row values
    float *t_gen, *t, *ca, *cb, *ra, *rb, *omega, *cross, *sq, *r;   // n each, host
    lethe_cond c_gen, c_tea, c_fake;              // n rows each: the classes asked of each network
    // guided teacher (guidance != 1): one batch of 2n rows, [x_t; x_t] with [c_tea; null]
    float *x2, *eps2, *g_eps2, *g_x2, *t2;        // 2n rows (t2: host)
    lethe_cond c_tea2;
    int *retained;                 // the retained classes
    int n_retained;
    float *omega_kept[2];          // n each: the last omega of each generator term (host)
    int freeze_omega;              // tests: reuse omega_kept (the gradient treats omega as a constant)
} sfd_state;

// ---- set-up ------------------------------------------------------------------------------------

static lethe_status alloc_state(unlearn_ctx *u, sfd_state *s, int n) {
    const size_t sz = (size_t)n * u->numel * sizeof(float);
    float **dev[] = {&s->z, &s->x_in, &s->eps_g, &s->x_g, &s->noise, &s->x_t, &s->eps_p, &s->eps_s, &s->p, &s->s,
                     &s->d1, &s->d2, &s->tmp, &s->g_p, &s->g_s, &s->g_xt, &s->g_xg, &s->g_eps};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (!(*dev[i] = ops()->alloc(sz))) return lethe_fail(LETHE_ERR_NOMEM, "sfd: out of memory for a batch of %d", n);
    float **host[] = {&s->t_gen, &s->t, &s->ca, &s->cb, &s->ra, &s->rb, &s->omega, &s->cross, &s->sq, &s->r};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        if (!(*host[i] = malloc((size_t)n * sizeof(float)))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 2; k++)
        if (!(s->omega_kept[k] = malloc((size_t)n * sizeof(float)))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st;
    if ((st = unlearn_cond_alloc(u, &s->c_gen, n)) || (st = unlearn_cond_alloc(u, &s->c_tea, n)) ||
        (st = unlearn_cond_alloc(u, &s->c_fake, n)))
        return st;
    s->row_dev = ops()->alloc((size_t)n * sizeof(float));
    if (!s->row_dev) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if (s->guidance != 1.0f) {
        float **two[] = {&s->x2, &s->eps2, &s->g_eps2, &s->g_x2};
        for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
            if (!(*two[i] = ops()->alloc(2 * sz))) return lethe_fail(LETHE_ERR_NOMEM, "sfd: out of memory for a batch of %d", n);
        if (!(s->t2 = malloc(2 * (size_t)n * sizeof(float)))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        if ((st = unlearn_cond_alloc(u, &s->c_tea2, 2 * n))) return st;
    }
    return LETHE_OK;
}

static lethe_status sfd_setup(unlearn_ctx *u) {
    const unlearn_opts *o = u->o;
    const int T = u->sched.cfg.num_train_timesteps;
    if (!u->class_conditional)   // also checked by unlearn_run for data-free methods; direct callers land here
        return lethe_fail(LETHE_ERR_ARG, "sfd needs a class-conditional model: it distils one class's score from another's");
    sfd_state *s = calloc(1, sizeof *s);
    if (!s) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    u->state = s;
    const sfd_opts *p = u->mopt;
    s->alpha = p->sid_alpha;
    s->t_init = p->t_init;
    s->t_min = p->t_min;
    s->t_max = p->t_max;
    s->fake_lr = knob_f(p->fake_lr, o->lr);
    for (int i = 0; i < 4; i++) s->w[i] = p->w[i];
    s->clip = p->clip_value;
    s->ema_max = p->gen_ema;
    s->guidance = p->teacher_guidance;
    if (s->t_init < 1 || s->t_init > T - 1)
        return lethe_fail(LETHE_ERR_ARG, "sfd: --t-init %d is outside [1, %d]", s->t_init, T - 1);
    if (s->t_min < 0 || s->t_max > T || s->t_min >= s->t_max)
        return lethe_fail(LETHE_ERR_ARG, "sfd: the t range [%d, %d) must satisfy 0 <= t-min < t-max <= %d", s->t_min, s->t_max, T);
    if (!(s->alpha > 0)) return lethe_fail(LETHE_ERR_ARG, "sfd: --sid-alpha must be positive (got %g)", (double)s->alpha);
    if (!(s->guidance >= 0 && s->guidance <= 20))
        return lethe_fail(LETHE_ERR_ARG, "sfd: --teacher-guidance must be in [0, 20] (got %g)", (double)s->guidance);
    if (!(s->fake_lr > 0)) return lethe_fail(LETHE_ERR_ARG, "sfd: --fake-lr must be positive (got %g)", (double)s->fake_lr);
    if (!(s->clip >= 0)) return lethe_fail(LETHE_ERR_ARG, "sfd: --clip-value must be >= 0");
    if (!(s->ema_max >= 0 && s->ema_max < 1)) return lethe_fail(LETHE_ERR_ARG, "sfd: --gen-ema must be in [0, 1)");
    for (int i = 0; i < 4; i++)
        if (!(s->w[i] >= 0)) return lethe_fail(LETHE_ERR_ARG, "sfd: loss weights must be >= 0");
    s->override = -1;
    if (p->override) {
        lethe_status st = model_class_index(u->model, p->override, &s->override);
        if (st) return st;
        if (u->is_forget[s->override])
            return lethe_fail(LETHE_ERR_ARG, "sfd: --override %s is a forget class: the teacher must be asked for a class "
                              "that is kept", p->override);
        if (!u->is_kept[s->override])
            return lethe_fail(LETHE_ERR_ARG, "sfd: --override %s: the model was never trained on that class", p->override);
    }
    s->retained = malloc((size_t)u->model->n_classes * sizeof(int));
    if (!s->retained) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int c = 0; c < u->model->n_classes; c++)
        if (u->is_kept[c]) s->retained[s->n_retained++] = c;
    s->abar_init = schedule_abar(&u->sched, s->t_init);

    lethe_status st;
    const lethe_denoiser *net = &u->model->net;
    if ((st = denoiser_clone(net, &s->gen)) || (st = denoiser_clone(net, &s->tea)) || (st = denoiser_clone(net, &s->fake)))
        return st;
    if ((st = alloc_state(u, s, o->batch))) return st;

    // [theta | psi | ema], all starting from the parent (the teacher's EMA weights); the
    // loop's Adam moves theta only (psi is stepped here; the EMA is a running average)
    const size_t n = u->n_params;
    u->n_train = 3 * n;
    u->train_params = ops()->alloc(u->n_train * sizeof(float));
    u->train_grads = ops()->alloc(u->n_train * sizeof(float));
    u->mask = ops()->alloc(u->n_train * sizeof(float));
    if (!u->train_params || !u->train_grads || !u->mask) return lethe_fail(LETHE_ERR_NOMEM, "sfd: out of memory for 3 networks");
    s->theta = u->train_params;
    s->psi = u->train_params + n;
    s->ema = u->train_params + 2 * n;
    s->g_theta = u->train_grads;
    s->g_psi = u->train_grads + n;
    for (int k = 0; k < 3; k++) ops()->copy(u->train_params + k * n, u->params, n);
    ops()->fill(u->mask, 1.0f, n);   // the rest stays 0 (alloc zero-fills)
    u->adam.cfg.beta1 = knob_f(o->adam_beta1, 0.0f);
    u->adam.cfg.max_grad_norm = 0;   // SFD clips by value instead (in the step)
    return LETHE_OK;
}

// ---- one term ------------------------------------------------------------------------------------

// Labels of a term: the generator's class, the teacher's and the fake score's.
static void draw_labels(unlearn_ctx *u, sfd_state *s, int step, int term, int n) {
    const uint64_t stream = lethe_stream(LETHE_STREAM_BATCH, (uint64_t)step, SFD_STREAM + (uint64_t)term);
    const int forget_term = term == TERM_FAKE_FORGET || term == TERM_GEN_FORGET;
    for (int i = 0; i < n; i++) {
        int c;
        if (forget_term) c = u->forget[lethe_rand_below(u->o->seed, stream, 2 * (uint64_t)i, (uint32_t)u->n_forget)];
        else c = s->retained[lethe_rand_below(u->o->seed, stream, 2 * (uint64_t)i, (uint32_t)s->n_retained)];
        cond_set_class(&s->c_gen, i, c);
        cond_set_class(&s->c_fake, i, c);
        cond_set_class(&s->c_tea, i, c);
        if (forget_term)   // the teacher answers for a kept class: the cross-class score
            cond_set_class(&s->c_tea, i, s->override >= 0 ? s->override
                                                          : s->retained[lethe_rand_below(u->o->seed, stream, 2 * (uint64_t)i + 1,
                                                                                         (uint32_t)s->n_retained)]);
    }
    s->c_gen.n = s->c_fake.n = s->c_tea.n = n;
}

// x_g = G_theta(z; c_gen). train = 1 keeps the activations in s->gen for the backward.
static lethe_status generate(unlearn_ctx *u, sfd_state *s, int step, int term, int n, int train) {
    const size_t sz = (size_t)n * u->numel;
    ops()->randn(s->z, sz, u->o->seed, lethe_stream(LETHE_STREAM_SAMPLE, (uint64_t)step, SFD_STREAM + (uint64_t)term), 0);
    const double sig = sqrt(1.0 - s->abar_init), ra = sqrt(s->abar_init);
    ops()->axpbz(s->x_in, (float)sig, s->z, 0.0f, s->z, sz);
    for (int i = 0; i < n; i++) s->t_gen[i] = (float)s->t_init;
    nn_ctx ctx = {.arena = &u->arena, .train = train, .seed = u->o->seed, .step = (uint64_t)step};
    lethe_status st = denoiser_forward(&s->gen, s->theta, &ctx, s->eps_g, s->x_in, s->t_gen, &s->c_gen, n);
    if (st) return st;
    ops()->axpbz(s->x_g, (float)(1.0 / ra), s->x_in, (float)(-sig / ra), s->eps_g, sz);
    return LETHE_OK;
}

// t ~ U[t_min, t_max), eps ~ N(0, I), x_t = sqrt(abar_t) x_g + sqrt(1 - abar_t) eps; ca, cb per row.
static void diffuse(unlearn_ctx *u, sfd_state *s, int step, int term, int n) {
    unlearn_diffuse(u, step, SFD_STREAM + (uint64_t)term, n, s->t_min, s->t_max, s->x_g, s->t, s->noise, s->x_t);
    for (int i = 0; i < n; i++) schedule_noise_coefs(&u->sched, (int)s->t[i], &s->ca[i], &s->cb[i]);
}

// Fake-score term: sum_pix |eps_psi(x_t, c_fake) - eps|^2 (mean over the batch), gradient
// times weight into g_psi. Returns the loss.
static lethe_status fake_term(unlearn_ctx *u, sfd_state *s, int step, int term, int n, double *loss) {
    draw_labels(u, s, step, term, n);
    arena_mark_t mark = arena_mark(&u->arena);
    lethe_status st = generate(u, s, step, term, n, 0);
    if (st) goto done;
    diffuse(u, s, step, term, n);
    nn_ctx ctx = {.arena = &u->arena, .train = 1, .seed = u->o->seed, .step = (uint64_t)step};
    if ((st = denoiser_forward(&s->fake, s->psi, &ctx, s->eps_s, s->x_t, s->t, &s->c_fake, n))) goto done;
    const size_t sz = (size_t)n * u->numel;
    // mse_forward is the mean over elements: times C*H*W for the spec's per-image sum
    *loss = ops()->mse_forward(s->eps_s, s->noise, sz) * (double)u->numel;
    ops()->fill(s->g_eps, 0.0f, sz);
    ops()->mse_backward(s->g_eps, s->eps_s, s->noise, sz, s->w[term] * (float)u->numel);
    st = denoiser_backward(&s->fake, s->psi, s->g_psi, &u->arena, s->g_eps, NULL);
done:
    arena_release(&u->arena, mark);
    return st;
}

// Adds to g_xt the input gradient of the x0-prediction x0 = (x_t - cb eps_net(x_t)) / ca of
// the network whose training forward `net` holds, for the upstream gradient g (n rows):
// g_xt += g / ca - J^T (cb / ca g). guided: eps = w eps(x_t, c) + (1 - w) eps(x_t, null), the
// forward being one batch of 2n rows (s->x2), so J^T runs on [w; 1 - w] times the gradient.
static lethe_status x0_vjp(unlearn_ctx *u, sfd_state *s, lethe_denoiser *net, const float *W, const float *g, int n,
                           int guided) {
    const size_t sz = (size_t)n * u->numel;
    for (int i = 0; i < n; i++) {
        s->ra[i] = -s->cb[i] / s->ca[i];
        s->rb[i] = 0.0f;
    }
    ops()->axpbz_rows(s->tmp, s->ra, g, s->rb, g, n, u->numel);   // -cb/ca g
    lethe_status st;
    if (!guided) {
        st = denoiser_backward(net, W, NULL, &u->arena, s->tmp, s->g_xt);
    } else {
        ops()->axpbz(s->g_eps2, s->guidance, s->tmp, 0.0f, s->tmp, sz);
        ops()->axpbz(s->g_eps2 + sz, 1.0f - s->guidance, s->tmp, 0.0f, s->tmp, sz);
        ops()->fill(s->g_x2, 0.0f, 2 * sz);
        st = denoiser_backward(net, W, NULL, &u->arena, s->g_eps2, s->g_x2);
        ops()->axpbz(s->g_xt, 1.0f, s->g_xt, 1.0f, s->g_x2, sz);        // both halves read the same x_t
        ops()->axpbz(s->g_xt, 1.0f, s->g_xt, 1.0f, s->g_x2 + sz, sz);
    }
    if (st) return st;
    for (int i = 0; i < n; i++) {
        s->ra[i] = 1.0f;
        s->rb[i] = 1.0f / s->ca[i];
    }
    ops()->axpbz_rows(s->g_xt, s->ra, s->g_xt, s->rb, g, n, u->numel);
    return LETHE_OK;
}

// Generator term (spec 6.2): L_G with omega detached, gradient times weight into g_theta.
static lethe_status gen_term(unlearn_ctx *u, sfd_state *s, int step, int term, int n, double *loss) {
    const size_t sz = (size_t)n * u->numel;
    draw_labels(u, s, step, term, n);
    arena_mark_t mark = arena_mark(&u->arena);
    lethe_status st = generate(u, s, step, term, n, 1);
    if (st) goto done;
    diffuse(u, s, step, term, n);
    nn_ctx ctx = {.arena = &u->arena, .train = 1, .seed = u->o->seed, .step = (uint64_t)step};
    nn_ctx frozen = ctx;   // the teacher is queried as in inference, keeping what its input gradient needs
    frozen.no_dropout = 1;
    const int guided = s->guidance != 1.0f;
    if (!guided) {
        st = denoiser_forward(&s->tea, u->teacher, &frozen, s->eps_p, s->x_t, s->t, &s->c_tea, n);
    } else {   // eps_p = w eps(x_t, c_tea) + (1 - w) eps(x_t, null), as the sampler guides
        ops()->copy(s->x2, s->x_t, sz);
        ops()->copy(s->x2 + sz, s->x_t, sz);
        memcpy(s->t2, s->t, (size_t)n * sizeof(float));
        memcpy(s->t2 + n, s->t, (size_t)n * sizeof(float));
        cond_concat_null(&s->c_tea2, &s->c_tea);
        st = denoiser_forward(&s->tea, u->teacher, &frozen, s->eps2, s->x2, s->t2, &s->c_tea2, 2 * n);
        if (!st) ops()->axpbz(s->eps_p, s->guidance, s->eps2, 1.0f - s->guidance, s->eps2 + sz, sz);
    }
    if (st || (st = denoiser_forward(&s->fake, s->psi, &ctx, s->eps_s, s->x_t, s->t, &s->c_fake, n))) goto done;
    for (int i = 0; i < n; i++) {
        s->ra[i] = 1.0f / s->ca[i];
        s->rb[i] = -s->cb[i] / s->ca[i];
    }
    ops()->axpbz_rows(s->p, s->ra, s->x_t, s->rb, s->eps_p, n, u->numel);   // teacher's x0
    ops()->axpbz_rows(s->s, s->ra, s->x_t, s->rb, s->eps_s, n, u->numel);   // fake score's x0
    ops()->axpbz(s->d1, 1.0f, s->p, -1.0f, s->x_g, sz);                      // p - x_g
    ops()->axpbz(s->d2, 1.0f, s->p, -1.0f, s->s, sz);                        // p - s

    // omega_i = mean_pix |p - x_g| (>= 1e-5); the loss from the per-row means of d2.d1 and d2.d2
    float *omega = s->omega, *r = s->r;
    ops()->fill(s->tmp, 0.0f, sz);
    ops()->abs_accumulate(s->tmp, s->d1, sz);
    ops()->spatial_mean_forward(s->row_dev, s->tmp, n, 1, (int)u->numel);
    ops()->to_host(omega, s->row_dev, (size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) omega[i] = omega[i] > 1e-5f ? omega[i] : 1e-5f;
    float *kept = s->omega_kept[term - TERM_GEN_RETAIN];
    memcpy(s->freeze_omega ? omega : kept, s->freeze_omega ? kept : omega, (size_t)n * sizeof(float));
    ops()->mul(s->tmp, s->d2, s->d1, sz);
    ops()->spatial_mean_forward(s->row_dev, s->tmp, n, 1, (int)u->numel);
    ops()->to_host(s->cross, s->row_dev, (size_t)n * sizeof(float));
    ops()->mul(s->tmp, s->d2, s->d2, sz);
    ops()->spatial_mean_forward(s->row_dev, s->tmp, n, 1, (int)u->numel);
    ops()->to_host(s->sq, s->row_dev, (size_t)n * sizeof(float));
    double L = 0;
    for (int i = 0; i < n; i++) L += (double)u->numel * ((double)s->cross[i] - s->alpha * (double)s->sq[i]) / omega[i];
    *loss = L / n;

    // dL/dp = (d1 + (1 - 2 alpha) d2) r,  dL/ds = (-d1 + 2 alpha d2) r,  dL/dx_g (direct) = -d2 r,
    // with r_i = weight / (n omega_i)
    for (int i = 0; i < n; i++) r[i] = s->w[term] / ((float)n * omega[i]);
    for (int i = 0; i < n; i++) { s->ra[i] = r[i]; s->rb[i] = r[i] * (1.0f - 2.0f * s->alpha); }
    ops()->axpbz_rows(s->g_p, s->ra, s->d1, s->rb, s->d2, n, u->numel);
    for (int i = 0; i < n; i++) { s->ra[i] = -r[i]; s->rb[i] = 2.0f * s->alpha * r[i]; }
    ops()->axpbz_rows(s->g_s, s->ra, s->d1, s->rb, s->d2, n, u->numel);

    // through both score networks into x_t, then into x_g
    ops()->fill(s->g_xt, 0.0f, sz);
    if ((st = x0_vjp(u, s, &s->tea, u->teacher, s->g_p, n, guided)) || (st = x0_vjp(u, s, &s->fake, s->psi, s->g_s, n, 0)))
        goto done;
    for (int i = 0; i < n; i++) { s->ra[i] = s->ca[i]; s->rb[i] = -r[i]; }
    ops()->axpbz_rows(s->g_xg, s->ra, s->g_xt, s->rb, s->d2, n, u->numel);   // ca g_xt - d2 r
    // x_g = (x_in - sig eps_G) / sqrt(abar_init): d eps_G = -(sig / sqrt(abar_init)) g_xg
    ops()->axpbz(s->g_eps, (float)(-sqrt(1.0 - s->abar_init) / sqrt(s->abar_init)), s->g_xg, 0.0f, s->g_xg, sz);
    st = denoiser_backward(&s->gen, s->theta, s->g_theta, &u->arena, s->g_eps, NULL);
done:
    arena_release(&u->arena, mark);
    return st;
}

lethe_status sfd_generator_objective(unlearn_ctx *u, int step, int freeze_omega, double *loss) {
    sfd_state *s = u->state;
    double a, b;
    s->freeze_omega = freeze_omega;
    lethe_status st = gen_term(u, s, step, TERM_GEN_RETAIN, u->o->batch, &a);
    if (!st) st = gen_term(u, s, step, TERM_GEN_FORGET, u->o->batch, &b);
    s->freeze_omega = 0;
    *loss = s->w[TERM_GEN_RETAIN] * a + s->w[TERM_GEN_FORGET] * b;
    return st;
}

float *sfd_network(unlearn_ctx *u, int which) {
    sfd_state *s = u->state;
    return which == 0 ? s->theta : which == 1 ? s->psi : s->ema;
}

// ---- the step ----------------------------------------------------------------------------------------

static void ema_advance(unlearn_ctx *u, sfd_state *s, int updates_done) {
    if (s->ema_max <= 0) { ops()->copy(s->ema, s->theta, u->n_params); return; }
    ops()->ema_update(s->ema, s->theta, u->n_params, ema_decay_at(updates_done, 1.0f, 0.75f, s->ema_max));
}

static lethe_status sfd_step(unlearn_ctx *u, int step) {
    sfd_state *s = u->state;
    const unlearn_opts *o = u->o;
    const int n = o->batch;
    const size_t np = u->n_params;
    if (step > 0) ema_advance(u, s, step);   // for the update of step - 1
    double l[4];
    lethe_status st;

    // fake score: learn the generator's current distribution (x_g without gradient)
    if ((st = fake_term(u, s, step, TERM_FAKE_RETAIN, n, &l[0])) || (st = fake_term(u, s, step, TERM_FAKE_FORGET, n, &l[1])))
        return st;
    if (!ops()->all_finite(s->g_psi, np))
        return lethe_fail(LETHE_ERR_NUMERIC, "sfd: the fake score's gradient is not finite at step %d (try a lower --fake-lr)", step + 1);
    if (s->clip > 0) ops()->clamp(s->g_psi, -s->clip, s->clip, np);
    adamw_state view = u->adam;   // psi's slice of the shared moments; the same update count as theta's
    view.n = np;
    view.m += np;
    view.v += np;
    view.cfg.max_grad_norm = 0;
    adamw_update(&view, s->psi, s->g_psi, NULL, lr_at(o->lr_kind, s->fake_lr, step, o->warmup, o->steps), NULL);
    ops()->fill(s->g_psi, 0.0f, np);   // the loop's update and norm see theta only

    // generator, against the updated fake score
    if ((st = gen_term(u, s, step, TERM_GEN_RETAIN, n, &l[2])) || (st = gen_term(u, s, step, TERM_GEN_FORGET, n, &l[3])))
        return st;
    if (s->clip > 0) ops()->clamp(s->g_theta, -s->clip, s->clip, np);
    u->loss = s->w[TERM_GEN_RETAIN] * l[2] + s->w[TERM_GEN_FORGET] * l[3];
    unlearn_log_part(u, "fake_retain", l[0]);
    unlearn_log_part(u, "fake_forget", l[1]);
    unlearn_log_part(u, "gen_retain", l[2]);
    unlearn_log_part(u, "gen_forget", l[3]);
    return LETHE_OK;
}

static lethe_status sfd_finish(unlearn_ctx *u) {
    sfd_state *s = u->state;
    ema_advance(u, s, u->step);
    ops()->copy(u->params, s->ema, u->n_params);   // the model written is the (EMA) generator
    u->model->one_step_t = s->t_init;
    return LETHE_OK;
}

static void sfd_cleanup(unlearn_ctx *u) {
    sfd_state *s = u->state;
    if (!s) return;
    float *dev[] = {s->z, s->x_in, s->eps_g, s->x_g, s->noise, s->x_t, s->eps_p, s->eps_s, s->p, s->s,
                    s->d1, s->d2, s->tmp, s->g_p, s->g_s, s->g_xt, s->g_xg, s->g_eps, s->row_dev,
                    s->x2, s->eps2, s->g_eps2, s->g_x2};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ops()->release(dev[i]);
    free(s->t_gen); free(s->t); free(s->ca); free(s->cb); free(s->ra); free(s->rb);
    free(s->omega); free(s->cross); free(s->sq); free(s->r); free(s->omega_kept[0]); free(s->omega_kept[1]);
    cond_free(&s->c_gen); cond_free(&s->c_tea); cond_free(&s->c_fake); cond_free(&s->c_tea2); free(s->retained);
    free(s->t2);
    denoiser_free(&s->gen);
    denoiser_free(&s->tea);
    denoiser_free(&s->fake);
    free(s);
    u->state = NULL;
}

const unlearn_method unlearn_sfd = {
    .name = "sfd",
    .summary = "SFD: distil into a one-step generator (SiD, alpha = --sid-alpha 1.2) whose forget class follows the "
               "teacher's score of --override (or a random kept class); data-free",
    .reconstructed = "budget: lethe's defaults (steps, batch, learning rates, loss weights, EMA) are its own for "
                     "2-core runs; the losses, t_init, t range, alpha, Adam betas and clipping are the spec's",
    .needs_teacher = 1,
    .data_free = 1,
    .default_lr = 1e-4f,   // both networks (--fake-lr); 10x the spec's 1e-5, for a 250x shorter run
    .default_steps = 400,  // docs/unlearning.md: 200 left coat 8 points down, 400 every kept class within 2
    .default_batch = 8,    // per term: 4 terms of 8 images, about 70 network passes per step
    .setup = sfd_setup,
    .step = sfd_step,
    .finish = sfd_finish,
    .cleanup = sfd_cleanup,
    UNLEARN_OPTIONS(sfd_options, sfd_opts),
};
