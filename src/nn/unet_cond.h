/*
 * unet_cond.h: diffusers UNet2DConditionModel (text cross-attention), config in
 * unet_cond_config.h, as diffusers 0.40.0.dev0 builds it (models/unets/unet_2d_condition.py,
 * unet_2d_blocks.py):
 *
 *   emb = time_embedding(sinusoid(t))                                  as UNet2DModel
 *   h = conv_in(x); down blocks: resnet [+ Transformer2DModel(h, context)] per layer, downsampler;
 *   mid block (UNetMidBlock2DCrossAttn): resnet, Transformer2DModel, resnet (resnets scaled by
 *   mid_block_scale_factor); up blocks: concat [h, skip] -> resnet [+ Transformer2DModel]; upsampler;
 *   eps = conv_out(silu(conv_norm_out(h)))
 *
 * The skeleton, resnets and resamplers are UNet2DModel's (nn/unet.c runs both: this model is a
 * lethe_unet whose attention slots are Transformer2DModels, nn/transformer2d.h). Every GroupNorm
 * and resnet uses norm_num_groups and norm_eps; the transformers' GroupNorm eps is 1e-6 and their
 * LayerNorms' 1e-5, whatever norm_eps says (diffusers does not pass it on). Parameter names are
 * diffusers' state-dict keys; P and G are explicit as in nn/unet.h.
 */
#ifndef LETHE_NN_UNET_COND_H
#define LETHE_NN_UNET_COND_H

#include "nn/transformer2d.h"
#include "nn/unet.h"
#include "nn/unet_cond_config.h"

typedef struct {
    unet_cond_config cfg;
    lethe_unet unet;          // the skeleton; unet.table is the parameter table
    transformer2d *tr;        // the cross-attention blocks (n_tr), owned
    int n_tr, cap_tr;
} lethe_unet_cond;

// Builds the model (table and layers) for a config (validated here). No memory for values.
lethe_status unet_cond_build(lethe_unet_cond *m, const unet_cond_config *cfg);
void unet_cond_free(lethe_unet_cond *m);
size_t unet_cond_num_params(const lethe_unet_cond *m);

// eps (n, out_channels, S, S) = UNet(x (n, in_channels, S, S), t (n) float timesteps, context (n, seq,
// cross_attention_dim)), all but t in backend memory (t: host, as unet_forward). ctx->train keeps
// what backward needs (the context too: it must stay valid until the backward).
lethe_status unet_cond_forward(lethe_unet_cond *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                               const float *t, const float *context, int seq, int n);
// After a training forward: accumulates into G (may be NULL), dx (n, in, S, S; may be NULL) and
// dcontext (n, seq, cross_attention_dim; may be NULL).
lethe_status unet_cond_backward(lethe_unet_cond *m, const float *P, float *G, lethe_arena *arena, const float *deps,
                                float *dx, float *dcontext);

#endif
