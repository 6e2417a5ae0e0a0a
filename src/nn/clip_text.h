/*
 * clip_text.h: a CLIP text encoder, transformers' CLIPTextModel (and, with with_projection,
 * CLIPTextModelWithProjection), hidden_act "quick_gelu", built from ops.
 *
 *   h = token_embedding[ids] + position_embedding[0..seq)
 *   per layer (pre-LN):  h = h + out_proj(attn(layer_norm1(h)))      causal, heads of hidden/heads,
 *                        h = h + fc2(quick_gelu(fc1(layer_norm2(h))))  scale head_dim^-0.5
 *   last_hidden_state = final_layer_norm(h)                          (n, seq, hidden)
 *   pooled = last_hidden_state at the first position whose id is eos_token_id   (n, hidden)
 *   with projection: pooled = text_projection(pooled)  (no bias)     (n, projection_dim)
 *
 * Pooling: transformers pools at the first eos_token_id for configs written after its PR
 * #24773 and at argmax(input_ids) for older ones; lethe's tokenizer makes EOS the largest id
 * and pads with EOS, so both rules give the same position and lethe implements the first.
 * A row without EOS is an error here (transformers would silently pool at position 0).
 * The only attention mask is the causal one (Stable Diffusion's usage: the padding is EOS,
 * and causality keeps padded positions out of every earlier one). No dropout.
 *
 * Names are transformers' state-dict keys (text_model.embeddings.token_embedding.weight,
 * text_model.encoder.layers.{i}.self_attn.q_proj.weight, ..., text_projection.weight), in the
 * order of its state dict; the non-persistent position_ids buffer is not a parameter.
 *
 * Initialisation (clip_text_init_params) follows CLIPPreTrainedModel._init_weights
 * (transformers modeling_clip.py, read for this), with f = initializer_factor, H = hidden,
 * L = num_hidden_layers:
 *   token and position embeddings N(0, 0.02 f);
 *   q/k/v_proj weights N(0, H^-0.5 (2L)^-0.5 f), out_proj weight N(0, H^-0.5 f);
 *   fc1 weight N(0, (2H)^-0.5 f), fc2 weight N(0, H^-0.5 (2L)^-0.5 f);
 *   text_projection N(0, H^-0.5 f) (CLIPTextModelWithProjection's branch);
 *   every Linear bias 0, every LayerNorm weight 1 and bias 0.
 * The normals are lethe's Philox (LETHE_STREAM_INIT, one stream per tensor index), so the
 * values are lethe's own, not torch's.
 *
 * Folder (clip_text_save / clip_text_load), as transformers' save_pretrained lays it out:
 *   DIR/config.json        CLIPTextConfig (clip_text_config.h)
 *   DIR/model.safetensors  F32 weights under the names above, metadata {"format": "pt"}
 *
 * Parameters live in one flat buffer described by `table`; forward/backward take the
 * parameter base P and gradient base G explicitly (live, EMA or frozen copies alike).
 */
#ifndef LETHE_NN_CLIP_TEXT_H
#define LETHE_NN_CLIP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "nn/clip_text_config.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "ops/arena.h"

typedef struct { size_t w, b; } clip_layer_norm;   // weight, bias offsets (width = hidden)

typedef struct {
    linear_layer k_proj, v_proj, q_proj, out_proj, fc1, fc2;
    clip_layer_norm ln1, ln2;
    // saved by a training forward; rows = n * seq
    struct {
        const float *x;                  // layer input (residual stream)
        float *u1, *mean1, *rstd1;       // layer_norm1(x) and its statistics
        float *q, *k, *v, *probs, *o;    // attention: projections, probabilities, per-head output
        float *h;                        // x + out_proj(o)
        float *u2, *mean2, *rstd2;       // layer_norm2(h)
        float *f1, *a1;                  // fc1(u2), quick_gelu(f1)
    } s;
} clip_text_layer;

typedef struct {
    clip_text_config cfg;
    param_table table;
    float *params;                       // backend memory, table.total floats (clip_text_create/load)

    embedding_layer token_embedding, position_embedding;
    clip_text_layer layers[CLIP_TEXT_MAX_LAYERS];
    clip_layer_norm final_ln;
    size_t text_projection;              // weight offset (projection_dim, hidden), with projection only

    // saved by the last forward (train: for backward)
    struct {
        int n, seq, train;
        int *ids, *pos_ids;              // backend copies (n * seq)
        int *eos;                        // host: pooled position of each row (n), eos_cap allocated
        int eos_cap;
        float *h_final, *mean_f, *rstd_f;   // input of final_layer_norm and its statistics
        float *pooled_raw;               // (n, hidden) rows of last_hidden_state at EOS (projection input)
    } s;
} lethe_clip_text;

// The table and layers for a config (validated); no parameter memory (params stays NULL).
lethe_status clip_text_build(lethe_clip_text *m, const clip_text_config *cfg);
// clip_text_build, then params allocated on the active backend and initialised from seed.
lethe_status clip_text_create(lethe_clip_text *m, const clip_text_config *cfg, uint64_t seed);
void clip_text_free(lethe_clip_text *m);
size_t clip_text_num_params(const lethe_clip_text *m);   // sum of tensor sizes (no alignment gaps)
// Width of the pooled output: projection_dim with projection, hidden_size without.
int clip_text_pooled_dim(const lethe_clip_text *m);
// Fills P (backend memory, table.total floats) with transformers' initial values (see above).
lethe_status clip_text_init_params(const lethe_clip_text *m, float *P, uint64_t seed);

// ids: host array (n, seq) of token ids in [0, vocab_size), 1 <= seq <= max_position_embeddings,
// each row holding eos_token_id. last_hidden (n, seq, hidden) and pooled (n, clip_text_pooled_dim)
// are backend memory, either may be NULL. ctx->train saves what backward needs in ctx->arena
// (valid until the arena is reset). LETHE_ERR_ARG naming row and position for bad ids;
// LETHE_ERR_NOMEM when the arena cannot grow.
lethe_status clip_text_forward(lethe_clip_text *m, const float *P, const nn_ctx *ctx, const int *ids, int n, int seq,
                               float *last_hidden, float *pooled);
// After a training forward: accumulates into G the gradient of every parameter for upstream
// gradients d_last_hidden (n, seq, hidden) and d_pooled (n, pooled dim), backend memory, either
// may be NULL (no gradient through that output). G may be NULL (nothing to do).
lethe_status clip_text_backward(lethe_clip_text *m, const float *P, float *G, lethe_arena *arena,
                                const float *d_last_hidden, const float *d_pooled);

// Writes DIR/model.safetensors then DIR/config.json (each atomically), creating DIR.
lethe_status clip_text_save(const lethe_clip_text *m, const char *dir);
// Reads a folder: config.json (clip_text_config_from_json) and model.safetensors (F32, F16 or
// BF16; every tensor the config needs, each with its exact shape; no other tensor but an old
// transformers' text_model.embeddings.position_ids buffer). Errors name the file and the field
// or tensor; on failure m is left empty (clip_text_free is safe).
lethe_status clip_text_load(lethe_clip_text *m, const char *dir);

#endif
