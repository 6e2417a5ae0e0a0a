/*
 * train.h: DDPM epsilon-prediction training (spec 3.7) with classifier-free label
 * dropout, AdamW with warm-up and clipping, EMA weights, atomic checkpoints and
 * exact resume.
 *
 * Every random choice of step k (which images, which t, which noise, which labels are
 * dropped, dropout masks) is a pure function of (seed, k), so a resumed run reproduces
 * the loss curve of an uninterrupted one.
 *
 * Output folder: the diffusers layout of diffusion/model.h (weights = EMA weights when EMA
 * is on), plus train_state.safetensors (live weights, EMA, Adam moments, step) for
 * --resume, and train_log.jsonl (one JSON object per logged step).
 *
 * Snapshots (snapshots = K > 0), for VDU's parameter statistics (unlearn --snapshots DIR):
 * K copies of the exported weights over the run's second half, in OUT/snapshots (the layout
 * and the step formula are in diffusion/snapshots.h). A fresh run first deletes the planned
 * files of a previous run in OUT; a resumed run checks that every snapshot due at or before
 * its resume step exists and belongs to this run (same seed, steps and config), and writes
 * the rest exactly as an uninterrupted run.
 */
#ifndef LETHE_DIFFUSION_TRAIN_H
#define LETHE_DIFFUSION_TRAIN_H

#include <stdint.h>

#include "data/dataset.h"
#include "diffusion/model.h"
#include "diffusion/snapshots.h"   // train_snapshot_step
#include "optim/adamw.h"

typedef struct {
    int steps;                 // total optimisation steps
    int batch;
    adamw_config adam;
    int warmup;                // LR warm-up steps
    lr_schedule lr_kind;
    float class_dropout;       // probability a label is replaced by the null class
    int use_ema;
    float ema_max_decay, ema_inv_gamma, ema_power;
    uint64_t seed;
    uint64_t init_seed;        // seed the initial weights were drawn with (recorded, for retrain)
    int checkpoint_every;      // steps; 0 = only at the end
    int log_every;             // steps between JSON-lines records
    int stop_after;            // > 0: stop after this many steps in this invocation (as if interrupted)
    int snapshots;             // K > 0: keep K snapshots over the second half (see above); 0: none
    const char *out_dir;
    const char *command_line;  // recorded in lethe.json
    // --init-from: the folder the weights started from and their SHA-256 (lethe.json
    // "init_from"), or NULL for fresh weights (init_seed)
    const char *init_from;
    const char *init_from_sha256;
    // the run's options as a JSON object (train_job_arguments), or NULL: lethe.json's "arguments"
    // and the state's "options" metadata, which --resume starts from (train_job_resume)
    const char *arguments;
} train_opts;

void train_opts_default(train_opts *o);

// Where the batches come from: `data`'s labelled images for train_run; for train_run_batches
// the caller's source (a text-to-image model's (image, prompt) pairs, whose cond rows are the
// prompts' hidden states). batch(ctx, idx, m, images, cond) fills images (m, C, S, S) host
// floats in [-1, 1] and cond rows [0, m) (cond->n = m; cond has the network's spec and room
// for o->batch rows) for items idx[0..m), each in [0, n). The loop draws the items, drops
// rows to null with p = class_dropout, and does everything else as for a dataset.
typedef struct {
    const char *name;          // the dataset's name (lethe.json "dataset")
    int n;                     // items to draw from
    int channels, size;        // images are (channels, size, size)
    void *ctx;
    lethe_status (*batch)(void *ctx, const int *idx, int m, float *images, lethe_cond *cond);
} train_batches;

// Trains `m` (created or loaded by the caller) on `data`. With resume=1, continues from
// out_dir/train_state.safetensors (the model config must match). On NaN/Inf loss it stops
// with LETHE_ERR_NUMERIC and leaves the last checkpoint as it was.
lethe_status train_run(lethe_model *m, const lethe_dataset *data, const train_opts *o, int resume);
// The same loop on batches from `b` (lethe.json records no class names or trained classes).
lethe_status train_run_batches(lethe_model *m, const train_batches *b, const train_opts *o, int resume);

#endif
