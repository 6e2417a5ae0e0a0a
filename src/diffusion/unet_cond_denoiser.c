/* unet_cond_denoiser.c: UNet2DConditionModel as a lethe_denoiser (see unet_cond_denoiser.h). */
#include "diffusion/unet_cond_denoiser.h"

#include <stdlib.h>
#include <string.h>

static lethe_status ucd_forward(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                                const float *t, const lethe_cond *c, int n) {
    if (!c || c->spec.kind != LETHE_COND_TOKENS || !c->tokens)
        return lethe_fail(LETHE_ERR_ARG, "UNet2DConditionModel is conditioned on token rows (encoder hidden states)");
    if (c->spec.seq != d->cond.seq || c->spec.width != d->cond.width)
        return lethe_fail(LETHE_ERR_ARG, "token rows are (%d, %d); this UNet2DConditionModel reads (%d, %d)", c->spec.seq,
                          c->spec.width, d->cond.seq, d->cond.width);
    if (c->n < n) return lethe_fail(LETHE_ERR_ARG, "%d token rows for %d samples", c->n, n);
    return unet_cond_forward(d->net, W, ctx, eps, x, t, c->tokens, c->spec.seq, n);
}

static lethe_status ucd_backward(lethe_denoiser *d, const float *W, float *G, lethe_arena *arena, const float *deps,
                                 float *dx) {
    return unet_cond_backward(d->net, W, G, arena, deps, dx, NULL);
}

static void ucd_release(lethe_denoiser *d) {
    unet_cond_free(d->net);
    free(d->net);
}

static lethe_status ucd_clone(const lethe_denoiser *d, lethe_denoiser *out) {
    const lethe_unet_cond *src = d->net;
    lethe_unet_cond *u = calloc(1, sizeof *u);
    if (!u) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = unet_cond_build(u, &src->cfg);
    if (st) {
        free(u);
        return st;
    }
    unet_cond_denoiser_bind(out, u, d->cond.seq, d->cond.null_tokens);
    out->cond = d->cond;   // class_tokens too
    out->owns_net = 1;
    return LETHE_OK;
}

static char *ucd_config_json(const lethe_denoiser *d) {
    const lethe_unet_cond *u = d->net;
    return unet_cond_config_to_json(&u->cfg);
}

// diffusers' names: ...attentions.I.transformer_blocks.K.attn2.to_k.weight (and to_v)
static int ucd_cross_kv(const param_entry *e) {
    const char *s = strstr(e->name, ".attn2.to_");
    return s && e->ndim == 2 && (!strcmp(s, ".attn2.to_k.weight") || !strcmp(s, ".attn2.to_v.weight"));
}

static const lethe_denoiser_vtable unet_cond_vtable = {
    .name = "UNet2DConditionModel",
    .forward = ucd_forward,
    .backward = ucd_backward,
    .clone = ucd_clone,
    .release = ucd_release,
    .config_json = ucd_config_json,
    .lora_target = NULL,   // lora.h's rule
    .cross_kv = ucd_cross_kv,
};

void unet_cond_denoiser_bind(lethe_denoiser *d, lethe_unet_cond *unet, int seq, const float *null_tokens) {
    const unet_cond_config *c = &unet->cfg;
    *d = (lethe_denoiser){.vt = &unet_cond_vtable, .net = unet, .table = &unet->unet.table,
                          .channels = c->in_channels, .size = c->sample_size};
    d->cond = (lethe_cond_spec){.kind = LETHE_COND_TOKENS, .null_class = -1, .seq = seq,
                                .width = c->cross_attention_dim, .null_tokens = null_tokens};
}
