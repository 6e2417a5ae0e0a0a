/* resnet.c: ResnetBlock2D forward and backward (see resnet.h). */
#include "nn/resnet.h"

#include <stdio.h>

#include "core/rng.h"

void resnet_make(resnet_block *r, param_table *t, const char *prefix, int ci, int co, int temb_dim,
                 int groups, float eps, float output_scale, float dropout, int id) {
    char name[PARAM_NAME_MAX];
    r->ci = ci;
    r->co = co;
    r->id = id;
    r->output_scale = output_scale;
    r->dropout = dropout;
    // Registration order follows PyTorch's module order (norm1, conv1, time_emb_proj, norm2, conv2, shortcut).
    snprintf(name, sizeof name, "%s.norm1", prefix);
    r->norm1 = group_norm_make(t, name, ci, groups, eps);
    snprintf(name, sizeof name, "%s.conv1", prefix);
    r->conv1 = conv2d_make(t, name, ci, co, 3, 1, 1);
    snprintf(name, sizeof name, "%s.time_emb_proj", prefix);
    r->time_emb_proj = linear_make(t, name, temb_dim, co);
    snprintf(name, sizeof name, "%s.norm2", prefix);
    r->norm2 = group_norm_make(t, name, co, groups, eps);
    snprintf(name, sizeof name, "%s.conv2", prefix);
    r->conv2 = conv2d_make(t, name, co, co, 3, 1, 1);
    r->has_shortcut = ci != co;
    if (r->has_shortcut) {
        snprintf(name, sizeof name, "%s.conv_shortcut", prefix);
        r->shortcut = conv2d_make(t, name, ci, co, 1, 1, 0);
    }
}

float *resnet_forward(resnet_block *r, const float *P, const nn_ctx *ctx, const float *x,
                      const float *emb_act, int n, int h, int w) {
    lethe_arena *A = ctx->arena;
    size_t hw = (size_t)h * w, in_sz = (size_t)n * r->ci * hw, out_sz = (size_t)n * r->co * hw;
    int G1 = r->norm1.groups, G2 = r->norm2.groups;
    float *out = arena_floats(A, out_sz);
    arena_mark_t mark = arena_mark(A);

    float *n1 = arena_floats(A, in_sz), *mean1 = arena_floats(A, (size_t)n * G1), *rstd1 = arena_floats(A, (size_t)n * G1);
    float *a1 = arena_floats(A, in_sz), *h1 = arena_floats(A, out_sz), *tp = arena_floats(A, (size_t)n * r->co);
    float *n2 = arena_floats(A, out_sz), *mean2 = arena_floats(A, (size_t)n * G2), *rstd2 = arena_floats(A, (size_t)n * G2);
    float *a2 = arena_floats(A, out_sz);
    if (A->failed) return NULL;

    group_norm_silu_fwd(&r->norm1, P, n1, a1, mean1, rstd1, x, n, (int)hw);
    conv2d_fwd(&r->conv1, P, h1, a1, n, h, w);
    linear_fwd(&r->time_emb_proj, P, tp, emb_act, n);
    ops()->add_channel_bias_forward(h1, tp, n, r->co, (int)hw);
    group_norm_silu_fwd(&r->norm2, P, n2, a2, mean2, rstd2, h1, n, (int)hw);

    float *d2 = a2, *mask = NULL;
    if (ctx->train && !ctx->no_dropout && r->dropout > 0) {
        d2 = arena_floats(A, out_sz);
        mask = arena_floats(A, out_sz);
        if (A->failed) return NULL;
        ops()->dropout_forward(d2, mask, a2, out_sz, r->dropout, ctx->seed,
                               lethe_stream(LETHE_STREAM_DROPOUT, ctx->step, (uint64_t)r->id));
    }
    // out = (shortcut(x) + conv2(d2)) / scale
    conv2d_fwd(&r->conv2, P, out, d2, n, h, w);
    if (r->has_shortcut) {
        float *sc = arena_floats(A, out_sz);
        if (!sc) return NULL;
        conv2d_fwd(&r->shortcut, P, sc, x, n, h, w);
        ops()->axpbz(out, 1.0f / r->output_scale, out, 1.0f / r->output_scale, sc, out_sz);
    } else {
        ops()->axpbz(out, 1.0f / r->output_scale, out, 1.0f / r->output_scale, x, out_sz);
    }

    if (!ctx->train) {
        arena_release(A, mark);
        return out;
    }
    r->s.x = x; r->s.emb_act = emb_act;
    r->s.n1 = n1; r->s.mean1 = mean1; r->s.rstd1 = rstd1; r->s.a1 = a1; r->s.h1 = h1;
    r->s.n2 = n2; r->s.mean2 = mean2; r->s.rstd2 = rstd2; r->s.a2 = a2; r->s.mask = mask; r->s.d2 = d2;
    r->s.n = n; r->s.h = h; r->s.w = w;
    return out;
}

lethe_status resnet_backward(resnet_block *r, const float *P, float *G, lethe_arena *A,
                     float *dx, float *d_emb_act, const float *dout) {
    int n = r->s.n, h = r->s.h, w = r->s.w;
    size_t hw = (size_t)h * w, in_sz = (size_t)n * r->ci * hw, out_sz = (size_t)n * r->co * hw;
    arena_mark_t mark = arena_mark(A);
    // every temporary up front, so a failed allocation is caught before any op runs
    float *scaled = r->output_scale != 1.0f ? arena_floats(A, out_sz) : NULL;
    float *d_d2 = arena_zeros(A, out_sz), *d_a2 = r->s.mask ? arena_zeros(A, out_sz) : d_d2;
    float *d_n2 = arena_zeros(A, out_sz), *d_h1 = arena_zeros(A, out_sz), *d_tp = arena_zeros(A, (size_t)n * r->co);
    float *d_a1 = arena_zeros(A, in_sz), *d_n1 = arena_zeros(A, in_sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
    }

    // out = (s + h2) / scale: both branches see dout / scale.
    const float *dbranch = dout;
    if (scaled) {
        ops()->axpbz(scaled, 1.0f / r->output_scale, dout, 0.0f, NULL, out_sz);
        dbranch = scaled;
    }
    if (r->has_shortcut) conv2d_bwd(&r->shortcut, P, G, dx, dbranch, r->s.x, n, h, w);
    else if (dx) ops()->axpbz(dx, 1.0f, dx, 1.0f, dbranch, in_sz);

    conv2d_bwd(&r->conv2, P, G, d_d2, dbranch, r->s.d2, n, h, w);
    if (r->s.mask) ops()->dropout_backward(d_a2, d_d2, r->s.mask, out_sz);
    ops()->silu_backward(d_n2, d_a2, r->s.n2, out_sz);
    group_norm_bwd(&r->norm2, P, G, d_h1, d_n2, r->s.h1, r->s.mean2, r->s.rstd2, n, (int)hw);

    // h1 = conv1(a1) + proj(emb_act) broadcast over space
    ops()->add_channel_bias_backward(d_tp, d_h1, n, r->co, (int)hw);
    linear_bwd(&r->time_emb_proj, P, G, d_emb_act, d_tp, r->s.emb_act, n);
    conv2d_bwd(&r->conv1, P, G, d_a1, d_h1, r->s.a1, n, h, w);
    ops()->silu_backward(d_n1, d_a1, r->s.n1, in_sz);
    group_norm_bwd(&r->norm1, P, G, dx, d_n1, r->s.x, r->s.mean1, r->s.rstd1, n, (int)hw);

    arena_release(A, mark);
    return LETHE_OK;
}
