/*
 * resnet.h: diffusers ResnetBlock2D (resnet_time_scale_shift "default"):
 *
 *   h   = conv1(silu(norm1(x)))                    norm1 over Ci, conv1 Ci->Co 3x3
 *   h  += time_emb_proj(silu(emb))[:, :, None, None]
 *   h   = conv2(dropout(silu(norm2(h))))           norm2 over Co, conv2 Co->Co 3x3
 *   out = (shortcut(x) + h) / output_scale_factor  shortcut = 1x1 conv iff Ci != Co
 *
 * silu(emb) is shared by every resnet of the UNet; it is passed in already activated
 * and its gradient is accumulated into the caller's buffer.
 */
#ifndef LETHE_NN_RESNET_H
#define LETHE_NN_RESNET_H

#include "nn/layers.h"
#include "nn/module.h"

typedef struct {
    group_norm_layer norm1, norm2;
    conv2d_layer conv1, conv2, shortcut;
    linear_layer time_emb_proj;
    int ci, co, has_shortcut, id;   // id: index of this resnet in the model (dropout streams)
    float output_scale, dropout;
    // saved by forward (arena pointers; valid until the next arena_reset)
    struct {
        const float *x, *emb_act;
        float *n1, *mean1, *rstd1, *a1, *h1, *n2, *mean2, *rstd2, *a2, *mask, *d2;
        int n, h, w;
    } s;
} resnet_block;

void resnet_make(resnet_block *r, param_table *t, const char *prefix, int ci, int co, int temb_dim,
                 int groups, float eps, float output_scale, float dropout, int id);
// x (n, ci, h, w), emb_act (n, temb_dim) -> returns out (n, co, h, w) from the arena.
float *resnet_forward(resnet_block *r, const float *P, const nn_ctx *ctx, const float *x,
                      const float *emb_act, int n, int h, int w);
// dout (n, co, h, w); accumulates into dx (may be NULL), d_emb_act and G.
lethe_status resnet_backward(resnet_block *r, const float *P, float *G, lethe_arena *arena,
                     float *dx, float *d_emb_act, const float *dout);

#endif
