/*
 * attention.h: diffusers Attention as used by UNet2DModel's Attn blocks
 * (`_from_deprecated_attn_block=True`, residual connection, no cross-attention):
 *
 *   u   = group_norm(x) viewed as tokens (n, L = h*w, C)
 *   q, k, v = to_q(u), to_k(u), to_v(u)                    Linear C->C with bias
 *   o   = softmax(q k^T / sqrt(d)) v per head, heads = C / d  (channel c = head*d + i)
 *   out = (to_out.0(o) viewed back as (n, C, h, w) + x) / rescale_output_factor
 */
#ifndef LETHE_NN_ATTENTION_H
#define LETHE_NN_ATTENTION_H

#include "nn/layers.h"
#include "nn/module.h"

typedef struct {
    group_norm_layer group_norm;
    linear_layer to_q, to_k, to_v, to_out;
    int c, heads, head_dim;
    float rescale;
    struct {
        const float *x;
        float *u, *mean, *rstd, *tok, *q, *k, *v, *probs, *o;
        int n, l;
    } s;
} attention_block;

// head_dim 0 means one head over all channels (diffusers attention_head_dim=None).
void attention_make(attention_block *a, param_table *t, const char *prefix, int c, int head_dim,
                    int groups, float eps, float rescale);
// x (n, c, h, w) -> out (n, c, h, w) from the arena.
float *attention_forward(attention_block *a, const float *P, const nn_ctx *ctx, const float *x, int n, int h, int w);
// Accumulates into dx and G.
lethe_status attention_backward(attention_block *a, const float *P, float *G, lethe_arena *arena, float *dx, const float *dout);

#endif
