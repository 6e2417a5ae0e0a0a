/* attention.c: the UNet's spatial self-attention block (see attention.h). */
#include "nn/attention.h"

#include <math.h>
#include <stdio.h>

void attention_make(attention_block *a, param_table *t, const char *prefix, int c, int head_dim,
                    int groups, float eps, float rescale) {
    char name[PARAM_NAME_MAX];
    a->c = c;
    a->head_dim = head_dim > 0 ? head_dim : c;
    a->heads = c / a->head_dim;
    a->rescale = rescale;
    snprintf(name, sizeof name, "%s.group_norm", prefix);
    a->group_norm = group_norm_make(t, name, c, groups, eps);
    snprintf(name, sizeof name, "%s.to_q", prefix);
    a->to_q = linear_make(t, name, c, c);
    snprintf(name, sizeof name, "%s.to_k", prefix);
    a->to_k = linear_make(t, name, c, c);
    snprintf(name, sizeof name, "%s.to_v", prefix);
    a->to_v = linear_make(t, name, c, c);
    snprintf(name, sizeof name, "%s.to_out.0", prefix);
    a->to_out = linear_make(t, name, c, c);
}

float *attention_forward(attention_block *a, const float *P, const nn_ctx *ctx, const float *x, int n, int h, int w) {
    lethe_arena *A = ctx->arena;
    int l = h * w, c = a->c, G = a->group_norm.groups;
    size_t sz = (size_t)n * c * l;
    float *out = arena_floats(A, sz);
    arena_mark_t mark = arena_mark(A);
    float *u = arena_floats(A, sz), *mean = arena_floats(A, (size_t)n * G), *rstd = arena_floats(A, (size_t)n * G);
    float *tok = arena_floats(A, sz), *q = arena_floats(A, sz), *k = arena_floats(A, sz), *v = arena_floats(A, sz);
    float *probs = arena_floats(A, (size_t)n * a->heads * l * l), *o = arena_floats(A, sz), *proj = arena_floats(A, sz);
    if (A->failed) return NULL;

    group_norm_fwd(&a->group_norm, P, u, mean, rstd, x, n, l);
    ops()->transpose_forward(tok, u, n, c, l);                 // (n, c, l) -> (n, l, c)
    linear_fwd(&a->to_q, P, q, tok, n * l);
    linear_fwd(&a->to_k, P, k, tok, n * l);
    linear_fwd(&a->to_v, P, v, tok, n * l);
    ops()->attention_forward(o, probs, q, k, v, n, l, l, a->heads, a->head_dim, 1.0f / sqrtf((float)a->head_dim),
                             0);   // spatial attention: every pixel sees every pixel
    linear_fwd(&a->to_out, P, proj, o, n * l);
    ops()->transpose_forward(out, proj, n, l, c);              // (n, l, c) -> (n, c, l)
    ops()->axpbz(out, 1.0f / a->rescale, out, 1.0f / a->rescale, x, sz);

    if (!ctx->train) {
        arena_release(A, mark);
        return out;
    }
    a->s.x = x; a->s.u = u; a->s.mean = mean; a->s.rstd = rstd; a->s.tok = tok;
    a->s.q = q; a->s.k = k; a->s.v = v; a->s.probs = probs; a->s.o = o;
    a->s.n = n; a->s.l = l;
    return out;
}

lethe_status attention_backward(attention_block *a, const float *P, float *G, lethe_arena *A, float *dx, const float *dout) {
    int n = a->s.n, l = a->s.l, c = a->c;
    size_t sz = (size_t)n * c * l;
    arena_mark_t mark = arena_mark(A);
    float *scaled = a->rescale != 1.0f ? arena_floats(A, sz) : NULL;
    float *d_proj = arena_zeros(A, sz), *d_o = arena_zeros(A, sz);
    float *dq = arena_zeros(A, sz), *dk = arena_zeros(A, sz), *dv = arena_zeros(A, sz);
    float *d_tok = arena_zeros(A, sz), *d_u = arena_zeros(A, sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
    }

    const float *dres = dout;
    if (scaled) {
        ops()->axpbz(scaled, 1.0f / a->rescale, dout, 0.0f, NULL, sz);
        dres = scaled;
    }
    if (dx) ops()->axpbz(dx, 1.0f, dx, 1.0f, dres, sz);            // residual

    ops()->transpose_backward(d_proj, dres, n, l, c);
    linear_bwd(&a->to_out, P, G, d_o, d_proj, a->s.o, n * l);
    ops()->attention_backward(dq, dk, dv, d_o, a->s.q, a->s.k, a->s.v, a->s.probs, n, l, l, a->heads, a->head_dim,
                              1.0f / sqrtf((float)a->head_dim), 0);
    linear_bwd(&a->to_q, P, G, d_tok, dq, a->s.tok, n * l);
    linear_bwd(&a->to_k, P, G, d_tok, dk, a->s.tok, n * l);
    linear_bwd(&a->to_v, P, G, d_tok, dv, a->s.tok, n * l);
    ops()->transpose_backward(d_u, d_tok, n, c, l);
    group_norm_bwd(&a->group_norm, P, G, dx, d_u, a->s.x, a->s.mean, a->s.rstd, n, l);
    arena_release(A, mark);
    return LETHE_OK;
}
