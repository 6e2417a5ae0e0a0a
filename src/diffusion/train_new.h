/*
 * train_new.h: `lethe train` as a library call: the network config (a named one or a
 * config.json), the training set (a dataset, or a subset of its classes), a fresh model
 * with initial weights from o->init_seed, then train_run.
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
    // called once the data and the model are ready, before training (may be NULL): a banner
    void (*on_ready)(void *user, const lethe_model *m, const lethe_dataset *ds);
    void *user;
} train_source;

void train_source_default(train_source *s);   // fashion-mnist, tiny, every class, conditional
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
} train_job;

extern const opt_table train_job_options;
void train_job_default(train_job *j);
// Checks the values and resolves them into o (lr_kind, use_ema, log_every at least 1).
lethe_status train_job_check(train_job *j);

// 1 if DIR holds a model whose lethe.json says training finished at least `steps` steps.
int train_finished(const char *dir, int steps);

#endif
