/*
 * evaluate.h: `lethe eval` as a library call: judge one or several diffusion models with
 * the evaluation classifier, on the same seeds and noise (specs/evaluation.md).
 *
 * For each model: samples per class (DDIM/DDPM, guidance) -> per-class generation accuracy,
 * confusion matrix, UA and forget-class confidence, entropy, IS, FID (retained classes and
 * per class, lethe-CNN features) against real test images; the likelihood bound in bits/dim
 * on real test images of each class; a loss-threshold membership-inference AUC on the forget
 * classes' training vs test images; the wall time of each part.
 * Unconditional models: the fraction of samples in each class, and PUL against the first
 * model given (the parent) when it is unconditional too.
 */
#ifndef LETHE_EVAL_EVALUATE_H
#define LETHE_EVAL_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include "core/options.h"
#include "data/dataset.h"
#include "diffusion/sampler.h"
#include "eval/nll.h"

#define EVAL_MAX_MODELS 16   // a comparison table: the original, every method, their variants
#define EVAL_MAX_WARNINGS 32

typedef struct {
    // generation
    int per_class;             // samples per class (unconditional: per_class * classes in all)
    sampler_kind sampler;
    int steps;
    float eta, guidance;
    int clipped_eps;           // DDIM: step along the eps re-derived from the clipped x0 (sampler.h;
                               // default 1: with guidance 2 the network's eps saturates good models)
    uint64_t seed;
    int batch;                 // samples per chain
    int grid_cols;             // samples per class shown in the grid
    // likelihood
    int nll_images;            // real test images per class (0: skip)
    nll_opts nll;
    // membership inference
    int mia_images;            // members and as many non-members (0: skip)
    int mia_pairs;             // (t, noise) pairs per image
    int no_fid;
    const char *data;          // dataset for real images (NULL: the folder the first model with a lethe.json
                               // "data" record was trained on, else the classifier's dataset)
    const char *classes;       // the classes evaluated, names or indices, comma-separated (NULL: all);
                               // e.g. the classes a model was trained on
    int quiet;                 // no progress bars
} eval_opts;

void eval_opts_default(eval_opts *o);

// The options of `lethe eval` and lethe_evaluate, declared once (eval_request_options): the
// CLI's flags and --help and the public API's option names are these rows. Their defaults
// are eval_opts_default's; --sampler and --nll-variance are OPT_CHOICE indices and --no-nll,
// --no-mia switches, which eval_request_check resolves into o.
typedef struct {
    eval_opts o;
    int sampler;               // index in "ddim|ddpm"
    int variance;              // index in "fixed_small|fixed_large"
    int no_nll, no_mia;
    int network_eps;           // --network-eps: DDIM along the network's eps (o.clipped_eps = 0)
} eval_request;

extern const opt_table eval_request_options;
void eval_request_default(eval_request *r);
void eval_request_check(eval_request *r);

typedef struct {
    char dir[1024], hash[65], method[64];
    int conditional;
    int one_step_t;            // > 0: a one-step generator (one network evaluation per sample; no
                               // likelihood, so bits/dim and the loss-based MIA are not defined)
    int n_samples;
    double *gen_accuracy;      // K: per requested class (conditional); NaN when not generated
    long *confusion;           // K x K: requested class (row) x predicted (column); unconditional: row 0
    double *class_fraction;    // K: fraction of all samples predicted as each class
    double retained_accuracy;  // mean generation accuracy over retained classes (conditional)
    double *ua, *forget_confidence;   // per forget class: 1 - P[pred = c_f]; mean h(x)[c_f]
    double *pul;               // per forget class, unconditional with an unconditional parent; NaN otherwise
    double mean_entropy;       // of h(x) over all samples, nats
    double inception_score;
    double fid_all, fid_retained;     // NaN when skipped
    double *fid_class;         // K (conditional), NaN when not computed
    double *bpd, *bpd_se;      // K: bits/dim on real test images of each class
    double bpd_forget, bpd_retained;  // means over forget / retained classes
    double mia_auc, mia_auc_se;       // NaN when skipped
    int mia_members;
    double t_load, t_sample, t_classify, t_fid, t_nll, t_mia, t_total;
    double sample_images_per_s;
    uint8_t *grid;             // rows x grid_cols images (numel bytes each)
    int grid_rows;
} eval_model_result;

typedef struct {
    eval_opts opts;
    int K;                     // classes (classifier = models)
    char class_names[LETHE_MAX_CLASSES][32];
    int forget[LETHE_MAX_CLASSES], n_forget;
    int is_forget[LETHE_MAX_CLASSES];
    int classes[LETHE_MAX_CLASSES], n_classes;   // the evaluated classes, ascending (all K by default)
    int evaluated[LETHE_MAX_CLASSES];            // 1 for each of them
    char dataset[256];
    lethe_data_record data;    // the real images' folder when it is a model's record (data.dir "": by name)
    char data_model[1024];     // that model's folder
    int channels, size;
    char classifier_dir[1024], classifier_hash[65];
    double classifier_test_accuracy;
    int feature_dim;
    int n_models;
    eval_model_result models[EVAL_MAX_MODELS];
    char warnings[EVAL_MAX_WARNINGS][256];
    int n_warnings;
    double t_real;             // features of the real test images
    char *command;             // the command line, when the caller sets it
} eval_report;

// forget: comma-separated class names or indices (may be NULL or "").
lethe_status eval_run(eval_report *r, const char *const *model_dirs, int n_models, const char *classifier_dir,
                      const char *forget, const eval_opts *o);
void eval_report_free(eval_report *r);

// Everything, with the exact settings, as JSON text (caller frees).
char *eval_report_json(const eval_report *r);
// Markdown tables: one model gets a per-class table; several are shown side by side.
void eval_report_markdown(const eval_report *r, FILE *f);
// One PNG per model: a row per class (unconditional: rows of grid_cols samples).
lethe_status eval_report_grid(const eval_report *r, int model, const char *path);
// One PNG comparing the models: a row per class of `classes` (indices), each row every
// model's samples of that class (same noise), a white tile between models.
lethe_status eval_report_side_by_side(const eval_report *r, const int *classes, int n_classes, const char *path);

#endif
