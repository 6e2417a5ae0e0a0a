/*
 * unet.h: diffusers UNet2DModel (spec: ../shared/specs/diffusers-and-formats.md 2.3),
 * class-conditional (num_class_embeds, last row = the null class) or unconditional.
 *
 *   emb = time_embedding(sinusoid(t)) [+ class_embedding[y]]
 *   h = conv_in(x); down blocks (resnets [+ attentions], downsampler) pushing skips;
 *   mid block (resnet, [attention], resnet); up blocks (concat [h, skip] -> resnet
 *   [+ attention], upsampler); out = conv_out(silu(conv_norm_out(h))).
 *
 * The same skeleton runs UNet2DConditionModel (nn/unet_cond.h): built by unet_build_custom,
 * its attention slots are Transformer2DModels (`*_tr`) that read a context (encoder hidden
 * states) given to unet_forward_ctx, and unet_backward_ctx gives the context's gradient.
 *
 * Parameters live in one flat buffer described by `table` (names = diffusers keys).
 * forward/backward take the parameter base P and gradient base G explicitly, so the
 * same model runs on live, EMA or teacher weights.
 */
#ifndef LETHE_NN_UNET_H
#define LETHE_NN_UNET_H

#include "ops/arena.h"
#include "core/params.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/resnet.h"
#include "nn/transformer2d.h"
#include "nn/unet_config.h"

#define UNET_MAX_LAYERS 9
#define UNET_MAX_SKIPS (1 + UNET_MAX_BLOCKS * (UNET_MAX_LAYERS + 1))

typedef struct {
    unet_config cfg;
    param_table table;
    int temb_dim;

    linear_layer time_1, time_2;
    embedding_layer class_emb;
    conv2d_layer conv_in, conv_out;
    group_norm_layer norm_out;

    resnet_block down_res[UNET_MAX_BLOCKS][UNET_MAX_LAYERS];
    attention_block down_attn[UNET_MAX_BLOCKS][UNET_MAX_LAYERS];
    conv2d_layer downsample[UNET_MAX_BLOCKS];
    resnet_block mid_res[2];
    attention_block mid_attn;
    resnet_block up_res[UNET_MAX_BLOCKS][UNET_MAX_LAYERS];
    attention_block up_attn[UNET_MAX_BLOCKS][UNET_MAX_LAYERS];
    conv2d_layer upsample[UNET_MAX_BLOCKS];
    // cross-attention slots (UNet2DConditionModel); NULL in a UNet2DModel, whose slots are the
    // attention_blocks above. Not owned.
    transformer2d *down_tr[UNET_MAX_BLOCKS][UNET_MAX_LAYERS], *mid_tr, *up_tr[UNET_MAX_BLOCKS][UNET_MAX_LAYERS];

    // saved by the last training-mode forward
    struct {
        int n, train;
        const float *context;                // (n, seq, cross_attention_dim) or NULL
        int seq;
        float *dcontext;                     // during unet_backward_ctx only
        float *t;
        int *labels;
        const float *x;
        float *temb, *e1, *e1a, *emb, *emb_act;
        float *skip[UNET_MAX_SKIPS];
        int skip_c[UNET_MAX_SKIPS], skip_h[UNET_MAX_SKIPS];
        int n_skips;
        float *up_in[UNET_MAX_BLOCKS];      // h entering up block i's upsampler
        float *up_u[UNET_MAX_BLOCKS];       // nearest-2x output (input of the upsampler conv)
        int up_h[UNET_MAX_BLOCKS];          // spatial size before upsampling
        float *h_final, *no, *mean_o, *rstd_o, *ao;
    } s;
} lethe_unet;

// Builds the model (table and layers) for a validated config. No memory for values.
lethe_status unet_build(lethe_unet *m, const unet_config *cfg);
// The attention of slot (i, j) (i = -1: the mid block) with `prefix` on c channels: registers it
// in t and sets the model's slot. up: 0 down block or mid, 1 up block.
typedef void (*unet_attn_maker)(lethe_unet *m, param_table *t, const char *prefix, int c, int up, int i, int j, void *arg);
// unet_build with every attention slot made by `make` (unet_build: UNet2DModel's attention_make).
lethe_status unet_build_custom(lethe_unet *m, const unet_config *cfg, unet_attn_maker make, void *arg);
void unet_free(lethe_unet *m);
size_t unet_num_params(const lethe_unet *m);   // sum of tensor sizes (without alignment gaps)

// eps (n, out_channels, S, S) = UNet(x (n, in_channels, S, S), t (n) float timesteps, labels (n)).
// labels must be NULL for an unconditional model and given (values in [0, num_class_embeds))
// for a class-conditional one. ctx->train selects saving for backward and dropout.
// Returns LETHE_ERR_NOMEM if the arena could not grow.
lethe_status unet_forward(lethe_unet *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                          const float *t, const int *labels, int n);
// After a training forward: accumulates parameter gradients into G (may be NULL to skip
// them) and, when dx is non-NULL, the input gradient into dx (n, in, S, S).
lethe_status unet_backward(lethe_unet *m, const float *P, float *G, lethe_arena *arena,
                           const float *deps, float *dx);
// unet_forward with a context (n, seq, width) for the cross-attention slots (NULL for a UNet2DModel).
lethe_status unet_forward_ctx(lethe_unet *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                              const float *t, const int *labels, const float *context, int seq, int n);
// unet_backward, also accumulating the context's gradient into dcontext (may be NULL).
lethe_status unet_backward_ctx(lethe_unet *m, const float *P, float *G, lethe_arena *arena, const float *deps,
                               float *dx, float *dcontext);

#endif
