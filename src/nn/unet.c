/* unet.c: UNet2DModel construction, forward and backward (see unet.h). */
#include "nn/unet.h"

#include <stdio.h>
#include <string.h>

static int up_layers(const unet_config *c) { return c->layers_per_block + 1; }

// UNet2DModel's slots: its self-attention blocks
static void self_attention_maker(lethe_unet *m, param_table *t, const char *prefix, int c, int up, int i, int j,
                                 void *arg) {
    (void)arg;
    const unet_config *cfg = &m->cfg;
    if (i < 0) {
        int ag = cfg->attn_norm_num_groups > 0 ? cfg->attn_norm_num_groups : cfg->norm_num_groups;
        attention_make(&m->mid_attn, t, prefix, c, cfg->attention_head_dim, ag, cfg->norm_eps, cfg->mid_block_scale_factor);
    } else {
        attention_make(up ? &m->up_attn[i][j] : &m->down_attn[i][j], t, prefix, c, cfg->attention_head_dim,
                       cfg->norm_num_groups, cfg->norm_eps, 1.0f);
    }
}

lethe_status unet_build(lethe_unet *m, const unet_config *cfg) { return unet_build_custom(m, cfg, NULL, NULL); }

lethe_status unet_build_custom(lethe_unet *m, const unet_config *cfg, unet_attn_maker make, void *arg) {
    lethe_status st = unet_config_validate(cfg);
    if (st) return st;
    if (cfg->layers_per_block + 1 > UNET_MAX_LAYERS)
        return lethe_fail(LETHE_ERR_ARG, "layers_per_block %d exceeds lethe's limit of %d", cfg->layers_per_block,
                          UNET_MAX_LAYERS - 1);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (!make) make = self_attention_maker;
    param_table *t = &m->table;
    param_table_init(t);
    const int *b = cfg->block_out_channels, nb = cfg->n_blocks, G = cfg->norm_num_groups;
    const float eps = cfg->norm_eps;
    int E = m->temb_dim = unet_config_time_dim(cfg);
    char p[PARAM_NAME_MAX];
    int rid = 0;

    m->conv_in = conv2d_make(t, "conv_in", cfg->in_channels, b[0], 3, 1, 1);
    m->time_1 = linear_make(t, "time_embedding.linear_1", b[0], E);
    m->time_2 = linear_make(t, "time_embedding.linear_2", E, E);
    if (cfg->num_class_embeds > 0) m->class_emb = embedding_make(t, "class_embedding", cfg->num_class_embeds, E);

    for (int i = 0; i < nb; i++) {
        int cin = i == 0 ? b[0] : b[i - 1];
        for (int j = 0; j < cfg->layers_per_block; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j);
            resnet_make(&m->down_res[i][j], t, p, j == 0 ? cin : b[i], b[i], E, G, eps, 1.0f, cfg->dropout, rid++);
            if (cfg->down_attn[i]) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j);
                make(m, t, p, b[i], 0, i, j, arg);
            }
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            m->downsample[i] = conv2d_make(t, p, b[i], b[i], 3, 2, 1);
        }
    }
    if (cfg->has_mid_block) {
        int c = b[nb - 1];
        float s = cfg->mid_block_scale_factor;
        resnet_make(&m->mid_res[0], t, "mid_block.resnets.0", c, c, E, G, eps, s, cfg->dropout, rid++);
        if (cfg->add_attention) make(m, t, "mid_block.attentions.0", c, 0, -1, 0, arg);
        resnet_make(&m->mid_res[1], t, "mid_block.resnets.1", c, c, E, G, eps, s, cfg->dropout, rid++);
    }
    for (int i = 0; i < nb; i++) {
        int r_i = b[nb - 1 - i], prev = i == 0 ? b[nb - 1] : b[nb - i];
        int skip_in = b[nb - 1 - (i + 1 < nb ? i + 1 : nb - 1)];
        int L = up_layers(cfg);
        for (int j = 0; j < L; j++) {
            int in = (j == 0 ? prev : r_i) + (j == L - 1 ? skip_in : r_i);
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j);
            resnet_make(&m->up_res[i][j], t, p, in, r_i, E, G, eps, 1.0f, cfg->dropout, rid++);
            if (cfg->up_attn[i]) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j);
                make(m, t, p, r_i, 1, i, j, arg);
            }
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            m->upsample[i] = conv2d_make(t, p, r_i, r_i, 3, 1, 1);
        }
    }
    m->norm_out = group_norm_make(t, "conv_norm_out", b[0], G, eps);
    m->conv_out = conv2d_make(t, "conv_out", b[0], cfg->out_channels, 3, 1, 1);
    return LETHE_OK;
}

void unet_free(lethe_unet *m) { param_table_free(&m->table); }

size_t unet_num_params(const lethe_unet *m) {
    size_t s = 0;
    for (int i = 0; i < m->table.n; i++) s += m->table.entries[i].numel;
    return s;
}

// ---- forward ---------------------------------------------------------------------------

// a slot's attention: UNet2DModel's self-attention, or a Transformer2DModel reading the context
static float *slot_forward(lethe_unet *m, attention_block *a, transformer2d *tr, const float *P, const nn_ctx *ctx,
                           const float *x, int n, int hs) {
    if (tr) return transformer2d_forward(tr, P, ctx, x, n, hs, hs, m->s.context, m->s.seq);
    return attention_forward(a, P, ctx, x, n, hs, hs);
}

static lethe_status slot_backward(lethe_unet *m, attention_block *a, transformer2d *tr, const float *P, float *G,
                                  lethe_arena *A, float *dx, const float *dout) {
    if (tr) return transformer2d_backward(tr, P, G, A, dx, m->s.dcontext, dout);
    return attention_backward(a, P, G, A, dx, dout);
}

#define CHECK_ALLOC(p) do { if (!(p)) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet activations"); } while (0)

lethe_status unet_forward(lethe_unet *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                          const float *t, const int *labels, int n) {
    return unet_forward_ctx(m, P, ctx, eps, x, t, labels, NULL, 0, n);
}

lethe_status unet_forward_ctx(lethe_unet *m, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                              const float *t, const int *labels, const float *context, int seq, int n) {
    const unet_config *c = &m->cfg;
    lethe_arena *A = ctx->arena;
    const int *b = c->block_out_channels, nb = c->n_blocks, E = m->temb_dim, S = c->sample_size;
    if (c->num_class_embeds > 0 && !labels)
        return lethe_fail(LETHE_ERR_ARG, "this model is class-conditional: class labels are required");
    if (c->num_class_embeds == 0 && labels)
        return lethe_fail(LETHE_ERR_ARG, "this model is unconditional: it takes no class labels");
    for (int i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= c->num_class_embeds)
            return lethe_fail(LETHE_ERR_ARG, "class label %d out of range [0, %d)", labels[i], c->num_class_embeds);

    m->s.n = n;
    m->s.train = ctx->train;
    m->s.context = context;
    m->s.seq = seq;
    float *tc = arena_floats(A, (size_t)n);
    int *lc = labels ? (int *)arena_floats(A, (size_t)n) : NULL;
    CHECK_ALLOC(tc);
    // t and labels are host arrays; the ops read them from backend memory
    ops()->to_device(tc, t, (size_t)n * sizeof *t);
    if (lc) ops()->to_device(lc, labels, (size_t)n * sizeof *labels);
    m->s.t = tc;
    m->s.labels = lc;

    // time (+ class) embedding
    float *temb = arena_floats(A, (size_t)n * b[0]), *e1 = arena_floats(A, (size_t)n * E);
    float *e1a = arena_floats(A, (size_t)n * E), *emb = arena_floats(A, (size_t)n * E);
    float *emb_act = arena_floats(A, (size_t)n * E);
    CHECK_ALLOC(emb_act);
    ops()->timestep_embedding_forward(temb, tc, n, b[0], c->flip_sin_to_cos, c->freq_shift);
    linear_fwd(&m->time_1, P, e1, temb, n);
    ops()->silu_forward(e1a, e1, (size_t)n * E);
    linear_fwd(&m->time_2, P, emb, e1a, n);
    if (lc) {
        float *ce = arena_floats(A, (size_t)n * E);
        CHECK_ALLOC(ce);
        embedding_fwd(&m->class_emb, P, ce, lc, n);
        ops()->axpbz(emb, 1.0f, emb, 1.0f, ce, (size_t)n * E);
    }
    ops()->silu_forward(emb_act, emb, (size_t)n * E);
    m->s.temb = temb; m->s.e1 = e1; m->s.e1a = e1a; m->s.emb = emb; m->s.emb_act = emb_act;

    const float *xin = x;
    if (c->center_input_sample) {
        size_t sz = (size_t)n * c->in_channels * S * S;
        float *xc = arena_floats(A, sz);
        CHECK_ALLOC(xc);
        ops()->fill(xc, -1.0f, sz);
        ops()->axpbz(xc, 2.0f, x, 1.0f, xc, sz);
        xin = xc;
    }
    m->s.x = xin;

    // down path: every activation pushed is a skip
    int ns = 0, hs = S;
    float *h = arena_floats(A, (size_t)n * b[0] * S * S);
    CHECK_ALLOC(h);
    conv2d_fwd(&m->conv_in, P, h, xin, n, S, S);
    m->s.skip[ns] = h; m->s.skip_c[ns] = b[0]; m->s.skip_h[ns] = S; ns++;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < c->layers_per_block; j++) {
            h = resnet_forward(&m->down_res[i][j], P, ctx, h, emb_act, n, hs, hs);
            CHECK_ALLOC(h);
            if (c->down_attn[i]) { h = slot_forward(m, &m->down_attn[i][j], m->down_tr[i][j], P, ctx, h, n, hs); CHECK_ALLOC(h); }
            m->s.skip[ns] = h; m->s.skip_c[ns] = b[i]; m->s.skip_h[ns] = hs; ns++;
        }
        if (i < nb - 1) {
            int ho = conv2d_layer_out(&m->downsample[i], hs);
            float *d = arena_floats(A, (size_t)n * b[i] * ho * ho);
            CHECK_ALLOC(d);
            conv2d_fwd(&m->downsample[i], P, d, h, n, hs, hs);
            h = d;
            hs = ho;
            m->s.skip[ns] = h; m->s.skip_c[ns] = b[i]; m->s.skip_h[ns] = hs; ns++;
        }
    }
    m->s.n_skips = ns;

    if (c->has_mid_block) {
        h = resnet_forward(&m->mid_res[0], P, ctx, h, emb_act, n, hs, hs);
        CHECK_ALLOC(h);
        if (c->add_attention) { h = slot_forward(m, &m->mid_attn, m->mid_tr, P, ctx, h, n, hs); CHECK_ALLOC(h); }
        h = resnet_forward(&m->mid_res[1], P, ctx, h, emb_act, n, hs, hs);
        CHECK_ALLOC(h);
    }

    // up path: concat [h, skip] (h first), resnet [+ attention]; then upsample
    int hc = b[nb - 1], sp = ns;
    for (int i = 0; i < nb; i++) {
        int r_i = b[nb - 1 - i];
        for (int j = 0; j < up_layers(c); j++) {
            sp--;
            int sc = m->s.skip_c[sp];
            float *cat = arena_floats(A, (size_t)n * (hc + sc) * hs * hs);
            CHECK_ALLOC(cat);
            ops()->concat_forward(cat, h, m->s.skip[sp], n, hc, sc, hs * hs);
            h = resnet_forward(&m->up_res[i][j], P, ctx, cat, emb_act, n, hs, hs);
            CHECK_ALLOC(h);
            if (c->up_attn[i]) { h = slot_forward(m, &m->up_attn[i][j], m->up_tr[i][j], P, ctx, h, n, hs); CHECK_ALLOC(h); }
            hc = r_i;
        }
        if (i < nb - 1) {
            float *u = arena_floats(A, (size_t)n * hc * 4 * hs * hs);
            float *o = arena_floats(A, (size_t)n * hc * 4 * hs * hs);
            CHECK_ALLOC(o);
            ops()->upsample2x_forward(u, h, n, hc, hs, hs);
            conv2d_fwd(&m->upsample[i], P, o, u, n, 2 * hs, 2 * hs);
            m->s.up_in[i] = h; m->s.up_u[i] = u; m->s.up_h[i] = hs;
            h = o;
            hs *= 2;
        }
    }

    // out: conv_out(silu(GN(h)))
    size_t sz = (size_t)n * b[0] * S * S;
    float *no = arena_floats(A, sz), *ao = arena_floats(A, sz);
    float *mean = arena_floats(A, (size_t)n * c->norm_num_groups), *rstd = arena_floats(A, (size_t)n * c->norm_num_groups);
    CHECK_ALLOC(rstd);
    group_norm_silu_fwd(&m->norm_out, P, no, ao, mean, rstd, h, n, S * S);
    conv2d_fwd(&m->conv_out, P, eps, ao, n, S, S);
    m->s.h_final = h; m->s.no = no; m->s.mean_o = mean; m->s.rstd_o = rstd; m->s.ao = ao;
    if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet activations");
    return LETHE_OK;
}

// ---- backward ---------------------------------------------------------------------------

lethe_status unet_backward(lethe_unet *m, const float *P, float *G, lethe_arena *A, const float *deps, float *dx) {
    return unet_backward_ctx(m, P, G, A, deps, dx, NULL);
}

lethe_status unet_backward_ctx(lethe_unet *m, const float *P, float *G, lethe_arena *A, const float *deps, float *dx,
                               float *dcontext) {
    const unet_config *c = &m->cfg;
    const int *b = c->block_out_channels, nb = c->n_blocks, E = m->temb_dim, S = c->sample_size, n = m->s.n;
    if (!m->s.train) return lethe_fail(LETHE_ERR_ARG, "unet_backward needs a training-mode forward first");
    m->s.dcontext = dcontext;
    lethe_status st;
    arena_mark_t mark = arena_mark(A);

    float *d_emb_act = arena_zeros(A, (size_t)n * E);
    float *d_skip[UNET_MAX_SKIPS];
    for (int k = 0; k < m->s.n_skips; k++) {
        int hk = m->s.skip_h[k];
        d_skip[k] = arena_zeros(A, (size_t)n * m->s.skip_c[k] * hk * hk);
    }
    size_t sz = (size_t)n * b[0] * S * S;
    float *d_ao = arena_zeros(A, sz), *d_no = arena_zeros(A, sz), *dh = arena_zeros(A, sz);
    if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");

    conv2d_bwd(&m->conv_out, P, G, d_ao, deps, m->s.ao, n, S, S);
    ops()->silu_backward(d_no, d_ao, m->s.no, sz);
    group_norm_bwd(&m->norm_out, P, G, dh, d_no, m->s.h_final, m->s.mean_o, m->s.rstd_o, n, S * S);

    // up path, reversed. sp walks the skips in the order they were popped, backwards.
    int sp = 0;
    for (int i = nb - 1; i >= 0; i--) {
        int r_i = b[nb - 1 - i];
        if (i < nb - 1) {
            int hs = m->s.up_h[i];
            float *d_u = arena_zeros(A, (size_t)n * r_i * 4 * hs * hs);
            float *d_in = arena_zeros(A, (size_t)n * r_i * hs * hs);
            if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
            conv2d_bwd(&m->upsample[i], P, G, d_u, dh, m->s.up_u[i], n, 2 * hs, 2 * hs);
            ops()->upsample2x_backward(d_in, d_u, n, r_i, hs, hs);
            dh = d_in;
        }
        for (int j = up_layers(c) - 1; j >= 0; j--) {
            // Forward popped skips n_skips-1, n_skips-2, ... in layer order; walking the
            // layers backwards meets them as skip 0, 1, 2, ...
            int k = sp++;
            resnet_block *r = &m->up_res[i][j];
            int hs = r->s.h;
            size_t out_sz = (size_t)n * r_i * hs * hs;
            if (c->up_attn[i]) {
                float *d_r = arena_zeros(A, out_sz);
                if (!d_r) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
                if ((st = slot_backward(m, &m->up_attn[i][j], m->up_tr[i][j], P, G, A, d_r, dh))) return st;
                dh = d_r;
            }
            int sc = m->s.skip_c[k], hc = r->ci - sc;
            float *d_cat = arena_zeros(A, (size_t)n * r->ci * hs * hs);
            float *d_prev = arena_zeros(A, (size_t)n * hc * hs * hs);
            if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
            if ((st = resnet_backward(r, P, G, A, d_cat, d_emb_act, dh))) return st;
            ops()->concat_backward(d_prev, d_skip[k], d_cat, n, hc, sc, hs * hs);
            dh = d_prev;
        }
    }

    int top = m->s.n_skips - 1;
    if (c->has_mid_block) {
        int hs = m->s.skip_h[top];
        size_t msz = (size_t)n * b[nb - 1] * hs * hs;
        float *d1 = arena_zeros(A, msz);
        if (!d1) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
        if ((st = resnet_backward(&m->mid_res[1], P, G, A, d1, d_emb_act, dh))) return st;
        if (c->add_attention) {
            float *d2 = arena_zeros(A, msz);
            if (!d2) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
            if ((st = slot_backward(m, &m->mid_attn, m->mid_tr, P, G, A, d2, d1))) return st;
            d1 = d2;
        }
        if ((st = resnet_backward(&m->mid_res[0], P, G, A, d_skip[top], d_emb_act, d1))) return st;
    } else {
        int hs = m->s.skip_h[top];
        ops()->axpbz(d_skip[top], 1.0f, d_skip[top], 1.0f, dh, (size_t)n * b[nb - 1] * hs * hs);
    }

    // down path, reversed: skip k was made from skip k-1 by a downsampler or resnet [+ attention]
    int k = top;
    for (int i = nb - 1; i >= 0; i--) {
        if (i < nb - 1) {
            int hs = m->s.skip_h[k - 1];
            conv2d_bwd(&m->downsample[i], P, G, d_skip[k - 1], d_skip[k], m->s.skip[k - 1], n, hs, hs);
            k--;
        }
        for (int j = c->layers_per_block - 1; j >= 0; j--) {
            const float *dout = d_skip[k];
            if (c->down_attn[i]) {
                int hs = m->s.skip_h[k];
                float *d_r = arena_zeros(A, (size_t)n * b[i] * hs * hs);
                if (!d_r) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
                if ((st = slot_backward(m, &m->down_attn[i][j], m->down_tr[i][j], P, G, A, d_r, dout))) return st;
                dout = d_r;
            }
            if ((st = resnet_backward(&m->down_res[i][j], P, G, A, d_skip[k - 1], d_emb_act, dout))) return st;
            k--;
        }
    }

    // conv_in
    float *dxc = dx;
    if (dx && c->center_input_sample) dxc = arena_zeros(A, (size_t)n * c->in_channels * S * S);
    conv2d_bwd(&m->conv_in, P, G, dxc, d_skip[0], m->s.x, n, S, S);
    if (dx && c->center_input_sample) ops()->axpbz(dx, 1.0f, dx, 2.0f, dxc, (size_t)n * c->in_channels * S * S);

    // embeddings
    float *d_emb = arena_zeros(A, (size_t)n * E), *d_e1a = arena_zeros(A, (size_t)n * E), *d_e1 = arena_zeros(A, (size_t)n * E);
    if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for UNet gradients");
    ops()->silu_backward(d_emb, d_emb_act, m->s.emb, (size_t)n * E);
    if (m->s.labels) embedding_bwd(&m->class_emb, G, d_emb, m->s.labels, n);
    linear_bwd(&m->time_2, P, G, d_e1a, d_emb, m->s.e1a, n);
    ops()->silu_backward(d_e1, d_e1a, m->s.e1, (size_t)n * E);
    linear_bwd(&m->time_1, P, G, NULL, d_e1, m->s.temb, n);

    arena_release(A, mark);
    return LETHE_OK;
}
