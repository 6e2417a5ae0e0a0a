/*
 * concepts.h: a text-to-image model's concepts as the unlearning loop's classes.
 *
 * The loop and every fine-tuning method name classes (the forget class, the retained ones, a
 * surrogate). A text-to-image model trained on Fashion-Canvas gets one class per prompt of
 * the answer set: class style * n_objects + object, named "{style} {object}" (data/
 * canvas_set.h, CANVAS_LABEL_PROMPT), conditioned on "a {object} in {style} style" (the
 * answer set's template, canvas_eval.h). Its training images are the prompt-labelled
 * split, so forget and retain sets, SalUn's relabelling, SA's replay, ESD's chains and
 * SPARE's surrogate all run unchanged on prompts, through the conditioning seam.
 *
 * A concept is a style (its 10 prompt classes), an object (its 56) or one prompt class.
 */
#ifndef LETHE_UNLEARN_CONCEPTS_H
#define LETHE_UNLEARN_CONCEPTS_H

#include "data/dataset.h"
#include "diffusion/model.h"

typedef enum { CONCEPT_ANY, CONCEPT_STYLE, CONCEPT_OBJECT } concept_kind;

// The prompt-labelled Fashion-Canvas training split of text-to-image model m: rendered from
// `data` when given, else from the folder m recorded (its files checked against the
// fingerprint); then m's prompt classes (model_set_prompt_classes). `whose` names the model
// in messages.
lethe_status concepts_load(lethe_model *m, const char *data, const char *whose, lethe_dataset *train);
// Appends to out[*n] (cap in all) the classes concept `name` names, skipping ones already in
// is_in (then marked): kind STYLE or OBJECT insists on that kind. LETHE_ERR_ARG names the
// model's styles and objects when nothing matches.
lethe_status concepts_add(const lethe_model *m, const char *name, concept_kind kind, int *out, int *n, int cap,
                          int *is_in);
// Class k with its style (when `name` is a style) or its object (when an object) replaced by
// `name`; a prompt class name is the class itself.
lethe_status concepts_substitute(const lethe_model *m, int k, const char *name, int *out);

#endif
