/*
 * demo.h: `lethe demo`, the main job in one call.
 *
 * Unlearning (the default): forget a class from the committed reference model with the
 * recommended method, then judge the original and the unlearned model side by side with
 * the committed evaluation classifier, on the same noise (UA, retained accuracy, FID), and
 * write the table (Markdown and JSON) and a side-by-side grid:
 *
 *   OUT/unlearned/            the unlearned model (diffusers folder)
 *   OUT/eval.json, eval.md    both models, every setting
 *   OUT/side_by_side.png      a row per class (the forgotten one first, then a few kept ones):
 *                             the original's samples | a blank tile | the unlearned model's,
 *                             same noise in each row
 *
 * Training (--train): train the `tiny` model from scratch (or reuse / resume OUT/model) and
 * write one sample grid per class, as the first demo did. The default --model missing (run
 * outside the repository root) falls back to this, saying so; another --model missing is an
 * error.
 */
#ifndef LETHE_API_DEMO_H
#define LETHE_API_DEMO_H

#include <stdint.h>

#include "core/error.h"
#include "core/options.h"

#define DEMO_MODEL "models/fashion-mnist-tiny"
#define DEMO_CLASSIFIER "models/fashion-mnist-classifier"

typedef struct {
    const char *out;           // run folder
    const char *model;         // the parent (unlearning) or the dataset's model folder name (training)
    const char *classifier;
    const char *data;          // dataset (training; unlearning: the model's record)
    const char *forget;        // the class to forget
    const char *method;        // unlearning method
    const char *method_options;// extra method options "name=value,name=value" (NULL: none)
    int steps;                 // unlearning steps (-1: the demo's budget) or training steps (--train)
    int batch;                 // training batch (--train)
    int per_class;             // samples per class: judged (unlearning) or in the grids (--train)
    int sample_steps;          // DDIM steps
    float guidance;
    int kept_rows;             // kept classes shown in the side-by-side grid
    uint64_t seed;
    int snapshots;             // --train: VDU snapshots (-1: 5, fewer for a short run)
    int train;                 // train from scratch instead of unlearning
    int again;                 // redo work whose result is already in OUT
    const char *command_line;
    const unsigned char *train_given;   // --train resuming: which rows of train_job_options were given
                                        // (args_given); NULL: none, the recorded options are used
} demo_opts;

extern const opt_table demo_options;
void demo_opts_default(demo_opts *o);

// What the demo did, for the caller's last line.
typedef struct {
    char model_dir[1024];      // the trained or unlearned model
    char table[1024], json[1024], grid[1024], samples_dir[1024];
    double seconds;
    int trained;               // 1: the model was trained (--train, or no reference model to unlearn from)
} demo_result;

lethe_status demo_run(const demo_opts *o, demo_result *r);

#endif
