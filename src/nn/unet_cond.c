/* unet_cond.c: UNet2DConditionModel on the UNet skeleton of nn/unet.c (see unet_cond.h). */
#include "nn/unet_cond.h"

#include <stdlib.h>
#include <string.h>

// The skeleton's config: block layout, resnets, time embedding; attention slots where the
// cross-attention blocks are (attention_head_dim null: the self-attention rule is not used).
static void skeleton_config(unet_config *u, const unet_cond_config *c) {
    memset(u, 0, sizeof *u);
    u->sample_size = c->sample_size;
    u->in_channels = c->in_channels;
    u->out_channels = c->out_channels;
    u->n_blocks = c->n_blocks;
    for (int i = 0; i < c->n_blocks; i++) {
        u->block_out_channels[i] = c->block_out_channels[i];
        u->down_attn[i] = c->down_cross[i];
        u->up_attn[i] = c->up_cross[i];
    }
    u->layers_per_block = c->layers_per_block;
    u->norm_num_groups = c->norm_num_groups;
    u->norm_eps = c->norm_eps;
    u->add_attention = c->has_mid_block;
    u->has_mid_block = c->has_mid_block;
    u->dropout = c->dropout;
    u->flip_sin_to_cos = c->flip_sin_to_cos;
    u->freq_shift = c->freq_shift;
    u->mid_block_scale_factor = c->mid_block_scale_factor;
    u->time_embedding_dim = c->time_embedding_dim;
    u->center_input_sample = c->center_input_sample;
    u->downsample_padding = c->downsample_padding;
}

static void cross_maker(lethe_unet *u, param_table *t, const char *prefix, int c, int up, int i, int j, void *arg) {
    lethe_unet_cond *m = arg;
    const unet_cond_config *cfg = &m->cfg;
    if (m->n_tr >= m->cap_tr) return;   // counted in unet_cond_build: cannot happen
    transformer2d *tr = &m->tr[m->n_tr++];
    int heads = i < 0 ? unet_cond_mid_heads(cfg) : up ? unet_cond_up_heads(cfg, i) : unet_cond_down_heads(cfg, i);
    transformer2d_make(tr, t, prefix, c, heads, cfg->cross_attention_dim, cfg->norm_num_groups,
                       cfg->transformer_layers_per_block, cfg->use_linear_projection);
    if (i < 0) u->mid_tr = tr;
    else if (up) u->up_tr[i][j] = tr;
    else u->down_tr[i][j] = tr;
}

lethe_status unet_cond_build(lethe_unet_cond *m, const unet_cond_config *cfg) {
    lethe_status st = unet_cond_config_validate(cfg);
    if (st) return st;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int n_tr = cfg->has_mid_block;
    for (int i = 0; i < cfg->n_blocks; i++)
        n_tr += cfg->down_cross[i] * cfg->layers_per_block + cfg->up_cross[i] * (cfg->layers_per_block + 1);
    m->cap_tr = n_tr;
    m->tr = calloc(n_tr > 0 ? (size_t)n_tr : 1, sizeof *m->tr);
    if (!m->tr) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    unet_config u;
    skeleton_config(&u, cfg);
    if ((st = unet_build_custom(&m->unet, &u, cross_maker, m))) {
        free(m->tr);
        m->tr = NULL;
        return st;
    }
    return LETHE_OK;
}

void unet_cond_free(lethe_unet_cond *m) {
    unet_free(&m->unet);
    free(m->tr);
    m->tr = NULL;
}

size_t unet_cond_num_params(const lethe_unet_cond *m) { return unet_num_params(&m->unet); }

lethe_status unet_cond_forward(lethe_unet_cond *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                               const float *t, const float *context, int seq, int n) {
    if (!context || seq < 1)
        return lethe_fail(LETHE_ERR_ARG, "UNet2DConditionModel needs encoder hidden states (n, seq >= 1, %d)",
                          m->cfg.cross_attention_dim);
    return unet_forward_ctx(&m->unet, P, ctx, eps, x, t, NULL, context, seq, n);
}

lethe_status unet_cond_backward(lethe_unet_cond *m, const float *P, float *G, lethe_arena *arena, const float *deps,
                                float *dx, float *dcontext) {
    return unet_backward_ctx(&m->unet, P, G, arena, deps, dx, dcontext);
}
