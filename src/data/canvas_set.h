/*
 * canvas_set.h: a split of Fashion-Canvas as training and test data: every (image, style)
 * pair of a Fashion-MNIST split is an item, rendered when a batch asks for it (canvas.h), so
 * the 60,000 x 56 training items take no memory beyond the grayscale images.
 *
 * Item i is image i / CANVAS_N_STYLES in style i % CANVAS_N_STYLES; its prompt uses template
 * lethe_rand_below(seed, canvas stream (i, templates), 0, CANVAS_N_TEMPLATES), and its
 * rendering key is the image's index in the split. Everything is a function of (seed, i).
 */
#ifndef LETHE_DATA_CANVAS_SET_H
#define LETHE_DATA_CANVAS_SET_H

#include <stddef.h>
#include <stdint.h>

#include "data/canvas.h"
#include "data/dataset.h"

typedef struct {
    lethe_dataset objects;   // the grayscale split; its labels and class names are the objects
    uint64_t seed;
    size_t n;                // items: objects.n * CANVAS_N_STYLES
} canvas_set;

// The split of `spec` (a Fashion-MNIST name or IDX folder of 1 x 28 x 28 images). Errors
// name the shape found for other data.
lethe_status canvas_set_load(canvas_set *c, const char *spec, lethe_split split, uint64_t seed);
void canvas_set_free(canvas_set *c);

typedef struct {
    int image, style, object, template_index;
} canvas_item;

canvas_item canvas_set_item(const canvas_set *c, size_t i);

// m items: images scaled to [-1, 1] as dataset_batch does (m x CANVAS_NUMEL floats), and,
// where not NULL, their styles, objects and prompts (m rows of prompt_cap chars each;
// CANVAS_PROMPT_MAX holds every prompt).
void canvas_set_batch(const canvas_set *c, const size_t *items, int m, float *images, int *styles, int *objects,
                      char *prompts, size_t prompt_cap);

// CANVAS_LABEL_PROMPT: the (style, object) pair, class style * n_objects + object, named
// "{style} {object}" ("zebra trouser", itself a prompt of template 1): the classes of
// concept-level unlearning, one per prompt of the answer set (canvas_eval.h).
typedef enum { CANVAS_LABEL_STYLE, CANVAS_LABEL_OBJECT, CANVAS_LABEL_PROMPT } canvas_label;

// The split as a plain labelled dataset, for the classifiers that judge generated images
// and for unlearning: one item per image, in a style drawn from (seed, image) (each style
// about 1/56 of them), 3 x 32 x 32, labelled by its style (56 classes, the style names),
// its object (10) or both (560). The source record is the Fashion-MNIST files'.
lethe_status canvas_set_materialize(const canvas_set *c, canvas_label label, lethe_dataset *out);

// The prompt class of (style, object) and back (CANVAS_LABEL_PROMPT; n_objects: the split's classes).
static inline int canvas_prompt_class(int style, int object, int n_objects) { return style * n_objects + object; }
static inline int canvas_prompt_class_style(int k, int n_objects) { return k / n_objects; }
static inline int canvas_prompt_class_object(int k, int n_objects) { return k % n_objects; }

// dataset_load's entry for the names "fashion-canvas-style", "fashion-canvas-object" and
// "fashion-canvas-prompt": the
// materialized split of Fashion-MNIST (found as "fashion-mnist"), seed 0. Plain
// "fashion-canvas" is an error that names the two. The dataset can redraw itself
// (lethe_dataset.redraw): round r gives every image a new style and new random elements
// (seed r), so a trainer sees each image in other styles from pass to pass.
lethe_status canvas_dataset_load(lethe_dataset *ds, const char *name, lethe_split split);
// The same for a label and the Fashion-MNIST spec to render (a name or an IDX folder, as
// canvas_set_load), seed 0: what a text-to-image model's recorded data folder gives.
lethe_status canvas_dataset_open(lethe_dataset *ds, canvas_label label, const char *spec, lethe_split split);

#endif
