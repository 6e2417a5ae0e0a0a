/*
 * train_new.h: `lethe train` as a library call: the network config (a named one or a
 * config.json), the training set (a dataset, or a subset of its classes), a fresh model
 * with initial weights from o->init_seed, then train_run; or, with a text encoder, a text-to-
 * image model on Fashion-Canvas's (image, prompt) pairs through train_run_batches.
 */
#ifndef LETHE_DIFFUSION_TRAIN_NEW_H
#define LETHE_DIFFUSION_TRAIN_NEW_H

#include "core/options.h"
#include "diffusion/train.h"

typedef struct {
    const char *data;          // dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files
    const char *config;        // tiny, small, or a UNet2DModel config.json
    const char *classes;       // train only on these classes (names or indices, comma-separated), or NULL
    const char *exclude;       // train on every class but these, or NULL (not both)
    int unconditional;         // no class conditioning
    // a folder with text_encoder/ and tokenizer/ (text_cond.h), or NULL: train a text-to-image
    // UNet2DConditionModel (config canvas-tiny or a UNet2DConditionModel config.json) on
    // Fashion-Canvas's (image, prompt) pairs (data "fashion-canvas": canvas_set.h), the encoder frozen
    const char *text_encoder;
    // a trained model's folder, or NULL: start from its weights (its architecture, and its text
    // encoder for a text-to-image model) instead of fresh ones, the optimiser and the EMA
    // starting anew from them (fine-tuning a pretrained model, or continuing a run whose
    // training state is gone); --config and --text-encoder are then the folder's
    const char *init_from;
    // called once the data and the model are ready, before training (may be NULL): a banner
    void (*on_ready)(void *user, const lethe_model *m, const lethe_dataset *ds);
    void *user;
} train_source;

void train_source_default(train_source *s);
// Trains text-to-image model m on Fashion-Canvas's (image, prompt) pairs rendered from `data`
// (NULL: fashion-mnist), leaving out every pair whose style or object `exclude` names
// ("zebra,trouser"; NULL: none), and records the rendered files as m->data. on_ready (may be
// NULL) is called once the data is loaded. The retrain of a text-to-image model calls it too.
lethe_status train_canvas(lethe_model *m, const char *data, const char *exclude, const train_opts *o, int resume,
                          void (*on_ready)(void *user, const lethe_model *m, const lethe_dataset *objects), void *user);   // fashion-mnist, tiny, every class, conditional
// Creates the model and trains it into o->out_dir (resume: continue from its state).
lethe_status train_new(const train_source *s, const train_opts *o, int resume);
// The options of `lethe train` and lethe_train, declared once (train_job_options): the CLI's
// flags and --help and the public API's option names are these rows. Their defaults are
// those of train_opts_default and train_source_default (and the fields below: cosine, EMA
// on, no resume); a CLI word (--lr-schedule cosine) is an OPT_CHOICE index, resolved by
// train_job_check.
typedef struct {
    train_source src;
    train_opts o;
    int resume, no_ema;
    int lr_schedule;           // index in "cosine|constant"
    void *recorded;            // train_job_resume's record (its strings are used): train_job_free
} train_job;

extern const opt_table train_job_options;
void train_job_default(train_job *j);
void train_job_free(train_job *j);
// Checks the values and resolves them into o (lr_kind, use_ema, log_every at least 1).
lethe_status train_job_check(train_job *j);
// train_job_check, then train_new with the job's options recorded (train_job_arguments).
lethe_status train_job_run(train_job *j);

// ---- the run's record and --resume (train_record.c) ------------------------------------------
// The rows of train_job_options without OPT_NO_RECORD (everything but --out, --resume and
// --stop-after), as a JSON object ({"lr": 0.0005, "lr_schedule": "constant", ...}, '_' for '-',
// unset strings left out); floats as the shortest decimal that reads back as the same float.
// Caller frees; NULL when out of memory.
char *train_job_arguments(const train_job *j);
// --resume: j holds the options of this invocation and given[i] says whether row i of
// train_job_options was given (on the command line, or by name in the API). The run's
// recorded options (the "options" of OUT/train_state.safetensors) replace every recorded
// row not given; a given row keeps its value if it is OPT_RESUMABLE (--steps,
// --checkpoint-every, --log-every, --snapshots), and otherwise must equal the recorded value:
// a different one fails with LETHE_ERR_ARG naming the option, both values and a new --out as
// the way to change it, leaving j as it was given. A state without the record (written before
// lethe recorded it) leaves j as given and sets *unchecked = 1. No state file: nothing to do
// (the run says there is nothing to resume).
lethe_status train_job_resume(train_job *j, const unsigned char *given, int *unchecked);

// 1 if DIR holds a model whose lethe.json says training finished at least `steps` steps.
int train_finished(const char *dir, int steps);

#endif
