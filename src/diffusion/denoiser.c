/* denoiser.c: the network seam's dispatch and its inference binding (see denoiser.h). */
#include "diffusion/denoiser.h"

#include <string.h>

lethe_status denoiser_forward(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                              const float *t, const lethe_cond *c, int n) {
    return d->vt->forward(d, W, ctx, eps, x, t, c, n);
}

lethe_status denoiser_backward(lethe_denoiser *d, const float *W, float *G, lethe_arena *arena, const float *deps,
                               float *dx) {
    return d->vt->backward(d, W, G, arena, deps, dx);
}

lethe_status denoiser_clone(const lethe_denoiser *d, lethe_denoiser *out) {
    memset(out, 0, sizeof *out);
    if (!d->vt->clone) return lethe_fail(LETHE_ERR_ARG, "the %s network cannot be instantiated twice", d->vt->name);
    return d->vt->clone(d, out);
}

void denoiser_free(lethe_denoiser *d) {
    if (d->vt && d->owns_net && d->vt->release) d->vt->release(d);
    d->net = NULL;
    d->owns_net = 0;
}

lethe_status denoiser_cond_alloc(const lethe_denoiser *d, lethe_cond *c, int cap) { return cond_alloc(c, &d->cond, cap); }

void denoiser_infer_init(denoiser_infer *b, lethe_denoiser *net, const float *W) {
    b->net = net;
    b->W = W;
    b->evaluations = 0;
    arena_init(&b->arena);
}

void denoiser_infer_free(denoiser_infer *b) { arena_free(&b->arena); }

lethe_status denoiser_infer_eps(denoiser_infer *b, float *eps, const float *x, const float *t, const lethe_cond *c, int n) {
    arena_reset(&b->arena);
    nn_ctx ctx = {.arena = &b->arena, .train = 0};
    b->evaluations += n;
    return denoiser_forward(b->net, b->W, &ctx, eps, x, t, c, n);
}
