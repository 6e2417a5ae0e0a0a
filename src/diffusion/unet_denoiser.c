/* unet_denoiser.c: the UNet as a lethe_denoiser (see unet_denoiser.h). */
#include "diffusion/unet_denoiser.h"

#include <stdlib.h>

static lethe_status unet_d_forward(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                                   const float *t, const lethe_cond *c, int n) {
    lethe_unet *u = d->net;
    // class-conditional: the cond's labels; unconditional: none, whatever the caller holds
    const int *labels = u->cfg.num_class_embeds > 0 && c ? c->labels : NULL;
    return unet_forward(u, W, ctx, eps, x, t, labels, n);
}

static lethe_status unet_d_backward(lethe_denoiser *d, const float *W, float *G, lethe_arena *arena, const float *deps,
                                    float *dx) {
    return unet_backward(d->net, W, G, arena, deps, dx);
}

static void unet_d_release(lethe_denoiser *d) {
    unet_free(d->net);
    free(d->net);
}

static lethe_status unet_d_clone(const lethe_denoiser *d, lethe_denoiser *out) {
    const lethe_unet *src = d->net;
    lethe_unet *u = calloc(1, sizeof *u);
    if (!u) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = unet_build(u, &src->cfg);
    if (st) {
        free(u);
        return st;
    }
    unet_denoiser_bind(out, u);
    out->owns_net = 1;
    return LETHE_OK;
}

static char *unet_d_config_json(const lethe_denoiser *d) {
    const lethe_unet *u = d->net;
    return unet_config_to_json(&u->cfg);
}

static const lethe_denoiser_vtable unet_vtable = {
    .name = "UNet2DModel",
    .forward = unet_d_forward,
    .backward = unet_d_backward,
    .clone = unet_d_clone,
    .release = unet_d_release,
    .config_json = unet_d_config_json,
    .lora_target = NULL,   // lora.h's rule: convolutions and the attention projections
};

void unet_denoiser_bind(lethe_denoiser *d, lethe_unet *unet) {
    const unet_config *c = &unet->cfg;
    *d = (lethe_denoiser){.vt = &unet_vtable, .net = unet, .table = &unet->table,
                          .channels = c->in_channels, .size = c->sample_size};
    if (c->num_class_embeds > 0) d->cond = (lethe_cond_spec){.kind = LETHE_COND_CLASS, .null_class = c->num_class_embeds - 1};
    else d->cond = (lethe_cond_spec){.kind = LETHE_COND_NONE, .null_class = -1};
}
