/*
 * train_new.h: `lethe train` as a library call: the network config (a named one or a
 * config.json), the training set (a dataset, or a subset of its classes), a fresh model
 * with initial weights from o->init_seed, then train_run.
 */
#ifndef LETHE_DIFFUSION_TRAIN_NEW_H
#define LETHE_DIFFUSION_TRAIN_NEW_H

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
// 1 if DIR holds a model whose lethe.json says training finished at least `steps` steps.
int train_finished(const char *dir, int steps);

#endif
