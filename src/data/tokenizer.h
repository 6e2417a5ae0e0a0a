/*
 * tokenizer.h: a word-level tokenizer for the prompts of a small, closed vocabulary
 * (the Fashion-Canvas benchmark: "a trouser in zebra style"), giving the fixed-length
 * token ids a CLIP text encoder (transformers' CLIPTextModel) reads, and kept in the file
 * layout of a Hugging Face CLIP tokenizer folder.
 *
 * Tokens: one per word. A prompt is lower-cased (ASCII), split on ASCII whitespace, and each
 * piece loses its leading and trailing ASCII punctuation (",.!?;:'\"()-" and the rest of
 * ASCII's); inner punctuation stays, so "t-shirt" and "ankle-boot" are single words. A piece
 * that was all punctuation (" , ") is dropped. Every remaining word must be in the
 * vocabulary: an unknown word is an error naming it and the nearest known words, never an
 * unknown-token id.
 *
 * Encoding: BOS, the word ids, EOS, then EOS again up to max_length ids. Padding with EOS
 * follows Stable Diffusion's CLIP tokenizer (pad_token = "<|endoftext|>"). n_tokens counts
 * BOS..EOS: EOS sits at n_tokens - 1, where CLIPTextModel takes its pooled output. The empty
 * prompt (the unconditional one) is BOS EOS EOS ...
 *
 * Ids, as tokenizer_create assigns them: the words in the order given (word i has id i),
 * then BOS "<|startoftext|>" = n_words and EOS "<|endoftext|>" = n_words + 1, the last two
 * ids, as in CLIP's own vocabulary (49406, 49407). Keeping EOS the largest id matters:
 * CLIPTextModel pools at argmax(input_ids) when its config says eos_token_id = 2 (configs
 * from before transformers PR #24773) and at the first id equal to eos_token_id otherwise;
 * with EOS the largest id both find the same position. Read the ids from the struct
 * (bos_id, eos_id, pad_id) rather than assuming them: a loaded folder may number them
 * differently.
 *
 * Folder (tokenizer_save / tokenizer_load), as a CLIP tokenizer folder lays it out:
 *   vocab.json               {"token": id, ...}, in id order. Words are spelled as they are,
 *                            without the "</w>" suffix of CLIP's BPE vocabulary: "</w>" marks
 *                            the end of a word for BPE merges, and here every token is a whole
 *                            word and there are no merges, so the suffix would say nothing.
 *                            The special tokens are spelled as CLIP's: "<|startoftext|>",
 *                            "<|endoftext|>".
 *   merges.txt               only the "#version: 0.2" header: no merges.
 *   tokenizer_config.json    model_max_length, do_lower_case (true), bos/eos/pad/unk_token,
 *                            tokenizer_class "lethe-word-level" and a "lethe_note" saying the
 *                            above. The class is not "CLIPTokenizer" on purpose: transformers'
 *                            CLIPTokenizer would cut "t-shirt" at the hyphen and, with no
 *                            merges, every word into unknown characters, so the folder must
 *                            not claim to be one.
 *   special_tokens_map.json  bos/eos/unk_token as transformers writes AddedTokens ({"content":
 *                            ..., "lstrip": false, ...}), pad_token as a string, as in Stable
 *                            Diffusion's tokenizer folder. unk_token is "<|endoftext|>" as in
 *                            CLIP's; lethe never emits it (unknown words are errors).
 */
#ifndef LETHE_DATA_TOKENIZER_H
#define LETHE_DATA_TOKENIZER_H

#include <stddef.h>

#include "core/error.h"

#define TOKENIZER_BOS "<|startoftext|>"
#define TOKENIZER_EOS "<|endoftext|>"
#define TOKENIZER_CLASS "lethe-word-level"   // tokenizer_config.json's tokenizer_class
#define TOKENIZER_MAX_LENGTH_LIMIT 1024      // max_length above this is refused (CLIP uses 77)

typedef struct {
    char **tokens;      // id -> token, owned: the words and the special tokens
    int vocab_size;     // number of ids (the text encoder's embedding rows)
    int bos_id, eos_id, pad_id, unk_id;   // pad_id == unk_id == eos_id from tokenizer_create
    int max_length;     // every encoding has exactly this many ids, BOS and EOS included
} lethe_tokenizer;

// A tokenizer over WORDS (n_words >= 1, copied). Errors (LETHE_ERR_ARG) on an empty or
// duplicate word, a word with whitespace or upper case, a word starting or ending with ASCII
// punctuation (prompts lose that, so it could never match), max_length < 3 or above
// TOKENIZER_MAX_LENGTH_LIMIT. On failure t is left empty (tokenizer_free is safe).
lethe_status tokenizer_create(lethe_tokenizer *t, const char *const *words, int n_words, int max_length);

// Writes t->max_length ids (ids must hold that many) and sets *n_tokens (if not NULL) to the
// count BOS..EOS inclusive. Errors (LETHE_ERR_ARG): an unknown word (naming it, the prompt
// and up to 3 nearest known words by edit distance, ties in id order); more words than
// max_length - 2. On error *n_tokens is 0 and ids are unspecified.
lethe_status tokenizer_encode(const lethe_tokenizer *t, const char *prompt, int *ids, int *n_tokens);

// The words of N ids, separated by single spaces, into OUT (CAP bytes, NUL-terminated):
// BOS and padding are skipped and decoding stops at the first EOS. An id outside
// 0..vocab_size-1 (anywhere in the N) or an OUT too small is an error (LETHE_ERR_ARG).
lethe_status tokenizer_decode(const lethe_tokenizer *t, const int *ids, int n, char *out, size_t cap);

// The id of a token spelled exactly TOKEN (a word or a special token), or -1.
int tokenizer_token_id(const lethe_tokenizer *t, const char *token);

// Writes DIR/{vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json},
// creating DIR; each file atomically.
lethe_status tokenizer_save(const lethe_tokenizer *t, const char *dir);

// Reads a folder tokenizer_save wrote. Errors name the file: one missing or unreadable
// (LETHE_ERR_IO); corrupt JSON, a tokenizer_class other than "lethe-word-level", BPE merges,
// vocab.json ids that are not 0..n-1 each exactly once, a special token missing from
// special_tokens_map.json or from vocab.json, the two JSON files disagreeing on one, a word
// tokenizer_create would refuse (LETHE_ERR_FORMAT). On failure t is left empty.
lethe_status tokenizer_load(lethe_tokenizer *t, const char *dir);

void tokenizer_free(lethe_tokenizer *t);

#endif
