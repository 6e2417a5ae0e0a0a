/*
 * train.h: DDPM epsilon-prediction training (spec 3.7) with classifier-free label
 * dropout, AdamW with warm-up and clipping, EMA weights, atomic checkpoints and
 * exact resume.
 *
 * Every random choice of step k (which images, which t, which noise, which labels are
 * dropped, dropout masks) is a pure function of (seed, k), so a resumed run reproduces
 * the loss curve of an uninterrupted one.
 *
 * Output folder: the diffusers layout of io/model_io.h (weights = EMA weights when EMA
 * is on), plus train_state.safetensors (live weights, EMA, Adam moments, step) for
 * --resume, and train_log.jsonl (one JSON object per logged step).
 */
#ifndef LETHE_DIFFUSION_TRAIN_H
#define LETHE_DIFFUSION_TRAIN_H

#include <stdint.h>

#include "data/dataset.h"
#include "io/model_io.h"
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
    int checkpoint_every;      // steps; 0 = only at the end
    int log_every;             // steps between JSON-lines records
    int stop_after;            // > 0: stop after this many steps in this invocation (as if interrupted)
    const char *out_dir;
    const char *command_line;  // recorded in lethe.json
} train_opts;

void train_opts_default(train_opts *o);

// Trains `m` (created or loaded by the caller) on `data`. With resume=1, continues from
// out_dir/train_state.safetensors (the model config must match). On NaN/Inf loss it stops
// with LETHE_ERR_NUMERIC and leaves the last checkpoint as it was.
lethe_status train_run(lethe_model *m, const lethe_dataset *data, const train_opts *o, int resume);

#endif
