/* layers.c: Conv2d, Linear, GroupNorm, Embedding over the flat parameter buffer (see layers.h). */
#include "nn/layers.h"

#include <stdio.h>

static size_t add_named(param_table *t, const char *prefix, const char *leaf, int ndim,
                        const int64_t *shape, param_init init, int fan_in) {
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    return param_table_add(t, name, ndim, shape, init, fan_in);
}

conv2d_layer conv2d_make(param_table *t, const char *prefix, int ci, int co, int k, int stride, int pad) {
    conv2d_layer l = {.ci = ci, .co = co, .k = k, .stride = stride, .pad = pad};
    int fan_in = ci * k * k;
    l.w = add_named(t, prefix, "weight", 4, (int64_t[]){co, ci, k, k}, PARAM_INIT_UNIFORM_FAN_IN, fan_in);
    l.b = add_named(t, prefix, "bias", 1, (int64_t[]){co}, PARAM_INIT_UNIFORM_FAN_IN, fan_in);
    return l;
}

linear_layer linear_make(param_table *t, const char *prefix, int in, int out) {
    linear_layer l = {.in = in, .out = out};
    l.w = add_named(t, prefix, "weight", 2, (int64_t[]){out, in}, PARAM_INIT_UNIFORM_FAN_IN, in);
    l.b = add_named(t, prefix, "bias", 1, (int64_t[]){out}, PARAM_INIT_UNIFORM_FAN_IN, in);
    return l;
}

linear_layer linear_make_no_bias(param_table *t, const char *prefix, int in, int out) {
    linear_layer l = {.in = in, .out = out, .no_bias = 1};
    l.w = add_named(t, prefix, "weight", 2, (int64_t[]){out, in}, PARAM_INIT_UNIFORM_FAN_IN, in);
    return l;
}

layer_norm_layer layer_norm_make(param_table *t, const char *prefix, int width, float eps) {
    layer_norm_layer l = {.width = width, .eps = eps};
    l.w = add_named(t, prefix, "weight", 1, (int64_t[]){width}, PARAM_INIT_ONES, 0);
    l.b = add_named(t, prefix, "bias", 1, (int64_t[]){width}, PARAM_INIT_ZEROS, 0);
    return l;
}

group_norm_layer group_norm_make(param_table *t, const char *prefix, int c, int groups, float eps) {
    group_norm_layer l = {.c = c, .groups = groups, .eps = eps};
    l.w = add_named(t, prefix, "weight", 1, (int64_t[]){c}, PARAM_INIT_ONES, 0);
    l.b = add_named(t, prefix, "bias", 1, (int64_t[]){c}, PARAM_INIT_ZEROS, 0);
    return l;
}

embedding_layer embedding_make(param_table *t, const char *prefix, int num, int dim) {
    embedding_layer l = {.num = num, .dim = dim};
    l.w = add_named(t, prefix, "weight", 2, (int64_t[]){num, dim}, PARAM_INIT_NORMAL, 0);
    return l;
}

static conv2d_shape conv_shape(const conv2d_layer *l, int n, int h, int w) {
    return (conv2d_shape){.n = n, .ci = l->ci, .h = h, .w = w, .co = l->co, .kh = l->k, .kw = l->k,
                          .stride = l->stride, .pad = l->pad};
}

void conv2d_fwd(const conv2d_layer *l, const float *P, float *y, const float *x, int n, int h, int w) {
    conv2d_shape s = conv_shape(l, n, h, w);
    ops()->conv2d_forward(y, x, P + l->w, P + l->b, &s);
}

void conv2d_bwd(const conv2d_layer *l, const float *P, float *G, float *dx, const float *dy,
                const float *x, int n, int h, int w) {
    conv2d_shape s = conv_shape(l, n, h, w);
    ops()->conv2d_backward(dx, G ? G + l->w : NULL, G ? G + l->b : NULL, dy, x, P + l->w, &s);
}

void linear_fwd(const linear_layer *l, const float *P, float *y, const float *x, int m) {
    ops()->linear_forward(y, x, P + l->w, l->no_bias ? NULL : P + l->b, m, l->in, l->out);
}

void linear_bwd(const linear_layer *l, const float *P, float *G, float *dx, const float *dy, const float *x, int m) {
    ops()->linear_backward(dx, G ? G + l->w : NULL, G && !l->no_bias ? G + l->b : NULL, dy, x, P + l->w, m, l->in,
                           l->out);
}

void group_norm_fwd(const group_norm_layer *l, const float *P, float *y, float *mean, float *rstd,
                    const float *x, int n, int hw) {
    ops()->group_norm_forward(y, mean, rstd, x, P + l->w, P + l->b, n, l->c, hw, l->groups, l->eps);
}

void group_norm_silu_fwd(const group_norm_layer *l, const float *P, float *y, float *act, float *mean, float *rstd,
                         const float *x, int n, int hw) {
    const lethe_backend *be = ops();
    if (be->group_norm_silu_forward) {
        be->group_norm_silu_forward(y, act, mean, rstd, x, P + l->w, P + l->b, n, l->c, hw, l->groups, l->eps);
        return;
    }
    be->group_norm_forward(y, mean, rstd, x, P + l->w, P + l->b, n, l->c, hw, l->groups, l->eps);
    be->silu_forward(act, y, (size_t)n * l->c * hw);
}

void group_norm_bwd(const group_norm_layer *l, const float *P, float *G, float *dx, const float *dy,
                    const float *x, const float *mean, const float *rstd, int n, int hw) {
    ops()->group_norm_backward(dx, G ? G + l->w : NULL, G ? G + l->b : NULL, dy, x, mean, rstd,
                               P + l->w, n, l->c, hw, l->groups);
}

void layer_norm_fwd(const layer_norm_layer *l, const float *P, float *y, float *mean, float *rstd, const float *x,
                    int rows) {
    ops()->layer_norm_forward(y, mean, rstd, x, P + l->w, P + l->b, rows, l->width, l->eps);
}

void layer_norm_bwd(const layer_norm_layer *l, const float *P, float *G, float *dx, const float *dy, const float *x,
                    const float *mean, const float *rstd, int rows) {
    ops()->layer_norm_backward(dx, G ? G + l->w : NULL, G ? G + l->b : NULL, dy, x, mean, rstd, P + l->w, rows,
                               l->width);
}

void embedding_fwd(const embedding_layer *l, const float *P, float *y, const int *idx, int n) {
    ops()->embedding_forward(y, idx, P + l->w, n, l->dim);
}

void embedding_bwd(const embedding_layer *l, float *G, const float *dy, const int *idx, int n) {
    if (G) ops()->embedding_backward(G + l->w, dy, idx, n, l->dim);
}
