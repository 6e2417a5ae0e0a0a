/*
 * sample_job.h: `lethe sample` as a library call: images of some classes (or, from a text-to-
 * image model, of some prompts: one grid row per prompt) from a loaded model, batched so the noise does not depend on the batch size, and their exports
 * (PNG grid, NPY, IDX). A one-step generator (SFD) is run with one network evaluation
 * per image whatever sampler is asked for.
 */
#ifndef LETHE_DIFFUSION_SAMPLE_JOB_H
#define LETHE_DIFFUSION_SAMPLE_JOB_H

#include <stdint.h>

#include "core/options.h"
#include "diffusion/model.h"
#include "diffusion/sampler.h"

typedef struct {
    const char *classes;       // "all", or class names / indices, comma-separated (ignored if unconditional)
    int n;                     // images per class (unconditional models: images in total)
    sampler_kind kind;         // SAMPLER_DDIM or SAMPLER_DDPM
    int steps;
    float eta, guidance;
    int clipped_eps;           // DDIM: step along the eps re-derived from the clipped x0 (sampler.h; default 1)
    uint64_t seed;
    const char *noise_path;    // x_T from a .npy file of shape (N, C, H, W), or NULL
    int batch;                 // images per network call (guidance doubles it)
    const char *spacing;       // "leading", "trailing", "linspace", or NULL: the model's
    int quiet;                 // no progress bar
    // text-to-image models (model_is_text) only: the prompts, n images each; one of
    const char *prompt;        // one prompt, or
    const char *prompts_file;  // a file of prompts, one per line (blank lines skipped)
    const char *negative_prompt;   // replaces the empty prompt as the unconditional half of guidance (NULL: "")
} sample_job;

typedef struct {
    float *images;             // total x C x H x W in [-1, 1] (host)
    int *labels;               // total labels (-1: unconditional; text-to-image: the prompt's index)
    int total, channels, size;
    int cols;                  // grid columns: n per class, a square-ish grid if unconditional
    const char *sampler;       // "ddim", "ddpm" or "one-step": what was run
    int steps;                 // steps run (1 for a one-step generator)
    float guidance;            // guidance applied (0 for a one-step generator)
    double seconds;
} sample_images;

void sample_job_default(sample_job *j);   // the CLI's defaults: all classes, 8 each, DDIM 50, w = 2
// The options of `lethe sample` and lethe_sample, declared once (sample_request_options):
// the CLI's flags and --help and the public API's option names are these rows. Their
// defaults are sample_job_default's; --sampler is an OPT_CHOICE index that
// sample_request_check resolves into job.kind.
typedef struct {
    sample_job job;
    int sampler;               // index in "ddim|ddpm"
    int network_eps;           // --network-eps: DDIM along the network's eps (job.clipped_eps = 0)
} sample_request;

extern const opt_table sample_request_options;
void sample_request_default(sample_request *r);
// Checks the values (n and batch positive, guidance >= 0) and sets job.kind.
lethe_status sample_request_check(sample_request *r);

// Runs the job on m (its schedule's spacing is not changed). *out is set on success only.
lethe_status sample_job_run(lethe_model *m, const sample_job *j, sample_images *out);
void sample_images_free(sample_images *s);

// One row per class (cols per row).
lethe_status sample_images_write_png(const sample_images *s, const char *path);
// Images [first, first + count) only, cols per row.
lethe_status sample_images_write_png_range(const sample_images *s, int first, int count, const char *path);
// (N, C, H, W) float32.
lethe_status sample_images_write_npy(const sample_images *s, const char *path);
// PREFIX-images-idx3-ubyte (idx4 when C > 1) and PREFIX-labels-idx1-ubyte, 8-bit as a PNG holds them.
lethe_status sample_images_write_idx(const sample_images *s, const char *prefix);

#endif
