/*
 * text_cond.h: the frozen text side of a text-to-image model: a CLIP text encoder
 * (nn/clip_text.h, transformers' CLIPTextModel or CLIPTextModelWithProjection) and its
 * tokenizer (data/tokenizer.h), turning prompts into the token rows a UNet2DConditionModel
 * reads (LETHE_COND_TOKENS): encode(prompts) = the encoder's last_hidden_state, (n, seq,
 * hidden_size), seq = the tokenizer's max_length, as Stable Diffusion conditions its UNet
 * (the pooled / projected output is not used). The empty prompt's encoding is the null row
 * (classifier-free guidance, prompt dropout).
 *
 * Folder: DIR/text_encoder/ (config.json + model.safetensors) and DIR/tokenizer/, the layout
 * of a diffusers pipeline folder and of `lethe clip`'s output. The encoder is never trained
 * here: nothing computes a gradient into it.
 */
#ifndef LETHE_DIFFUSION_TEXT_COND_H
#define LETHE_DIFFUSION_TEXT_COND_H

#include <stddef.h>

#include "data/tokenizer.h"
#include "nn/clip_text.h"
#include "ops/arena.h"

typedef struct {
    lethe_clip_text enc;       // frozen; enc.params in backend memory
    lethe_tokenizer tok;
    int seq, width;            // rows are (seq, width): tokenizer max_length, encoder hidden_size
    float *null_tokens;        // (seq, width) backend: the empty prompt's encoding
    lethe_arena arena;         // scratch of one encode
    int *ids;                  // host (ids_cap, seq)
    int ids_cap;
} text_cond;

// Reads DIR/text_encoder and DIR/tokenizer and checks they belong together (vocabulary size,
// EOS id, max_length within the encoder's positions). Errors name the folder; on failure tc is
// left empty (text_cond_free is safe).
lethe_status text_cond_load(text_cond *tc, const char *dir);
void text_cond_free(text_cond *tc);
// Writes DIR/text_encoder and DIR/tokenizer (creating them).
lethe_status text_cond_save(const text_cond *tc, const char *dir);
// out (n, seq, width), backend memory = the hidden states of n prompts (rows of prompt_cap
// chars). An unknown word is the tokenizer's error (the word and the nearest known words).
lethe_status text_cond_encode(text_cond *tc, const char *prompts, size_t prompt_cap, int n, float *out);
// The same for one prompt (one row).
lethe_status text_cond_encode_one(text_cond *tc, const char *prompt, float *out);

#endif
