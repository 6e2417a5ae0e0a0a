/* text_cond.c: prompts -> CLIP hidden states, the null row (see text_cond.h). */
#include "diffusion/text_cond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "ops/ops.h"

void text_cond_free(text_cond *tc) {
    clip_text_free(&tc->enc);
    tokenizer_free(&tc->tok);
    if (tc->null_tokens) ops()->release(tc->null_tokens);
    arena_free(&tc->arena);
    free(tc->ids);
    memset(tc, 0, sizeof *tc);
}

static lethe_status ensure_ids(text_cond *tc, int n) {
    if (n <= tc->ids_cap) return LETHE_OK;
    int *ids = realloc(tc->ids, (size_t)n * (size_t)tc->seq * sizeof(int));
    if (!ids) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d prompts", n);
    tc->ids = ids;
    tc->ids_cap = n;
    return LETHE_OK;
}

lethe_status text_cond_encode(text_cond *tc, const char *prompts, size_t prompt_cap, int n, float *out) {
    lethe_status st = ensure_ids(tc, n);
    if (st) return st;
    for (int i = 0; i < n; i++)
        if ((st = tokenizer_encode(&tc->tok, prompts + (size_t)i * prompt_cap, tc->ids + (size_t)i * tc->seq, NULL)))
            return st;
    arena_reset(&tc->arena);
    nn_ctx ctx = {.arena = &tc->arena, .train = 0};   // inference: the encoder is frozen
    return clip_text_forward(&tc->enc, tc->enc.params, &ctx, tc->ids, n, tc->seq, out, NULL);
}

lethe_status text_cond_encode_one(text_cond *tc, const char *prompt, float *out) {
    return text_cond_encode(tc, prompt, strlen(prompt) + 1, 1, out);
}

lethe_status text_cond_load(text_cond *tc, const char *dir) {
    char path[4096];
    memset(tc, 0, sizeof *tc);
    arena_init(&tc->arena);
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    lethe_status st = tokenizer_load(&tc->tok, path);
    if (st) goto fail;
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    if ((st = clip_text_load(&tc->enc, path))) goto fail;
    const clip_text_config *c = &tc->enc.cfg;
    if (tc->tok.vocab_size != c->vocab_size || tc->tok.eos_id != c->eos_token_id) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: the tokenizer (%d ids, EOS %d) does not match the text encoder (%d ids, EOS %d)",
                        dir, tc->tok.vocab_size, tc->tok.eos_id, c->vocab_size, c->eos_token_id);
        goto fail;
    }
    if (tc->tok.max_length > c->max_position_embeddings) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: tokenizer max_length %d exceeds the text encoder's %d positions", dir,
                        tc->tok.max_length, c->max_position_embeddings);
        goto fail;
    }
    tc->seq = tc->tok.max_length;
    tc->width = c->hidden_size;
    tc->null_tokens = ops()->alloc((size_t)tc->seq * tc->width * sizeof(float));
    if (!tc->null_tokens) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail; }
    if ((st = text_cond_encode_one(tc, "", tc->null_tokens))) goto fail;
    return LETHE_OK;
fail:
    text_cond_free(tc);
    return st;
}

lethe_status text_cond_save(const text_cond *tc, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    lethe_status st = clip_text_save(&tc->enc, path);
    if (st) return st;
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    return tokenizer_save(&tc->tok, path);
}
