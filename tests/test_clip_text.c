/*
 * test_clip_text.c: the CLIP text encoder (src/nn/clip_text.h) against its PyTorch reference
 * (tests/fixtures/make_clip_fixture.py, clip_text_ref.py):
 *
 * - the fixture model (CLIPTextModelWithProjection, exact transformers key set): last hidden
 *   state, pooled output (projected and not) and every parameter gradient, each to a relative
 *   error under 1e-5 (max |lethe - torch| / max |torch| per tensor; torch in float64);
 * - finite differences on a tiny config: single elements of every tensor and the directional
 *   derivative of the whole chain along a random direction of all parameters;
 * - causality: ids after the EOS change neither the pooled output nor earlier positions;
 * - initialisation: transformers' std per tensor, biases 0, LayerNorm 1 / 0, deterministic;
 * - config.json and the folder: round trip, and errors for corrupt config, missing or
 *   truncated weights, wrong shapes, missing and unexpected tensors, bad ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "core/fsutil.h"
#include "diffusion/model.h"
#include "io/safetensors.h"
#include "nn/clip_text.h"
#include "ops/ops.h"

#define FIXTURE FIXTURE_DIR "/clip_text_tiny.safetensors"
#define FWD_TOL 1e-5
#define GRAD_TOL 1e-5

static float *read_tensor(const st_file *f, const char *name, size_t *numel) {
    const st_tensor *t = st_find(f, name);
    if (!t) fail_msg("fixture tensor '%s' missing", name);
    float *p = malloc(t->numel * sizeof(float) + 4);
    assert_int_equal(st_read_f32(f, name, p, t->numel), LETHE_OK);
    if (numel) *numel = t->numel;
    return p;
}

static int *read_ids(const st_file *f, int *n, int *seq) {
    const st_tensor *t = st_find(f, "input.ids");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    *n = (int)t->shape[0];
    *seq = (int)t->shape[1];
    float *v = read_tensor(f, "input.ids", NULL);
    int *ids = malloc(t->numel * sizeof(int));
    for (size_t i = 0; i < t->numel; i++) ids[i] = (int)v[i];
    free(v);
    return ids;
}

// The fixture's model with its weights ("param.*", the exact key set) in host memory.
static void load_fixture_model(const st_file *f, lethe_clip_text *m, float **P) {
    clip_text_config cfg;
    if (clip_text_config_from_json(&cfg, st_metadata(f, "config"), "fixture config")) fail_msg("%s", lethe_last_error());
    assert_int_equal(cfg.with_projection, 1);
    assert_int_equal(clip_text_build(m, &cfg), LETHE_OK);
    *P = calloc(m->table.total, sizeof(float));
    if (model_read_weights(&m->table, *P, f, "param.", 1)) fail_msg("%s", lethe_last_error());
}

static double check(const char *what, const float *got, const float *want, size_t n, double tol) {
    double e = tensor_rel_err(got, want, n, 1e-12);
    if (!(e < tol)) print_error("%s: relative error %.3g (got[0]=%.8g want[0]=%.8g)\n", what, e, (double)got[0], (double)want[0]);
    return e;
}

// Worst relative error over the parameter gradients G against the fixture's "grad.*". Tensors
// whose gradient is zero in exact arithmetic (k_proj.bias: softmax ignores a per-query
// constant) are measured against the model's largest gradient, i.e. as an absolute error.
static double check_grads(const st_file *f, const lethe_clip_text *m, const float *G, char *worst_name) {
    char name[160];
    double gmax = 0, worst = 0;
    float **want = calloc((size_t)m->table.n, sizeof *want);
    for (int i = 0; i < m->table.n; i++) {
        snprintf(name, sizeof name, "grad.%s", m->table.entries[i].name);
        want[i] = read_tensor(f, name, NULL);
        for (size_t j = 0; j < m->table.entries[i].numel; j++) gmax = fmax(gmax, fabs(want[i][j]));
    }
    for (int i = 0; i < m->table.n; i++) {
        const param_entry *pe = &m->table.entries[i];
        double own = 0, e;
        for (size_t j = 0; j < pe->numel; j++) own = fmax(own, fabs(want[i][j]));
        snprintf(name, sizeof name, "grad.%s", pe->name);
        if (own <= 1e-9 * gmax) e = tensor_rel_err(G + pe->offset, want[i], pe->numel, gmax);
        else e = check(name, G + pe->offset, want[i], pe->numel, GRAD_TOL);
        if (e > worst) {
            worst = e;
            snprintf(worst_name, 160, "%s", pe->name);
        }
        free(want[i]);
    }
    free(want);
    return worst;
}

static void test_fixture_matches_pytorch(void **state) {
    st_file f;
    assert_int_equal(st_open(&f, FIXTURE), LETHE_OK);
    lethe_clip_text m;
    float *P;
    load_fixture_model(&f, &m, &P);
    int n, seq;
    int *ids = read_ids(&f, &n, &seq);
    const int H = m.cfg.hidden_size, D = clip_text_pooled_dim(&m);
    assert_int_equal(m.table.n, 37);   // transformers' CLIPTextModelWithProjection state dict, 2 layers
    assert_int_equal(clip_text_num_params(&m), 7232);

    size_t nl = (size_t)n * seq * H;
    float *last = malloc(nl * sizeof(float)), *pooled = malloc((size_t)n * D * sizeof(float));
    float *want_last = read_tensor(&f, "output.last_hidden_state", NULL), *want_pooled = read_tensor(&f, "output.text_embeds", NULL);
    float *want_pooler = read_tensor(&f, "output.pooler_output", NULL), *want_loss = read_tensor(&f, "output.loss", NULL);
    float *d_last = read_tensor(&f, "input.d_last_hidden", NULL), *d_pooled = read_tensor(&f, "input.d_pooled", NULL);
    lethe_arena arena;
    arena_init(&arena);
    nn_ctx ctx = {.arena = &arena, .train = 1};
    assert_int_equal(clip_text_forward(&m, P, &ctx, ids, n, seq, last, pooled), LETHE_OK);
    double e_last = check("last_hidden_state", last, want_last, nl, FWD_TOL);
    double e_pooled = check("text_embeds", pooled, want_pooled, (size_t)n * D, FWD_TOL);
    double e_pooler = check("pooler_output", m.s.pooled_raw, want_pooler, (size_t)n * H, FWD_TOL);
    double loss = 0;
    for (size_t i = 0; i < nl; i++) loss += (double)last[i] * d_last[i];
    for (size_t i = 0; i < (size_t)n * D; i++) loss += (double)pooled[i] * d_pooled[i];
    assert_true(fabs(loss - want_loss[0]) / fabs(want_loss[0]) < FWD_TOL);

    float *G = calloc(m.table.total, sizeof(float));
    assert_int_equal(clip_text_backward(&m, P, G, &arena, d_last, d_pooled), LETHE_OK);
    char worst_name[160] = "";
    double e_grad = check_grads(&f, &m, G, worst_name);
    print_message("clip_text_tiny: rel err last_hidden %.2e, text_embeds %.2e, pooler_output %.2e, worst parameter "
                  "gradient %.2e (%s); loss %.9g vs %.9g\n", e_last, e_pooled, e_pooler, e_grad, worst_name, loss,
                  (double)want_loss[0]);
    assert_true(e_last < FWD_TOL && e_pooled < FWD_TOL && e_pooler < FWD_TOL);
    assert_true(e_grad < GRAD_TOL);

    // Backward is linear in the upstream gradients: the two outputs' parts add up to the whole.
    float *G1 = calloc(m.table.total, sizeof(float));
    assert_int_equal(clip_text_backward(&m, P, G1, &arena, d_last, NULL), LETHE_OK);
    assert_int_equal(clip_text_backward(&m, P, G1, &arena, NULL, d_pooled), LETHE_OK);
    assert_true(tensor_rel_err(G1, G, m.table.total, 1e-12) < 1e-6);

    // Inference mode and a second forward give the same numbers.
    float *last2 = malloc(nl * sizeof(float)), *pooled2 = malloc((size_t)n * D * sizeof(float));
    nn_ctx infer = {.arena = &arena, .train = 0};
    arena_reset(&arena);
    assert_int_equal(clip_text_forward(&m, P, &infer, ids, n, seq, last2, pooled2), LETHE_OK);
    assert_memory_equal(last, last2, nl * sizeof(float));
    assert_memory_equal(pooled, pooled2, (size_t)n * D * sizeof(float));
    assert_int_equal(clip_text_backward(&m, P, G, &arena, d_last, d_pooled), LETHE_ERR_ARG);   // nothing saved
    // pooled alone (no last_hidden buffer)
    assert_int_equal(clip_text_forward(&m, P, &infer, ids, n, seq, NULL, pooled2), LETHE_OK);
    assert_memory_equal(pooled, pooled2, (size_t)n * D * sizeof(float));

    // Without the projection (CLIPTextModel on the same weights) the pooled output is pooler_output.
    lethe_clip_text plain;
    clip_text_config pc = m.cfg;
    pc.with_projection = 0;
    assert_int_equal(clip_text_build(&plain, &pc), LETHE_OK);
    assert_int_equal(plain.table.n, 36);
    float *PP = calloc(plain.table.total, sizeof(float));
    assert_int_equal(model_read_weights(&plain.table, PP, &f, "param.", 0), LETHE_OK);
    assert_int_equal(clip_text_pooled_dim(&plain), H);
    float *pooler = malloc((size_t)n * H * sizeof(float));
    assert_int_equal(clip_text_forward(&plain, PP, &infer, ids, n, seq, last2, pooler), LETHE_OK);
    assert_true(check("pooler_output (CLIPTextModel)", pooler, want_pooler, (size_t)n * H, FWD_TOL) < FWD_TOL);
    assert_memory_equal(last, last2, nl * sizeof(float));

    free(PP); free(pooler); clip_text_free(&plain);
    free(last); free(pooled); free(last2); free(pooled2); free(want_last); free(want_pooled); free(want_pooler);
    free(want_loss); free(d_last); free(d_pooled); free(G); free(G1); free(P); free(ids);
    arena_free(&arena);
    clip_text_free(&m);
    st_close(&f);
}

// ---- finite differences ------------------------------------------------------------------------

typedef struct {
    lethe_clip_text m;
    int *ids, n, seq;
    float *R1, *R2, *last, *pooled;
    lethe_arena arena;
} fd_case;

static void tiny_config(clip_text_config *c) {
    clip_text_config_default_small(c, 11, 9, 10, 10);
    c->hidden_size = 8;
    c->intermediate_size = 16;
    c->num_hidden_layers = 2;
    c->num_attention_heads = 2;
    c->max_position_embeddings = 6;
    c->projection_dim = 5;
}

// loss = sum(last * R1) + sum(pooled * R2), in double
static double fd_loss(fd_case *fc, const float *P) {
    nn_ctx ctx = {.arena = &fc->arena, .train = 0};
    arena_reset(&fc->arena);
    assert_int_equal(clip_text_forward(&fc->m, P, &ctx, fc->ids, fc->n, fc->seq, fc->last, fc->pooled), LETHE_OK);
    double s = 0;
    size_t nl = (size_t)fc->n * fc->seq * fc->m.cfg.hidden_size, np = (size_t)fc->n * clip_text_pooled_dim(&fc->m);
    for (size_t i = 0; i < nl; i++) s += (double)fc->last[i] * fc->R1[i];
    for (size_t i = 0; i < np; i++) s += (double)fc->pooled[i] * fc->R2[i];
    return s;
}

static double central_difference(fd_case *fc, float *P, size_t j, float h) {
    float keep = P[j];
    P[j] = keep + h;
    double lp = fd_loss(fc, P);
    P[j] = keep - h;
    double lm = fd_loss(fc, P);
    P[j] = keep;
    return (lp - lm) / (2.0 * (double)h);
}

static double directional_difference(fd_case *fc, const float *P, float *Pt, const float *d, float t) {
    size_t total = fc->m.table.total;
    ops()->axpbz(Pt, 1.0f, P, t, d, total);
    double lp = fd_loss(fc, Pt);
    ops()->axpbz(Pt, 1.0f, P, -t, d, total);
    return (lp - fd_loss(fc, Pt)) / (2.0 * (double)t);
}

static void test_finite_differences(void **state) {
    fd_case fc;
    clip_text_config c;
    tiny_config(&c);
    assert_int_equal(clip_text_create(&fc.m, &c, 5), LETHE_OK);
    const size_t total = fc.m.table.total;
    float *P = fc.m.params, *noise = malloc(total * sizeof(float));
    // move every parameter off its init (biases 0, norms 1) so each one's role shows
    ops()->randn(noise, total, 77, 1, 0);
    ops()->axpbz(P, 1.0f, P, 0.1f, noise, total);
    int ids[] = {9, 3, 10, 10, 10, 10,   9, 1, 4, 7, 2, 10,   9, 10, 10, 10, 10, 10};
    fc.ids = ids;
    fc.n = 3;
    fc.seq = 6;
    const int H = c.hidden_size, D = clip_text_pooled_dim(&fc.m);
    size_t nl = (size_t)fc.n * fc.seq * H, np = (size_t)fc.n * D;
    fc.R1 = malloc(nl * sizeof(float));
    fc.R2 = malloc(np * sizeof(float));
    fc.last = malloc(nl * sizeof(float));
    fc.pooled = malloc(np * sizeof(float));
    ops()->randn(fc.R1, nl, 78, 1, 0);
    ops()->randn(fc.R2, np, 78, 2, 0);
    arena_init(&fc.arena);

    float *G = calloc(total, sizeof(float));
    nn_ctx ctx = {.arena = &fc.arena, .train = 1};
    assert_int_equal(clip_text_forward(&fc.m, P, &ctx, ids, fc.n, fc.seq, fc.last, fc.pooled), LETHE_OK);
    assert_int_equal(clip_text_backward(&fc.m, P, G, &fc.arena, fc.R1, fc.R2), LETHE_OK);

    // a few elements of every tensor: central differences, Richardson-extrapolated (error
    // O(h^4)), since LayerNorm and softmax curve enough to bias a plain one by 1% at h = 1e-2;
    // a larger h keeps float32 rounding of the loss small next to the difference
    const float h = 4e-2f;
    double worst = 0;
    char worst_name[PARAM_NAME_MAX] = "";
    double worst_key_bias = 0;
    for (int i = 0; i < fc.m.table.n; i++) {
        const param_entry *pe = &fc.m.table.entries[i];
        // The keys' bias adds q.b to every logit of a query alike, which softmax cancels: its
        // gradient is exactly 0, so a finite difference there measures only float32 rounding
        // of the loss (up to ~1e-4 at this h, CPU-dependent). Assert the zero instead.
        if (strstr(pe->name, "k_proj.bias")) {
            for (size_t j = 0; j < pe->numel; j++) worst_key_bias = fmax(worst_key_bias, fabs((double)G[pe->offset + j]));
            continue;
        }
        for (int k = 0; k < 3; k++) {
            size_t j = pe->offset + ((size_t)k * 7919 + (size_t)i * 31) % pe->numel;
            if (pe == param_table_find(&fc.m.table, "text_model.embeddings.token_embedding.weight"))
                j = pe->offset + (size_t)(k == 0 ? 9 : k == 1 ? 4 : 10) * H + (size_t)k;   // rows the ids use
            double fd = (4.0 * central_difference(&fc, P, j, h / 2) - central_difference(&fc, P, j, h)) / 3.0;
            double err = fabs(fd - G[j]) / (1e-2 + fabs(G[j]));
            if (err > worst) {
                worst = err;
                snprintf(worst_name, sizeof worst_name, "%s", pe->name);
            }
            if (!(err < 5e-3)) print_error("%s[%zu]: finite difference %.6g, backward %.6g\n", pe->name, j - pe->offset, fd, (double)G[j]);
        }
    }
    // the whole chain: d/dt loss(P + t d) at 0 against G . d, for a random direction d
    ops()->randn(noise, total, 79, 1, 0);
    double gd = 0;
    for (size_t j = 0; j < total; j++) gd += (double)G[j] * noise[j];
    float *Pp = malloc(total * sizeof(float));
    double d1 = directional_difference(&fc, P, Pp, noise, 2e-3f), d2 = directional_difference(&fc, P, Pp, noise, 1e-3f);
    double dd = (4.0 * d2 - d1) / 3.0, chain_err = fabs(dd - gd) / fabs(gd);
    print_message("finite differences: worst element error %.2e (%s), directional derivative %.8g vs G.d %.8g "
                  "(rel %.2e); keys' bias: max |gradient| %.2e (exactly 0 in exact arithmetic)\n", worst, worst_name, dd, gd,
                  chain_err, worst_key_bias);
    assert_true(worst < 5e-3);
    assert_true(worst_key_bias < 1e-6);
    assert_true(chain_err < 1e-4);

    free(Pp); free(G); free(noise); free(fc.R1); free(fc.R2); free(fc.last); free(fc.pooled);
    arena_free(&fc.arena);
    clip_text_free(&fc.m);
}

// ---- causality ---------------------------------------------------------------------------------

static void test_causal_padding_is_invisible(void **state) {
    st_file f;
    assert_int_equal(st_open(&f, FIXTURE), LETHE_OK);
    lethe_clip_text m;
    float *P;
    load_fixture_model(&f, &m, &P);
    int n, seq;
    int *ids = read_ids(&f, &n, &seq);
    int *ids2 = malloc((size_t)n * seq * sizeof(int)), eos[8];
    const int H = m.cfg.hidden_size, D = clip_text_pooled_dim(&m), E = m.cfg.eos_token_id;
    memcpy(ids2, ids, (size_t)n * seq * sizeof(int));
    for (int b = 0; b < n; b++) {   // replace everything after the first EOS by words
        int p = 0;
        while (ids[b * seq + p] != E) p++;
        eos[b] = p;
        for (int j = p + 1; j < seq; j++) ids2[b * seq + j] = (3 * j + b) % 17;
    }
    size_t nl = (size_t)n * seq * H;
    float *l1 = malloc(nl * sizeof(float)), *l2 = malloc(nl * sizeof(float));
    float *p1 = malloc((size_t)n * D * sizeof(float)), *p2 = malloc((size_t)n * D * sizeof(float));
    lethe_arena arena;
    arena_init(&arena);
    nn_ctx ctx = {.arena = &arena, .train = 0};
    assert_int_equal(clip_text_forward(&m, P, &ctx, ids, n, seq, l1, p1), LETHE_OK);
    assert_int_equal(clip_text_forward(&m, P, &ctx, ids2, n, seq, l2, p2), LETHE_OK);
    // masked probabilities are exactly 0, so the earlier positions are bit-identical
    assert_memory_equal(p1, p2, (size_t)n * D * sizeof(float));
    for (int b = 0; b < n; b++) {
        const float *a = l1 + (size_t)b * seq * H, *c = l2 + (size_t)b * seq * H;
        assert_memory_equal(a, c, (size_t)(eos[b] + 1) * H * sizeof(float));
        if (eos[b] + 1 < seq) assert_true(memcmp(a + (size_t)(eos[b] + 1) * H, c + (size_t)(eos[b] + 1) * H,
                                                 (size_t)(seq - eos[b] - 1) * H * sizeof(float)) != 0);
    }
    free(ids); free(ids2); free(l1); free(l2); free(p1); free(p2); free(P);
    arena_free(&arena);
    clip_text_free(&m);
    st_close(&f);
}

// ---- initialisation ----------------------------------------------------------------------------

static double tensor_std(const lethe_clip_text *m, const char *name, double *mean_out) {
    const param_entry *e = param_table_find(&m->table, name);
    assert_non_null(e);
    double s = 0, ss = 0;
    for (size_t j = 0; j < e->numel; j++) s += m->params[e->offset + j];
    double mu = s / (double)e->numel;
    for (size_t j = 0; j < e->numel; j++) ss += (m->params[e->offset + j] - mu) * (m->params[e->offset + j] - mu);
    if (mean_out) *mean_out = mu;
    return sqrt(ss / (double)e->numel);
}

static void test_init_follows_transformers(void **state) {
    clip_text_config c;
    clip_text_config_default_small(&c, 1000, 998, 999, 999);
    c.initializer_factor = 2.0f;
    lethe_clip_text m, m2;
    assert_int_equal(clip_text_create(&m, &c, 11), LETHE_OK);
    const double f = 2.0, H = 64, L = 4;
    struct { const char *name; double std; } want[] = {
        {"text_model.embeddings.token_embedding.weight", 0.02 * f},
        {"text_model.embeddings.position_embedding.weight", 0.02 * f},
        {"text_model.encoder.layers.0.self_attn.q_proj.weight", pow(H, -0.5) * pow(2 * L, -0.5) * f},
        {"text_model.encoder.layers.1.self_attn.k_proj.weight", pow(H, -0.5) * pow(2 * L, -0.5) * f},
        {"text_model.encoder.layers.2.self_attn.v_proj.weight", pow(H, -0.5) * pow(2 * L, -0.5) * f},
        {"text_model.encoder.layers.3.self_attn.out_proj.weight", pow(H, -0.5) * f},
        {"text_model.encoder.layers.0.mlp.fc1.weight", pow(2 * H, -0.5) * f},
        {"text_model.encoder.layers.3.mlp.fc2.weight", pow(H, -0.5) * pow(2 * L, -0.5) * f},
        {"text_projection.weight", pow(H, -0.5) * f},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double mu, s = tensor_std(&m, want[i].name, &mu);
        if (!(fabs(s / want[i].std - 1) < 0.05 && fabs(mu) < 0.1 * want[i].std))
            fail_msg("%s: std %.5g mean %.3g, transformers' init has std %.5g", want[i].name, s, mu, want[i].std);
    }
    for (int i = 0; i < m.table.n; i++) {   // biases 0, LayerNorm weights 1
        const param_entry *e = &m.table.entries[i];
        int is_bias = strstr(e->name, ".bias") != NULL, is_norm_w = strstr(e->name, "layer_norm") && strstr(e->name, ".weight");
        for (size_t j = 0; (is_bias || is_norm_w) && j < e->numel; j++)
            assert_true(m.params[e->offset + j] == (is_bias ? 0.0f : 1.0f));
    }
    // deterministic in the seed
    assert_int_equal(clip_text_create(&m2, &c, 11), LETHE_OK);
    assert_memory_equal(m.params, m2.params, m.table.total * sizeof(float));
    clip_text_free(&m2);
    assert_int_equal(clip_text_create(&m2, &c, 12), LETHE_OK);
    assert_true(memcmp(m.params, m2.params, m.table.total * sizeof(float)) != 0);
    clip_text_free(&m2);
    clip_text_free(&m);
}

// ---- config and folder ---------------------------------------------------------------------------

static void test_config_json(void **state) {
    clip_text_config a, b;
    clip_text_config_default_small(&a, 40, 38, 39, 39);
    char *text = clip_text_config_to_json(&a);
    assert_non_null(strstr(text, "\"CLIPTextModelWithProjection\""));
    assert_non_null(strstr(text, "\"model_type\":\t\"clip_text_model\""));
    assert_non_null(strstr(text, "\"layer_norm_eps\":\t1e-05"));
    assert_int_equal(clip_text_config_from_json(&b, text, "round trip"), LETHE_OK);
    assert_memory_equal(&a, &b, sizeof a);
    free(text);
    clip_text_config_default(&a);   // CLIPTextModel, transformers' defaults, bos null
    a.bos_token_id = -1;
    text = clip_text_config_to_json(&a);
    assert_non_null(strstr(text, "[\"CLIPTextModel\"]"));
    assert_int_equal(clip_text_config_from_json(&b, text, "round trip"), LETHE_OK);
    assert_memory_equal(&a, &b, sizeof a);
    free(text);
    // a minimal file: the required keys only; the others take transformers' defaults
    const char *minimal = "{\"architectures\": [\"CLIPTextModel\"], \"vocab_size\": 30, \"hidden_size\": 8, "
                          "\"intermediate_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                          "\"max_position_embeddings\": 4, \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-5, "
                          "\"eos_token_id\": 29}";
    assert_int_equal(clip_text_config_from_json(&b, minimal, "cfg"), LETHE_OK);
    assert_true(b.initializer_factor == 1.0f && b.pad_token_id == 1 && b.attention_dropout == 0.0f);
    // refusals name the key
    struct { const char *json, *key; lethe_status code; } bad[] = {
        {"{\"architectures\": [\"CLIPTextModel\"]}", "required key", LETHE_ERR_FORMAT},
        {"[1, 2]", "not a JSON object", LETHE_ERR_FORMAT},
        {"{\"architectures\": [\"BertModel\"]}", "architectures", LETHE_ERR_FORMAT},
        {"{\"architectures\": \"CLIPTextModel\"}", "architectures", LETHE_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(clip_text_config_from_json(&b, bad[i].json, "cfg.json"), bad[i].code);
        assert_non_null(strstr(lethe_last_error(), bad[i].key));
        assert_non_null(strstr(lethe_last_error(), "cfg.json"));
    }
    // one key changed in the minimal file at a time
    struct { const char *key, *value, *msg; lethe_status code; } edits[] = {
        {"hidden_size", "\"8\"", "hidden_size", LETHE_ERR_FORMAT},
        {"hidden_size", "8.5", "hidden_size", LETHE_ERR_FORMAT},
        {"hidden_size", "9", "num_attention_heads", LETHE_ERR_ARG},
        {"hidden_act", "\"gelu\"", "hidden_act", LETHE_ERR_FORMAT},
        {"attention_dropout", "0.1", "attention_dropout", LETHE_ERR_ARG},
        {"layer_norm_eps", "\"1e-5\"", "layer_norm_eps", LETHE_ERR_FORMAT},
        {"eos_token_id", "30", "eos_token_id", LETHE_ERR_ARG},
        {"model_type", "\"clip\"", "model_type", LETHE_ERR_FORMAT},
        {"num_hidden_layers", "0", "num_hidden_layers", LETHE_ERR_ARG},
        {"architectures", "[\"CLIPTextModelWithProjection\"]", "projection_dim", LETHE_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        cJSON *r = cJSON_Parse(minimal);
        cJSON_DeleteItemFromObjectCaseSensitive(r, edits[i].key);
        cJSON_AddItemToObject(r, edits[i].key, cJSON_Parse(edits[i].value));
        char *s = cJSON_Print(r);
        cJSON_Delete(r);
        lethe_status st = clip_text_config_from_json(&b, s, "cfg.json");
        if (st != edits[i].code || !strstr(lethe_last_error(), edits[i].msg))
            fail_msg("%s = %s: status %d, message '%s'", edits[i].key, edits[i].value, st, lethe_last_error());
        free(s);
    }
}

// Rewrites DIR/config.json with KEY set to the JSON VALUE (or removed when VALUE is NULL).
static void edit_config(const char *dir, const char *key, const char *value) {
    char path[512], *text;
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    cJSON *r = cJSON_Parse(text);
    free(text);
    cJSON_DeleteItemFromObjectCaseSensitive(r, key);
    if (value) cJSON_AddItemToObject(r, key, cJSON_Parse(value));
    text = cJSON_Print(r);
    cJSON_Delete(r);
    assert_int_equal(fs_write_text_atomic(path, text), LETHE_OK);
    free(text);
}

static void expect_load_error(const char *dir, lethe_status code, const char *m1, const char *m2) {
    lethe_clip_text m;
    lethe_status st = clip_text_load(&m, dir);
    if (st != code || !strstr(lethe_last_error(), m1) || (m2 && !strstr(lethe_last_error(), m2)))
        fail_msg("expected status %d naming '%s'%s%s, got %d: %s", code, m1, m2 ? " and " : "", m2 ? m2 : "", st,
                 lethe_last_error());
    assert_null(m.params);
    assert_int_equal(m.table.n, 0);
    clip_text_free(&m);   // safe on the emptied struct
}

static void test_save_load(void **state) {
    char dir[] = "/tmp/lethe_clip_XXXXXX", path[600], cmd[700];
    assert_non_null(mkdtemp(dir));
    clip_text_config c;
    tiny_config(&c);
    lethe_clip_text a, b;
    assert_int_equal(clip_text_create(&a, &c, 3), LETHE_OK);
    assert_int_equal(clip_text_save(&a, dir), LETHE_OK);
    assert_int_equal(clip_text_load(&b, dir), LETHE_OK);
    assert_memory_equal(&a.cfg, &b.cfg, sizeof a.cfg);
    assert_int_equal(a.table.total, b.table.total);
    assert_memory_equal(a.params, b.params, a.table.total * sizeof(float));
    clip_text_free(&b);
    // the weights file: transformers' keys, F32, format=pt
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    assert_int_equal(st_open(&f, path), LETHE_OK);
    assert_int_equal(f.n_tensors, a.table.n);
    assert_string_equal(st_metadata(&f, "format"), "pt");
    assert_non_null(st_find(&f, "text_projection.weight"));
    assert_non_null(st_find(&f, "text_model.encoder.layers.1.mlp.fc2.bias"));
    assert_string_equal(st_find(&f, "text_model.final_layer_norm.weight")->dtype, "F32");
    st_close(&f);
    // an old transformers' position_ids buffer is tolerated (by name; it is int64 there); any other
    // extra tensor is not
    {
        const param_table *t = &a.table;
        st_entry *e = calloc((size_t)t->n + 1, sizeof *e);
        for (int i = 0; i < t->n; i++) {
            e[i].name = t->entries[i].name;
            e[i].data = a.params + t->entries[i].offset;
            e[i].ndim = t->entries[i].ndim;
            for (int d = 0; d < e[i].ndim; d++) e[i].shape[d] = t->entries[i].shape[d];
        }
        float extra[6] = {0};
        e[t->n] = (st_entry){.name = "text_model.embeddings.extra", .data = extra, .ndim = 1, .shape = {6}};
        const char *meta[] = {"format", "pt"};
        assert_int_equal(st_write(path, e, t->n + 1, meta, 1), LETHE_OK);
        expect_load_error(dir, LETHE_ERR_FORMAT, "text_model.embeddings.extra", "model.safetensors");
        e[t->n] = (st_entry){.name = "text_model.embeddings.position_ids", .data = extra, .ndim = 2, .shape = {1, 6}};
        assert_int_equal(st_write(path, e, t->n + 1, meta, 1), LETHE_OK);
        assert_int_equal(clip_text_load(&b, dir), LETHE_OK);
        assert_memory_equal(a.params, b.params, a.table.total * sizeof(float));
        clip_text_free(&b);
        free(e);
    }
    assert_int_equal(clip_text_save(&a, dir), LETHE_OK);

    // config errors name the file and the key
    edit_config(dir, "hidden_size", NULL);
    expect_load_error(dir, LETHE_ERR_FORMAT, "hidden_size", "config.json");
    edit_config(dir, "hidden_size", "\"8\"");
    expect_load_error(dir, LETHE_ERR_FORMAT, "hidden_size", "config.json");
    edit_config(dir, "hidden_size", "8");
    assert_int_equal(clip_text_load(&b, dir), LETHE_OK);
    clip_text_free(&b);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(fs_write_text_atomic(path, "{\"architectures\": [\"CLIPTextModel\""), LETHE_OK);
    expect_load_error(dir, LETHE_ERR_FORMAT, "not a JSON object", "config.json");
    unlink(path);
    expect_load_error(dir, LETHE_ERR_IO, "config.json", NULL);
    assert_int_equal(clip_text_save(&a, dir), LETHE_OK);

    // a tensor of the wrong shape: the config asks for a wider MLP than the file has
    edit_config(dir, "intermediate_size", "32");
    expect_load_error(dir, LETHE_ERR_SHAPE, "mlp.fc1.weight", "[16, 8]");
    edit_config(dir, "intermediate_size", "16");
    // projection mismatches: a missing tensor, an unexpected one
    edit_config(dir, "architectures", "[\"CLIPTextModel\"]");
    expect_load_error(dir, LETHE_ERR_FORMAT, "text_projection.weight", "not part of");
    lethe_clip_text plain;
    clip_text_config pc = c;
    pc.with_projection = 0;
    assert_int_equal(clip_text_create(&plain, &pc, 3), LETHE_OK);
    assert_int_equal(clip_text_save(&plain, dir), LETHE_OK);
    assert_int_equal(clip_text_load(&b, dir), LETHE_OK);   // a CLIPTextModel folder round-trips too
    assert_memory_equal(&b.cfg, &pc, sizeof pc);
    clip_text_free(&b);
    edit_config(dir, "architectures", "[\"CLIPTextModelWithProjection\"]");
    expect_load_error(dir, LETHE_ERR_FORMAT, "text_projection.weight", "missing");
    clip_text_free(&plain);

    // missing and truncated weights
    assert_int_equal(clip_text_save(&a, dir), LETHE_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    uint8_t *bytes;
    size_t size;
    assert_int_equal(fs_read_all(path, &bytes, &size), LETHE_OK);
    const void *bufs[] = {bytes};
    size_t lens[] = {size / 2};
    assert_int_equal(fs_write_atomic(path, bufs, lens, 1), LETHE_OK);
    expect_load_error(dir, LETHE_ERR_FORMAT, "model.safetensors", NULL);
    lens[0] = 5;   // not even the header length
    assert_int_equal(fs_write_atomic(path, bufs, lens, 1), LETHE_OK);
    expect_load_error(dir, LETHE_ERR_FORMAT, "model.safetensors", NULL);
    free(bytes);
    unlink(path);
    expect_load_error(dir, LETHE_ERR_IO, "model.safetensors", NULL);
    snprintf(path, sizeof path, "%s/none", dir);
    expect_load_error(path, LETHE_ERR_IO, "not a directory", NULL);

    clip_text_free(&a);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_ids(void **state) {
    clip_text_config c;
    tiny_config(&c);
    lethe_clip_text m;
    assert_int_equal(clip_text_create(&m, &c, 1), LETHE_OK);
    lethe_arena arena;
    arena_init(&arena);
    nn_ctx ctx = {.arena = &arena, .train = 1};
    float out[64];
    int ok[] = {9, 1, 10, 10}, big[] = {9, 11, 10, 10}, neg[] = {9, -1, 10, 10}, no_eos[] = {9, 1, 2, 3};
    assert_int_equal(clip_text_forward(&m, m.params, &ctx, ok, 1, 4, NULL, out), LETHE_OK);
    assert_int_equal(clip_text_forward(&m, m.params, &ctx, big, 1, 4, NULL, out), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "token id 11 (row 0, position 1)"));
    assert_int_equal(clip_text_forward(&m, m.params, &ctx, neg, 1, 4, NULL, out), LETHE_ERR_ARG);
    assert_int_equal(clip_text_forward(&m, m.params, &ctx, no_eos, 1, 4, NULL, out), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "no EOS"));
    // a failed forward leaves nothing to differentiate
    assert_int_equal(clip_text_backward(&m, m.params, out, &arena, NULL, out), LETHE_ERR_ARG);
    int seven[7] = {9, 1, 10, 10, 10, 10, 10};
    assert_int_equal(clip_text_forward(&m, m.params, &ctx, seven, 1, 7, NULL, out), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "max_position_embeddings"));
    arena_free(&arena);
    clip_text_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_matches_pytorch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_causal_padding_is_invisible),
        cmocka_unit_test(test_init_follows_transformers),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_ids),
    };
    return cmocka_run_group_tests_name("clip_text", tests, NULL, NULL);
}
