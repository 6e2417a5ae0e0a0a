/* clip_text.c: the CLIP text encoder's parameters, initialisation, forward and backward (see clip_text.h). */
#include "nn/clip_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

// ---- build -----------------------------------------------------------------------------------------

// Linear registered with the init transformers gives it: weight normal (scaled to its std by
// clip_text_init_params), bias zero. linear_make would register PyTorch's uniform default.
static linear_layer clip_linear(param_table *t, const char *prefix, const char *leaf, int in, int out) {
    char name[PARAM_NAME_MAX];
    linear_layer l = {.in = in, .out = out};
    snprintf(name, sizeof name, "%s.%s.weight", prefix, leaf);
    l.w = param_table_add(t, name, 2, (int64_t[]){out, in}, PARAM_INIT_NORMAL, 0);
    snprintf(name, sizeof name, "%s.%s.bias", prefix, leaf);
    l.b = param_table_add(t, name, 1, (int64_t[]){out}, PARAM_INIT_ZEROS, 0);
    return l;
}

static clip_layer_norm clip_ln(param_table *t, const char *prefix, const char *leaf, int width) {
    char name[PARAM_NAME_MAX];
    clip_layer_norm l;
    snprintf(name, sizeof name, "%s.%s.weight", prefix, leaf);
    l.w = param_table_add(t, name, 1, (int64_t[]){width}, PARAM_INIT_ONES, 0);
    snprintf(name, sizeof name, "%s.%s.bias", prefix, leaf);
    l.b = param_table_add(t, name, 1, (int64_t[]){width}, PARAM_INIT_ZEROS, 0);
    return l;
}

lethe_status clip_text_build(lethe_clip_text *m, const clip_text_config *cfg) {
    memset(m, 0, sizeof *m);
    lethe_status st = clip_text_config_validate(cfg);
    if (st) return st;
    m->cfg = *cfg;
    param_table *t = &m->table;
    param_table_init(t);
    const int H = cfg->hidden_size, I = cfg->intermediate_size;
    char p[PARAM_NAME_MAX];
    // transformers' state-dict order (the Philox stream of a tensor is its index)
    m->token_embedding = embedding_make(t, "text_model.embeddings.token_embedding", cfg->vocab_size, H);
    m->position_embedding = embedding_make(t, "text_model.embeddings.position_embedding", cfg->max_position_embeddings, H);
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        clip_text_layer *L = &m->layers[i];
        snprintf(p, sizeof p, "text_model.encoder.layers.%d", i);
        L->k_proj = clip_linear(t, p, "self_attn.k_proj", H, H);
        L->v_proj = clip_linear(t, p, "self_attn.v_proj", H, H);
        L->q_proj = clip_linear(t, p, "self_attn.q_proj", H, H);
        L->out_proj = clip_linear(t, p, "self_attn.out_proj", H, H);
        L->ln1 = clip_ln(t, p, "layer_norm1", H);
        L->fc1 = clip_linear(t, p, "mlp.fc1", H, I);
        L->fc2 = clip_linear(t, p, "mlp.fc2", I, H);
        L->ln2 = clip_ln(t, p, "layer_norm2", H);
    }
    m->final_ln = clip_ln(t, "text_model", "final_layer_norm", H);
    if (cfg->with_projection)
        m->text_projection = param_table_add(t, "text_projection.weight", 2, (int64_t[]){cfg->projection_dim, H},
                                             PARAM_INIT_NORMAL, 0);
    return LETHE_OK;
}

void clip_text_free(lethe_clip_text *m) {
    if (m->params) ops()->release(m->params);
    free(m->s.eos);
    param_table_free(&m->table);
    memset(m, 0, sizeof *m);
}

size_t clip_text_num_params(const lethe_clip_text *m) {
    size_t s = 0;
    for (int i = 0; i < m->table.n; i++) s += m->table.entries[i].numel;
    return s;
}

int clip_text_pooled_dim(const lethe_clip_text *m) {
    return m->cfg.with_projection ? m->cfg.projection_dim : m->cfg.hidden_size;
}

// ---- initialisation --------------------------------------------------------------------------------

// N(0, 1) values (from the table) times std: the tensor becomes N(0, std^2)
static void scale_to_std(float *P, size_t offset, size_t numel, double std) {
    ops()->axpbz(P + offset, (float)std, P + offset, 0.0f, NULL, numel);
}

lethe_status clip_text_init_params(const lethe_clip_text *m, float *P, uint64_t seed) {
    const param_table *t = &m->table;
    float *host = malloc(t->total * sizeof(float));
    if (!host) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder weights");
    param_table_init_values(t, host, seed);   // normals N(0, 1), LayerNorm 1 / 0, biases 0
    ops()->to_device(P, host, t->total * sizeof(float));
    free(host);

    const clip_text_config *c = &m->cfg;
    const double f = c->initializer_factor, H = c->hidden_size, L = c->num_hidden_layers;
    const double in_std = pow(H, -0.5) * pow(2.0 * L, -0.5) * f, out_std = pow(H, -0.5) * f;
    const double fc_std = pow(2.0 * H, -0.5) * f;
    const size_t HH = (size_t)c->hidden_size * c->hidden_size, HI = (size_t)c->hidden_size * c->intermediate_size;
    scale_to_std(P, m->token_embedding.w, (size_t)c->vocab_size * c->hidden_size, 0.02 * f);
    scale_to_std(P, m->position_embedding.w, (size_t)c->max_position_embeddings * c->hidden_size, 0.02 * f);
    for (int i = 0; i < c->num_hidden_layers; i++) {
        const clip_text_layer *l = &m->layers[i];
        scale_to_std(P, l->q_proj.w, HH, in_std);
        scale_to_std(P, l->k_proj.w, HH, in_std);
        scale_to_std(P, l->v_proj.w, HH, in_std);
        scale_to_std(P, l->out_proj.w, HH, out_std);
        scale_to_std(P, l->fc1.w, HI, fc_std);
        scale_to_std(P, l->fc2.w, HI, in_std);
    }
    if (c->with_projection) scale_to_std(P, m->text_projection, (size_t)c->projection_dim * c->hidden_size, out_std);
    return LETHE_OK;
}

lethe_status clip_text_create(lethe_clip_text *m, const clip_text_config *cfg, uint64_t seed) {
    lethe_status st = clip_text_build(m, cfg);
    if (st) return st;
    m->params = ops()->alloc(m->table.total * sizeof(float));
    if (!m->params) {
        clip_text_free(m);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder weights");
    }
    if ((st = clip_text_init_params(m, m->params, seed))) clip_text_free(m);
    return st;
}

// ---- forward ---------------------------------------------------------------------------------------

static float attn_scale(const clip_text_config *c) {
    return (float)(1.0 / sqrt((double)(c->hidden_size / c->num_attention_heads)));   // head_dim^-0.5
}

static void ln_fwd(const clip_layer_norm *l, const clip_text_config *c, const float *P, float *y, float *mean,
                   float *rstd, const float *x, int rows) {
    ops()->layer_norm_forward(y, mean, rstd, x, P + l->w, P + l->b, rows, c->hidden_size, c->layer_norm_eps);
}

static void ln_bwd(const clip_layer_norm *l, const clip_text_config *c, const float *P, float *G, float *dx,
                   const float *dy, const float *x, const float *mean, const float *rstd, int rows) {
    ops()->layer_norm_backward(dx, G + l->w, G + l->b, dy, x, mean, rstd, P + l->w, rows, c->hidden_size);
}

// One pre-LN encoder layer: x (n, seq, hidden) -> a new tensor from the arena, NULL when it is full.
static float *layer_forward(clip_text_layer *L, const clip_text_config *c, const float *P, const nn_ctx *ctx,
                            const float *x, int n, int seq) {
    lethe_arena *A = ctx->arena;
    const int rows = n * seq, H = c->hidden_size, I = c->intermediate_size, heads = c->num_attention_heads;
    const size_t sz = (size_t)rows * H, szi = (size_t)rows * I;
    float *out = arena_floats(A, sz);
    arena_mark_t mark = arena_mark(A);
    float *u1 = arena_floats(A, sz), *mean1 = arena_floats(A, (size_t)rows), *rstd1 = arena_floats(A, (size_t)rows);
    float *q = arena_floats(A, sz), *k = arena_floats(A, sz), *v = arena_floats(A, sz), *o = arena_floats(A, sz);
    float *probs = arena_floats(A, (size_t)n * heads * seq * seq), *h = arena_floats(A, sz);
    float *u2 = arena_floats(A, sz), *mean2 = arena_floats(A, (size_t)rows), *rstd2 = arena_floats(A, (size_t)rows);
    float *f1 = arena_floats(A, szi), *a1 = arena_floats(A, szi);
    if (A->failed) return NULL;

    ln_fwd(&L->ln1, c, P, u1, mean1, rstd1, x, rows);
    linear_fwd(&L->q_proj, P, q, u1, rows);
    linear_fwd(&L->k_proj, P, k, u1, rows);
    linear_fwd(&L->v_proj, P, v, u1, rows);
    ops()->attention_forward(o, probs, q, k, v, n, seq, seq, heads, H / heads, attn_scale(c), 1);   // causal
    linear_fwd(&L->out_proj, P, h, o, rows);
    ops()->axpbz(h, 1.0f, h, 1.0f, x, sz);   // residual
    ln_fwd(&L->ln2, c, P, u2, mean2, rstd2, h, rows);
    linear_fwd(&L->fc1, P, f1, u2, rows);
    ops()->quick_gelu_forward(a1, f1, szi);
    linear_fwd(&L->fc2, P, out, a1, rows);
    ops()->axpbz(out, 1.0f, out, 1.0f, h, sz);   // residual

    if (!ctx->train) {
        arena_release(A, mark);
        return out;
    }
    L->s.x = x;
    L->s.u1 = u1; L->s.mean1 = mean1; L->s.rstd1 = rstd1;
    L->s.q = q; L->s.k = k; L->s.v = v; L->s.probs = probs; L->s.o = o; L->s.h = h;
    L->s.u2 = u2; L->s.mean2 = mean2; L->s.rstd2 = rstd2; L->s.f1 = f1; L->s.a1 = a1;
    return out;
}

// Checks the ids and finds each row's pooled position (first EOS) into m->s.eos (host).
static lethe_status check_ids(lethe_clip_text *m, const int *ids, int n, int seq) {
    const clip_text_config *c = &m->cfg;
    if (n < 1) return lethe_fail(LETHE_ERR_ARG, "CLIP text encoder: batch size %d (at least 1)", n);
    if (seq < 1 || seq > c->max_position_embeddings)
        return lethe_fail(LETHE_ERR_ARG, "CLIP text encoder: sequence length %d is not in [1, max_position_embeddings = %d]",
                          seq, c->max_position_embeddings);
    if (n > m->s.eos_cap) {
        int *e = realloc(m->s.eos, (size_t)n * sizeof *e);
        if (!e) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        m->s.eos = e;
        m->s.eos_cap = n;
    }
    for (int b = 0; b < n; b++) {
        int pos = -1;
        for (int j = 0; j < seq; j++) {
            int id = ids[(size_t)b * seq + j];
            if (id < 0 || id >= c->vocab_size)
                return lethe_fail(LETHE_ERR_ARG, "CLIP text encoder: token id %d (row %d, position %d) is not in the "
                                  "vocabulary [0, %d)", id, b, j, c->vocab_size);
            if (id == c->eos_token_id && pos < 0) pos = j;
        }
        if (pos < 0)
            return lethe_fail(LETHE_ERR_ARG, "CLIP text encoder: row %d has no EOS (eos_token_id %d) to pool at", b,
                              c->eos_token_id);
        m->s.eos[b] = pos;
    }
    return LETHE_OK;
}

#define NOMEM_FWD() lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder activations")

lethe_status clip_text_forward(lethe_clip_text *m, const float *P, const nn_ctx *ctx, const int *ids, int n, int seq,
                               float *last_hidden, float *pooled) {
    const clip_text_config *c = &m->cfg;
    lethe_arena *A = ctx->arena;
    m->s.train = 0;
    lethe_status st = check_ids(m, ids, n, seq);
    if (st) return st;
    const int rows = n * seq, H = c->hidden_size;
    const size_t sz = (size_t)rows * H;
    arena_mark_t start = arena_mark(A);

    // the ids and positions are host arrays; the embedding ops read them from backend memory
    int *ids_d = (int *)arena_floats(A, (size_t)rows), *pos_d = (int *)arena_floats(A, (size_t)rows);
    int *pos = malloc((size_t)rows * sizeof *pos);
    if (!pos || A->failed) {
        free(pos);
        arena_release(A, start);
        return NOMEM_FWD();
    }
    for (int i = 0; i < rows; i++) pos[i] = i % seq;
    ops()->to_device(ids_d, ids, (size_t)rows * sizeof *ids);
    ops()->to_device(pos_d, pos, (size_t)rows * sizeof *pos);
    free(pos);

    float *h = arena_floats(A, sz), *pe = arena_floats(A, sz);
    if (A->failed) goto nomem;
    embedding_fwd(&m->token_embedding, P, h, ids_d, rows);
    embedding_fwd(&m->position_embedding, P, pe, pos_d, rows);
    ops()->axpbz(h, 1.0f, h, 1.0f, pe, sz);
    for (int i = 0; i < c->num_hidden_layers; i++)
        if (!(h = layer_forward(&m->layers[i], c, P, ctx, h, n, seq))) goto nomem;

    float *last = last_hidden ? last_hidden : arena_floats(A, sz);
    float *mean_f = arena_floats(A, (size_t)rows), *rstd_f = arena_floats(A, (size_t)rows);
    float *raw = arena_floats(A, (size_t)n * H);
    if (A->failed) goto nomem;
    ln_fwd(&m->final_ln, c, P, last, mean_f, rstd_f, h, rows);
    // pooled: row b of the batch at its EOS position (a layout gather, one row copy each)
    for (int b = 0; b < n; b++) ops()->copy(raw + (size_t)b * H, last + ((size_t)b * seq + m->s.eos[b]) * H, (size_t)H);
    if (pooled) {
        if (c->with_projection)
            ops()->linear_forward(pooled, raw, P + m->text_projection, NULL, n, H, c->projection_dim);
        else
            ops()->copy(pooled, raw, (size_t)n * H);
    }

    m->s.n = n;
    m->s.seq = seq;
    if (!ctx->train) {
        arena_release(A, start);
        return LETHE_OK;
    }
    m->s.train = 1;
    m->s.ids = ids_d;
    m->s.pos_ids = pos_d;
    m->s.h_final = h;
    m->s.mean_f = mean_f;
    m->s.rstd_f = rstd_f;
    m->s.pooled_raw = raw;
    return LETHE_OK;
nomem:
    arena_release(A, start);
    return NOMEM_FWD();
}

// ---- backward --------------------------------------------------------------------------------------

// dout: gradient of the layer's output; accumulates into dx (gradient of its input) and G.
static lethe_status layer_backward(const clip_text_layer *L, const clip_text_config *c, const float *P, float *G,
                                   lethe_arena *A, float *dx, const float *dout, int n, int seq) {
    const int rows = n * seq, H = c->hidden_size, I = c->intermediate_size, heads = c->num_attention_heads;
    const size_t sz = (size_t)rows * H, szi = (size_t)rows * I;
    arena_mark_t mark = arena_mark(A);
    float *dh = arena_floats(A, sz), *d_a1 = arena_zeros(A, szi), *d_f1 = arena_zeros(A, szi);
    float *d_u2 = arena_zeros(A, sz), *d_o = arena_zeros(A, sz), *d_u1 = arena_zeros(A, sz);
    float *dq = arena_zeros(A, sz), *dk = arena_zeros(A, sz), *dv = arena_zeros(A, sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder gradients");
    }
    // out = h + fc2(quick_gelu(fc1(ln2(h))))
    ops()->copy(dh, dout, sz);   // the residual path
    linear_bwd(&L->fc2, P, G, d_a1, dout, L->s.a1, rows);
    ops()->quick_gelu_backward(d_f1, d_a1, L->s.f1, szi);
    linear_bwd(&L->fc1, P, G, d_u2, d_f1, L->s.u2, rows);
    ln_bwd(&L->ln2, c, P, G, dh, d_u2, L->s.h, L->s.mean2, L->s.rstd2, rows);
    // h = x + out_proj(attention(q, k, v of ln1(x)))
    ops()->axpbz(dx, 1.0f, dx, 1.0f, dh, sz);   // the residual path
    linear_bwd(&L->out_proj, P, G, d_o, dh, L->s.o, rows);
    ops()->attention_backward(dq, dk, dv, d_o, L->s.q, L->s.k, L->s.v, L->s.probs, n, seq, seq, heads, H / heads,
                              attn_scale(c), 1);
    linear_bwd(&L->q_proj, P, G, d_u1, dq, L->s.u1, rows);
    linear_bwd(&L->k_proj, P, G, d_u1, dk, L->s.u1, rows);
    linear_bwd(&L->v_proj, P, G, d_u1, dv, L->s.u1, rows);
    ln_bwd(&L->ln1, c, P, G, dx, d_u1, L->s.x, L->s.mean1, L->s.rstd1, rows);
    arena_release(A, mark);
    return LETHE_OK;
}

lethe_status clip_text_backward(lethe_clip_text *m, const float *P, float *G, lethe_arena *A,
                                const float *d_last_hidden, const float *d_pooled) {
    const clip_text_config *c = &m->cfg;
    if (!m->s.train) return lethe_fail(LETHE_ERR_ARG, "clip_text_backward needs a training-mode forward first");
    if (!G || (!d_last_hidden && !d_pooled)) return LETHE_OK;
    const int n = m->s.n, seq = m->s.seq, rows = n * seq, H = c->hidden_size;
    const size_t sz = (size_t)rows * H;
    lethe_status st = LETHE_OK;
    arena_mark_t mark = arena_mark(A);
    float *d_last = arena_zeros(A, sz), *dh = arena_zeros(A, sz);
    float *d_raw = d_pooled ? arena_zeros(A, (size_t)n * H) : NULL;
    if (A->failed) goto nomem;
    if (d_last_hidden) ops()->copy(d_last, d_last_hidden, sz);
    if (d_pooled) {
        if (c->with_projection)
            ops()->linear_backward(d_raw, G + m->text_projection, NULL, d_pooled, m->s.pooled_raw, P + m->text_projection,
                                   n, H, c->projection_dim);
        else
            ops()->copy(d_raw, d_pooled, (size_t)n * H);
        // the gather's backward: each pooled row's gradient goes back to its EOS position
        for (int b = 0; b < n; b++) {
            float *row = d_last + ((size_t)b * seq + m->s.eos[b]) * H;
            ops()->axpbz(row, 1.0f, row, 1.0f, d_raw + (size_t)b * H, (size_t)H);
        }
    }
    ln_bwd(&m->final_ln, c, P, G, dh, d_last, m->s.h_final, m->s.mean_f, m->s.rstd_f, rows);
    for (int i = c->num_hidden_layers - 1; i >= 0; i--) {
        float *dprev = arena_zeros(A, sz);
        if (!dprev) goto nomem;
        if ((st = layer_backward(&m->layers[i], c, P, G, A, dprev, dh, n, seq))) goto done;
        dh = dprev;
    }
    embedding_bwd(&m->token_embedding, G, dh, m->s.ids, rows);
    embedding_bwd(&m->position_embedding, G, dh, m->s.pos_ids, rows);
done:
    arena_release(A, mark);
    return st;
nomem:
    arena_release(A, mark);
    return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder gradients");
}
