/*
 * classifier_train.h: trains the evaluation classifier on a labelled dataset
 * (AdamW, warm-up then cosine learning rate, softmax cross-entropy, flips and shifts).
 */
#ifndef LETHE_EVAL_CLASSIFIER_TRAIN_H
#define LETHE_EVAL_CLASSIFIER_TRAIN_H

#include "data/augment.h"
#include "data/dataset.h"
#include "eval/classifier_model.h"

typedef struct {
    int epochs, batch, warmup;
    float lr, weight_decay;
    augment_opts augment;
    uint64_t seed;
    int fixed_renders;         // generated data (ds->redraw): keep the first rendering (default: redraw each epoch)
    int quiet;                 // no progress bar
    // the run: state (classifier_state.safetensors: weights and Adam moments) and log
    // (classifier_log.jsonl) in state_dir; checkpoint_every steps (0: only at the end and at
    // stop_after); stop_after > 0 stops this invocation after that many steps; resume
    // continues from the state (the same flags: checked)
    const char *state_dir;
    int checkpoint_every, stop_after, resume;
} classifier_train_opts;

typedef struct {
    int steps;                 // steps done (of epochs * floor(n / batch))
    int stopped;               // 1: stopped by stop_after before the last step
    double final_loss;         // mean loss over the last epoch's steps of this invocation
    double train_seconds;
} classifier_train_result;

// Defaults for a dataset: flips only where they preserve the class (not for digits).
void classifier_train_defaults(classifier_train_opts *o, const lethe_dataset *ds);

// Trains c (already created, or as the state to resume will overwrite) on ds. Stops with an
// error on a non-finite loss. A generated dataset is redrawn before each epoch after the
// first (round = epoch) unless fixed_renders. A resumed run ends with the same weights as an
// uninterrupted one (every batch, augmentation and redraw is a function of the step).
lethe_status classifier_train(eval_classifier *c, lethe_dataset *ds, const classifier_train_opts *o,
                              classifier_train_result *res);

#endif
