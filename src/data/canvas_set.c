/* canvas_set.c: Fashion-Canvas items rendered on demand (canvas_set.h). */
#include "data/canvas_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define TEMPLATE_STREAM_B 0xC0FFEEull   // the b index of the template draws (styles use 0..55)
#define PICK_STREAM_B 0xC0FFEFull       // the style each image gets in a materialized split

lethe_status canvas_set_load(canvas_set *c, const char *spec, lethe_split split, uint64_t seed) {
    memset(c, 0, sizeof *c);
    lethe_status st = dataset_load(&c->objects, spec, split);
    if (st) return st;
    if (c->objects.c != 1 || c->objects.h != CANVAS_OBJECT_SIZE || c->objects.w != CANVAS_OBJECT_SIZE) {
        st = lethe_fail(LETHE_ERR_SHAPE, "Fashion-Canvas renders 1 x 28 x 28 images; %s has %d x %d x %d", spec,
                        c->objects.c, c->objects.h, c->objects.w);
        dataset_free(&c->objects);
        return st;
    }
    c->seed = seed;
    c->n = (size_t)c->objects.n * CANVAS_N_STYLES;
    return LETHE_OK;
}

void canvas_set_free(canvas_set *c) {
    dataset_free(&c->objects);
    memset(c, 0, sizeof *c);
}

canvas_item canvas_set_item(const canvas_set *c, size_t i) {
    canvas_item it;
    it.image = (int)(i / CANVAS_N_STYLES);
    it.style = (int)(i % CANVAS_N_STYLES);
    it.object = c->objects.labels[it.image];
    it.template_index = (int)lethe_rand_below(c->seed, lethe_stream(LETHE_STREAM_CANVAS, i, TEMPLATE_STREAM_B), 0,
                                              CANVAS_N_TEMPLATES);
    return it;
}

void canvas_set_batch(const canvas_set *c, const size_t *items, int m, float *images, int *styles, int *objects,
                      char *prompts, size_t prompt_cap) {
    uint8_t rgb[CANVAS_NUMEL];
    for (int r = 0; r < m; r++) {
        const canvas_item it = canvas_set_item(c, items[r]);
        canvas_render(c->objects.pixels + (size_t)it.image * CANVAS_OBJECT_SIZE * CANVAS_OBJECT_SIZE, it.style, c->seed,
                      (uint64_t)it.image, rgb);
        float *x = images + (size_t)r * CANVAS_NUMEL;
        for (int j = 0; j < CANVAS_NUMEL; j++) x[j] = rgb[j] / 127.5f - 1.0f;
        if (styles) styles[r] = it.style;
        if (objects) objects[r] = it.object;
        // a row shorter than CANVAS_PROMPT_MAX may not hold the prompt: it is left empty then
        if (prompts && canvas_prompt(it.template_index, c->objects.class_names[it.object], canvas_style_name(it.style),
                                     prompts + (size_t)r * prompt_cap, prompt_cap) < 0 && prompt_cap)
            prompts[(size_t)r * prompt_cap] = 0;
    }
}

// Renders images [0, n) of the split into out's pixels and labels in round `round`'s draw:
// round 0 uses the set's seed, round r its seed + r, for the style each image gets and for
// the style's random elements.
static void render_round(const canvas_set *c, canvas_label label, uint64_t round, int n, lethe_dataset *out) {
    const lethe_dataset *o = &c->objects;
    const uint64_t seed = c->seed + round;
    for (int i = 0; i < n; i++) {
        const int style = (int)lethe_rand_below(seed, lethe_stream(LETHE_STREAM_CANVAS, (uint64_t)i, PICK_STREAM_B), 0,
                                                CANVAS_N_STYLES);
        canvas_render(o->pixels + (size_t)i * CANVAS_OBJECT_SIZE * CANVAS_OBJECT_SIZE, style, seed, (uint64_t)i,
                      out->pixels + (size_t)i * CANVAS_NUMEL);
        out->labels[i] = label == CANVAS_LABEL_STYLE    ? style
                         : label == CANVAS_LABEL_OBJECT ? o->labels[i]
                                                        : canvas_prompt_class(style, o->labels[i], o->n_classes);
    }
}

lethe_status canvas_set_materialize(const canvas_set *c, canvas_label label, lethe_dataset *out) {
    const lethe_dataset *o = &c->objects;
    memset(out, 0, sizeof *out);
    static const char *const names[] = {"fashion-canvas-style", "fashion-canvas-object", "fashion-canvas-prompt"};
    if (label == CANVAS_LABEL_PROMPT && CANVAS_N_STYLES * o->n_classes > LETHE_MAX_CLASSES)
        return lethe_fail(LETHE_ERR_ARG, "%d styles x %d objects: more prompt classes than lethe's %d", CANVAS_N_STYLES,
                          o->n_classes, LETHE_MAX_CLASSES);
    snprintf(out->name, sizeof out->name, "%s", names[label]);
    out->n = o->n;
    out->c = CANVAS_CHANNELS;
    out->h = out->w = CANVAS_SIZE;
    out->source = o->source;
    if (label == CANVAS_LABEL_STYLE) {
        out->n_classes = CANVAS_N_STYLES;
        for (int s = 0; s < CANVAS_N_STYLES; s++) snprintf(out->class_names[s], 32, "%s", canvas_style_name(s));
    } else if (label == CANVAS_LABEL_OBJECT) {
        out->n_classes = o->n_classes;
        memcpy(out->class_names, o->class_names, sizeof out->class_names);
    } else {
        out->n_classes = CANVAS_N_STYLES * o->n_classes;
        for (int s = 0; s < CANVAS_N_STYLES; s++)
            for (int k = 0; k < o->n_classes; k++)
                snprintf(out->class_names[canvas_prompt_class(s, k, o->n_classes)], 32, "%s %s", canvas_style_name(s),
                         o->class_names[k]);
    }
    out->pixels = malloc((size_t)o->n * CANVAS_NUMEL);
    out->labels = malloc((size_t)o->n * sizeof(int));
    if (!out->pixels || !out->labels) {
        dataset_free(out);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d Fashion-Canvas images", o->n);
    }
    render_round(c, label, 0, o->n, out);
    return LETHE_OK;
}

// A materialized split that can redraw itself (lethe_dataset.redraw): it keeps the grayscale
// images and which label it carries.
typedef struct {
    canvas_set set;
    canvas_label label;
} canvas_generator;

static lethe_status canvas_redraw(lethe_dataset *ds, uint64_t round) {
    const canvas_generator *g = ds->generator;
    int n = ds->n < g->set.objects.n ? ds->n : g->set.objects.n;
    render_round(&g->set, g->label, round, n, ds);
    return LETHE_OK;
}

static void canvas_generator_free(void *p) {
    canvas_generator *g = p;
    if (!g) return;
    canvas_set_free(&g->set);
    free(g);
}

lethe_status canvas_dataset_open(lethe_dataset *ds, canvas_label label, const char *spec, lethe_split split) {
    memset(ds, 0, sizeof *ds);
    canvas_generator *g = calloc(1, sizeof *g);
    if (!g) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    g->label = label;
    lethe_status st = canvas_set_load(&g->set, spec, split, 0);
    if (st) {
        free(g);
        return st;
    }
    if ((st = canvas_set_materialize(&g->set, label, ds))) {
        canvas_generator_free(g);
        return st;
    }
    ds->redraw = canvas_redraw;
    ds->generator = g;
    ds->free_generator = canvas_generator_free;
    return LETHE_OK;
}

lethe_status canvas_dataset_load(lethe_dataset *ds, const char *name, lethe_split split) {
    memset(ds, 0, sizeof *ds);
    canvas_label label;
    if (strcmp(name, "fashion-canvas-style") == 0) label = CANVAS_LABEL_STYLE;
    else if (strcmp(name, "fashion-canvas-object") == 0) label = CANVAS_LABEL_OBJECT;
    else if (strcmp(name, "fashion-canvas-prompt") == 0) label = CANVAS_LABEL_PROMPT;
    else
        return lethe_fail(LETHE_ERR_ARG, "dataset %s: as a labelled image set Fashion-Canvas is fashion-canvas-style "
                          "(labels: the 56 styles), fashion-canvas-object (labels: the 10 objects) or "
                          "fashion-canvas-prompt (labels: the 560 style-object pairs)", name);
    lethe_status st = canvas_dataset_open(ds, label, "fashion-mnist", split);
    return st ? lethe_fail_context(st, "dataset %s renders Fashion-MNIST", name) : LETHE_OK;
}
