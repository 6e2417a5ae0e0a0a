/* concepts.c: a text-to-image model's concepts as the unlearning loop's classes (concepts.h). */
#include "unlearn/concepts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/canvas.h"
#include "data/canvas_set.h"

#define PROMPT_TEMPLATE 0   // "a {object} in {style} style": the answer set's (eval/canvas_eval.c)

lethe_status concepts_load(lethe_model *m, const char *data, const char *whose, lethe_dataset *train) {
    memset(train, 0, sizeof *train);
    if (!model_is_text(m)) return lethe_fail(LETHE_ERR_ARG, "%s is not a text-to-image model", whose);
    const char *spec = data ? data : m->data.dir[0] ? m->data.dir : "fashion-mnist";
    if (!data && m->data.dir[0] && !fs_is_dir(m->data.dir))
        return lethe_fail(LETHE_ERR_IO, "%s was trained on Fashion-Canvas rendered from %s, which is gone (no such "
                          "directory); pass --data DIR with the Fashion-MNIST files", whose, m->data.dir);
    lethe_status st = canvas_dataset_open(train, CANVAS_LABEL_PROMPT, spec, LETHE_SPLIT_TRAIN);
    if (st) return lethe_fail_context(st, "%s: Fashion-Canvas from %s", whose, spec);
    if (!data && m->data.dir[0] &&
        ((st = data_record_hash(&train->source)) || (st = data_record_compare(&m->data, &train->source, whose))))
        goto fail;
    const int n = train->n_classes, n_obj = n / CANVAS_N_STYLES;
    char *prompts = malloc((size_t)n * CANVAS_PROMPT_MAX);
    if (!prompts) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail; }
    for (int k = 0; k < n; k++) {
        const char *style = canvas_style_name(canvas_prompt_class_style(k, n_obj));
        const char *object = train->class_names[k] + strlen(style) + 1;   // "{style} {object}"
        canvas_prompt(PROMPT_TEMPLATE, object, style, prompts + (size_t)k * CANVAS_PROMPT_MAX, CANVAS_PROMPT_MAX);
    }
    st = model_set_prompt_classes(m, (const char(*)[32])train->class_names, prompts, CANVAS_PROMPT_MAX, n);
    free(prompts);
    if (st) st = lethe_fail_context(st, "%s: the prompts of its concepts", whose);
    if (!st) return LETHE_OK;
fail:
    dataset_free(train);
    return st;
}

// Lowercase without '-', '_' and spaces, as class names are matched (data/dataset.c).
static void norm(const char *s, size_t len, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < len && s[i] && k + 1 < cap; i++)
        if (s[i] != '-' && s[i] != '_' && s[i] != ' ') out[k++] = (char)tolower((unsigned char)s[i]);
    out[k] = 0;
}

// The style (part 0) or object (part 1) of prompt class k, normalised.
static void class_part(const lethe_model *m, int k, int part, char *out, size_t cap) {
    const char *name = m->class_names[k], *sp = strchr(name, ' ');
    if (!sp) { norm(name, strlen(name), out, cap); return; }
    if (part == 0) norm(name, (size_t)(sp - name), out, cap);
    else norm(sp + 1, strlen(sp + 1), out, cap);
}

// "styles: a, b, ...; objects: c, d, ..." of the model's classes.
static void list_concepts(const lethe_model *m, char *out, size_t cap) {
    size_t at = (size_t)snprintf(out, cap, "styles:");
    for (int part = 0; part < 2; part++) {
        if (part == 1 && at < cap) at += (size_t)snprintf(out + at, cap - at, "; objects:");
        char seen[LETHE_MAX_CLASSES][32];
        int n_seen = 0;
        for (int k = 0; k < m->n_classes && at < cap; k++) {
            const char *name = m->class_names[k], *sp = strchr(name, ' ');
            char word[32];
            if (!sp) continue;
            if (part == 0) snprintf(word, sizeof word, "%.*s", (int)(sp - name), name);
            else snprintf(word, sizeof word, "%s", sp + 1);
            int dup = 0;
            for (int i = 0; i < n_seen && !dup; i++) dup = !strcmp(seen[i], word);
            if (dup) continue;
            snprintf(seen[n_seen++], 32, "%s", word);
            at += (size_t)snprintf(out + at, cap - at, "%s %s", n_seen > 1 ? "," : "", word);
        }
    }
}

lethe_status concepts_add(const lethe_model *m, const char *name, concept_kind kind, int *out, int *n, int cap,
                          int *is_in) {
    char want[64], part[64], whole[64];
    norm(name, strlen(name), want, sizeof want);
    int matched = 0;
    for (int k = 0; k < m->n_classes; k++) {
        int hit = 0;
        if (kind == CONCEPT_ANY) {
            norm(m->class_names[k], strlen(m->class_names[k]), whole, sizeof whole);
            hit = !strcmp(whole, want);
        }
        for (int p = 0; p < 2 && !hit; p++) {
            if ((kind == CONCEPT_STYLE && p == 1) || (kind == CONCEPT_OBJECT && p == 0)) continue;
            class_part(m, k, p, part, sizeof part);
            hit = !strcmp(part, want);
        }
        if (!hit) continue;
        matched++;
        if (is_in[k]) continue;
        if (*n >= cap) return lethe_fail(LETHE_ERR_ARG, "more than %d forget classes", cap);
        is_in[k] = 1;
        out[(*n)++] = k;
    }
    if (matched) return LETHE_OK;
    char list[4096];
    list_concepts(m, list, sizeof list);
    return lethe_fail(LETHE_ERR_ARG, "'%s' is not %s of this model (%s)", name,
                      kind == CONCEPT_STYLE ? "a style" : kind == CONCEPT_OBJECT ? "an object" : "a style, an object or a prompt",
                      list);
}

lethe_status concepts_substitute(const lethe_model *m, int k, const char *name, int *out) {
    char want[64], part[64], other[64];
    norm(name, strlen(name), want, sizeof want);
    for (int j = 0; j < m->n_classes; j++) {   // a whole prompt class
        norm(m->class_names[j], strlen(m->class_names[j]), part, sizeof part);
        if (!strcmp(part, want)) { *out = j; return LETHE_OK; }
    }
    for (int p = 0; p < 2; p++) {   // a style (p = 0) or an object (p = 1): keep k's other part
        class_part(m, k, 1 - p, other, sizeof other);
        for (int j = 0; j < m->n_classes; j++) {
            class_part(m, j, p, part, sizeof part);
            if (strcmp(part, want)) continue;
            class_part(m, j, 1 - p, part, sizeof part);
            if (!strcmp(part, other)) { *out = j; return LETHE_OK; }
        }
    }
    char list[4096];
    list_concepts(m, list, sizeof list);
    return lethe_fail(LETHE_ERR_ARG, "'%s' is not a style, an object or a prompt of this model (%s)", name, list);
}
