/* clip_model.c: the two-tower CLIP, its contrastive loss, CLIP score and zero-shot (see clip_model.h). */
#include "eval/clip_model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/canvas.h"
#include "ops/ops.h"

#define CLIP_MAX_LENGTH 16
#define CLIP_EVAL_BATCH 256

void clip_image_config_default(classifier_config *c, int dim) {
    classifier_config_default(c, CANVAS_CHANNELS, CANVAS_SIZE, dim);
    c->block_out_channels[0] = 32;
    c->block_out_channels[1] = 64;
    c->block_out_channels[2] = 128;
    c->feature_dim = 128;
    for (int i = 0; i < dim && i < LETHE_MAX_CLASSES; i++) snprintf(c->class_names[i], sizeof c->class_names[i], "embed_%d", i);
    snprintf(c->dataset, sizeof c->dataset, "%s", CLIP_IMAGE_DATASET);
}

static size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// Moves the towers' own parameter buffers into one flat buffer with room for logit_scale.
static lethe_status flatten_params(clip_model *m, float t) {
    size_t nt = m->text.table.total, ni = m->image.net.table.total;
    m->text_off = 0;
    m->image_off = align16(nt);
    m->scale_off = m->image_off + align16(ni);
    m->n_params = m->scale_off + 1;
    m->params = ops()->alloc(m->n_params * sizeof(float));
    if (!m->params) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP weights");
    ops()->copy(m->params + m->text_off, m->text.params, nt);
    ops()->copy(m->params + m->image_off, m->image.params, ni);
    ops()->fill(m->params + m->scale_off, t, 1);
    ops()->release(m->text.params);
    ops()->release(m->image.params);
    m->text.params = m->params + m->text_off;
    m->image.params = m->params + m->image_off;
    return LETHE_OK;
}

static lethe_status check_towers(const clip_model *m, const char *what) {
    const clip_text_config *tc = &m->text.cfg;
    const classifier_config *ic = &m->image.net.cfg;
    if (!tc->with_projection)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: the text encoder has no text_projection (CLIPTextModelWithProjection needed)", what);
    if (ic->num_classes != tc->projection_dim)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: image embedding width %d differs from the text projection_dim %d", what,
                          ic->num_classes, tc->projection_dim);
    if (ic->in_channels != CANVAS_CHANNELS || ic->sample_size != CANVAS_SIZE)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: the image encoder takes %dx%dx%d images, Fashion-Canvas's are %dx%dx%d", what,
                          ic->in_channels, ic->sample_size, ic->sample_size, CANVAS_CHANNELS, CANVAS_SIZE, CANVAS_SIZE);
    if (m->tok.vocab_size != tc->vocab_size || m->tok.eos_id != tc->eos_token_id)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: the tokenizer (%d ids, EOS %d) does not match the text encoder (%d ids, EOS %d)",
                          what, m->tok.vocab_size, m->tok.eos_id, tc->vocab_size, tc->eos_token_id);
    if (m->tok.max_length > tc->max_position_embeddings)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tokenizer max_length %d exceeds the text encoder's %d positions", what,
                          m->tok.max_length, tc->max_position_embeddings);
    return LETHE_OK;
}

lethe_status clip_model_create(clip_model *m, const char *const *objects, int n_objects, const clip_text_config *text_cfg,
                               const classifier_config *image_cfg, uint64_t seed) {
    memset(m, 0, sizeof *m);
    const char *words[512];
    int nw = canvas_vocabulary(objects, n_objects, words, 512);
    if (nw < 0) return lethe_fail(LETHE_ERR_ARG, "CLIP: the canvas vocabulary has more than 512 words");
    lethe_status st = tokenizer_create(&m->tok, words, nw, CLIP_MAX_LENGTH);
    if (st) return st;
    clip_text_config tc;
    if (text_cfg) tc = *text_cfg;
    else clip_text_config_default_small(&tc, m->tok.vocab_size, m->tok.bos_id, m->tok.eos_id, m->tok.pad_id);
    tc.vocab_size = m->tok.vocab_size;
    tc.bos_token_id = m->tok.bos_id;
    tc.eos_token_id = m->tok.eos_id;
    tc.pad_token_id = m->tok.pad_id;
    tc.with_projection = 1;
    classifier_config ic;
    if (image_cfg) ic = *image_cfg;
    else clip_image_config_default(&ic, tc.projection_dim);
    if ((st = clip_text_create(&m->text, &tc, seed))) goto fail;
    if ((st = eval_classifier_create(&m->image, &ic, seed + 1))) goto fail;
    m->dim = tc.projection_dim;
    m->seq = m->tok.max_length;
    if ((st = check_towers(m, "CLIP"))) goto fail;
    if ((st = flatten_params(m, CLIP_INIT_LOGIT_SCALE))) goto fail;
    return LETHE_OK;
fail:
    clip_model_free(m);
    return st;
}

void clip_model_free(clip_model *m) {
    if (m->params) {   // the towers' params point into the flat buffer
        m->text.params = NULL;
        m->image.params = NULL;
        ops()->release(m->params);
    }
    clip_text_free(&m->text);
    eval_classifier_free(&m->image);
    tokenizer_free(&m->tok);
    if (m->labels) ops()->release(m->labels);
    memset(m, 0, sizeof *m);
}

lethe_status clip_model_save(clip_model *m, const char *dir) {
    char path[4096];
    lethe_status st = fs_mkdir_p(dir);
    if (st) return st;
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    if ((st = clip_text_save(&m->text, path))) return st;
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    if ((st = tokenizer_save(&m->tok, path))) return st;
    snprintf(path, sizeof path, "%s/image_encoder", dir);
    return eval_classifier_save(&m->image, path, NULL);
}

lethe_status clip_model_load(clip_model *m, const char *dir) {
    char path[4096];
    memset(m, 0, sizeof *m);
    if (!fs_is_dir(dir)) return lethe_fail(LETHE_ERR_IO, "CLIP %s: not a directory (make one with `lethe clip`)", dir);
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    lethe_status st = tokenizer_load(&m->tok, path);
    if (st) goto fail;
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    if ((st = clip_text_load(&m->text, path))) goto fail;
    snprintf(path, sizeof path, "%s/image_encoder", dir);
    if ((st = eval_classifier_load(&m->image, path))) goto fail;
    if (strcmp(m->image.net.cfg.dataset, CLIP_IMAGE_DATASET) != 0) {
        st = lethe_fail(LETHE_ERR_FORMAT, "CLIP %s: image_encoder/config.json is not a CLIP image encoder (dataset \"%s\", "
                        "expected \"%s\")", dir, m->image.net.cfg.dataset, CLIP_IMAGE_DATASET);
        goto fail;
    }
    m->dim = m->text.cfg.projection_dim;
    m->seq = m->tok.max_length;
    snprintf(path, sizeof path, "CLIP %s", dir);
    if ((st = check_towers(m, path))) goto fail;
    snprintf(path, sizeof path, "%s/clip.json", dir);
    char *text = NULL;
    if ((st = fs_read_text(path, &text))) goto fail;
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *v = r ? cJSON_GetObjectItemCaseSensitive(r, "logit_scale") : NULL;
    double t = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(r);
    if (!(t >= 0 && t <= CLIP_MAX_LOGIT_SCALE + 1e-6)) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: no valid \"logit_scale\" (a number in [0, log 100])", path);
        goto fail;
    }
    if ((st = flatten_params(m, (float)t))) goto fail;
    return LETHE_OK;
fail:
    clip_model_free(m);
    return st;
}

lethe_status clip_tokenize(const clip_model *m, const char *prompts, size_t prompt_cap, int n, int *ids) {
    for (int i = 0; i < n; i++) {
        lethe_status st = tokenizer_encode(&m->tok, prompts + (size_t)i * prompt_cap, ids + (size_t)i * m->seq, NULL);
        if (st) return st;
    }
    return LETHE_OK;
}

lethe_status clip_encode_images(clip_model *m, const float *P, const nn_ctx *ctx, const float *images, int n, float *emb) {
    return classifier_forward(&m->image.net, P + m->image_off, ctx, emb, NULL, images, n);
}

lethe_status clip_encode_text(clip_model *m, const float *P, const nn_ctx *ctx, const int *ids, int n, float *emb) {
    return clip_text_forward(&m->text, P + m->text_off, ctx, ids, n, m->seq, NULL, emb);
}

float clip_logit_scale(const clip_model *m, const float *P) {
    float t;
    ops()->to_host(&t, P + m->scale_off, sizeof t);
    return t;
}

void clip_clamp_logit_scale(const clip_model *m, float *P) { ops()->clamp(P + m->scale_off, 0.0f, CLIP_MAX_LOGIT_SCALE, 1); }

static lethe_status ensure_labels(clip_model *m, int n) {
    if (n <= m->labels_cap) return LETHE_OK;
    int *host = malloc((size_t)n * sizeof(int));
    int *dev = ops()->alloc((size_t)n * sizeof(int));
    if (!host || !dev) {
        free(host);
        if (dev) ops()->release(dev);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) host[i] = i;
    ops()->to_device(dev, host, (size_t)n * sizeof(int));
    free(host);
    if (m->labels) ops()->release(m->labels);
    m->labels = dev;
    m->labels_cap = n;
    return LETHE_OK;
}

/*
 * Duplicate prompts: two pairs of a batch with the same prompt have identical text
 * embeddings, so the loss asks each image to prefer its own copy of the prompt over an
 * identical one, which no model can do. CLIP ignores this (web captions rarely repeat);
 * lethe's trainer (clip_train.c) draws batches without repeated (style, object, template),
 * so the loss here can assume distinct prompts and stays CLIP's.
 */
lethe_status clip_loss_forward(clip_model *m, const float *P, const nn_ctx *ctx, const float *images, const int *ids,
                               int n, float *loss) {
    if (n < 1) return lethe_fail(LETHE_ERR_ARG, "CLIP loss: empty batch");
    lethe_status st = ensure_labels(m, n);
    if (st) return st;
    lethe_arena *a = ctx->arena;
    const int D = m->dim;
    const size_t nd = (size_t)n * D, nn = (size_t)n * n;
    float *img = arena_floats(a, nd), *txt = arena_floats(a, nd);
    m->s.u = arena_floats(a, nd);
    m->s.v = arena_floats(a, nd);
    m->s.nu = arena_floats(a, (size_t)n);
    m->s.nv = arena_floats(a, (size_t)n);
    m->s.S = arena_floats(a, nn);
    m->s.logits = arena_floats(a, nn);
    m->s.probs_i = arena_floats(a, nn);
    m->s.probs_t = arena_floats(a, nn);
    float *logits_t = arena_floats(a, nn);
    if (a->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the CLIP loss (batch %d)", n);
    if ((st = clip_encode_images(m, P, ctx, images, n, img))) return st;
    if ((st = clip_encode_text(m, P, ctx, ids, n, txt))) return st;
    ops()->l2_normalize_forward(m->s.u, m->s.nu, img, n, D, CLIP_NORM_EPS);
    ops()->l2_normalize_forward(m->s.v, m->s.nv, txt, n, D, CLIP_NORM_EPS);
    ops()->linear_forward(m->s.S, m->s.u, m->s.v, NULL, n, D, n);   // S[i][j] = u_i . v_j
    float t = clip_logit_scale(m, P);
    m->s.clamped = t > CLIP_MAX_LOGIT_SCALE;
    m->s.scale = expf(m->s.clamped ? CLIP_MAX_LOGIT_SCALE : t);
    m->s.n = n;
    ops()->axpbz(m->s.logits, m->s.scale, m->s.S, 0.0f, NULL, nn);
    ops()->transpose_forward(logits_t, m->s.logits, 1, n, n);
    float li = ops()->cross_entropy_forward(m->s.probs_i, m->s.logits, m->labels, n, n);
    float lt = ops()->cross_entropy_forward(m->s.probs_t, logits_t, m->labels, n, n);
    *loss = 0.5f * (li + lt);
    return LETHE_OK;
}

lethe_status clip_loss_backward(clip_model *m, const float *P, float *G, lethe_arena *a) {
    const int n = m->s.n, D = m->dim;
    const size_t nd = (size_t)n * D, nn = (size_t)n * n;
    float *dlogits = arena_zeros(a, nn), *dlogits_t = arena_zeros(a, nn), *dS = arena_floats(a, nn);
    float *du = arena_zeros(a, nd), *dv = arena_zeros(a, nd), *dimg = arena_zeros(a, nd), *dtxt = arena_zeros(a, nd);
    float *ones = arena_floats(a, nn);
    if (a->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the CLIP loss gradient (batch %d)", n);
    ops()->cross_entropy_backward(dlogits, m->s.probs_i, m->labels, n, n, 0.5f);
    ops()->cross_entropy_backward(dlogits_t, m->s.probs_t, m->labels, n, n, 0.5f);
    ops()->transpose_backward(dlogits, dlogits_t, 1, n, n);   // dlogits += dlogits_t^T
    if (!m->s.clamped) {
        // dloss/dt = sum_ij dlogits_ij * logits_ij (logits = e^t S): sum(x) as weighted_sum_squares(ones, x)
        ops()->mul(dS, dlogits, m->s.logits, nn);
        ops()->fill(ones, 1.0f, nn);
        float g, dt = (float)ops()->weighted_sum_squares(ones, dS, nn);
        ops()->to_host(&g, G + m->scale_off, sizeof g);
        g += dt;
        ops()->to_device(G + m->scale_off, &g, sizeof g);
    }
    ops()->axpbz(dS, m->s.scale, dlogits, 0.0f, NULL, nn);
    ops()->linear_backward(du, dv, NULL, dS, m->s.u, m->s.v, n, D, n);
    ops()->l2_normalize_backward(dimg, du, m->s.u, m->s.nu, n, D, CLIP_NORM_EPS);
    ops()->l2_normalize_backward(dtxt, dv, m->s.v, m->s.nv, n, D, CLIP_NORM_EPS);
    lethe_status st = clip_text_backward(&m->text, P + m->text_off, G + m->text_off, a, NULL, dtxt);
    if (st) return st;
    return classifier_backward(&m->image.net, P + m->image_off, G + m->image_off, a, dimg, NULL);
}

// ---- instruments -----------------------------------------------------------------------------

// n rows of emb (backend, n x dim) -> L2-normalised in place, through a scratch norm buffer.
static void normalize_rows(float *emb, float *norm, int n, int dim) {
    ops()->l2_normalize_forward(emb, norm, emb, n, dim, CLIP_NORM_EPS);
}

lethe_status clip_score(clip_model *m, const float *images, const char *prompts, size_t prompt_cap, int n, float *scores) {
    const int D = m->dim;
    lethe_arena a;
    arena_init(&a);
    lethe_status st = LETHE_OK;
    int *ids = malloc((size_t)CLIP_EVAL_BATCH * m->seq * sizeof(int));
    if (!ids) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int i0 = 0; i0 < n && !st; i0 += CLIP_EVAL_BATCH) {
        int b = n - i0 < CLIP_EVAL_BATCH ? n - i0 : CLIP_EVAL_BATCH;
        arena_reset(&a);
        nn_ctx ctx = {.arena = &a, .train = 0};
        float *u = arena_floats(&a, (size_t)b * D), *v = arena_floats(&a, (size_t)b * D), *nrm = arena_floats(&a, (size_t)b);
        float *ones = arena_floats(&a, (size_t)D), *cs = arena_floats(&a, (size_t)b);
        if (a.failed) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP scores"); break; }
        if ((st = clip_tokenize(m, prompts + (size_t)i0 * prompt_cap, prompt_cap, b, ids))) break;
        if ((st = clip_encode_images(m, m->params, &ctx, images + (size_t)i0 * CANVAS_NUMEL, b, u))) break;
        if ((st = clip_encode_text(m, m->params, &ctx, ids, b, v))) break;
        normalize_rows(u, nrm, b, D);
        normalize_rows(v, nrm, b, D);
        // cos_i = sum_d u_id v_id: the elementwise product's row sums, as a linear map onto ones
        ops()->mul(u, u, v, (size_t)b * D);
        ops()->fill(ones, 1.0f, (size_t)D);
        ops()->linear_forward(cs, u, ones, NULL, b, D, 1);
        ops()->clamp(cs, 0.0f, INFINITY, (size_t)b);
        ops()->axpbz(cs, 100.0f, cs, 0.0f, NULL, (size_t)b);
        ops()->to_host(scores + i0, cs, (size_t)b * sizeof(float));
    }
    free(ids);
    arena_free(&a);
    return st;
}

lethe_status clip_zero_shot(clip_model *m, const char *const *object_names, int n_objects, const float *images,
                            const int *styles, const int *objects, int n, double *style_acc, double *object_acc) {
    const int D = m->dim, NS = CANVAS_N_STYLES, NO = n_objects, NT = CANVAS_N_TEMPLATES, NP = NS * NO * NT;
    if (n < 1 || NO < 1) return lethe_fail(LETHE_ERR_ARG, "CLIP zero-shot: no images or no objects");
    lethe_status st = LETHE_OK;
    char *prompts = malloc((size_t)CLIP_EVAL_BATCH * CANVAS_PROMPT_MAX);
    int *ids = malloc((size_t)CLIP_EVAL_BATCH * m->seq * sizeof(int));
    float *avg_s = calloc((size_t)NS * NP, sizeof(float)), *avg_o = calloc((size_t)NO * NP, sizeof(float));
    float *scores = malloc((size_t)CLIP_EVAL_BATCH * (NS > NO ? NS : NO) * sizeof(float));
    float *E = ops()->alloc((size_t)NP * D * sizeof(float)), *Et = ops()->alloc((size_t)NP * D * sizeof(float));
    float *A = ops()->alloc((size_t)(NS > NO ? NS : NO) * NP * sizeof(float));
    float *cls_s = ops()->alloc((size_t)NS * D * sizeof(float)), *cls_o = ops()->alloc((size_t)NO * D * sizeof(float));
    float *nrm = ops()->alloc((size_t)(NP > CLIP_EVAL_BATCH ? NP : CLIP_EVAL_BATCH) * sizeof(float));
    lethe_arena a;
    arena_init(&a);
    long hit_s = 0, hit_o = 0;
    if (!prompts || !ids || !avg_s || !avg_o || !scores || !E || !Et || !A || !cls_s || !cls_o || !nrm) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP zero-shot");
        goto done;
    }
    // every prompt p = ((style * NO) + object) * NT + template, embedded and normalised
    for (int p0 = 0; p0 < NP && !st; p0 += CLIP_EVAL_BATCH) {
        int b = NP - p0 < CLIP_EVAL_BATCH ? NP - p0 : CLIP_EVAL_BATCH;
        for (int i = 0; i < b; i++) {
            int p = p0 + i, k = p % NT, o = p / NT % NO, s = p / NT / NO;
            if (canvas_prompt(k, object_names[o], canvas_style_name(s), prompts + (size_t)i * CANVAS_PROMPT_MAX,
                              CANVAS_PROMPT_MAX) < 0) {
                st = lethe_fail(LETHE_ERR_ARG, "CLIP zero-shot: the prompt of object '%s' does not fit", object_names[o]);
                goto done;
            }
        }
        if ((st = clip_tokenize(m, prompts, CANVAS_PROMPT_MAX, b, ids))) goto done;
        arena_reset(&a);
        nn_ctx ctx = {.arena = &a, .train = 0};
        if ((st = clip_encode_text(m, m->params, &ctx, ids, b, E + (size_t)p0 * D))) goto done;
    }
    normalize_rows(E, nrm, NP, D);
    // prompt ensembles: class embedding = normalise(mean of its prompts' embeddings) = A E
    for (int p = 0; p < NP; p++) {
        int o = p / NT % NO, s = p / NT / NO;
        avg_s[(size_t)s * NP + p] = 1.0f / (float)(NO * NT);
        avg_o[(size_t)o * NP + p] = 1.0f / (float)(NS * NT);
    }
    ops()->transpose_forward(Et, E, 1, NP, D);
    ops()->to_device(A, avg_s, (size_t)NS * NP * sizeof(float));
    ops()->linear_forward(cls_s, A, Et, NULL, NS, NP, D);
    ops()->to_device(A, avg_o, (size_t)NO * NP * sizeof(float));
    ops()->linear_forward(cls_o, A, Et, NULL, NO, NP, D);
    normalize_rows(cls_s, nrm, NS, D);
    normalize_rows(cls_o, nrm, NO, D);
    for (int i0 = 0; i0 < n; i0 += CLIP_EVAL_BATCH) {
        int b = n - i0 < CLIP_EVAL_BATCH ? n - i0 : CLIP_EVAL_BATCH;
        arena_reset(&a);
        nn_ctx ctx = {.arena = &a, .train = 0};
        float *u = arena_floats(&a, (size_t)b * D), *sc = arena_floats(&a, (size_t)b * NS);
        if (a.failed) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP zero-shot"); goto done; }
        if ((st = clip_encode_images(m, m->params, &ctx, images + (size_t)i0 * CANVAS_NUMEL, b, u))) goto done;
        normalize_rows(u, nrm, b, D);
        ops()->linear_forward(sc, u, cls_s, NULL, b, D, NS);
        ops()->to_host(scores, sc, (size_t)b * NS * sizeof(float));
        for (int i = 0; i < b; i++) hit_s += argmax_row(scores + (size_t)i * NS, NS) == styles[i0 + i];
        ops()->linear_forward(sc, u, cls_o, NULL, b, D, NO);
        ops()->to_host(scores, sc, (size_t)b * NO * sizeof(float));
        for (int i = 0; i < b; i++) hit_o += argmax_row(scores + (size_t)i * NO, NO) == objects[i0 + i];
    }
    if (style_acc) *style_acc = (double)hit_s / n;
    if (object_acc) *object_acc = (double)hit_o / n;
done:
    free(prompts); free(ids); free(avg_s); free(avg_o); free(scores);
    if (E) ops()->release(E);
    if (Et) ops()->release(Et);
    if (A) ops()->release(A);
    if (cls_s) ops()->release(cls_s);
    if (cls_o) ops()->release(cls_o);
    if (nrm) ops()->release(nrm);
    arena_free(&a);
    return st;
}

lethe_status clip_zero_shot_canvas(clip_model *m, const canvas_set *c, int limit, double *style_acc, double *object_acc) {
    lethe_dataset styled;
    lethe_status st = canvas_set_materialize(c, CANVAS_LABEL_STYLE, &styled);
    if (st) return st;
    int n = limit > 0 && limit < styled.n ? limit : styled.n;
    const char *names[LETHE_MAX_CLASSES];
    for (int i = 0; i < c->objects.n_classes; i++) names[i] = c->objects.class_names[i];
    float *host = malloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    int *labels = malloc((size_t)n * sizeof(int)), *idx = malloc((size_t)n * sizeof(int));
    float *x = ops()->alloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    if (!host || !labels || !idx || !x) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d zero-shot images", n);
    else {
        for (int i = 0; i < n; i++) idx[i] = i;
        dataset_batch(&styled, idx, n, host, labels);
        ops()->to_device(x, host, (size_t)n * CANVAS_NUMEL * sizeof(float));
        st = clip_zero_shot(m, names, c->objects.n_classes, x, labels, c->objects.labels, n, style_acc, object_acc);
    }
    free(host); free(labels); free(idx);
    if (x) ops()->release(x);
    dataset_free(&styled);
    return st;
}
