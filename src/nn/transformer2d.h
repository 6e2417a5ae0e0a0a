/*
 * transformer2d.h: diffusers Transformer2DModel on continuous input, as UNet2DConditionModel's
 * cross-attention blocks build it (read in diffusers 0.40.0.dev0, transformers/transformer_2d.py,
 * attention.py, attention_processor.py, activations.py):
 *
 *   u   = norm(x)                                GroupNorm(groups, C), eps 1e-6 (fixed in diffusers)
 *   tok = proj_in(u) as tokens (n, L = h*w, C)   token l = h*W + w
 *   per transformer_blocks.k (BasicTransformerBlock, LayerNorms eps 1e-5):
 *     tok = attn1(norm1(tok)) + tok              self-attention
 *     tok = attn2(norm2(tok), context) + tok     cross-attention: keys/values from context (n, seq, X)
 *     tok = ff(norm3(tok)) + tok                 GEGLU feed-forward
 *   out = proj_out(tok) back to (n, C, h, w) + x
 *
 * Attention (attn1, attn2): to_q, to_k, to_v Linear without bias (to_k/to_v read width X =
 * cross_attention_dim in attn2, C in attn1), to_out.0 Linear C->C with bias; heads split channel
 * c = head*d + i, d = C / heads, softmax(q k^T d^-0.5). FeedForward: ff.net.0.proj Linear
 * C -> 2*4C whose first 4C outputs are the value h and last 4C the gate g (torch's chunk(2, -1)),
 * h * gelu(g) with the exact erf GELU, then ff.net.2 Linear 4C -> C. No dropout (the UNet's
 * cross-attention blocks do not pass theirs on).
 *
 * proj_in/proj_out: a 1x1 Conv2d (weights [C, C, 1, 1], use_linear_projection false, SD 1.x) or
 * a Linear ([C, C], use_linear_projection true, SD 2.x); both are the same map on tokens, so
 * both run as one Linear over tokens and only the registered shape differs.
 */
#ifndef LETHE_NN_TRANSFORMER2D_H
#define LETHE_NN_TRANSFORMER2D_H

#include "nn/layers.h"
#include "nn/module.h"

#define T2D_MAX_LAYERS 4

typedef struct {
    linear_layer to_q, to_k, to_v, to_out;
    int heads, head_dim, kv_width;
} t2d_attention;

typedef struct {
    layer_norm_layer norm1, norm2, norm3;
    t2d_attention attn1, attn2;
    linear_layer ff_proj;   // ff.net.0.proj: C -> 2*inner, outputs [0, inner) value, [inner, 2 inner) gate
    linear_layer ff_out;    // ff.net.2: inner -> C
    int dim, inner;
    // saved by a training forward; rows = n * L tokens
    struct {
        const float *x;                                  // block input (tokens)
        float *u1, *mean1, *rstd1, *q1, *k1, *v1, *p1, *o1;
        float *h1;                                       // after attn1's residual
        float *u2, *mean2, *rstd2, *q2, *k2, *v2, *p2, *o2;
        float *h2;                                       // after attn2's residual
        float *u3, *mean3, *rstd3, *f, *m;               // ff: [value | gate] (rows, 2 inner), value * gelu(gate)
    } s;
} t2d_block;

typedef struct {
    group_norm_layer norm;
    size_t proj_in_w, proj_in_b, proj_out_w, proj_out_b;   // conv [C, C, 1, 1] or linear [C, C] weights, bias [C]
    t2d_block blocks[T2D_MAX_LAYERS];
    int c, n_layers, cross_dim;
    struct {
        const float *x, *context;
        float *u, *mean, *rstd, *tok_u, *tok[T2D_MAX_LAYERS + 1];
        int n, l, seq;
    } s;
} transformer2d;

// c channels, `heads` heads (c % heads == 0, checked by the config), keys of width cross_dim,
// `layers` BasicTransformerBlocks (1 .. T2D_MAX_LAYERS), GroupNorm `groups`.
void transformer2d_make(transformer2d *m, param_table *t, const char *prefix, int c, int heads, int cross_dim,
                        int groups, int layers, int linear_projection);
// x (n, c, h, w), context (n, seq, cross_dim) -> out (n, c, h, w) from the arena; NULL when
// the arena cannot grow.
float *transformer2d_forward(transformer2d *m, const float *P, const nn_ctx *ctx, const float *x, int n, int h, int w,
                             const float *context, int seq);
// After a training forward: accumulates into dx (may be NULL), dcontext (n, seq, cross_dim; may
// be NULL) and G (may be NULL).
lethe_status transformer2d_backward(transformer2d *m, const float *P, float *G, lethe_arena *arena, float *dx,
                                    float *dcontext, const float *dout);

#endif
