/*
 * tokenizer.c: the word-level prompt tokenizer and its Hugging Face-style folder
 * (see tokenizer.h for the rules and the file format).
 */
#include "data/tokenizer.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

#define MERGES_HEADER "#version: 0.2"
#define SHOWN_PROMPT 160   // bytes of a prompt quoted in an error message

// ASCII classes by hand: <ctype.h> follows the locale, and a prompt must give the same ids everywhere.
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_punct(char c) {
    unsigned char u = (unsigned char)c;
    return (u >= '!' && u <= '/') || (u >= ':' && u <= '@') || (u >= '[' && u <= '`') || (u >= '{' && u <= '~');
}

// printf arguments for "%.*s%s": the prompt, cut to SHOWN_PROMPT bytes and marked "..." if cut.
#define PROMPT_ARGS(p) (int)(strlen(p) > SHOWN_PROMPT ? SHOWN_PROMPT : strlen(p)), (p), \
                       (strlen(p) > SHOWN_PROMPT ? "..." : "")

static int is_special(const lethe_tokenizer *t, int id) {
    return id == t->bos_id || id == t->eos_id || id == t->pad_id || id == t->unk_id;
}

static void free_tokens(char **tokens, int n) {
    if (!tokens) return;
    for (int i = 0; i < n; i++) free(tokens[i]);
    free(tokens);
}

void tokenizer_free(lethe_tokenizer *t) {
    if (!t) return;
    free_tokens(t->tokens, t->vocab_size);
    memset(t, 0, sizeof *t);
}

// ---- the vocabulary ---------------------------------------------------------------------

// A word must be something a prompt can produce: tokenizer_encode lower-cases, splits at
// whitespace and strips punctuation at both ends, so anything else could never match.
static lethe_status check_word(const char *w, int id, lethe_status code, const char *what) {
    if (!w[0]) return lethe_fail(code, "%s: word %d is empty", what, id);
    for (const char *c = w; *c; c++) {
        if (is_space(*c))
            return lethe_fail(code, "%s: word '%s' (id %d) contains whitespace; prompts are split at whitespace, "
                              "one token per word", what, w, id);
        if (is_upper(*c))
            return lethe_fail(code, "%s: word '%s' (id %d) has upper case; prompts are lower-cased, so it could "
                              "never match", what, w, id);
    }
    char end = is_punct(w[0]) ? w[0] : w[strlen(w) - 1];
    if (is_punct(end))
        return lethe_fail(code, "%s: word '%s' (id %d) starts or ends with '%c'; prompts lose the punctuation at "
                          "both ends of a word, so it could never match", what, w, id, end);
    return LETHE_OK;
}

typedef struct { const char *s; int id; } token_ref;

static int cmp_token_ref(const void *a, const void *b) {
    const token_ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

// Sorting finds a repeated token in n log n (a loaded vocab.json may be large).
static lethe_status check_unique(char *const *tokens, int n, lethe_status code, const char *what) {
    token_ref *refs = malloc((size_t)n * sizeof *refs);
    if (!refs) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < n; i++) refs[i] = (token_ref){tokens[i], i};
    qsort(refs, (size_t)n, sizeof *refs, cmp_token_ref);
    lethe_status st = LETHE_OK;
    for (int i = 1; i < n && !st; i++)
        if (strcmp(refs[i - 1].s, refs[i].s) == 0)
            st = lethe_fail(code, "%s: '%s' appears twice (ids %d and %d)", what, refs[i].s, refs[i - 1].id, refs[i].id);
    free(refs);
    return st;
}

// Fills t from TOKENS (taken over: freed on failure) once every word and max_length pass.
// CODE is the status for a bad vocabulary: LETHE_ERR_ARG from the caller, LETHE_ERR_FORMAT from a file.
static lethe_status tokenizer_adopt(lethe_tokenizer *t, char **tokens, int n, const int special[4], int max_length,
                                    lethe_status code, const char *what) {
    *t = (lethe_tokenizer){.tokens = tokens, .vocab_size = n, .bos_id = special[0], .eos_id = special[1],
                           .pad_id = special[2], .unk_id = special[3], .max_length = max_length};
    lethe_status st = LETHE_OK;
    if (max_length < 3 || max_length > TOKENIZER_MAX_LENGTH_LIMIT)
        st = lethe_fail(code, "%s: max_length %d is outside 3..%d (BOS, at least one word, EOS)", what, max_length,
                        TOKENIZER_MAX_LENGTH_LIMIT);
    int n_words = 0;
    for (int id = 0; id < n && !st; id++) {
        if (is_special(t, id)) continue;
        st = check_word(tokens[id], id, code, what);
        n_words++;
    }
    if (!st && n_words == 0) st = lethe_fail(code, "%s: no words, only special tokens", what);
    if (!st) st = check_unique(tokens, n, code, what);
    if (st) tokenizer_free(t);
    return st;
}

lethe_status tokenizer_create(lethe_tokenizer *t, const char *const *words, int n_words, int max_length) {
    memset(t, 0, sizeof *t);
    if (n_words < 1 || n_words > INT_MAX - 2)
        return lethe_fail(LETHE_ERR_ARG, "vocabulary: %d words; a tokenizer needs at least one", n_words);
    if (!words) return lethe_fail(LETHE_ERR_ARG, "vocabulary: no word list (NULL)");
    for (int i = 0; i < n_words; i++)
        if (!words[i]) return lethe_fail(LETHE_ERR_ARG, "vocabulary: word %d is NULL", i);
    // words first, so word i has id i; BOS and EOS last, EOS the largest id as in CLIP (tokenizer.h)
    int n = n_words + 2;
    char **tokens = calloc((size_t)n, sizeof *tokens);
    int ok = tokens != NULL;
    for (int i = 0; ok && i < n_words; i++) ok = (tokens[i] = strdup(words[i])) != NULL;
    if (ok) ok = (tokens[n_words] = strdup(TOKENIZER_BOS)) && (tokens[n_words + 1] = strdup(TOKENIZER_EOS));
    if (!ok) {
        free_tokens(tokens, tokens ? n : 0);
        return lethe_fail(LETHE_ERR_NOMEM, "vocabulary: out of memory for %d words", n_words);
    }
    const int special[4] = {n_words, n_words + 1, n_words + 1, n_words + 1};   // bos, eos, pad, unk
    return tokenizer_adopt(t, tokens, n, special, max_length, LETHE_ERR_ARG, "vocabulary");
}

int tokenizer_token_id(const lethe_tokenizer *t, const char *token) {
    for (int id = 0; id < t->vocab_size; id++)
        if (strcmp(t->tokens[id], token) == 0) return id;
    return -1;
}

// ---- encoding ---------------------------------------------------------------------------

// Levenshtein distance in bytes; ROW holds strlen(b) + 1 entries (one row of the table at a time).
static size_t edit_distance(const char *a, const char *b, size_t *row) {
    size_t nb = strlen(b);
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];   // the previous row's entry left of row[j]
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

// The error for an unknown WORD: it, the prompt, and the 3 nearest words (ties: the lower id first).
static lethe_status unknown_word(const lethe_tokenizer *t, const char *word, const char *prompt) {
    size_t longest = 0;
    for (int id = 0; id < t->vocab_size; id++)
        if (strlen(t->tokens[id]) > longest) longest = strlen(t->tokens[id]);
    size_t *row = malloc((longest + 1) * sizeof *row);
    if (!row) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    int best[3], n_best = 0;
    size_t best_d[3];
    for (int id = 0; id < t->vocab_size; id++) {
        if (is_special(t, id)) continue;
        size_t d = edit_distance(word, t->tokens[id], row);
        // insert after every word at most as near, so an earlier id wins a tie
        int at = n_best;
        while (at > 0 && best_d[at - 1] > d) at--;
        if (at >= 3) continue;
        for (int k = (n_best < 3 ? n_best : 2); k > at; k--) { best[k] = best[k - 1]; best_d[k] = best_d[k - 1]; }
        best[at] = id;
        best_d[at] = d;
        if (n_best < 3) n_best++;
    }
    free(row);
    char near[512] = "";
    for (int k = 0; k < n_best; k++) {
        size_t len = strlen(near);
        snprintf(near + len, sizeof near - len, "%s%s", k ? ", " : "", t->tokens[best[k]]);
    }
    return lethe_fail(LETHE_ERR_ARG, "unknown word '%.100s' in prompt \"%.*s%s\": nearest known words: %s", word,
                      PROMPT_ARGS(prompt), near);
}

static int word_id(const lethe_tokenizer *t, const char *word) {
    int id = tokenizer_token_id(t, word);
    return id >= 0 && !is_special(t, id) ? id : -1;
}

lethe_status tokenizer_encode(const lethe_tokenizer *t, const char *prompt, int *ids, int *n_tokens) {
    if (n_tokens) *n_tokens = 0;
    if (!prompt) return lethe_fail(LETHE_ERR_ARG, "no prompt (NULL); the unconditional prompt is \"\"");
    char *buf = strdup(prompt);   // lower-cased, then cut into words in place
    if (!buf) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (char *c = buf; *c; c++)
        if (is_upper(*c)) *c = (char)(*c - 'A' + 'a');

    int limit = t->max_length - 2, n = 0;   // words that fit between BOS and EOS
    lethe_status st = LETHE_OK;
    char *p = buf;
    for (;;) {
        while (is_space(*p)) p++;
        if (!*p) break;
        char *start = p;
        while (*p && !is_space(*p)) p++;
        char *end = p, *next = *p ? p + 1 : p;
        while (start < end && is_punct(*start)) start++;
        while (end > start && is_punct(end[-1])) end--;
        *end = '\0';
        p = next;
        if (start == end) continue;   // a piece of punctuation alone (" , ")
        int id = word_id(t, start);
        if (id < 0) { st = unknown_word(t, start, prompt); break; }
        if (n < limit) ids[1 + n] = id;
        n++;   // counted on past the limit, for the error
    }
    free(buf);
    if (st) return st;
    if (n > limit)
        return lethe_fail(LETHE_ERR_ARG, "prompt \"%.*s%s\" has %d words; at most %d fit (max_length %d less BOS and EOS)",
                          PROMPT_ARGS(prompt), n, limit, t->max_length);
    ids[0] = t->bos_id;
    ids[n + 1] = t->eos_id;
    for (int i = n + 2; i < t->max_length; i++) ids[i] = t->pad_id;
    if (n_tokens) *n_tokens = n + 2;
    return LETHE_OK;
}

// ---- decoding ---------------------------------------------------------------------------

lethe_status tokenizer_decode(const lethe_tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    if (!out || cap == 0) return lethe_fail(LETHE_ERR_ARG, "decode: no output buffer");
    out[0] = '\0';
    if (n < 0) return lethe_fail(LETHE_ERR_ARG, "decode: %d ids", n);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab_size)
            return lethe_fail(LETHE_ERR_ARG, "decode: id %d at position %d is outside the vocabulary (0..%d)", ids[i], i,
                              t->vocab_size - 1);
    // the words up to the first EOS; the other special tokens (BOS, a distinct pad) are not words
    size_t need = 1;
    for (int i = 0; i < n && ids[i] != t->eos_id; i++)
        if (!is_special(t, ids[i])) need += strlen(t->tokens[ids[i]]) + (need > 1);
    if (need > cap)
        return lethe_fail(LETHE_ERR_ARG, "decode: the words need %zu bytes, the buffer holds %zu", need, cap);
    size_t len = 0;
    for (int i = 0; i < n && ids[i] != t->eos_id; i++) {
        if (is_special(t, ids[i])) continue;
        if (len) out[len++] = ' ';
        size_t w = strlen(t->tokens[ids[i]]);
        memcpy(out + len, t->tokens[ids[i]], w);
        len += w;
    }
    out[len] = '\0';
    return LETHE_OK;
}

// ---- the folder -------------------------------------------------------------------------

// DIR/NAME into PATH (PATH_MAX bytes), or an error if it does not fit.
static lethe_status folder_path(char *path, const char *dir, const char *name) {
    if ((size_t)snprintf(path, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        return lethe_fail(LETHE_ERR_ARG, "tokenizer folder path too long: %.100s...", dir);
    return LETHE_OK;
}

// Writes ROOT (deleted here) to DIR/NAME with a final newline, as transformers writes JSON.
static lethe_status write_json(const char *dir, const char *name, cJSON *root) {
    char path[PATH_MAX];
    lethe_status st = folder_path(path, dir, name);
    char *text = st ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (st) return st;
    if (!text) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    const void *bufs[2] = {text, "\n"};
    size_t lens[2] = {strlen(text), 1};
    st = fs_write_atomic(path, bufs, lens, 2);
    free(text);
    return st;
}

// A special token as transformers' AddedToken serialises it in special_tokens_map.json.
static cJSON *added_token(const char *content) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 1);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "single_word", 0);
    return o;
}

static const char *const lethe_note =
    "lethe's word-level tokenizer, not a BPE CLIPTokenizer: one token per word (the prompt lower-cased, split at "
    "whitespace, ASCII punctuation stripped from both ends of each word, inner hyphens kept, so 't-shirt' is one "
    "token). vocab.json spells each word as it is, without CLIP's '</w>' end-of-word suffix: every token is a whole "
    "word and there are no merges (merges.txt is only its header), so the suffix would carry nothing. A word not in "
    "vocab.json is an error, never unk_token. Encodings are BOS, the words, EOS, then pad_token up to "
    "model_max_length. transformers' CLIPTokenizer would split these words differently: read this folder with lethe.";

lethe_status tokenizer_save(const lethe_tokenizer *t, const char *dir) {
    lethe_status st = fs_mkdir_p(dir);
    if (st) return st;
    cJSON *vocab = cJSON_CreateObject();   // in id order: a small vocabulary reads best that way
    for (int id = 0; id < t->vocab_size; id++) cJSON_AddNumberToObject(vocab, t->tokens[id], id);
    if ((st = write_json(dir, "vocab.json", vocab))) return st;

    char path[PATH_MAX];
    if ((st = folder_path(path, dir, "merges.txt"))) return st;
    if ((st = fs_write_text_atomic(path, MERGES_HEADER "\n"))) return st;

    // keys in sorted order, as transformers writes them (json.dumps(sort_keys=True))
    const char *bos = t->tokens[t->bos_id], *eos = t->tokens[t->eos_id];
    const char *pad = t->tokens[t->pad_id], *unk = t->tokens[t->unk_id];
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "bos_token", bos);
    cJSON_AddBoolToObject(cfg, "do_lower_case", 1);
    cJSON_AddStringToObject(cfg, "eos_token", eos);
    cJSON_AddStringToObject(cfg, "lethe_note", lethe_note);
    cJSON_AddNumberToObject(cfg, "model_max_length", t->max_length);
    cJSON_AddStringToObject(cfg, "pad_token", pad);
    cJSON_AddStringToObject(cfg, "tokenizer_class", TOKENIZER_CLASS);
    cJSON_AddStringToObject(cfg, "unk_token", unk);
    if ((st = write_json(dir, "tokenizer_config.json", cfg))) return st;

    cJSON *map = cJSON_CreateObject();
    cJSON_AddItemToObject(map, "bos_token", added_token(bos));
    cJSON_AddItemToObject(map, "eos_token", added_token(eos));
    cJSON_AddStringToObject(map, "pad_token", pad);
    cJSON_AddItemToObject(map, "unk_token", added_token(unk));
    return write_json(dir, "special_tokens_map.json", map);
}

// PATH parsed into *ROOT, which must be a JSON object.
static lethe_status read_json_object(const char *path, cJSON **root) {
    *root = NULL;
    char *text;
    lethe_status st = fs_read_text(path, &text);
    if (st) return st;
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithOpts(text, &end, 1);
    if (!r) st = lethe_fail(LETHE_ERR_FORMAT, "%s: invalid JSON at byte %td", path, end ? end - text : (ptrdiff_t)0);
    else if (!cJSON_IsObject(r)) st = lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", path);
    free(text);
    if (st) cJSON_Delete(r);
    else *root = r;
    return st;
}

// A special token as transformers writes it: a string, or an AddedToken {"content": "..."}; NULL if neither.
static const char *token_content(const cJSON *v) {
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static const char *const special_names[4] = {"bos_token", "eos_token", "pad_token", "unk_token"};

// The four special tokens from special_tokens_map.json, checked against tokenizer_config.json's.
static lethe_status read_special_tokens(const cJSON *map, const char *map_path, const cJSON *cfg,
                                        const char *cfg_path, const char *out[4]) {
    for (int k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, special_names[k]);
        if (!v) return lethe_fail(LETHE_ERR_FORMAT, "%s: no %s", map_path, special_names[k]);
        if (!(out[k] = token_content(v)))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: %s is neither a non-empty string nor an object with a \"content\" "
                              "string", map_path, special_names[k]);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(cfg, special_names[k]);
        const char *cs = c ? token_content(c) : out[k];
        if (!cs || strcmp(cs, out[k]) != 0)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: %s is %s%s%s but %s says \"%s\"", cfg_path, special_names[k],
                              cs ? "\"" : "", cs ? cs : "not a token", cs ? "\"" : "", map_path, out[k]);
    }
    if (strcmp(out[0], out[1]) == 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: bos_token and eos_token are both \"%s\"", map_path, out[0]);
    if (strcmp(out[2], out[0]) == 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: pad_token is bos_token \"%s\"; prompts are padded after EOS", map_path,
                          out[0]);
    return LETHE_OK;
}

// tokenizer_config.json: ours (tokenizer_class), lower-casing, model_max_length.
static lethe_status read_config(const cJSON *cfg, const char *path, int *max_length) {
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class");
    if (!cJSON_IsString(cls) || strcmp(cls->valuestring, TOKENIZER_CLASS) != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: tokenizer_class is %s%s%s, not \"" TOKENIZER_CLASS "\": lethe reads only "
                          "the word-level tokenizer folders it writes (a CLIP BPE tokenizer needs transformers)", path,
                          cJSON_IsString(cls) ? "\"" : "", cJSON_IsString(cls) ? cls->valuestring : "missing",
                          cJSON_IsString(cls) ? "\"" : "");
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case");
    if (lc && !cJSON_IsTrue(lc))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: do_lower_case must be true (lethe lower-cases every prompt)", path);
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(cfg, "model_max_length");
    double v = cJSON_IsNumber(ml) ? ml->valuedouble : 0;
    if (!(v >= 3 && v <= TOKENIZER_MAX_LENGTH_LIMIT && v == (double)(int)v))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: model_max_length must be an integer in 3..%d", path,
                          TOKENIZER_MAX_LENGTH_LIMIT);
    *max_length = (int)v;
    return LETHE_OK;
}

// vocab.json: token -> id with the ids 0..n-1 each exactly once, into TOKENS[id].
static lethe_status read_vocab(const cJSON *vocab, const char *path, char ***tokens, int *n) {
    int count = cJSON_GetArraySize(vocab);
    char **tok = calloc(count > 0 ? (size_t)count : 1, sizeof *tok);
    if (!tok) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    lethe_status st = LETHE_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e)) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: '%s' has an id that is not a number", path, e->string);
            break;
        }
        if (!(v >= 0 && v < count && v == (double)(int)v)) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: '%s' has id %g; the ids must be the integers 0..%d, each once", path,
                            e->string, v, count - 1);
            break;
        }
        int id = (int)v;
        if (tok[id]) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: id %d is given to both '%s' and '%s'", path, id, tok[id], e->string);
            break;
        }
        if (!(tok[id] = strdup(e->string))) { st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); break; }
    }
    // COUNT entries with distinct ids in 0..COUNT-1: every id is there exactly once
    if (st) { free_tokens(tok, count); return st; }
    *tokens = tok;
    *n = count;
    return LETHE_OK;
}

// merges.txt: the header line alone; a merge means a BPE tokenizer, which lethe cannot apply.
static lethe_status check_merges(const char *path) {
    char *text;
    lethe_status st = fs_read_text(path, &text);
    if (st) return st;
    const char *line = text;
    for (int no = 1; *line && !st; no++) {
        size_t len = strcspn(line, "\n");
        int blank = 1;
        for (size_t i = 0; i < len; i++) blank &= is_space(line[i]);
        if (!blank && !(no == 1 && strncmp(line, "#version", 8) == 0))
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: line %d is a BPE merge (\"%.*s\"); lethe's word-level tokenizer has "
                            "none (a CLIP BPE tokenizer folder?)", path, no, (int)(len > 40 ? 40 : len), line);
        line += len + (line[len] == '\n');
    }
    free(text);
    return st;
}

lethe_status tokenizer_load(lethe_tokenizer *t, const char *dir) {
    memset(t, 0, sizeof *t);
    char cfg_path[PATH_MAX], map_path[PATH_MAX], vocab_path[PATH_MAX], merges_path[PATH_MAX];
    lethe_status st;
    if ((st = folder_path(cfg_path, dir, "tokenizer_config.json")) || (st = folder_path(map_path, dir, "special_tokens_map.json")) ||
        (st = folder_path(vocab_path, dir, "vocab.json")) || (st = folder_path(merges_path, dir, "merges.txt")))
        return st;
    if (!fs_is_dir(dir))
        return lethe_fail(LETHE_ERR_IO, "tokenizer folder %s: %s", dir, fs_exists(dir) ? "not a directory" : "no such directory");

    cJSON *cfg = NULL, *map = NULL, *vocab = NULL;
    char **tokens = NULL;
    int n = 0, max_length = 0, special[4] = {-1, -1, -1, -1};
    const char *names[4];
    if ((st = read_json_object(cfg_path, &cfg)) || (st = read_config(cfg, cfg_path, &max_length))) goto done;
    if ((st = read_json_object(map_path, &map)) || (st = read_special_tokens(map, map_path, cfg, cfg_path, names)))
        goto done;
    if ((st = read_json_object(vocab_path, &vocab)) || (st = read_vocab(vocab, vocab_path, &tokens, &n))) goto done;
    for (int k = 0; k < 4 && !st; k++) {
        for (int id = 0; id < n && special[k] < 0; id++)
            if (strcmp(tokens[id], names[k]) == 0) special[k] = id;
        if (special[k] < 0)
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: no token \"%s\", the %s of %s", vocab_path, names[k], special_names[k],
                            map_path);
    }
    if (st || (st = check_merges(merges_path))) goto done;
    st = tokenizer_adopt(t, tokens, n, special, max_length, LETHE_ERR_FORMAT, vocab_path);
    tokens = NULL;   // adopted, or freed by tokenizer_adopt
done:
    free_tokens(tokens, n);
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    cJSON_Delete(vocab);
    return st;
}
