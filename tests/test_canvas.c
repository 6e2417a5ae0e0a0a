/*
 * test_canvas.c: Fashion-Canvas (src/data/canvas.c) and the sheet's font (src/io/font.c).
 *
 * - at least 50 styles besides photo, one-word unique names, families of at least 3 similar
 *   styles (photo alone), names found case-insensitively, an unknown one an error that lists them;
 * - rendering is a pure function of (image, style, seed, key): the same inputs give the same
 *   bytes, another key or seed changes the random styles only; photo is the gray image;
 * - the styles are distinct: on 30 real test images (3 per class), every pair of styles differs
 *   in a 15-number summary of pixel statistics (per-channel mean, spread, horizontal and vertical
 *   detail, background colour) by clearly more than rendering noise;
 * - prompts: the exact text of each template (with a/an), -1 on overflow; every word of every
 *   prompt is in the vocabulary, which lists each word once; the tokenizer built on it encodes
 *   every prompt (at most 9 tokens) and decodes it back;
 * - a split as items (canvas_set): item -> (image, style, object, template), batches equal the
 *   renderer scaled to [-1, 1], prompts from the drawn template, templates a quarter each;
 * - as a labelled set (fashion-canvas-style / -object, the judges' data): shapes, names, labels,
 *   the renderer's bytes, every style drawn;
 * - the font: widths, and a drawn glyph lands where it should.
 * Needs Debian's dataset-fashion-mnist for the real images (skipped without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "data/canvas.h"
#include "data/canvas_set.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "io/font.h"

#define NPIX (CANVAS_SIZE * CANVAS_SIZE)

static lethe_dataset g_test;
static int g_loaded;

static const lethe_dataset *fashion_test(void) {
    if (access("/usr/share/datasets/fashion-mnist", R_OK) != 0) skip();
    if (!g_loaded) {
        assert_int_equal(dataset_load(&g_test, "fashion-mnist", LETHE_SPLIT_TEST), LETHE_OK);
        g_loaded = 1;
    }
    return &g_test;
}

static void test_style_table(void **state) {
    (void)state;
    assert_true(CANVAS_N_STYLES >= 51);
    assert_string_equal(canvas_style_name(0), "photo");
    int per_family[64] = {0};
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        const char *n = canvas_style_name(s);
        assert_true(strlen(n) > 1);
        for (const char *c = n; *c; c++) assert_true(*c >= 'a' && *c <= 'z');   // one lower-case word
        for (int t = 0; t < s; t++) assert_string_not_equal(n, canvas_style_name(t));
        int f = canvas_style_family(s);
        assert_true(f >= 0 && f < canvas_n_families() && f < 64);
        per_family[f]++;
        int idx = -1;
        char upper[32];
        snprintf(upper, sizeof upper, "%s", n);
        upper[0] = (char)(upper[0] - 'a' + 'A');
        assert_int_equal(canvas_style_index(upper, &idx), LETHE_OK);
        assert_int_equal(idx, s);
    }
    for (int f = 0; f < canvas_n_families(); f++) {
        if (f == canvas_style_family(0)) assert_int_equal(per_family[f], 1);
        else if (per_family[f] < 3) fail_msg("family %s has %d styles", canvas_family_name(f), per_family[f]);
    }
    int idx;
    assert_int_not_equal(canvas_style_index("zebrah", &idx), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "zebrah"));
    assert_non_null(strstr(lethe_last_error(), "zebra, candy"));
}

// A made-up object: a filled ellipse with a gradient, 0 around it.
static void blob(uint8_t *g) {
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            float dy = (y - 14) / 11.0f, dx = (x - 14) / 7.0f;
            g[y * 28 + x] = dy * dy + dx * dx < 1 ? (uint8_t)(120 + 4 * y) : 0;
        }
}

static void test_render_deterministic(void **state) {
    (void)state;
    uint8_t g[784], a[CANVAS_NUMEL], b[CANVAS_NUMEL];
    blob(g);
    int random_styles = 0;
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        canvas_render(g, s, 7, 123, a);
        canvas_render(g, s, 7, 123, b);
        assert_memory_equal(a, b, CANVAS_NUMEL);
        // another image index or seed: only the random elements move (a phase drawn from
        // 4 values can repeat, so a few draws each)
        int key_matters = 0, seed_matters = 0;
        for (int k = 1; k <= 8; k++) {
            canvas_render(g, s, 7, 123 + (uint64_t)k, b);
            key_matters |= memcmp(a, b, CANVAS_NUMEL) != 0;
            canvas_render(g, s, 7 + (uint64_t)k, 123, b);
            seed_matters |= memcmp(a, b, CANVAS_NUMEL) != 0;
        }
        assert_int_equal(seed_matters, key_matters);
        random_styles += key_matters;
    }
    print_message("%d of %d styles have random elements (phase, grain, colours)\n", random_styles, CANVAS_N_STYLES);
    assert_true(random_styles >= 20);
    // photo: the gray image in the middle, equal channels, black around
    canvas_render(g, 0, 0, 0, a);
    for (int y = 0; y < CANVAS_SIZE; y++)
        for (int x = 0; x < CANVAS_SIZE; x++) {
            int in = y >= 2 && y < 30 && x >= 2 && x < 30;
            uint8_t want = in ? g[(y - 2) * 28 + x - 2] : 0;
            for (int c = 0; c < 3; c++) assert_int_equal(a[c * NPIX + y * CANVAS_SIZE + x], want);
        }
}

#define N_FEATURES 15
// mean, std, mean |dx|, mean |dy| per channel, and the corner colour: 0..255 units
static void features(const uint8_t *rgb, double *f) {
    for (int c = 0; c < 3; c++) {
        const uint8_t *p = rgb + c * NPIX;
        double s = 0, s2 = 0, dx = 0, dy = 0;
        for (int y = 0; y < CANVAS_SIZE; y++)
            for (int x = 0; x < CANVAS_SIZE; x++) {
                double v = p[y * CANVAS_SIZE + x];
                s += v;
                s2 += v * v;
                if (x + 1 < CANVAS_SIZE) dx += fabs(v - p[y * CANVAS_SIZE + x + 1]);
                if (y + 1 < CANVAS_SIZE) dy += fabs(v - p[(y + 1) * CANVAS_SIZE + x]);
            }
        double mean = s / NPIX;
        f[c] = mean;
        f[3 + c] = sqrt(fmax(s2 / NPIX - mean * mean, 0));
        f[6 + c] = dx / (CANVAS_SIZE * (CANVAS_SIZE - 1));
        f[9 + c] = dy / (CANVAS_SIZE * (CANVAS_SIZE - 1));
        f[12 + c] = p[0];
    }
}

// Every pair of styles differs: the largest difference of the 15 averaged statistics is at
// least 5 levels (of 255), while the same style on two renderings of the same images (other
// keys: other phases, grain, colours) moves them by much less.
static void test_styles_distinct(void **state) {
    (void)state;
    const lethe_dataset *d = fashion_test();
    enum { PER_CLASS = 3 };
    int picks[10 * PER_CLASS], np = 0, seen[10] = {0};
    for (int i = 0; i < d->n && np < 10 * PER_CLASS; i++)
        if (seen[d->labels[i]] < PER_CLASS) {
            seen[d->labels[i]]++;
            picks[np++] = i;
        }
    assert_int_equal(np, 10 * PER_CLASS);
    static double f[CANVAS_N_STYLES][N_FEATURES], f2[CANVAS_N_STYLES][N_FEATURES];
    uint8_t rgb[CANVAS_NUMEL];
    double one[N_FEATURES];
    memset(f, 0, sizeof f);
    memset(f2, 0, sizeof f2);
    for (int s = 0; s < CANVAS_N_STYLES; s++)
        for (int i = 0; i < np; i++) {
            canvas_render(d->pixels + (size_t)picks[i] * 784, s, 0, (uint64_t)picks[i], rgb);
            features(rgb, one);
            for (int k = 0; k < N_FEATURES; k++) f[s][k] += one[k] / np;
            canvas_render(d->pixels + (size_t)picks[i] * 784, s, 0, (uint64_t)picks[i] + 100000, rgb);
            features(rgb, one);
            for (int k = 0; k < N_FEATURES; k++) f2[s][k] += one[k] / np;
        }
    double min_pair = 1e9, max_noise = 0;
    int ma = 0, mb = 0;
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        for (int k = 0; k < N_FEATURES; k++) max_noise = fmax(max_noise, fabs(f[s][k] - f2[s][k]));
        for (int t = 0; t < s; t++) {
            double dmax = 0;
            for (int k = 0; k < N_FEATURES; k++) dmax = fmax(dmax, fabs(f[s][k] - f[t][k]));
            if (dmax < min_pair) { min_pair = dmax; ma = s; mb = t; }
        }
    }
    print_message("closest pair of styles: %s / %s, %.1f levels apart; rendering noise at most %.2f levels\n",
                  canvas_style_name(ma), canvas_style_name(mb), min_pair, max_noise);
    assert_true(min_pair >= 5.0);
    assert_true(max_noise < min_pair / 4);
}

static void test_prompts(void **state) {
    (void)state;
    char p[128];
    assert_int_equal(canvas_prompt(0, "ankle-boot", "zebra", p, sizeof p), (int)strlen("an ankle-boot in zebra style"));
    assert_string_equal(p, "an ankle-boot in zebra style");
    canvas_prompt(1, "trouser", "zebra", p, sizeof p);
    assert_string_equal(p, "zebra trouser");
    canvas_prompt(2, "t-shirt", "ocean", p, sizeof p);
    assert_string_equal(p, "an ocean t-shirt");
    canvas_prompt(3, "bag", "chess", p, sizeof p);
    assert_string_equal(p, "a chess style picture of a bag");
    assert_int_equal(canvas_prompt(0, "bag", "chess", p, 8), -1);
    assert_int_equal(canvas_prompt(CANVAS_N_TEMPLATES, "bag", "chess", p, sizeof p), -1);
}

static void test_vocabulary(void **state) {
    (void)state;
    const char *objects[10] = {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"};
    const char *words[256];
    int n = canvas_vocabulary(objects, 10, words, 256);
    assert_int_equal(n, 6 + CANVAS_N_STYLES + 10);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) assert_string_not_equal(words[i], words[j]);
    assert_int_equal(canvas_vocabulary(objects, 10, words, 20), -1);
    char p[128];
    for (int t = 0; t < CANVAS_N_TEMPLATES; t++)
        for (int s = 0; s < CANVAS_N_STYLES; s++)
            for (int o = 0; o < 10; o++) {
                assert_true(canvas_prompt(t, objects[o], canvas_style_name(s), p, sizeof p) > 0);
                for (char *save = NULL, *w = strtok_r(p, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                    int found = 0;
                    for (int i = 0; i < n && !found; i++) found = strcmp(words[i], w) == 0;
                    if (!found) fail_msg("'%s' is not in the vocabulary", w);
                }
            }
}

// The canvas's vocabulary as the tokenizer's: every prompt of every (template, style, object)
// encodes within 12 tokens and decodes back to itself.
static void test_prompts_tokenize(void **state) {
    (void)state;
    const char *objects[10] = {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"};
    const char *words[256];
    int n = canvas_vocabulary(objects, 10, words, 256), longest = 0;
    lethe_tokenizer tok;
    assert_int_equal(tokenizer_create(&tok, words, n, 12), LETHE_OK);
    char p[128], back[128];
    int ids[12], nt;
    for (int t = 0; t < CANVAS_N_TEMPLATES; t++)
        for (int s = 0; s < CANVAS_N_STYLES; s++)
            for (int o = 0; o < 10; o++) {
                canvas_prompt(t, objects[o], canvas_style_name(s), p, sizeof p);
                if (tokenizer_encode(&tok, p, ids, &nt)) fail_msg("%s: %s", p, lethe_last_error());
                if (nt > longest) longest = nt;
                assert_int_equal(tokenizer_decode(&tok, ids, 12, back, sizeof back), LETHE_OK);
                assert_string_equal(back, p);
            }
    print_message("the longest prompt is %d tokens with BOS and EOS\n", longest);
    assert_int_equal(longest, 9);   // "a zebra style picture of an ankle-boot"
    tokenizer_free(&tok);
}

// Items of a split: (image, style) pairs rendered on demand, templates drawn per item.
static void test_canvas_set(void **state) {
    (void)state;
    (void)fashion_test();   // skips without the data
    canvas_set c, c2;
    assert_int_equal(canvas_set_load(&c, "fashion-mnist", LETHE_SPLIT_TEST, 5), LETHE_OK);
    assert_int_equal(canvas_set_load(&c2, "fashion-mnist", LETHE_SPLIT_TEST, 6), LETHE_OK);
    assert_true(c.n == (size_t)10000 * CANVAS_N_STYLES);
    const size_t items[4] = {0, 57, 3 * CANVAS_N_STYLES + 9, c.n - 1};
    float x[4 * CANVAS_NUMEL];
    int styles[4], objects[4], counts[CANVAS_N_TEMPLATES] = {0}, differ = 0, longest = 0;
    char prompts[4 * CANVAS_PROMPT_MAX], want[CANVAS_PROMPT_MAX];
    canvas_set_batch(&c, items, 4, x, styles, objects, prompts, CANVAS_PROMPT_MAX);
    uint8_t rgb[CANVAS_NUMEL];
    for (int r = 0; r < 4; r++) {
        canvas_item it = canvas_set_item(&c, items[r]);
        assert_int_equal(it.image, (int)(items[r] / CANVAS_N_STYLES));
        assert_int_equal(styles[r], (int)(items[r] % CANVAS_N_STYLES));
        assert_int_equal(objects[r], c.objects.labels[it.image]);
        canvas_render(c.objects.pixels + (size_t)it.image * 784, it.style, 5, (uint64_t)it.image, rgb);
        for (int j = 0; j < CANVAS_NUMEL; j++) assert_true(x[(size_t)r * CANVAS_NUMEL + j] == rgb[j] / 127.5f - 1.0f);
        canvas_prompt(it.template_index, c.objects.class_names[it.object], canvas_style_name(it.style), want, sizeof want);
        assert_string_equal(prompts + (size_t)r * CANVAS_PROMPT_MAX, want);
    }
    // templates: about a quarter each, another seed draws others; every prompt fits
    for (size_t i = 0; i < c.n; i += 7) {
        canvas_item a = canvas_set_item(&c, i), b = canvas_set_item(&c2, i);
        counts[a.template_index]++;
        differ += a.template_index != b.template_index;
        char p[CANVAS_PROMPT_MAX];
        int len = canvas_prompt(a.template_index, c.objects.class_names[a.object], canvas_style_name(a.style), p, sizeof p);
        assert_true(len > 0);
        if (len > longest) longest = len;
    }
    const double n = (double)((c.n + 6) / 7);
    for (int t = 0; t < CANVAS_N_TEMPLATES; t++) assert_true(fabs(counts[t] / n - 0.25) < 0.01);
    assert_true(differ / n > 0.7 && differ / n < 0.8);   // 3/4 differ for independent draws
    assert_int_equal(longest, 43);
    canvas_set_free(&c);
    canvas_set_free(&c2);
}

// A split as a labelled image set (the judges' training data): one style per image, drawn
// evenly; labels the style or the object; dataset_load reaches it by name.
static void test_materialize(void **state) {
    (void)state;
    (void)fashion_test();
    lethe_dataset st, ob;
    assert_int_equal(dataset_load(&st, "fashion-canvas-style", LETHE_SPLIT_TEST), LETHE_OK);
    assert_int_equal(dataset_load(&ob, "fashion-canvas-object", LETHE_SPLIT_TEST), LETHE_OK);
    assert_string_equal(st.name, "fashion-canvas-style");
    assert_int_equal(st.n, 10000);
    assert_int_equal(st.c, 3);
    assert_int_equal(st.h, 32);
    assert_int_equal(st.n_classes, CANVAS_N_STYLES);
    assert_string_equal(st.class_names[1], "zebra");
    assert_int_equal(ob.n_classes, 10);
    assert_string_equal(ob.class_names[9], "ankle-boot");
    assert_memory_equal(st.pixels, ob.pixels, (size_t)st.n * CANVAS_NUMEL);   // the same renderings
    int count[CANVAS_N_STYLES] = {0};
    uint8_t rgb[CANVAS_NUMEL];
    for (int i = 0; i < st.n; i++) {
        count[st.labels[i]]++;
        assert_int_equal(ob.labels[i], g_test.labels[i]);
        if (i % 997 == 0) {
            canvas_render(g_test.pixels + (size_t)i * 784, st.labels[i], 0, (uint64_t)i, rgb);
            assert_memory_equal(st.pixels + (size_t)i * CANVAS_NUMEL, rgb, CANVAS_NUMEL);
        }
    }
    for (int s = 0; s < CANVAS_N_STYLES; s++) assert_true(count[s] > 10000 / CANVAS_N_STYLES / 2);   // 178 expected
    dataset_free(&st);
    dataset_free(&ob);
    lethe_dataset x;
    assert_int_not_equal(dataset_load(&x, "fashion-canvas", LETHE_SPLIT_TEST), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "fashion-canvas-style"));
}

// redraw: round r renders every image again in round r's style (seed r), labels follow the
// style (objects stay), round 0 gives back the loaded data, and only the first ds->n images
// are touched
static void test_redraw(void **state) {
    (void)state;
    (void)fashion_test();
    lethe_dataset st, ob;
    assert_int_equal(dataset_load(&st, "fashion-canvas-style", LETHE_SPLIT_TEST), LETHE_OK);
    assert_int_equal(dataset_load(&ob, "fashion-canvas-object", LETHE_SPLIT_TEST), LETHE_OK);
    assert_non_null(st.redraw);
    const size_t bytes = (size_t)st.n * CANVAS_NUMEL;
    uint8_t *first = malloc(bytes);
    int *first_labels = malloc((size_t)st.n * sizeof(int));
    assert_non_null(first);
    assert_non_null(first_labels);
    memcpy(first, st.pixels, bytes);
    memcpy(first_labels, st.labels, (size_t)st.n * sizeof(int));
    const int full_n = st.n;
    st.n = ob.n = 3000;   // as --train-images: the rest stays
    assert_int_equal(st.redraw(&st, 1), LETHE_OK);
    assert_int_equal(ob.redraw(&ob, 1), LETHE_OK);
    assert_memory_equal(st.pixels, ob.pixels, (size_t)st.n * CANVAS_NUMEL);   // one draw, two labellings
    int moved = 0;
    uint8_t rgb[CANVAS_NUMEL];
    for (int i = 0; i < st.n; i++) {
        moved += st.labels[i] != first_labels[i];
        assert_int_equal(ob.labels[i], g_test.labels[i]);
        if (i % 499 == 0) {
            canvas_render(g_test.pixels + (size_t)i * 784, st.labels[i], 1, (uint64_t)i, rgb);
            assert_memory_equal(st.pixels + (size_t)i * CANVAS_NUMEL, rgb, CANVAS_NUMEL);
        }
    }
    assert_true(moved > st.n * 9 / 10);   // a new style for nearly every image (1/56 keep theirs)
    assert_memory_equal(st.pixels + (size_t)st.n * CANVAS_NUMEL, first + (size_t)st.n * CANVAS_NUMEL,
                        (size_t)(full_n - st.n) * CANVAS_NUMEL);
    assert_int_equal(st.redraw(&st, 0), LETHE_OK);   // round 0: the data as loaded
    assert_memory_equal(st.pixels, first, (size_t)st.n * CANVAS_NUMEL);
    assert_memory_equal(st.labels, first_labels, (size_t)st.n * sizeof(int));
    free(first);
    free(first_labels);
    dataset_free(&st);
    dataset_free(&ob);
    assert_null(st.redraw);
}

static void test_font(void **state) {
    (void)state;
    assert_int_equal(font_text_width("", 1), 0);
    assert_int_equal(font_text_width("ab", 1), 11);
    assert_int_equal(font_text_width("ab", 2), 22);
    enum { W = 20, H = 10 };
    uint8_t img[2 * W * H];
    memset(img, 0, sizeof img);
    const uint8_t colour[2] = {200, 100};
    font_draw(img, 2, W, H, 1, 1, "i-", colour, 1);   // lower case drawn as upper case
    // 'I': its top row is 0x0E (columns 1..3), its middle column is set on every row
    assert_int_equal(img[1 * W + 1], 0);
    assert_int_equal(img[1 * W + 2], 200);
    assert_int_equal(img[W * H + 1 * W + 4], 100);
    for (int r = 1; r < 8; r++) assert_int_equal(img[r * W + 3], 200);
    // '-' (advance 6): only its middle row (row 3 of the glyph)
    for (int c = 7; c < 12; c++) {
        assert_int_equal(img[4 * W + c], 200);
        assert_int_equal(img[3 * W + c], 0);
    }
    font_draw(img, 2, W, H, 18, 8, "W", colour, 2);   // clipped at the edges: no write outside
}

static int teardown(void **state) {
    (void)state;
    if (g_loaded) dataset_free(&g_test);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_style_table),
        cmocka_unit_test(test_render_deterministic),
        cmocka_unit_test(test_styles_distinct),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_prompts_tokenize),
        cmocka_unit_test(test_canvas_set),
        cmocka_unit_test(test_materialize),
        cmocka_unit_test(test_redraw),
        cmocka_unit_test(test_font),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
