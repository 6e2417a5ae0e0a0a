/*
 * canvas_eval.h: `lethe eval` for text-to-image models on Fashion-Canvas, as UnlearnCanvas
 * evaluates Stable Diffusion (specs/methods.md 2.3): the answer set, judged by the style and
 * object classifiers.
 *
 * The answer set: every style x object prompt (or those of the styles in opts.styles, a quick
 * look: UA, IRA and CRA are then over those styles' images only), "a {object} in {style} style" (template 0 of
 * data/canvas.h, UnlearnCanvas's "An {object} image in {style} style."), `seeds` images each.
 * Image (prompt p, seed j) starts from x_T number j of the noise seed, the same for every
 * prompt and every model (UnlearnCanvas samples every prompt from seeds 188, 288, ...), so two
 * models, or two styles, differ only by what the network does with the prompt. Sampler noise
 * (DDPM, DDIM eta > 0) is keyed by j * prompts + p, whatever the batching.
 *
 * What is measured, per model:
 *   - style accuracy (style judge) and object accuracy (object judge), overall, per style and
 *     per object;
 *   - FID on the style judge's features against real test images rendered in the same style
 *     (per style and overall), and on the object judge's features against the same real
 *     images grouped by object (per object and overall): `real_per_style` test images, each
 *     rendered in every style;
 *   - CLIP score (clip_model.h: 100 * max(cos, 0) between the committed CLIP's image and
 *     prompt embeddings), overall and per style;
 *   - with forget concepts (one domain: styles or objects, as UnlearnCanvas unlearns one
 *     target at a time; several of one domain erase together):
 *       UA   the share of images whose prompt names a forgotten concept that the domain's judge
 *            does not classify as that concept (mean over the forgotten concepts);
 *       IRA  in-domain retain accuracy: the domain's judge on the images whose prompt names no
 *            forgotten concept (other styles rendered as themselves, or other objects);
 *       CRA  cross-domain retain accuracy: the other judge on those same retained images
 *            (objects still right when a style is forgotten, styles when an object is);
 *       and the other judge's accuracy on the forgotten concept's own images (does erasing a
 *       style keep the object?), the retained FID and CLIP score.
 */
#ifndef LETHE_EVAL_CANVAS_EVAL_H
#define LETHE_EVAL_CANVAS_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "data/canvas.h"
#include "diffusion/sampler.h"

#define CANVAS_EVAL_MAX_MODELS 16
#define CANVAS_N_OBJECTS 10
#define CANVAS_N_PROMPTS (CANVAS_N_STYLES * CANVAS_N_OBJECTS)   // prompt p = style * 10 + object
#define CANVAS_EVAL_MAX_WARNINGS 16

typedef enum { CANVAS_FORGET_NONE, CANVAS_FORGET_STYLE, CANVAS_FORGET_OBJECT } canvas_forget_domain;

typedef struct {
    int seeds;                 // images per prompt
    sampler_kind sampler;
    int steps;
    float eta, guidance;
    int clipped_eps;
    uint64_t seed;             // the noise seed
    int batch;                 // prompts per chain (guidance doubles the network batch)
    int real_per_style;        // real test images rendered in each style for FID (0: no FID)
    int no_clip;               // skip the CLIP score
    const char *style_classifier, *object_classifier, *clip;   // folders
    const char *styles;        // comma-separated: evaluate the prompts of these styles only (NULL: all 56)
    int quiet;
} canvas_eval_opts;

void canvas_eval_opts_default(canvas_eval_opts *o);

// The metrics of one answer set from its judgements: the pure part, tested on its own.
typedef struct {
    double style_accuracy, object_accuracy;
    double style_acc_by_style[CANVAS_N_STYLES], object_acc_by_style[CANVAS_N_STYLES];
    double style_acc_by_object[CANVAS_N_OBJECTS], object_acc_by_object[CANVAS_N_OBJECTS];
    double ua, ira, cra;       // NaN without forget concepts
    double ua_concept[CANVAS_N_STYLES];   // per forgotten concept, in the order given
    double forget_cross_accuracy;         // the other judge on the forgotten concept's images
} canvas_metrics;

typedef struct {
    canvas_forget_domain domain;
    int concepts[CANVAS_N_STYLES];        // style or object indices
    int n;
} canvas_forget;

// n images with the prompt's style and object and the judges' predictions.
void canvas_metrics_compute(const int *style, const int *object, const int *pred_style, const int *pred_object, int n,
                            const canvas_forget *f, canvas_metrics *m);
// "ember,zebra" (styles) or "trouser" (objects) into f; unknown names are errors that list the
// valid ones. object_names: the CANVAS_N_OBJECTS object names.
lethe_status canvas_forget_parse(canvas_forget *f, canvas_forget_domain domain, const char *list,
                                 const char (*object_names)[32]);
// 1 if image (style, object) involves a forgotten concept
int canvas_forget_involves(const canvas_forget *f, int style, int object);

typedef struct {
    char dir[1024], hash[65], method[64];
    canvas_metrics m;
    double fid_style, fid_style_retained, fid_object, fid_object_retained;   // NaN when skipped
    double fid_by_style[CANVAS_N_STYLES], fid_by_object[CANVAS_N_OBJECTS];
    double clip_score, clip_score_retained, clip_score_forget;
    double clip_by_style[CANVAS_N_STYLES];
    double t_load, t_sample, t_judge, t_total, images_per_s;
    uint8_t *grid;             // seed 0 of every prompt: CANVAS_N_PROMPTS images, style-major (black: not evaluated)
} canvas_eval_model;

typedef struct {
    canvas_eval_opts opts;
    canvas_forget forget;
    int styles[CANVAS_N_STYLES], n_styles;   // the evaluated styles, ascending (all by default)
    int evaluated[CANVAS_N_STYLES];          // 1 for each of them
    char object_names[CANVAS_N_OBJECTS][32];
    char style_classifier_hash[65], object_classifier_hash[65];
    double style_classifier_accuracy, object_classifier_accuracy;   // from classifier.json; < 0 unknown
    int n_models;
    canvas_eval_model models[CANVAS_EVAL_MAX_MODELS];
    char warnings[CANVAS_EVAL_MAX_WARNINGS][256];
    int n_warnings;
    double t_real;
    char *command;
} canvas_eval_report;

// forget_styles / forget_objects: comma-separated names, at most one of them non-empty.
lethe_status canvas_eval_run(canvas_eval_report *r, const char *const *model_dirs, int n_models,
                             const char *forget_styles, const char *forget_objects, const canvas_eval_opts *o);
void canvas_eval_report_free(canvas_eval_report *r);

// Reporting (canvas_report.c): JSON text (caller frees), Markdown tables, and the PNGs: one sheet
// per model (a row per style, a column per object, seed 0, labelled) and, for several models, a
// side-by-side sheet of the forgotten styles, their family neighbours and a few others.
char *canvas_eval_json(const canvas_eval_report *r);
void canvas_eval_markdown(const canvas_eval_report *r, FILE *f);
lethe_status canvas_eval_write(const canvas_eval_report *r, const char *json_path);

#endif
