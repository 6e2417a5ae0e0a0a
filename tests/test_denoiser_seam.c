/*
 * test_denoiser_seam.c: the forward process, the conditioning type and the network seam.
 *
 * - schedule_add_noise_at is x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps row by row, bit for
 *   bit as the per-row op with schedule_noise_coefs (also past its 64-row chunks), and
 *   schedule_add_noise draws t and eps from the streams it is given;
 * - lethe_cond: allocation to null rows, dropping with p (the keyed draws), [cond; null],
 *   row selection and copies, for class labels and for token rows (a named class becomes its
 *   prompt's encoding); an unconditional spec has no null and its helpers change nothing;
 * - a UNet clone (denoiser_clone) predicts what the model's own instance predicts;
 * - a second network, a per-pixel MLP with a class embedding (below): its
 *   backward matches central differences, and it goes through train_run (the denoising loss
 *   of every class falls), the sampler (guided DDIM: the class decides the grey level of the
 *   samples) and the unlearning loop with gradient ascent (the forget class's loss rises
 *   more than the retained ones', the weights change, the result is saved as a ToyMLP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "core/fsutil.h"
#include "core/rng.h"
#include "diffusion/denoiser.h"
#include "diffusion/generate.h"
#include "diffusion/model.h"
#include "diffusion/train.h"
#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"

// ----------------------------------------------------------------------------
/*
 * the toy network: a second network behind the seam (diffusion/denoiser.h), to show that
 * training, sampling and unlearning need nothing of the UNet. A per-pixel MLP, built from
 * ops, with a class embedding (the last class is the null class):
 *
 *   e   = linear(sinusoid(t)) [+ class_embedding[c]]           (n, H)
 *   h   = conv1x1(x; C -> H) + e broadcast over pixels          (n, H, S*S)
 *   eps = conv1x1(silu(h); H -> C)                              (n, C, S, S)
 *
 * A training-mode forward keeps te, h, silu(h), x and the labels for the backward.
 */

#define MLP_HIDDEN 32
#define MLP_TDIM 32

typedef struct {
    param_table table;
    int channels, size, classes;            // classes: real ones; class `classes` is the null class
    size_t o_wt, o_bt, o_emb, o_w1, o_b1, o_w2, o_b2;
    // saved by a training forward
    int n;
    const float *x;
    float *te, *h, *a;
    int *labels, labels_cap;
} toy_mlp;

static inline conv2d_shape mlp_in_shape(const toy_mlp *m, int n) {
    return (conv2d_shape){.n = n, .ci = m->channels, .h = m->size, .w = m->size, .co = MLP_HIDDEN, .kh = 1, .kw = 1,
                          .stride = 1, .pad = 0};
}
static inline conv2d_shape mlp_out_shape(const toy_mlp *m, int n) {
    return (conv2d_shape){.n = n, .ci = MLP_HIDDEN, .h = m->size, .w = m->size, .co = m->channels, .kh = 1, .kw = 1,
                          .stride = 1, .pad = 0};
}

static lethe_status mlp_forward(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                                const float *t, const lethe_cond *c, int n) {
    toy_mlp *m = d->net;
    const int H = MLP_HIDDEN, D = MLP_TDIM, SS = m->size * m->size;
    lethe_arena *A = ctx->arena;
    float *te = arena_floats(A, (size_t)n * D), *e = arena_floats(A, (size_t)n * H), *ce = arena_floats(A, (size_t)n * H);
    float *h = arena_floats(A, (size_t)n * H * SS), *a = arena_floats(A, (size_t)n * H * SS);
    if (!te || !e || !ce || !h || !a) return lethe_fail(LETHE_ERR_NOMEM, "toy mlp: out of memory");
    ops()->timestep_embedding_forward(te, t, n, D, 1, 0.0f);
    ops()->linear_forward(e, te, W + m->o_wt, W + m->o_bt, n, D, H);
    if (m->classes > 0) {
        if (!c || c->spec.kind != LETHE_COND_CLASS) return lethe_fail(LETHE_ERR_ARG, "toy mlp: needs class labels");
        ops()->embedding_forward(ce, c->labels, W + m->o_emb, n, H);
        ops()->axpbz(e, 1.0f, e, 1.0f, ce, (size_t)n * H);
    }
    conv2d_shape s1 = mlp_in_shape(m, n), s2 = mlp_out_shape(m, n);
    ops()->conv2d_forward(h, x, W + m->o_w1, W + m->o_b1, &s1);
    ops()->add_channel_bias_forward(h, e, n, H, SS);
    ops()->silu_forward(a, h, (size_t)n * H * SS);
    ops()->conv2d_forward(eps, a, W + m->o_w2, W + m->o_b2, &s2);
    if (ctx->train) {
        if (m->classes > 0) {
            if (n > m->labels_cap) {
                int *l = realloc(m->labels, (size_t)n * sizeof(int));
                if (!l) return lethe_fail(LETHE_ERR_NOMEM, "toy mlp: out of memory");
                m->labels = l;
                m->labels_cap = n;
            }
            memcpy(m->labels, c->labels, (size_t)n * sizeof(int));
        }
        m->n = n;
        m->x = x;
        m->te = te;
        m->h = h;
        m->a = a;
    }
    return LETHE_OK;
}

static lethe_status mlp_backward(lethe_denoiser *d, const float *W, float *G, lethe_arena *A, const float *deps,
                                 float *dx) {
    toy_mlp *m = d->net;
    const int n = m->n, H = MLP_HIDDEN, D = MLP_TDIM, SS = m->size * m->size;
    float *da = arena_zeros(A, (size_t)n * H * SS), *dh = arena_zeros(A, (size_t)n * H * SS), *de = arena_zeros(A, (size_t)n * H);
    if (!da || !dh || !de) return lethe_fail(LETHE_ERR_NOMEM, "toy mlp: out of memory");
    conv2d_shape s1 = mlp_in_shape(m, n), s2 = mlp_out_shape(m, n);
    ops()->conv2d_backward(da, G ? G + m->o_w2 : NULL, G ? G + m->o_b2 : NULL, deps, m->a, W + m->o_w2, &s2);
    ops()->silu_backward(dh, da, m->h, (size_t)n * H * SS);
    ops()->add_channel_bias_backward(de, dh, n, H, SS);
    ops()->conv2d_backward(dx, G ? G + m->o_w1 : NULL, G ? G + m->o_b1 : NULL, dh, m->x, W + m->o_w1, &s1);
    if (G) {
        ops()->linear_backward(NULL, G + m->o_wt, G + m->o_bt, de, m->te, W + m->o_wt, n, D, H);
        if (m->classes > 0) ops()->embedding_backward(G + m->o_emb, de, m->labels, n, H);
    }
    return LETHE_OK;
}

static void toy_mlp_bind(lethe_denoiser *d, toy_mlp *m);

static void mlp_release(lethe_denoiser *d) {
    toy_mlp *m = d->net;
    param_table_free(&m->table);
    free(m->labels);
    free(m);
}

static toy_mlp *toy_mlp_new(int channels, int size, int classes) {
    toy_mlp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->channels = channels;
    m->size = size;
    m->classes = classes;
    param_table *t = &m->table;
    param_table_init(t);
    const int H = MLP_HIDDEN, D = MLP_TDIM;
    m->o_wt = param_table_add(t, "time.weight", 2, (int64_t[]){H, D}, PARAM_INIT_UNIFORM_FAN_IN, D);
    m->o_bt = param_table_add(t, "time.bias", 1, (int64_t[]){H}, PARAM_INIT_UNIFORM_FAN_IN, D);
    if (classes > 0) m->o_emb = param_table_add(t, "class.weight", 2, (int64_t[]){classes + 1, H}, PARAM_INIT_NORMAL, 0);
    m->o_w1 = param_table_add(t, "in.weight", 4, (int64_t[]){H, channels, 1, 1}, PARAM_INIT_UNIFORM_FAN_IN, channels);
    m->o_b1 = param_table_add(t, "in.bias", 1, (int64_t[]){H}, PARAM_INIT_UNIFORM_FAN_IN, channels);
    m->o_w2 = param_table_add(t, "out.weight", 4, (int64_t[]){channels, H, 1, 1}, PARAM_INIT_UNIFORM_FAN_IN, H);
    m->o_b2 = param_table_add(t, "out.bias", 1, (int64_t[]){channels}, PARAM_INIT_UNIFORM_FAN_IN, H);
    return m;
}

static lethe_status mlp_clone(const lethe_denoiser *d, lethe_denoiser *out) {
    const toy_mlp *src = d->net;
    toy_mlp *m = toy_mlp_new(src->channels, src->size, src->classes);
    if (!m) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    toy_mlp_bind(out, m);
    out->owns_net = 1;
    return LETHE_OK;
}

static char *mlp_config_json(const lethe_denoiser *d) {
    const toy_mlp *m = d->net;
    char *s = malloc(160);
    if (s) snprintf(s, 160, "{\"_class_name\": \"ToyMLP\", \"channels\": %d, \"size\": %d, \"classes\": %d, \"hidden\": %d}",
                    m->channels, m->size, m->classes, MLP_HIDDEN);
    return s;
}

static const lethe_denoiser_vtable toy_mlp_vtable = {
    .name = "ToyMLP", .forward = mlp_forward, .backward = mlp_backward, .clone = mlp_clone,
    .release = mlp_release, .config_json = mlp_config_json,
};

static void toy_mlp_bind(lethe_denoiser *d, toy_mlp *m) {
    *d = (lethe_denoiser){.vt = &toy_mlp_vtable, .net = m, .table = &m->table, .channels = m->channels, .size = m->size};
    d->cond = m->classes > 0 ? (lethe_cond_spec){.kind = LETHE_COND_CLASS, .null_class = m->classes}
                             : (lethe_cond_spec){.kind = LETHE_COND_NONE, .null_class = -1};
}

// A denoiser owning a new toy network (denoiser_free releases it); NULL-safe on failure.
static inline lethe_status toy_mlp_denoiser(lethe_denoiser *d, int channels, int size, int classes) {
    toy_mlp *m = toy_mlp_new(channels, size, classes);
    if (!m) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    toy_mlp_bind(d, m);
    d->owns_net = 1;
    return LETHE_OK;
}

// ----------------------------------------------------------------------------
// the forward process

static void test_add_noise(void **state) {
    (void)state;
    schedule_config sc;
    schedule_config_default(&sc);
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &sc), LETHE_OK);
    const int n = 150;   // more than one chunk of rows
    const size_t numel = 12, sz = (size_t)n * numel;
    float *x0 = ops()->alloc(sz * sizeof(float)), *eps = ops()->alloc(sz * sizeof(float));
    float *xt = ops()->alloc(sz * sizeof(float)), *want = ops()->alloc(sz * sizeof(float));
    float *t = malloc(n * sizeof(float)), *ca = malloc(n * sizeof(float)), *cb = malloc(n * sizeof(float));
    ops()->randn(x0, sz, 1, 2, 0);
    ops()->randn(eps, sz, 1, 3, 0);
    for (int i = 0; i < n; i++) {
        t[i] = (float)((i * 37) % 1000);
        schedule_noise_coefs(&s, (int)t[i], &ca[i], &cb[i]);
        assert_true(ca[i] == (float)sqrt((double)schedule_abar(&s, (int)t[i])));
        assert_true(cb[i] == (float)sqrt(1.0 - (double)schedule_abar(&s, (int)t[i])));
    }
    ops()->axpbz_rows(want, ca, x0, cb, eps, n, numel);
    schedule_add_noise_at(&s, xt, x0, eps, t, n, numel);
    assert_memory_equal(xt, want, sz * sizeof(float));

    // with its draws: t from (seed, t_stream) in [lo, hi), eps from (seed, noise_stream)
    float *t2 = malloc(n * sizeof(float)), *eps2 = ops()->alloc(sz * sizeof(float));
    schedule_add_noise(&s, xt, t2, eps2, x0, n, numel, 100, 300, 9, 41, 42);
    ops()->randn(eps, sz, 9, 42, 0);
    assert_memory_equal(eps2, eps, sz * sizeof(float));
    for (int i = 0; i < n; i++) {
        assert_true(t2[i] == (float)(100 + (int)lethe_rand_below(9, 41, (uint64_t)i, 200)));
        assert_true(t2[i] >= 100 && t2[i] < 300);
    }
    schedule_add_noise_at(&s, want, x0, eps, t2, n, numel);
    assert_memory_equal(xt, want, sz * sizeof(float));

    ops()->release(x0); ops()->release(eps); ops()->release(xt); ops()->release(want); ops()->release(eps2);
    free(t); free(ca); free(cb); free(t2);
    schedule_free(&s);
}

// ----------------------------------------------------------------------------
// conditioning

static void test_cond_class(void **state) {
    (void)state;
    const lethe_cond_spec spec = {.kind = LETHE_COND_CLASS, .null_class = 5};
    assert_true(cond_has_null(&spec));
    lethe_cond c, d;
    assert_int_equal(cond_alloc(&c, &spec, 8), LETHE_OK);
    assert_int_equal(cond_alloc(&d, &spec, 16), LETHE_OK);
    for (int i = 0; i < 8; i++) assert_int_equal(c.labels[i], 5);   // allocated rows are null
    const int labels[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    cond_set_classes(&c, labels, 8);
    assert_int_equal(c.n, 8);
    assert_memory_equal(c.labels, labels, sizeof labels);

    cond_drop(&c, 0.0f, 3, 4);
    assert_memory_equal(c.labels, labels, sizeof labels);
    cond_drop(&c, 0.5f, 3, 4);   // the keyed draw decides each row
    int dropped = 0;
    for (int i = 0; i < 8; i++) {
        int want = lethe_rand_uniform(3, 4, (uint64_t)i) < 0.5f ? 5 : labels[i];
        assert_int_equal(c.labels[i], want);
        dropped += want == 5;
    }
    assert_true(dropped > 0 && dropped < 8);
    cond_drop(&c, 1.0f, 3, 5);
    for (int i = 0; i < 8; i++) assert_int_equal(c.labels[i], 5);

    cond_set_classes(&c, labels, 3);
    cond_concat_null(&d, &c);   // [c; null]
    assert_int_equal(d.n, 6);
    const int want2[6] = {0, 1, 2, 5, 5, 5};
    assert_memory_equal(d.labels, want2, sizeof want2);
    const int idx[4] = {2, 2, 0, 1};
    cond_set_classes(&c, labels, 8);
    cond_select(&d, &c, idx, 4);
    const int want3[4] = {2, 2, 0, 1};
    assert_int_equal(d.n, 4);
    assert_memory_equal(d.labels, want3, sizeof want3);
    cond_fill_class(&d, 3, 7);
    for (int i = 0; i < 7; i++) assert_int_equal(d.labels[i], 3);
    cond_copy(&d, &c);
    assert_memory_equal(d.labels, labels, sizeof labels);

    lethe_cond v = cond_class_view(&spec, labels, 8);
    assert_ptr_equal(v.labels, labels);
    assert_int_equal(v.cap, 0);
    cond_free(&v);   // a view: nothing to free
    assert_ptr_equal((const int *)labels, labels);
    cond_free(&c);
    cond_free(&d);

    // unconditional: no null, helpers leave the (absent) rows alone
    const lethe_cond_spec none = {.kind = LETHE_COND_NONE, .null_class = -1};
    assert_false(cond_has_null(&none));
    assert_int_equal(cond_alloc(&c, &none, 4), LETHE_OK);
    assert_null(c.labels);
    cond_drop(&c, 1.0f, 1, 1);
    cond_fill_class(&c, 2, 4);
    assert_int_equal(c.n, 4);
    cond_free(&c);
}

static void test_cond_tokens(void **state) {
    (void)state;
    enum { SEQ = 3, WIDTH = 2, ROW = SEQ * WIDTH };
    float null_host[ROW] = {-1, -2, -3, -4, -5, -6};
    float *null_dev = ops()->alloc(sizeof null_host);
    ops()->to_device(null_dev, null_host, sizeof null_host);
    const lethe_cond_spec spec = {.kind = LETHE_COND_TOKENS, .seq = SEQ, .width = WIDTH, .null_tokens = null_dev};
    assert_true(cond_has_null(&spec));
    lethe_cond c, d;
    assert_int_equal(cond_alloc(&c, &spec, 3), LETHE_OK);
    assert_int_equal(cond_alloc(&d, &spec, 6), LETHE_OK);
    float h[6 * ROW];
    ops()->to_host(h, c.tokens, 3 * ROW * sizeof(float));
    for (int i = 0; i < 3; i++) assert_memory_equal(h + i * ROW, null_host, sizeof null_host);   // null rows
    for (int i = 0; i < 3 * ROW; i++) h[i] = (float)i;
    ops()->to_device(c.tokens, h, 3 * ROW * sizeof(float));   // rows 0, 1, 2: 0..5, 6..11, 12..17
    cond_concat_null(&d, &c);
    assert_int_equal(d.n, 6);
    ops()->to_host(h, d.tokens, 6 * ROW * sizeof(float));
    for (int i = 0; i < 3 * ROW; i++) assert_true(h[i] == (float)i);
    for (int i = 3; i < 6; i++) assert_memory_equal(h + i * ROW, null_host, sizeof null_host);
    const int idx[2] = {2, 0};
    cond_select(&d, &c, idx, 2);
    ops()->to_host(h, d.tokens, 2 * ROW * sizeof(float));
    for (int e = 0; e < ROW; e++) {
        assert_true(h[e] == (float)(2 * ROW + e));
        assert_true(h[ROW + e] == (float)e);
    }
    cond_drop(&c, 1.0f, 1, 2);
    ops()->to_host(h, c.tokens, 3 * ROW * sizeof(float));
    for (int i = 0; i < 3; i++) assert_memory_equal(h + i * ROW, null_host, sizeof null_host);
    cond_free(&c);
    cond_free(&d);

    // a class named by code (the class to forget) becomes its prompt's encoding
    float prompts_host[2 * ROW];
    for (int i = 0; i < 2 * ROW; i++) prompts_host[i] = 100.0f + (float)i;
    float *prompts = ops()->alloc(sizeof prompts_host);
    ops()->to_device(prompts, prompts_host, sizeof prompts_host);
    lethe_cond_spec named = spec;
    named.class_tokens = prompts;
    named.n_classes = 2;
    assert_int_equal(cond_alloc(&c, &named, 3), LETHE_OK);
    const int classes[3] = {1, 0, 1};
    cond_set_classes(&c, classes, 3);
    ops()->to_host(h, c.tokens, 3 * ROW * sizeof(float));
    for (int i = 0; i < 3; i++) assert_memory_equal(h + i * ROW, prompts_host + classes[i] * ROW, ROW * sizeof(float));
    cond_free(&c);
    ops()->release(prompts);
    ops()->release(null_dev);
}

// ----------------------------------------------------------------------------
// the UNet behind the seam: a clone predicts what the model's instance predicts

static void test_unet_clone(void **state) {
    (void)state;
    unet_config cfg;
    unet_config_named(&cfg, "tiny");
    cfg.sample_size = 8;
    cfg.block_out_channels[0] = 8;
    cfg.block_out_channels[1] = 16;
    cfg.norm_num_groups = 4;
    cfg.num_class_embeds = 4;
    lethe_model m;
    assert_int_equal(model_create(&m, &cfg, 3), LETHE_OK);
    assert_int_equal(m.net.cond.kind, LETHE_COND_CLASS);
    assert_int_equal(m.net.cond.null_class, 3);
    assert_int_equal(m.n_classes, 3);
    assert_int_equal((int)denoiser_numel(&m.net), 64);
    lethe_denoiser twin;
    assert_int_equal(denoiser_clone(&m.net, &twin), LETHE_OK);
    assert_int_equal((int)denoiser_num_params(&twin), (int)denoiser_num_params(&m.net));
    const int n = 3;
    const size_t sz = n * 64;
    float *x = ops()->alloc(sz * sizeof(float)), *e1 = ops()->alloc(sz * sizeof(float)), *e2 = ops()->alloc(sz * sizeof(float));
    ops()->randn(x, sz, 5, 6, 0);
    const float t[3] = {10, 500, 990};
    const int labels[3] = {0, 2, 3};
    const lethe_cond c = cond_class_view(&m.net.cond, labels, n);
    denoiser_infer a, b;
    denoiser_infer_init(&a, &m.net, m.params);
    denoiser_infer_init(&b, &twin, m.params);
    assert_int_equal(denoiser_infer_eps(&a, e1, x, t, &c, n), LETHE_OK);
    assert_int_equal(denoiser_infer_eps(&b, e2, x, t, &c, n), LETHE_OK);
    assert_memory_equal(e1, e2, sz * sizeof(float));
    assert_int_equal(a.evaluations, n);
    char *cfg_json = model_net_config(&m);
    assert_non_null(strstr(cfg_json, "\"num_class_embeds\""));
    free(cfg_json);
    denoiser_infer_free(&a);
    denoiser_infer_free(&b);
    denoiser_free(&twin);
    ops()->release(x); ops()->release(e1); ops()->release(e2);
    model_free(&m);
}

// ----------------------------------------------------------------------------
// the toy network

// sum(eps * r) for a fixed r: a scalar whose gradient is r pulled back
static double toy_objective(lethe_denoiser *d, const float *W, const float *x, const float *t, const lethe_cond *c, int n,
                            const float *r, float *eps, lethe_arena *A) {
    arena_reset(A);
    nn_ctx ctx = {.arena = A, .train = 0};
    assert_int_equal(denoiser_forward(d, W, &ctx, eps, x, t, c, n), LETHE_OK);
    size_t sz = (size_t)n * denoiser_numel(d);
    double s = 0;
    for (size_t i = 0; i < sz; i++) s += (double)eps[i] * r[i];
    return s;
}

static void test_toy_gradients(void **state) {
    (void)state;
    if (strcmp(ops()->name, "cpu") != 0) skip();   // host pointers below
    lethe_denoiser d;
    assert_int_equal(toy_mlp_denoiser(&d, 2, 3, 3), LETHE_OK);
    const size_t P = denoiser_num_params(&d);
    const int n = 2;
    const size_t sz = n * denoiser_numel(&d);
    float *W = ops()->alloc(P * sizeof(float)), *G = ops()->alloc(P * sizeof(float));
    float *x = ops()->alloc(sz * sizeof(float)), *dx = ops()->alloc(sz * sizeof(float));
    float *eps = malloc(sz * sizeof(float)), *r = malloc(sz * sizeof(float));
    float *host = malloc(P * sizeof(float));
    param_table_init_values(d.table, host, 4);
    ops()->to_device(W, host, P * sizeof(float));
    ops()->randn(x, sz, 1, 1, 0);
    for (size_t i = 0; i < sz; i++) r[i] = lethe_rand_normal(2, 2, i);
    const float t[2] = {30, 700};
    const int labels[2] = {1, 3};   // 3: the null class
    const lethe_cond c = cond_class_view(&d.cond, labels, n);
    lethe_arena A;
    arena_init(&A);
    nn_ctx ctx = {.arena = &A, .train = 1};
    assert_int_equal(denoiser_forward(&d, W, &ctx, eps, x, t, &c, n), LETHE_OK);
    assert_int_equal(denoiser_backward(&d, W, G, &A, r, dx), LETHE_OK);
    // every tensor's first element and dx against central differences (double sums of float outputs)
    const float h = 1e-2f;
    int checked = 0;
    for (int k = 0; k < d.table->n; k++) {
        size_t j = d.table->entries[k].offset;
        float keep = W[j];
        W[j] = keep + h;
        double up = toy_objective(&d, W, x, t, &c, n, r, eps, &A);
        W[j] = keep - h;
        double down = toy_objective(&d, W, x, t, &c, n, r, eps, &A);
        W[j] = keep;
        double fd = (up - down) / (2.0 * h);
        if (fabs(fd - G[j]) > 2e-3 * fmax(1.0, fabs(fd)))
            fail_msg("%s[0]: backward %g, central difference %g", d.table->entries[k].name, (double)G[j], fd);
        checked++;
    }
    for (size_t j = 0; j < sz; j += 5) {
        float keep = x[j];
        x[j] = keep + h;
        double up = toy_objective(&d, W, x, t, &c, n, r, eps, &A);
        x[j] = keep - h;
        double down = toy_objective(&d, W, x, t, &c, n, r, eps, &A);
        x[j] = keep;
        double fd = (up - down) / (2.0 * h);
        if (fabs(fd - dx[j]) > 2e-3 * fmax(1.0, fabs(fd))) fail_msg("dx[%zu]: backward %g, central difference %g", j, (double)dx[j], fd);
    }
    assert_int_equal(checked, 7);
    arena_free(&A);
    free(eps); free(r); free(host);
    ops()->release(W); ops()->release(G); ops()->release(x); ops()->release(dx);
    denoiser_free(&d);
}

#define TOY_N_CLASSES 3
#define TOY_PER_CLASS 12
#define TOY_SIZE 4

// 36 4x4 grey images: class k is level 40 + 85 k, +- 6 (so classes differ by their grey)
static void toy_grey_dataset(lethe_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "toy-grey");
    ds->n = TOY_N_CLASSES * TOY_PER_CLASS;
    ds->c = 1;
    ds->h = ds->w = TOY_SIZE;
    ds->n_classes = TOY_N_CLASSES;
    for (int k = 0; k < TOY_N_CLASSES; k++) snprintf(ds->class_names[k], 32, "grey%d", k);
    ds->pixels = malloc((size_t)ds->n * TOY_SIZE * TOY_SIZE);
    ds->labels = malloc((size_t)ds->n * sizeof(int));
    for (int i = 0; i < ds->n; i++) {
        int k = i % TOY_N_CLASSES;
        ds->labels[i] = k;
        for (int e = 0; e < TOY_SIZE * TOY_SIZE; e++)
            ds->pixels[i * TOY_SIZE * TOY_SIZE + e] = (uint8_t)(40 + 85 * k - 6 + (int)lethe_rand_below(8, 1, (uint64_t)(i * 16 + e), 13));
    }
}

// The denoising loss of the model on every image of class k, 16 fixed (t, eps) draws each.
static double class_loss(lethe_model *m, const lethe_schedule *s, const lethe_dataset *ds, int k) {
    enum { REPS = 16 };
    const size_t numel = denoiser_numel(&m->net);
    int idx[TOY_PER_CLASS * REPS], labels[TOY_PER_CLASS * REPS], rows = 0;
    for (int r = 0; r < REPS; r++)
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] == k) idx[rows++] = i;
    const size_t sz = (size_t)rows * numel;
    float *host = malloc(sz * sizeof(float)), *t = malloc((size_t)rows * sizeof(float));
    float *x0 = ops()->alloc(sz * sizeof(float)), *xt = ops()->alloc(sz * sizeof(float)),
          *eps = ops()->alloc(sz * sizeof(float)), *pred = ops()->alloc(sz * sizeof(float));
    dataset_batch(ds, idx, rows, host, labels);
    ops()->to_device(x0, host, sz * sizeof(float));
    schedule_add_noise(s, xt, t, eps, x0, rows, numel, 0, s->cfg.num_train_timesteps, 77, 1, 2);
    const lethe_cond c = cond_class_view(&m->net.cond, labels, rows);
    denoiser_infer inf;
    denoiser_infer_init(&inf, &m->net, m->params);
    assert_int_equal(denoiser_infer_eps(&inf, pred, xt, t, &c, rows), LETHE_OK);
    double loss = ops()->mse_forward(pred, eps, sz);
    denoiser_infer_free(&inf);
    free(host); free(t);
    ops()->release(x0); ops()->release(xt); ops()->release(eps); ops()->release(pred);
    return loss;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void test_toy_train_sample_unlearn(void **state) {
    (void)state;
    char root[64] = "/tmp/lethe-test-seam-XXXXXX", trained[128], unlearned[128], path[256];
    assert_non_null(mkdtemp(root));
    snprintf(trained, sizeof trained, "%s/trained", root);
    snprintf(unlearned, sizeof unlearned, "%s/unlearned", root);

    lethe_denoiser net;
    assert_int_equal(toy_mlp_denoiser(&net, 1, TOY_SIZE, TOY_N_CLASSES), LETHE_OK);
    lethe_model m;
    assert_int_equal(model_init_net(&m, &net), LETHE_OK);   // m owns the network now
    assert_int_equal(m.n_classes, TOY_N_CLASSES);
    const size_t P = denoiser_num_params(&m.net);
    float *w = malloc(P * sizeof(float)), *w_trained = malloc(P * sizeof(float)), *w_after = malloc(P * sizeof(float));
    param_table_init_values(m.net.table, w, 21);
    ops()->to_device(m.params, w, P * sizeof(float));
    lethe_dataset ds;
    toy_grey_dataset(&ds);
    lethe_schedule sched;
    assert_int_equal(schedule_init(&sched, &m.sched), LETHE_OK);

    // train (train_run: batches, class dropout, the forward process, forward/backward through the seam)
    double before[TOY_N_CLASSES], after[TOY_N_CLASSES], forgot[TOY_N_CLASSES];
    for (int k = 0; k < TOY_N_CLASSES; k++) before[k] = class_loss(&m, &sched, &ds, k);
    train_opts to;
    train_opts_default(&to);
    to.steps = 400;
    to.batch = 16;
    to.warmup = 10;
    to.adam.lr = 1e-2f;
    to.use_ema = 0;
    to.checkpoint_every = 0;
    to.log_every = 100;
    to.seed = 3;
    to.out_dir = trained;
    if (train_run(&m, &ds, &to, 0)) fail_msg("train_run: %s", lethe_last_error());
    for (int k = 0; k < TOY_N_CLASSES; k++) {
        after[k] = class_loss(&m, &sched, &ds, k);
        print_message("class %d: denoising loss %.4f -> %.4f after training\n", k, before[k], after[k]);
        assert_true(after[k] < 0.7 * before[k]);
    }
    snprintf(path, sizeof path, "%s/unet/config.json", trained);
    char *text = NULL;
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    assert_non_null(strstr(text, "ToyMLP"));
    free(text);
    snprintf(path, sizeof path, "%s/model_index.json", trained);
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    assert_non_null(strstr(text, "\"unet\": [\"diffusers\", \"ToyMLP\"]"));
    free(text);

    // sample (guided DDIM: the batch runs as [cond; null] through the toy)
    denoiser_infer inf;
    denoiser_infer_init(&inf, &m.net, m.params);
    sampler_opts so = {.kind = SAMPLER_DDIM, .steps = 20, .guidance = 2.0f, .seed = 5};
    const int per = 6, numel = TOY_SIZE * TOY_SIZE;
    uint8_t u8[6 * TOY_SIZE * TOY_SIZE];
    double mean[TOY_N_CLASSES];
    for (int k = 0; k < TOY_N_CLASSES; k++) {
        assert_int_equal(eval_generate(&sched, &so, &inf, k, per, 4, u8, NULL, NULL), LETHE_OK);
        double s = 0;
        for (int i = 0; i < per * numel; i++) s += u8[i];
        mean[k] = s / (per * numel);
        print_message("class %d: mean sample level %.1f (data %d)\n", k, mean[k], 40 + 85 * k);
    }
    assert_true(mean[0] < mean[1] && mean[1] < mean[2]);   // the class decides the grey level
    assert_true(mean[2] - mean[0] > 40);
    assert_int_equal(inf.evaluations, (long)TOY_N_CLASSES * 2 * per * so.steps);
    denoiser_infer_free(&inf);

    // unlearn class 1 with gradient ascent through the unlearning loop
    ops()->to_host(w_trained, m.params, P * sizeof(float));
    snprintf(m.weights_path, sizeof m.weights_path, "%s/unet/diffusion_pytorch_model.safetensors", trained);
    unlearn_opts o;
    unlearn_opts_default(&o);
    assert_int_equal(unlearn_opts_set(&o, "method", "ga"), LETHE_OK);
    o.model_dir = trained;
    o.out_dir = unlearned;
    o.forget = "grey1";
    o.steps = 30;
    o.batch = 8;
    o.lr = 1e-3f;
    o.weight_decay = 0.0f;
    assert_int_equal(unlearn_opts_set(&o, "retain-weight", "1"), LETHE_OK);
    o.seed = 7;
    o.quiet = 1;
    assert_int_equal(fs_mkdir_p(unlearned), LETHE_OK);
    if (unlearn_run_loop(&o, &unlearn_ga, &m, &ds, 0)) fail_msg("unlearn ga: %s", lethe_last_error());
    ops()->to_host(w_after, m.params, P * sizeof(float));
    size_t changed = 0;
    for (size_t i = 0; i < P; i++) changed += w_after[i] != w_trained[i];
    assert_true(changed > P / 2);
    for (int k = 0; k < TOY_N_CLASSES; k++) {
        forgot[k] = class_loss(&m, &sched, &ds, k);
        print_message("class %d: denoising loss %.4f -> %.4f after unlearning class 1\n", k, after[k], forgot[k]);
        assert_true(isfinite(forgot[k]));
    }
    assert_true(forgot[1] > 1.5 * after[1]);
    assert_true(forgot[1] - after[1] > 2 * (forgot[0] - after[0]));
    assert_true(forgot[1] - after[1] > 2 * (forgot[2] - after[2]));
    snprintf(path, sizeof path, "%s/lethe.json", unlearned);
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    assert_non_null(strstr(text, "\"method\":"));
    assert_non_null(strstr(text, "\"ga\""));
    free(text);
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", unlearned);
    assert_true(fs_exists(path));

    schedule_free(&sched);
    dataset_free(&ds);
    model_free(&m);
    free(w); free(w_trained); free(w_after);
    assert_int_equal(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_noise),
        cmocka_unit_test(test_cond_class),
        cmocka_unit_test(test_cond_tokens),
        cmocka_unit_test(test_unet_clone),
        cmocka_unit_test(test_toy_gradients),
        cmocka_unit_test(test_toy_train_sample_unlearn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
