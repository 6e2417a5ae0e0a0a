/*
 * clip_text_config.h: the config of lethe's CLIP text encoder, transformers' CLIPTextConfig
 * (model_type "clip_text_model"), and its config.json.
 *
 * config.json holds what transformers writes for a CLIPTextConfig: architectures
 * (["CLIPTextModel"] or ["CLIPTextModelWithProjection"], which sets with_projection),
 * model_type, vocab_size, hidden_size, intermediate_size, projection_dim, num_hidden_layers,
 * num_attention_heads, max_position_embeddings, hidden_act, layer_norm_eps, attention_dropout,
 * initializer_range, initializer_factor, bos/eos/pad_token_id, torch_dtype. No
 * transformers_version: lethe is not transformers and does not claim a version of it.
 *
 * Reading: the keys that shape the network or its numbers (architectures, vocab_size,
 * hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * max_position_embeddings, hidden_act, layer_norm_eps, eos_token_id, and projection_dim
 * with projection) must be present; the others take CLIPTextConfig's defaults when absent.
 * Present keys of the wrong type, hidden_act other than "quick_gelu", attention_dropout other
 * than 0 (lethe's encoder has no dropout) and model_type other than "clip_text_model" are
 * errors naming the file and the key. torch_dtype may be any string (lethe computes in
 * float32 and reads F16/BF16 weights converted); it is written as "float32".
 */
#ifndef LETHE_NN_CLIP_TEXT_CONFIG_H
#define LETHE_NN_CLIP_TEXT_CONFIG_H

#include "core/error.h"

#define CLIP_TEXT_MAX_LAYERS 64

typedef struct {
    int vocab_size, hidden_size, intermediate_size, projection_dim;
    int num_hidden_layers, num_attention_heads, max_position_embeddings;
    float layer_norm_eps;
    float attention_dropout;               // must be 0 (kept for the file)
    float initializer_range;               // kept for the file; the text model's init does not read it
    float initializer_factor;              // scales every initial std (transformers' _init_weights)
    int bos_token_id, eos_token_id, pad_token_id;   // bos, pad: recorded only; < 0 is null in the file
    int with_projection;                   // 1: CLIPTextModelWithProjection (text_projection on the pooled output)
} clip_text_config;

// CLIPTextConfig's defaults (openai/clip-vit-base-patch32's text encoder), CLIPTextModel.
void clip_text_config_default(clip_text_config *c);
// A small encoder for Fashion-Canvas prompts: hidden 64, 4 layers of 4 heads, intermediate
// 256, 16 positions, projection 64 (with_projection 1), eps 1e-5. The vocabulary and the
// special ids come from the tokenizer (lethe_tokenizer's vocab_size, bos_id, eos_id, pad_id).
void clip_text_config_default_small(clip_text_config *c, int vocab_size, int bos_token_id, int eos_token_id,
                                    int pad_token_id);
// Buildable: positive sizes, hidden_size a multiple of the heads, eos_token_id in the
// vocabulary (bos/pad are recorded only), layer_norm_eps > 0, attention_dropout 0.
// LETHE_ERR_ARG naming the field.
lethe_status clip_text_config_validate(const clip_text_config *c);

// config.json text, keys in sorted order as transformers writes them. Caller frees; NULL if out of memory.
char *clip_text_config_to_json(const clip_text_config *c);
// Parses config.json text; `what` (the path) names the source in errors. Validates.
lethe_status clip_text_config_from_json(clip_text_config *c, const char *json_text, const char *what);

#endif
