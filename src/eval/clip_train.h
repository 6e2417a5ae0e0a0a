/*
 * clip_train.h: `lethe clip`: trains the two-tower CLIP (eval/clip_model.h) contrastively
 * on Fashion-Canvas (image, drawn prompt) pairs, resumable like `lethe train` (diffusion/run.h).
 *
 * Batches: step k draws items of the training canvas set from Philox (seed, stream(batch, k)),
 * skipping an item whose prompt (style, object, template) is already in the batch, so no two
 * pairs of a batch share a prompt (see clip_loss_forward). AdamW (weight decay on every
 * parameter, t included: at 1e-4 its pull on t is negligible), global gradient-norm clipping,
 * linear warm-up then cosine learning rate; t clamped into [0, log 100] after each step.
 *
 * OUT holds the model folder (clip_model.h) and:
 *   clip_state.safetensors  params + Adam moments + step (run.h), for --resume
 *   clip_log.jsonl          {"step", "loss", "logit_scale", "lr", "grad_norm", ...} per logged step
 *   clip.json               logit_scale, the recipe, the command, steps done, the final loss
 *                           (mean of the last tenth of the steps, 1 to 50) and, after the last step,
 *                           zero-shot style/object accuracy on the test split
 */
#ifndef LETHE_EVAL_CLIP_TRAIN_H
#define LETHE_EVAL_CLIP_TRAIN_H

#include <stdint.h>

#include "eval/clip_model.h"

typedef struct {
    const char *source;          // the Fashion-MNIST images under the canvas ("fashion-mnist" or an IDX folder)
    const char *out_dir;
    int steps, batch, warmup;
    float lr, weight_decay, max_grad_norm;
    uint64_t seed;
    int checkpoint_every, log_every, stop_after;
    int zeroshot_images;         // test images for zero-shot accuracy after the last step (0: none)
    int quiet;
    const clip_text_config *text_cfg;      // NULL: the small default (tests give tiny ones)
    const classifier_config *image_cfg;    // NULL: clip_image_config_default
    const char *command_line;
} clip_train_opts;

typedef struct {
    int steps_done, stopped;
    double first_loss, final_loss;   // mean loss of this invocation's first / last tenth of the steps (1 to 50)
    double logit_scale;
    double style_acc, object_acc;    // zero-shot; negative when not measured
    double seconds;
} clip_train_result;

void clip_train_defaults(clip_train_opts *o);
lethe_status clip_train_run(const clip_train_opts *o, int resume, clip_train_result *res);

#endif
