/*
 * clip_model.h: a small two-tower CLIP (Radford et al. 2021) for Fashion-Canvas, trained by
 * lethe contrastively (eval/clip_train.h), and its instruments: CLIP score and zero-shot
 * accuracy.
 *
 * Towers:
 *   text   nn/clip_text.h, CLIPTextModelWithProjection (transformers' names); its pooled,
 *          projected output (projection_dim, 64 by default) is the text embedding.
 *   image  nn/classifier.h's pre-activation ResNet (stages 32/64/128, one block each,
 *          feature_dim 128), whose `head` linear layer (num_classes = projection_dim) is the
 *          projection into the shared embedding space: image embedding = head(features).
 *          Reusing the tested classifier network keeps every op already finite-difference
 *          checked; unlike CLIP's visual projection the head has a bias (harmless: the
 *          embedding is L2-normalised afterwards, and the bias is one more learned vector).
 *   logit_scale  t, CLIP's learned log inverse temperature, initialised to log(1/0.07).
 *
 * Loss, per batch of n (image, prompt) pairs: u = l2_normalize(image), v = l2_normalize(text),
 * logits = exp(min(t, log 100)) u v^T (n x n), loss = (CE(logits, arange) + CE(logits^T,
 * arange)) / 2. t is clamped in the forward (exp(t) <= 100, no gradient to t beyond it) and,
 * as CLIP's training code does, clamped into [0, log 100] after every optimiser step.
 * Every number goes through ops (linear for u v^T, transpose, cross_entropy, l2_normalize);
 * the gradient of t, sum(dlogits * logits), is mul + weighted_sum_squares against ones.
 *
 * All parameters live in one flat backend buffer: text | image | logit_scale (each start
 * 64-byte aligned), so one AdamW state and one run state cover the whole model.
 *
 * Folder (clip_model_save / clip_model_load):
 *   DIR/text_encoder/   clip_text_save: config.json + model.safetensors (transformers layout)
 *   DIR/tokenizer/      tokenizer_save (word-level, HF CLIP tokenizer file layout)
 *   DIR/image_encoder/  a lethe classifier folder (config.json, model.safetensors) with
 *                       dataset "fashion-canvas-clip" and num_classes = projection_dim: its
 *                       head is the image projection (class names "embed_0", ...)
 *   DIR/clip.json       logit_scale, the recipe, the command, the final loss, zero-shot
 *                       accuracies (written by the trainer; read back for logit_scale)
 */
#ifndef LETHE_EVAL_CLIP_MODEL_H
#define LETHE_EVAL_CLIP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data/canvas_set.h"
#include "data/tokenizer.h"
#include "eval/classifier_model.h"
#include "nn/clip_text.h"

#define CLIP_IMAGE_DATASET "fashion-canvas-clip"
#define CLIP_INIT_LOGIT_SCALE 2.6592600f     // log(1 / 0.07)
#define CLIP_MAX_LOGIT_SCALE 4.6051702f      // log(100)
#define CLIP_NORM_EPS 1e-12f                 // F.normalize's default eps

typedef struct {
    lethe_tokenizer tok;
    lethe_clip_text text;          // text.params points into params (not owned)
    eval_classifier image;         // image.params points into params (not owned)
    float *params;                 // backend: text | image | logit_scale
    size_t n_params, text_off, image_off, scale_off;
    int dim;                       // shared embedding width
    int seq;                       // token ids per prompt (tokenizer max_length)
    // saved by clip_loss_forward for clip_loss_backward (arena memory)
    struct {
        int n;
        float scale;               // exp(min(t, log 100))
        int clamped;               // t > log 100: no gradient to t
        float *u, *v, *nu, *nv, *S, *logits, *probs_i, *probs_t;
    } s;
    int *labels;                   // backend 0..labels_cap-1 (owned)
    int labels_cap;
} clip_model;

// Image encoder config: the classifier with stages 32/64/128 and 128 features, head = dim outputs.
void clip_image_config_default(classifier_config *c, int dim);

// A new model over the Fashion-Canvas vocabulary of `objects` (the object names) with
// max_length 16: small text encoder (clip_text_config_default_small) unless text_cfg is
// given (its vocabulary and special ids are overwritten by the tokenizer's), the image
// encoder of image_cfg (NULL: clip_image_config_default with the text projection width).
lethe_status clip_model_create(clip_model *m, const char *const *objects, int n_objects, const clip_text_config *text_cfg,
                               const classifier_config *image_cfg, uint64_t seed);
void clip_model_free(clip_model *m);

// Writes text_encoder/, tokenizer/, image_encoder/ (not clip.json) under dir.
lethe_status clip_model_save(clip_model *m, const char *dir);
// Reads the folder; logit_scale from clip.json. Errors name the part that is missing or wrong.
lethe_status clip_model_load(clip_model *m, const char *dir);

// Token ids (host, n x m->seq) of n prompts (rows of prompt_cap chars).
lethe_status clip_tokenize(const clip_model *m, const char *prompts, size_t prompt_cap, int n, int *ids);

// Embeddings (backend, n x dim, not normalised) of the two towers, with P the parameter base.
lethe_status clip_encode_images(clip_model *m, const float *P, const nn_ctx *ctx, const float *images, int n, float *emb);
lethe_status clip_encode_text(clip_model *m, const float *P, const nn_ctx *ctx, const int *ids, int n, float *emb);

// The contrastive loss of n pairs (images backend (n, 3, 32, 32), ids host (n, seq)). ctx->train
// must be set: both towers and the loss save what clip_loss_backward needs in ctx->arena.
// *loss is (CE rows + CE columns) / 2.
lethe_status clip_loss_forward(clip_model *m, const float *P, const nn_ctx *ctx, const float *images, const int *ids,
                               int n, float *loss);
// Accumulates into G (backend, n_params) the gradient of the loss for every parameter (t included).
lethe_status clip_loss_backward(clip_model *m, const float *P, float *G, lethe_arena *arena);
// Clamps logit_scale of P into [0, log 100] (after an optimiser step, as CLIP's training code does).
void clip_clamp_logit_scale(const clip_model *m, float *P);
float clip_logit_scale(const clip_model *m, const float *P);   // t (host copy)

// CLIP score of n (image, prompt) pairs: 100 * max(cos(image emb, text emb), 0), the x100
// cosine most unlearning papers report (Hessel et al.'s CLIPScore uses w = 2.5 instead of 100).
// images backend (n, 3, 32, 32); prompts n rows of prompt_cap chars; scores host (n).
lethe_status clip_score(clip_model *m, const float *images, const char *prompts, size_t prompt_cap, int n, float *scores);

// Zero-shot accuracy on n images (backend) with true styles and objects (host). Candidates
// are CLIP's prompt ensembles: a style's text embedding is the normalised mean of the
// normalised embeddings of all its prompts (every object x every template), an object's the
// same over every style x template, so neither uses the image's true other label.
// object_names: the n_objects object names of the prompts (the canvas set's class names).
lethe_status clip_zero_shot(clip_model *m, const char *const *object_names, int n_objects, const float *images,
                            const int *styles, const int *objects, int n, double *style_acc, double *object_acc);
// The same on up to `limit` images of the canvas set's materialised split (one style per image).
lethe_status clip_zero_shot_canvas(clip_model *m, const canvas_set *c, int limit, double *style_acc, double *object_acc);

#endif
