/* denoiser.c: UNet behind the lethe_denoiser seam (see denoiser.h). */
#include "diffusion/denoiser.h"

static lethe_status unet_eps(void *self, float *eps, const float *x, const float *t, const int *labels, int n) {
    unet_denoiser *u = self;
    arena_reset(&u->arena);
    nn_ctx ctx = {.arena = &u->arena, .train = 0};
    u->evaluations += n;
    return unet_forward(u->unet, u->params, &ctx, eps, x, t, u->unet->cfg.num_class_embeds > 0 ? labels : NULL, n);
}

void unet_denoiser_init(unet_denoiser *u, lethe_unet *unet, const float *params, lethe_denoiser *out) {
    u->unet = unet;
    u->params = params;
    u->evaluations = 0;
    arena_init(&u->arena);
    const unet_config *c = &unet->cfg;
    *out = (lethe_denoiser){.eps = unet_eps, .self = u,
                            .sample_numel = (size_t)c->in_channels * c->sample_size * c->sample_size};
}

void unet_denoiser_free(unet_denoiser *u) { arena_free(&u->arena); }
