/*
 * layers.h: the parameterised building blocks (Conv2d, Linear, GroupNorm, Embedding),
 * each a record of offsets into the model's flat parameter buffer plus its sizes.
 *
 * Layers hold offsets, not pointers, so the same layer runs on the live weights, the
 * EMA weights or a teacher copy: forward takes the parameter base `P`, backward the
 * gradient base `G` (same layout). The functions only call ops.
 */
#ifndef LETHE_NN_LAYERS_H
#define LETHE_NN_LAYERS_H

#include <stddef.h>

#include "core/params.h"
#include "ops/ops.h"

typedef struct { size_t w, b; int ci, co, k, stride, pad; } conv2d_layer;
typedef struct { size_t w, b; int in, out, no_bias; } linear_layer;   // no_bias: b unused
typedef struct { size_t w, b; int c, groups; float eps; } group_norm_layer;
typedef struct { size_t w; int num, dim; } embedding_layer;
typedef struct { size_t w, b; int width; float eps; } layer_norm_layer;

// Registration: adds "<prefix>.weight" and "<prefix>.bias" (PyTorch shapes) to the table.
conv2d_layer conv2d_make(param_table *t, const char *prefix, int ci, int co, int k, int stride, int pad);
linear_layer linear_make(param_table *t, const char *prefix, int in, int out);
// nn.Linear(in, out, bias=False): "<prefix>.weight" only
linear_layer linear_make_no_bias(param_table *t, const char *prefix, int in, int out);
// nn.LayerNorm(width, eps): weight 1, bias 0
layer_norm_layer layer_norm_make(param_table *t, const char *prefix, int width, float eps);
group_norm_layer group_norm_make(param_table *t, const char *prefix, int c, int groups, float eps);
embedding_layer embedding_make(param_table *t, const char *prefix, int num, int dim);

// y (n, co, oh, ow) = conv(x (n, ci, h, w)); *oh, *ow set when non-NULL.
void conv2d_fwd(const conv2d_layer *l, const float *P, float *y, const float *x, int n, int h, int w);
void conv2d_bwd(const conv2d_layer *l, const float *P, float *G, float *dx, const float *dy,
                const float *x, int n, int h, int w);
static inline int conv2d_layer_out(const conv2d_layer *l, int size) { return (size + 2 * l->pad - l->k) / l->stride + 1; }

// x, y (m, in) -> (m, out)
void linear_fwd(const linear_layer *l, const float *P, float *y, const float *x, int m);
void linear_bwd(const linear_layer *l, const float *P, float *G, float *dx, const float *dy, const float *x, int m);

// x, y (n, c, hw); mean, rstd (n, groups) saved
void group_norm_fwd(const group_norm_layer *l, const float *P, float *y, float *mean, float *rstd,
                    const float *x, int n, int hw);
// y = groupnorm(x) and act = silu(y) (both kept: SiLU's backward reads y), fused when the
// backend has group_norm_silu_forward
void group_norm_silu_fwd(const group_norm_layer *l, const float *P, float *y, float *act, float *mean, float *rstd,
                         const float *x, int n, int hw);
void group_norm_bwd(const group_norm_layer *l, const float *P, float *G, float *dx, const float *dy,
                    const float *x, const float *mean, const float *rstd, int n, int hw);

// x, y (rows, width); mean, rstd (rows) saved
void layer_norm_fwd(const layer_norm_layer *l, const float *P, float *y, float *mean, float *rstd, const float *x,
                    int rows);
void layer_norm_bwd(const layer_norm_layer *l, const float *P, float *G, float *dx, const float *dy, const float *x,
                    const float *mean, const float *rstd, int rows);

void embedding_fwd(const embedding_layer *l, const float *P, float *y, const int *idx, int n);
void embedding_bwd(const embedding_layer *l, float *G, const float *dy, const int *idx, int n);

#endif
