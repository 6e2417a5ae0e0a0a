/*
 * test_tokenizer.c: the word-level prompt tokenizer: the id layout, round trips, the
 * unconditional prompt, unknown words and their nearest neighbours, prompts too long,
 * bad vocabularies, decoding errors, the Hugging Face-style folder (save -> load) and
 * every corrupt-folder error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "data/tokenizer.h"

// A vocabulary shaped like the benchmark's: template words, objects, styles (made up here).
static const char *const words[] = {
    "a", "an", "in", "style", "of", "the", "photo", "t-shirt", "trouser", "pullover", "dress",
    "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot", "zebra", "marble", "neon", "ukiyo-e", "pixel-art",
};
#define N_WORDS ((int)(sizeof words / sizeof words[0]))
enum { A, AN, IN, STYLE, OF, THE, PHOTO, TSHIRT, TROUSER, PULLOVER, DRESS, COAT, SANDAL, SHIRT, SNEAKER, BAG,
       ANKLE_BOOT, ZEBRA, MARBLE, NEON, UKIYO_E, PIXEL_ART };
#define BOS N_WORDS
#define EOS (N_WORDS + 1)
#define MAXLEN 16

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lethe-test-tokenizer-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(const char *name) {
    static char bufs[8][512];
    static int at = 0;
    char *b = bufs[at++ % 8];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

#define assert_msg_has(s) do { \
    const char *m_ = lethe_last_error(); \
    if (!strstr(m_, (s))) fail_msg("error message \"%s\" lacks \"%s\"", m_, (s)); \
} while (0)

static void make_tokenizer(lethe_tokenizer *t, int max_length) {
    assert_int_equal(tokenizer_create(t, words, N_WORDS, max_length), LETHE_OK);
}

static void assert_empty(const lethe_tokenizer *t) {
    assert_null(t->tokens);
    assert_int_equal(t->vocab_size, 0);
}

// ----------------------------------------------------------------------------
// encoding and decoding

static void test_id_layout(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, MAXLEN);
    assert_int_equal(t.vocab_size, N_WORDS + 2);
    assert_int_equal(t.bos_id, BOS);
    assert_int_equal(t.eos_id, EOS);
    assert_int_equal(t.pad_id, EOS);   // SD's CLIP tokenizer pads with <|endoftext|>
    assert_int_equal(t.max_length, MAXLEN);
    assert_string_equal(t.tokens[BOS], "<|startoftext|>");
    assert_string_equal(t.tokens[EOS], "<|endoftext|>");
    for (int i = 0; i < N_WORDS; i++) assert_int_equal(tokenizer_token_id(&t, words[i]), i);
    assert_int_equal(tokenizer_token_id(&t, "zebr"), -1);

    int ids[MAXLEN], n = -1;
    assert_int_equal(tokenizer_encode(&t, "a trouser in zebra style", ids, &n), LETHE_OK);
    const int want[MAXLEN] = {BOS, A, TROUSER, IN, ZEBRA, STYLE, EOS, EOS, EOS, EOS, EOS, EOS, EOS, EOS, EOS, EOS};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(n, 7);
    // EOS is the largest id, so argmax(ids) (CLIPTextModel's pooling for eos_token_id == 2 configs) finds the first EOS
    int arg = 0;
    for (int i = 1; i < MAXLEN; i++) if (ids[i] > ids[arg]) arg = i;
    assert_int_equal(arg, n - 1);

    // a NULL n_tokens is allowed
    assert_int_equal(tokenizer_encode(&t, "zebra trouser", ids, NULL), LETHE_OK);
    assert_int_equal(ids[1], ZEBRA);
    assert_int_equal(ids[2], TROUSER);
    assert_int_equal(ids[3], EOS);
    tokenizer_free(&t);
    assert_empty(&t);
    tokenizer_free(&t);   // twice is harmless
}

static void test_round_trips(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, MAXLEN);
    static const struct { const char *prompt, *words; int n_words; } cases[] = {
        {"a trouser in zebra style", "a trouser in zebra style", 5},
        {"zebra trouser", "zebra trouser", 2},
        {"a photo of the ankle-boot in neon style", "a photo of the ankle-boot in neon style", 8},
        {"Zebra T-SHIRT", "zebra t-shirt", 2},                                      // upper case
        {"  a   photo\tof the\n ankle-boot,  in NEON style!  ", "a photo of the ankle-boot in neon style", 8},
        {"\"ukiyo-e\" sandal.", "ukiyo-e sandal", 2},                               // quotes, final stop
        {"a sneaker , in marble style;", "a sneaker in marble style", 5},           // lone punctuation dropped
        {"(pixel-art) bag?!", "pixel-art bag", 2},
        {"-coat-", "coat", 1},                                                      // outer hyphens stripped
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ids[MAXLEN], n = 0;
        char text[256];
        if (tokenizer_encode(&t, cases[c].prompt, ids, &n) != LETHE_OK)
            fail_msg("encode \"%s\": %s", cases[c].prompt, lethe_last_error());
        assert_int_equal(n, cases[c].n_words + 2);
        assert_int_equal(ids[0], BOS);
        assert_int_equal(ids[n - 1], EOS);
        for (int i = n; i < MAXLEN; i++) assert_int_equal(ids[i], EOS);
        for (int i = 1; i < n - 1; i++) assert_true(ids[i] >= 0 && ids[i] < N_WORDS);
        // the whole padded sequence and the n_tokens prefix decode alike
        assert_int_equal(tokenizer_decode(&t, ids, MAXLEN, text, sizeof text), LETHE_OK);
        assert_string_equal(text, cases[c].words);
        assert_int_equal(tokenizer_decode(&t, ids, n, text, sizeof text), LETHE_OK);
        assert_string_equal(text, cases[c].words);
        // and the decoded words encode to the same ids
        int again[MAXLEN], n2 = 0;
        assert_int_equal(tokenizer_encode(&t, text, again, &n2), LETHE_OK);
        assert_int_equal(n2, n);
        assert_memory_equal(again, ids, sizeof ids);
    }
    // hyphenated words are single tokens
    int ids[MAXLEN], n = 0;
    assert_int_equal(tokenizer_encode(&t, "t-shirt ankle-boot", ids, &n), LETHE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(ids[1], TSHIRT);
    assert_int_equal(ids[2], ANKLE_BOOT);
    tokenizer_free(&t);
}

static void test_empty_prompt(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, MAXLEN);
    const char *const empties[] = {"", "   ", " \t\n\r ", " , . ! "};
    for (size_t c = 0; c < sizeof empties / sizeof empties[0]; c++) {
        int ids[MAXLEN], n = -1;
        assert_int_equal(tokenizer_encode(&t, empties[c], ids, &n), LETHE_OK);
        assert_int_equal(n, 2);
        assert_int_equal(ids[0], BOS);
        for (int i = 1; i < MAXLEN; i++) assert_int_equal(ids[i], EOS);
        char text[8] = "junk";
        assert_int_equal(tokenizer_decode(&t, ids, MAXLEN, text, sizeof text), LETHE_OK);
        assert_string_equal(text, "");
    }
    int ids[MAXLEN], n = 5;
    assert_int_equal(tokenizer_encode(&t, NULL, ids, &n), LETHE_ERR_ARG);
    assert_int_equal(n, 0);
    tokenizer_free(&t);
}

static void test_unknown_word(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, MAXLEN);
    int ids[MAXLEN], n = 9;
    // zebra (distance 2), bag (3), then a and an tie at 4: a comes first in the vocabulary
    assert_int_equal(tokenizer_encode(&t, "a zebar trouser", ids, &n), LETHE_ERR_ARG);
    assert_int_equal(n, 0);
    assert_string_equal(lethe_last_error(),
                        "unknown word 'zebar' in prompt \"a zebar trouser\": nearest known words: zebra, bag, a");
    // the word as looked up (lower-cased, stripped), the prompt as given
    assert_int_equal(tokenizer_encode(&t, "A Zebar, Trouser", ids, &n), LETHE_ERR_ARG);
    assert_string_equal(lethe_last_error(),
                        "unknown word 'zebar' in prompt \"A Zebar, Trouser\": nearest known words: zebra, bag, a");
    // shirt (1), then the, photo, t-shirt and coat tie at 3: the vocabulary order keeps the and photo
    assert_int_equal(tokenizer_encode(&t, "a shrt", ids, &n), LETHE_ERR_ARG);
    assert_msg_has("unknown word 'shrt'");
    assert_msg_has("nearest known words: shirt, the, photo");
    // t-shirt and shirt tie at 1
    assert_int_equal(tokenizer_encode(&t, "tshirt", ids, &n), LETHE_ERR_ARG);
    assert_msg_has("nearest known words: t-shirt, shirt, the");
    // special tokens are not words a prompt can name (and lose their outer punctuation)
    assert_int_equal(tokenizer_encode(&t, "a <|endoftext|>", ids, &n), LETHE_ERR_ARG);
    assert_msg_has("unknown word 'endoftext'");
    // the first unknown word is the one named
    assert_int_equal(tokenizer_encode(&t, "a trowser in zebar style", ids, &n), LETHE_ERR_ARG);
    assert_msg_has("unknown word 'trowser'");
    assert_msg_has("nearest known words: trouser, the, dress");
    // a long prompt is quoted in part
    char long_prompt[600];
    memset(long_prompt, 'x', sizeof long_prompt - 1);
    long_prompt[sizeof long_prompt - 1] = '\0';
    assert_int_equal(tokenizer_encode(&t, long_prompt, ids, &n), LETHE_ERR_ARG);
    assert_msg_has("...\": nearest known words: pixel-art, a, an");   // pixel-art shares an x
    assert_true(strlen(lethe_last_error()) < 400);

    // a vocabulary of fewer than 3 words names what it has (coat: zebra 5, trouser 6)
    lethe_tokenizer small;
    const char *const two[] = {"zebra", "trouser"};
    assert_int_equal(tokenizer_create(&small, two, 2, 8), LETHE_OK);
    assert_int_equal(tokenizer_encode(&small, "coat", ids, &n), LETHE_ERR_ARG);
    assert_string_equal(lethe_last_error(),
                        "unknown word 'coat' in prompt \"coat\": nearest known words: zebra, trouser");
    tokenizer_free(&small);
    tokenizer_free(&t);
}

static void test_too_long(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, 5);   // room for 3 words
    int ids[5], n = 0;
    // exactly max_length: EOS in the last slot, no padding
    assert_int_equal(tokenizer_encode(&t, "zebra trouser in", ids, &n), LETHE_OK);
    assert_int_equal(n, 5);
    const int want[5] = {BOS, ZEBRA, TROUSER, IN, EOS};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(tokenizer_encode(&t, "a trouser in zebra style", ids, &n), LETHE_ERR_ARG);
    assert_int_equal(n, 0);
    assert_string_equal(lethe_last_error(),
                        "prompt \"a trouser in zebra style\" has 5 words; at most 3 fit (max_length 5 less BOS and EOS)");
    // punctuation that vanishes does not count
    assert_int_equal(tokenizer_encode(&t, "zebra , trouser . in !", ids, &n), LETHE_OK);
    assert_int_equal(n, 5);
    tokenizer_free(&t);

    make_tokenizer(&t, 3);   // the smallest: one word
    int one[3];
    assert_int_equal(tokenizer_encode(&t, "bag", one, &n), LETHE_OK);
    assert_int_equal(one[1], BAG);
    assert_int_equal(tokenizer_encode(&t, "a bag", one, &n), LETHE_ERR_ARG);
    assert_msg_has("has 2 words; at most 1 fit");
    tokenizer_free(&t);
}

static void test_bad_vocabularies(void **state) {
    (void)state;
    lethe_tokenizer t;
    static const struct { const char *w[3]; int n; const char *msg; } cases[] = {
        {{"zebra", "trouser", "zebra"}, 3, "'zebra' appears twice (ids 0 and 2)"},
        {{"zebra", "", "trouser"}, 3, "word 1 is empty"},
        {{"zebra", "ankle boot", "trouser"}, 3, "word 'ankle boot' (id 1) contains whitespace"},
        {{"zebra", "trouser", "tab\there"}, 3, "contains whitespace"},
        {{"Zebra", "trouser", "bag"}, 3, "word 'Zebra' (id 0) has upper case"},
        {{"zebra", "t-SHIRT", "bag"}, 3, "word 't-SHIRT' (id 1) has upper case"},
        {{"zebra", "photo.", "bag"}, 3, "word 'photo.' (id 1) starts or ends with '.'"},
        {{"zebra", "trouser", "-bag"}, 3, "starts or ends with '-'"},
        {{"zebra", "trouser", NULL}, 3, "word 2 is NULL"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        t.tokens = (char **)&t;   // garbage, which create must clear
        if (tokenizer_create(&t, cases[c].w, cases[c].n, 8) != LETHE_ERR_ARG) fail_msg("case %zu accepted", c);
        assert_msg_has("vocabulary: ");
        assert_msg_has(cases[c].msg);
        assert_empty(&t);
    }
    assert_int_equal(tokenizer_create(&t, words, 0, 8), LETHE_ERR_ARG);
    assert_msg_has("at least one");
    assert_int_equal(tokenizer_create(&t, NULL, 3, 8), LETHE_ERR_ARG);
    assert_msg_has("no word list");
    assert_int_equal(tokenizer_create(&t, words, N_WORDS, 2), LETHE_ERR_ARG);
    assert_msg_has("max_length 2 is outside 3..");
    assert_empty(&t);
    assert_int_equal(tokenizer_create(&t, words, N_WORDS, TOKENIZER_MAX_LENGTH_LIMIT + 1), LETHE_ERR_ARG);
    assert_msg_has("max_length 1025");
    // inner punctuation and non-ASCII bytes are fine
    const char *const odd[] = {"ukiyo-e", "80's", "café"};
    assert_int_equal(tokenizer_create(&t, odd, 3, 8), LETHE_OK);
    int ids[8], n = 0;
    assert_int_equal(tokenizer_encode(&t, "80's café ukiyo-e", ids, &n), LETHE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 2);
    assert_int_equal(ids[3], 0);
    tokenizer_free(&t);
}

static void test_decode_errors(void **state) {
    (void)state;
    lethe_tokenizer t;
    make_tokenizer(&t, MAXLEN);
    char text[64];
    const int bad_low[3] = {BOS, -1, EOS};
    assert_int_equal(tokenizer_decode(&t, bad_low, 3, text, sizeof text), LETHE_ERR_ARG);
    assert_msg_has("id -1 at position 1 is outside the vocabulary (0..23)");
    const int bad_high[4] = {BOS, ZEBRA, EOS, EOS + 1};   // checked after EOS too
    assert_int_equal(tokenizer_decode(&t, bad_high, 4, text, sizeof text), LETHE_ERR_ARG);
    assert_msg_has("id 24 at position 3");
    // decoding stops at the first EOS and skips BOS; bare word ids need neither
    const int after_eos[5] = {BOS, ZEBRA, EOS, BAG, EOS};
    assert_int_equal(tokenizer_decode(&t, after_eos, 5, text, sizeof text), LETHE_OK);
    assert_string_equal(text, "zebra");
    const int bare[2] = {NEON, COAT};
    assert_int_equal(tokenizer_decode(&t, bare, 2, text, sizeof text), LETHE_OK);
    assert_string_equal(text, "neon coat");
    // "neon coat" needs 10 bytes
    char small[10];
    assert_int_equal(tokenizer_decode(&t, bare, 2, small, sizeof small), LETHE_OK);
    assert_string_equal(small, "neon coat");
    assert_int_equal(tokenizer_decode(&t, bare, 2, small, 9), LETHE_ERR_ARG);
    assert_msg_has("need 10 bytes, the buffer holds 9");
    assert_string_equal(small, "");
    assert_int_equal(tokenizer_decode(&t, bare, 2, NULL, 0), LETHE_ERR_ARG);
    tokenizer_free(&t);
}

// ----------------------------------------------------------------------------
// the folder

static cJSON *read_json(const char *path) {
    char *text = NULL;
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    cJSON *r = cJSON_Parse(text);
    free(text);
    assert_non_null(r);
    return r;
}

static void test_save_load(void **state) {
    (void)state;
    lethe_tokenizer t, u;
    make_tokenizer(&t, MAXLEN);
    const char *dir = tpath("saved/tokenizer");   // created with its parent
    assert_int_equal(tokenizer_save(&t, dir), LETHE_OK);

    char p[600];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    cJSON *vocab = read_json(p);
    assert_int_equal(cJSON_GetArraySize(vocab), N_WORDS + 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(vocab, "t-shirt")->valueint, TSHIRT);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(vocab, "<|startoftext|>")->valueint, BOS);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(vocab, "<|endoftext|>")->valueint, EOS);
    assert_null(cJSON_GetObjectItemCaseSensitive(vocab, "zebra</w>"));   // words spelled plainly
    cJSON_Delete(vocab);

    snprintf(p, sizeof p, "%s/merges.txt", dir);
    char *merges = NULL;
    assert_int_equal(fs_read_text(p, &merges), LETHE_OK);
    assert_string_equal(merges, "#version: 0.2\n");
    free(merges);

    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    cJSON *cfg = read_json(p);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class")->valuestring, "lethe-word-level");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cfg, "model_max_length")->valueint, MAXLEN);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cfg, "pad_token")->valuestring, "<|endoftext|>");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cfg, "unk_token")->valuestring, "<|endoftext|>");
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(cfg, "lethe_note")->valuestring, "</w>"));
    cJSON_Delete(cfg);

    snprintf(p, sizeof p, "%s/special_tokens_map.json", dir);
    cJSON *map = read_json(p);
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(map, "bos_token");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(bos, "content")->valuestring, "<|startoftext|>");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(bos, "lstrip")));
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(map, "eos_token");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(eos, "content")->valuestring, "<|endoftext|>");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(map, "pad_token")->valuestring, "<|endoftext|>");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(map, "unk_token"));
    cJSON_Delete(map);

    assert_int_equal(tokenizer_load(&u, dir), LETHE_OK);
    assert_int_equal(u.vocab_size, t.vocab_size);
    assert_int_equal(u.bos_id, t.bos_id);
    assert_int_equal(u.eos_id, t.eos_id);
    assert_int_equal(u.pad_id, t.pad_id);
    assert_int_equal(u.unk_id, t.unk_id);
    assert_int_equal(u.max_length, MAXLEN);
    for (int id = 0; id < t.vocab_size; id++) assert_string_equal(u.tokens[id], t.tokens[id]);
    const char *const prompts[] = {"", "a trouser in zebra style", "zebra trouser", "A photo of the ANKLE-BOOT, in neon style."};
    for (size_t c = 0; c < sizeof prompts / sizeof prompts[0]; c++) {
        int a[MAXLEN], b[MAXLEN], na = 0, nb = 0;
        assert_int_equal(tokenizer_encode(&t, prompts[c], a, &na), LETHE_OK);
        assert_int_equal(tokenizer_encode(&u, prompts[c], b, &nb), LETHE_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, sizeof a);
    }
    // saving the loaded one again gives the same files
    const char *dir2 = tpath("saved/again");
    assert_int_equal(tokenizer_save(&u, dir2), LETHE_OK);
    const char *names[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    for (int k = 0; k < 4; k++) {
        char p1[600], p2[600], *s1 = NULL, *s2 = NULL;
        snprintf(p1, sizeof p1, "%s/%s", dir, names[k]);
        snprintf(p2, sizeof p2, "%s/%s", dir2, names[k]);
        assert_int_equal(fs_read_text(p1, &s1), LETHE_OK);
        assert_int_equal(fs_read_text(p2, &s2), LETHE_OK);
        assert_string_equal(s1, s2);
        free(s1);
        free(s2);
    }
    tokenizer_free(&u);
    tokenizer_free(&t);
}

// A hand-written folder of a 3-word tokenizer, whose files the corruption tests replace one at a time.
#define GOOD_VOCAB "{\"zebra\": 0, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}"
#define GOOD_CONFIG "{\"tokenizer_class\": \"lethe-word-level\", \"model_max_length\": 8, \"do_lower_case\": true, " \
                    "\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", "                  \
                    "\"pad_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}"
#define ADDED(s) "{\"content\": \"" s "\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}"
#define GOOD_MAP "{\"bos_token\": " ADDED("<|startoftext|>") ", \"eos_token\": " ADDED("<|endoftext|>") \
                 ", \"pad_token\": \"<|endoftext|>\", \"unk_token\": " ADDED("<|endoftext|>") "}"
#define GOOD_MERGES "#version: 0.2\n"

// Writes the folder NAME with the given files (NULL: left out) and returns its path.
static const char *write_folder(const char *name, const char *vocab, const char *config, const char *map,
                                const char *merges) {
    const char *dir = tpath(name);
    assert_int_equal(fs_mkdir_p(dir), LETHE_OK);
    const char *files[4] = {"vocab.json", "tokenizer_config.json", "special_tokens_map.json", "merges.txt"};
    const char *texts[4] = {vocab, config, map, merges};
    for (int k = 0; k < 4; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        if (texts[k]) assert_int_equal(fs_write_text_atomic(p, texts[k]), LETHE_OK);
        else if (fs_exists(p)) assert_int_equal(unlink(p), 0);
    }
    return dir;
}

static void test_hand_written_folder(void **state) {
    (void)state;
    lethe_tokenizer t;
    // special tokens as plain strings in the map and no do_lower_case are read too
    const char *plain_map = "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", "
                            "\"pad_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}";
    const char *dir = write_folder("hand", GOOD_VOCAB, GOOD_CONFIG, plain_map, "#version: 0.2\n\n");
    assert_int_equal(tokenizer_load(&t, dir), LETHE_OK);
    assert_int_equal(t.vocab_size, 5);
    assert_int_equal(t.bos_id, 3);
    assert_int_equal(t.eos_id, 4);
    assert_int_equal(t.max_length, 8);
    int ids[8], n = 0;
    assert_int_equal(tokenizer_encode(&t, "T-Shirt zebra", ids, &n), LETHE_OK);
    const int want[8] = {3, 2, 0, 4, 4, 4, 4, 4};
    assert_memory_equal(ids, want, sizeof want);
    tokenizer_free(&t);

    // ids in another order, BOS and EOS first, as the caller's folder may have them
    dir = write_folder("hand_first",
                       "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1, \"zebra\": 2, \"trouser\": 3, \"t-shirt\": 4}",
                       GOOD_CONFIG, GOOD_MAP, GOOD_MERGES);
    assert_int_equal(tokenizer_load(&t, dir), LETHE_OK);
    assert_int_equal(tokenizer_encode(&t, "zebra trouser", ids, &n), LETHE_OK);
    const int want2[8] = {0, 2, 3, 1, 1, 1, 1, 1};
    assert_memory_equal(ids, want2, sizeof want2);
    tokenizer_free(&t);
}

static void test_load_errors(void **state) {
    (void)state;
    static const struct {
        const char *name, *vocab, *config, *map, *merges;
        lethe_status code;
        const char *file, *msg;
    } cases[] = {
        // missing files
        {"no_vocab", NULL, GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_IO, "vocab.json", "cannot open"},
        {"no_config", GOOD_VOCAB, NULL, GOOD_MAP, GOOD_MERGES, LETHE_ERR_IO, "tokenizer_config.json", "cannot open"},
        {"no_map", GOOD_VOCAB, GOOD_CONFIG, NULL, GOOD_MERGES, LETHE_ERR_IO, "special_tokens_map.json", "cannot open"},
        {"no_merges", GOOD_VOCAB, GOOD_CONFIG, GOOD_MAP, NULL, LETHE_ERR_IO, "merges.txt", "cannot open"},
        // corrupt JSON
        {"bad_vocab_json", "{\"zebra\": 0, \"trouser\": ", GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT,
         "vocab.json", "invalid JSON at byte"},
        {"bad_config_json", GOOD_VOCAB, "{\"tokenizer_class\" \"x\"}", GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT,
         "tokenizer_config.json", "invalid JSON at byte 19"},
        {"bad_map_json", GOOD_VOCAB, GOOD_CONFIG, "", GOOD_MERGES, LETHE_ERR_FORMAT, "special_tokens_map.json",
         "invalid JSON"},
        {"vocab_array", "[\"zebra\", \"trouser\"]", GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json",
         "not a JSON object"},
        // vocab.json ids
        {"dup_id", "{\"zebra\": 0, \"trouser\": 0, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "id 0 is given to both 'zebra' and 'trouser'"},
        {"gap_id", "{\"zebra\": 0, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 5}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json",
         "'<|endoftext|>' has id 5; the ids must be the integers 0..4, each once"},
        {"neg_id", "{\"zebra\": -1, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "'zebra' has id -1;"},
        {"frac_id", "{\"zebra\": 0.5, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "'zebra' has id 0.5;"},
        {"string_id", "{\"zebra\": \"0\", \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "'zebra' has an id that is not a number"},
        {"dup_token", "{\"zebra\": 0, \"trouser\": 1, \"zebra\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "'zebra' appears twice (ids 0 and 2)"},
        {"upper_word", "{\"Zebra\": 0, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "word 'Zebra' (id 0) has upper case"},
        {"bpe_word", "{\"zebra</w>\": 0, \"trouser\": 1, \"t-shirt\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}",
         GOOD_CONFIG, GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "word 'zebra</w>' (id 0) starts or ends with '>'"},
        {"only_specials", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}", GOOD_CONFIG, GOOD_MAP, GOOD_MERGES,
         LETHE_ERR_FORMAT, "vocab.json", "no words, only special tokens"},
        // special tokens
        {"map_no_eos", GOOD_VOCAB, GOOD_CONFIG,
         "{\"bos_token\": " ADDED("<|startoftext|>") ", \"pad_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}",
         GOOD_MERGES, LETHE_ERR_FORMAT, "special_tokens_map.json", "no eos_token"},
        {"map_bad_token", GOOD_VOCAB, GOOD_CONFIG,
         "{\"bos_token\": {\"lstrip\": false}, \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\", "
         "\"unk_token\": \"<|endoftext|>\"}",
         GOOD_MERGES, LETHE_ERR_FORMAT, "special_tokens_map.json",
         "bos_token is neither a non-empty string nor an object with a \"content\" string"},
        {"vocab_no_bos", "{\"zebra\": 0, \"trouser\": 1, \"t-shirt\": 2, \"<|endoftext|>\": 3}", GOOD_CONFIG, GOOD_MAP,
         GOOD_MERGES, LETHE_ERR_FORMAT, "vocab.json", "no token \"<|startoftext|>\", the bos_token of"},
        {"disagree", GOOD_VOCAB,
         "{\"tokenizer_class\": \"lethe-word-level\", \"model_max_length\": 8, \"pad_token\": \"<|startoftext|>\"}",
         GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT, "tokenizer_config.json",
         "pad_token is \"<|startoftext|>\" but"},
        {"same_bos_eos", GOOD_VOCAB, "{\"tokenizer_class\": \"lethe-word-level\", \"model_max_length\": 8}",
         "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\", "
         "\"unk_token\": \"<|endoftext|>\"}",
         GOOD_MERGES, LETHE_ERR_FORMAT, "special_tokens_map.json", "bos_token and eos_token are both"},
        // tokenizer_config.json
        {"clip_class", GOOD_VOCAB,
         "{\"tokenizer_class\": \"CLIPTokenizer\", \"model_max_length\": 77}", GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT,
         "tokenizer_config.json", "tokenizer_class is \"CLIPTokenizer\", not \"lethe-word-level\""},
        {"no_class", GOOD_VOCAB, "{\"model_max_length\": 8}", GOOD_MAP, GOOD_MERGES, LETHE_ERR_FORMAT,
         "tokenizer_config.json", "tokenizer_class is missing"},
        {"huge_max_length", GOOD_VOCAB,
         "{\"tokenizer_class\": \"lethe-word-level\", \"model_max_length\": 1000000000000000019884624838656}", GOOD_MAP,
         GOOD_MERGES, LETHE_ERR_FORMAT, "tokenizer_config.json", "model_max_length must be an integer in 3..1024"},
        {"no_max_length", GOOD_VOCAB, "{\"tokenizer_class\": \"lethe-word-level\"}", GOOD_MAP, GOOD_MERGES,
         LETHE_ERR_FORMAT, "tokenizer_config.json", "model_max_length must be an integer"},
        {"no_lower_case", GOOD_VOCAB,
         "{\"tokenizer_class\": \"lethe-word-level\", \"model_max_length\": 8, \"do_lower_case\": false}", GOOD_MAP,
         GOOD_MERGES, LETHE_ERR_FORMAT, "tokenizer_config.json", "do_lower_case must be true"},
        // merges.txt
        {"merges", GOOD_VOCAB, GOOD_CONFIG, GOOD_MAP, "#version: 0.2\ni n\nt h</w>\n", LETHE_ERR_FORMAT, "merges.txt",
         "line 2 is a BPE merge (\"i n\")"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *dir = write_folder(cases[c].name, cases[c].vocab, cases[c].config, cases[c].map, cases[c].merges);
        lethe_tokenizer t;
        lethe_status st = tokenizer_load(&t, dir);
        if (st != cases[c].code)
            fail_msg("%s: status %s, expected %s (%s)", cases[c].name, lethe_status_name(st),
                     lethe_status_name(cases[c].code), st ? lethe_last_error() : "loaded");
        char where[600];
        snprintf(where, sizeof where, "%s/%s", dir, cases[c].file);   // the error names the file
        assert_msg_has(where);
        assert_msg_has(cases[c].msg);
        assert_empty(&t);
    }
    // not a folder
    lethe_tokenizer t;
    assert_int_equal(tokenizer_load(&t, tpath("nowhere")), LETHE_ERR_IO);
    assert_msg_has("no such directory");
    assert_int_equal(fs_write_text_atomic(tpath("a_file"), "x"), LETHE_OK);
    assert_int_equal(tokenizer_load(&t, tpath("a_file")), LETHE_ERR_IO);
    assert_msg_has("not a directory");
    assert_empty(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_layout),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_empty_prompt),
        cmocka_unit_test(test_unknown_word),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_bad_vocabularies),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_hand_written_folder),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
