/* transformer2d.c: Transformer2DModel with BasicTransformerBlocks (see transformer2d.h). */
#include "nn/transformer2d.h"

#include <math.h>
#include <stdio.h>

static void attn_make(t2d_attention *a, param_table *t, const char *prefix, int dim, int heads, int kv_width) {
    char name[PARAM_NAME_MAX];
    a->heads = heads;
    a->head_dim = dim / heads;
    a->kv_width = kv_width;
    snprintf(name, sizeof name, "%s.to_q", prefix);
    a->to_q = linear_make_no_bias(t, name, dim, dim);
    snprintf(name, sizeof name, "%s.to_k", prefix);
    a->to_k = linear_make_no_bias(t, name, kv_width, dim);
    snprintf(name, sizeof name, "%s.to_v", prefix);
    a->to_v = linear_make_no_bias(t, name, kv_width, dim);
    snprintf(name, sizeof name, "%s.to_out.0", prefix);
    a->to_out = linear_make(t, name, dim, dim);
}

static void block_make(t2d_block *b, param_table *t, const char *prefix, int dim, int heads, int cross_dim) {
    char name[PARAM_NAME_MAX];
    b->dim = dim;
    b->inner = 4 * dim;
    // PyTorch's registration order: norm1, attn1, norm2, attn2, norm3, ff
    snprintf(name, sizeof name, "%s.norm1", prefix);
    b->norm1 = layer_norm_make(t, name, dim, 1e-5f);
    snprintf(name, sizeof name, "%s.attn1", prefix);
    attn_make(&b->attn1, t, name, dim, heads, dim);
    snprintf(name, sizeof name, "%s.norm2", prefix);
    b->norm2 = layer_norm_make(t, name, dim, 1e-5f);
    snprintf(name, sizeof name, "%s.attn2", prefix);
    attn_make(&b->attn2, t, name, dim, heads, cross_dim);
    snprintf(name, sizeof name, "%s.norm3", prefix);
    b->norm3 = layer_norm_make(t, name, dim, 1e-5f);
    snprintf(name, sizeof name, "%s.ff.net.0.proj", prefix);
    b->ff_proj = linear_make(t, name, dim, 2 * b->inner);
    snprintf(name, sizeof name, "%s.ff.net.2", prefix);
    b->ff_out = linear_make(t, name, b->inner, dim);
}

void transformer2d_make(transformer2d *m, param_table *t, const char *prefix, int c, int heads, int cross_dim,
                        int groups, int layers, int linear_projection) {
    char name[PARAM_NAME_MAX];
    m->c = c;
    m->n_layers = layers;
    m->cross_dim = cross_dim;
    snprintf(name, sizeof name, "%s.norm", prefix);
    m->norm = group_norm_make(t, name, c, groups, 1e-6f);
    // a 1x1 conv and a Linear are one map on tokens: register the shape diffusers has, run a Linear
    snprintf(name, sizeof name, "%s.proj_in", prefix);
    if (linear_projection) {
        linear_layer l = linear_make(t, name, c, c);
        m->proj_in_w = l.w; m->proj_in_b = l.b;
    } else {
        conv2d_layer l = conv2d_make(t, name, c, c, 1, 1, 0);
        m->proj_in_w = l.w; m->proj_in_b = l.b;
    }
    for (int k = 0; k < layers; k++) {
        snprintf(name, sizeof name, "%s.transformer_blocks.%d", prefix, k);
        block_make(&m->blocks[k], t, name, c, heads, cross_dim);
    }
    snprintf(name, sizeof name, "%s.proj_out", prefix);
    if (linear_projection) {
        linear_layer l = linear_make(t, name, c, c);
        m->proj_out_w = l.w; m->proj_out_b = l.b;
    } else {
        conv2d_layer l = conv2d_make(t, name, c, c, 1, 1, 0);
        m->proj_out_w = l.w; m->proj_out_b = l.b;
    }
}

// ---- one BasicTransformerBlock ----------------------------------------------------------

static float attn_scale(const t2d_attention *a) { return 1.0f / sqrtf((float)a->head_dim); }

// out (rows, D) = block(x); every intermediate from the arena (kept: the caller releases them
// in inference mode). Returns 0 when the arena failed.
static int block_forward(t2d_block *b, const float *P, lethe_arena *A, float *out, const float *x, const float *context,
                         int n, int l, int seq) {
    const int D = b->dim, I = b->inner, rows = n * l, krows = n * seq;
    const size_t sz = (size_t)rows * D, ksz = (size_t)krows * D, fsz = (size_t)rows * I;
    t2d_attention *a1 = &b->attn1, *a2 = &b->attn2;
    float *u1 = arena_floats(A, sz), *mean1 = arena_floats(A, rows), *rstd1 = arena_floats(A, rows);
    float *q1 = arena_floats(A, sz), *k1 = arena_floats(A, sz), *v1 = arena_floats(A, sz);
    float *p1 = arena_floats(A, (size_t)n * a1->heads * l * l), *o1 = arena_floats(A, sz), *h1 = arena_floats(A, sz);
    float *u2 = arena_floats(A, sz), *mean2 = arena_floats(A, rows), *rstd2 = arena_floats(A, rows);
    float *q2 = arena_floats(A, sz), *k2 = arena_floats(A, ksz), *v2 = arena_floats(A, ksz);
    float *p2 = arena_floats(A, (size_t)n * a2->heads * l * seq), *o2 = arena_floats(A, sz), *h2 = arena_floats(A, sz);
    float *u3 = arena_floats(A, sz), *mean3 = arena_floats(A, rows), *rstd3 = arena_floats(A, rows);
    float *f = arena_floats(A, 2 * fsz), *mm = arena_floats(A, fsz);
    if (A->failed) return 0;
    const lethe_backend *be = ops();

    // self-attention
    layer_norm_fwd(&b->norm1, P, u1, mean1, rstd1, x, rows);
    linear_fwd(&a1->to_q, P, q1, u1, rows);
    linear_fwd(&a1->to_k, P, k1, u1, rows);
    linear_fwd(&a1->to_v, P, v1, u1, rows);
    be->attention_forward(o1, p1, q1, k1, v1, n, l, l, a1->heads, a1->head_dim, attn_scale(a1), 0);
    linear_fwd(&a1->to_out, P, h1, o1, rows);
    be->axpbz(h1, 1.0f, h1, 1.0f, x, sz);
    // cross-attention: queries from the image tokens, keys and values from the context
    layer_norm_fwd(&b->norm2, P, u2, mean2, rstd2, h1, rows);
    linear_fwd(&a2->to_q, P, q2, u2, rows);
    linear_fwd(&a2->to_k, P, k2, context, krows);
    linear_fwd(&a2->to_v, P, v2, context, krows);
    be->attention_forward(o2, p2, q2, k2, v2, n, l, seq, a2->heads, a2->head_dim, attn_scale(a2), 0);
    linear_fwd(&a2->to_out, P, h2, o2, rows);
    be->axpbz(h2, 1.0f, h2, 1.0f, h1, sz);
    // GEGLU feed-forward: f = [value | gate] per row, mm = value * gelu(gate)
    layer_norm_fwd(&b->norm3, P, u3, mean3, rstd3, h2, rows);
    linear_fwd(&b->ff_proj, P, f, u3, rows);
    be->geglu_forward(mm, f, rows, I);
    linear_fwd(&b->ff_out, P, out, mm, rows);
    be->axpbz(out, 1.0f, out, 1.0f, h2, sz);

    b->s.x = x;
    b->s.u1 = u1; b->s.mean1 = mean1; b->s.rstd1 = rstd1; b->s.q1 = q1; b->s.k1 = k1; b->s.v1 = v1;
    b->s.p1 = p1; b->s.o1 = o1; b->s.h1 = h1;
    b->s.u2 = u2; b->s.mean2 = mean2; b->s.rstd2 = rstd2; b->s.q2 = q2; b->s.k2 = k2; b->s.v2 = v2;
    b->s.p2 = p2; b->s.o2 = o2; b->s.h2 = h2;
    b->s.u3 = u3; b->s.mean3 = mean3; b->s.rstd3 = rstd3; b->s.f = f; b->s.m = mm;
    return 1;
}

// dout (rows, D) -> dx += (rows, D), dcontext += (n*seq, X) (may be NULL), G +=.
static lethe_status block_backward(t2d_block *b, const float *P, float *G, lethe_arena *A, float *dx, float *dcontext,
                                   const float *context, const float *dout, int n, int l, int seq) {
    const int D = b->dim, I = b->inner, rows = n * l, krows = n * seq;
    const size_t sz = (size_t)rows * D, ksz = (size_t)krows * D, fsz = (size_t)rows * I;
    t2d_attention *a1 = &b->attn1, *a2 = &b->attn2;
    arena_mark_t mark = arena_mark(A);
    float *d_m = arena_zeros(A, fsz), *d_f = arena_zeros(A, 2 * fsz);
    float *d_u3 = arena_zeros(A, sz), *d_h2 = arena_floats(A, sz);
    float *d_o2 = arena_zeros(A, sz), *dq2 = arena_zeros(A, sz), *dk2 = arena_zeros(A, ksz), *dv2 = arena_zeros(A, ksz);
    float *d_u2 = arena_zeros(A, sz), *d_h1 = arena_floats(A, sz);
    float *d_o1 = arena_zeros(A, sz), *dq1 = arena_zeros(A, sz), *dk1 = arena_zeros(A, sz), *dv1 = arena_zeros(A, sz);
    float *d_u1 = arena_zeros(A, sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for transformer gradients");
    }
    const lethe_backend *be = ops();

    // out = ff_out(geglu(ff_proj(u3))) + h2
    be->copy(d_h2, dout, sz);
    linear_bwd(&b->ff_out, P, G, d_m, dout, b->s.m, rows);
    be->geglu_backward(d_f, d_m, b->s.f, rows, I);
    linear_bwd(&b->ff_proj, P, G, d_u3, d_f, b->s.u3, rows);
    layer_norm_bwd(&b->norm3, P, G, d_h2, d_u3, b->s.h2, b->s.mean3, b->s.rstd3, rows);

    // h2 = to_out(attn(q(u2), k(ctx), v(ctx))) + h1
    be->copy(d_h1, d_h2, sz);
    linear_bwd(&a2->to_out, P, G, d_o2, d_h2, b->s.o2, rows);
    be->attention_backward(dq2, dk2, dv2, d_o2, b->s.q2, b->s.k2, b->s.v2, b->s.p2, n, l, seq, a2->heads,
                           a2->head_dim, attn_scale(a2), 0);
    linear_bwd(&a2->to_q, P, G, d_u2, dq2, b->s.u2, rows);
    linear_bwd(&a2->to_k, P, G, dcontext, dk2, context, krows);
    linear_bwd(&a2->to_v, P, G, dcontext, dv2, context, krows);
    layer_norm_bwd(&b->norm2, P, G, d_h1, d_u2, b->s.h1, b->s.mean2, b->s.rstd2, rows);

    // h1 = to_out(attn(q(u1), k(u1), v(u1))) + x
    if (dx) be->axpbz(dx, 1.0f, dx, 1.0f, d_h1, sz);
    linear_bwd(&a1->to_out, P, G, d_o1, d_h1, b->s.o1, rows);
    be->attention_backward(dq1, dk1, dv1, d_o1, b->s.q1, b->s.k1, b->s.v1, b->s.p1, n, l, l, a1->heads, a1->head_dim,
                           attn_scale(a1), 0);
    linear_bwd(&a1->to_q, P, G, d_u1, dq1, b->s.u1, rows);
    linear_bwd(&a1->to_k, P, G, d_u1, dk1, b->s.u1, rows);
    linear_bwd(&a1->to_v, P, G, d_u1, dv1, b->s.u1, rows);
    layer_norm_bwd(&b->norm1, P, G, dx, d_u1, b->s.x, b->s.mean1, b->s.rstd1, rows);
    arena_release(A, mark);
    return LETHE_OK;
}

// ---- Transformer2DModel ------------------------------------------------------------------

float *transformer2d_forward(transformer2d *m, const float *P, const nn_ctx *ctx, const float *x, int n, int h, int w,
                             const float *context, int seq) {
    lethe_arena *A = ctx->arena;
    const int c = m->c, l = h * w, G = m->norm.groups, rows = n * l;
    const size_t sz = (size_t)n * c * l;
    float *out = arena_floats(A, sz);
    arena_mark_t mark = arena_mark(A);
    float *u = arena_floats(A, sz), *mean = arena_floats(A, (size_t)n * G), *rstd = arena_floats(A, (size_t)n * G);
    float *tok_u = arena_floats(A, sz), *proj = arena_floats(A, sz);
    float *tok[T2D_MAX_LAYERS + 1];
    for (int k = 0; k <= m->n_layers; k++) tok[k] = arena_floats(A, sz);
    if (A->failed) return NULL;
    const lethe_backend *be = ops();

    group_norm_fwd(&m->norm, P, u, mean, rstd, x, n, l);
    be->transpose_forward(tok_u, u, n, c, l);                                       // (n, c, l) -> (n, l, c)
    be->linear_forward(tok[0], tok_u, P + m->proj_in_w, P + m->proj_in_b, rows, c, c);
    for (int k = 0; k < m->n_layers; k++)
        if (!block_forward(&m->blocks[k], P, A, tok[k + 1], tok[k], context, n, l, seq)) return NULL;
    be->linear_forward(proj, tok[m->n_layers], P + m->proj_out_w, P + m->proj_out_b, rows, c, c);
    be->transpose_forward(out, proj, n, l, c);                                      // (n, l, c) -> (n, c, l)
    be->axpbz(out, 1.0f, out, 1.0f, x, sz);

    if (!ctx->train) {
        arena_release(A, mark);
        return out;
    }
    m->s.x = x; m->s.context = context; m->s.u = u; m->s.mean = mean; m->s.rstd = rstd; m->s.tok_u = tok_u;
    for (int k = 0; k <= m->n_layers; k++) m->s.tok[k] = tok[k];
    m->s.n = n; m->s.l = l; m->s.seq = seq;
    return out;
}

lethe_status transformer2d_backward(transformer2d *m, const float *P, float *G, lethe_arena *A, float *dx,
                                    float *dcontext, const float *dout) {
    const int n = m->s.n, l = m->s.l, seq = m->s.seq, c = m->c, rows = n * l;
    const size_t sz = (size_t)n * c * l;
    arena_mark_t mark = arena_mark(A);
    float *d_proj = arena_zeros(A, sz), *d_tok_u = arena_zeros(A, sz), *d_u = arena_zeros(A, sz);
    float *d_tok[T2D_MAX_LAYERS + 1];
    for (int k = 0; k <= m->n_layers; k++) d_tok[k] = arena_zeros(A, sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for transformer gradients");
    }
    const lethe_backend *be = ops();
    lethe_status st;

    if (dx) be->axpbz(dx, 1.0f, dx, 1.0f, dout, sz);                               // residual
    be->transpose_backward(d_proj, dout, n, l, c);
    be->linear_backward(d_tok[m->n_layers], G ? G + m->proj_out_w : NULL, G ? G + m->proj_out_b : NULL, d_proj,
                        m->s.tok[m->n_layers], P + m->proj_out_w, rows, c, c);
    for (int k = m->n_layers - 1; k >= 0; k--)
        if ((st = block_backward(&m->blocks[k], P, G, A, d_tok[k], dcontext, m->s.context, d_tok[k + 1], n, l, seq))) {
            arena_release(A, mark);
            return st;
        }
    be->linear_backward(d_tok_u, G ? G + m->proj_in_w : NULL, G ? G + m->proj_in_b : NULL, d_tok[0], m->s.tok_u,
                        P + m->proj_in_w, rows, c, c);
    be->transpose_backward(d_u, d_tok_u, n, c, l);
    group_norm_bwd(&m->norm, P, G, dx, d_u, m->s.x, m->s.mean, m->s.rstd, n, l);
    arena_release(A, mark);
    return LETHE_OK;
}
