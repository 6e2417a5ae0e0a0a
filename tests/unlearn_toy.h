/*
 * unlearn_toy.h: the toy world of the unlearning unit tests: a class-conditional (and an
 * unconditional) UNet small enough for finite differences (8x8, 8/16 channels, 4 groups,
 * dropout 0.1 so resume also checks that dropout masks are keyed), saved in a temporary
 * folder, and the loop run on a freshly loaded parent. Include after test_util.h.
 */
#ifndef LETHE_TESTS_UNLEARN_TOY_H
#define LETHE_TESTS_UNLEARN_TOY_H

#include <ftw.h>
#include <string.h>

#include "core/fsutil.h"
#include "diffusion/model.h"
#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"

#define TOY_CLASSES 3

static char toy_root[64], toy_parent[128], toy_uncond[128];   // toy_root: this run's temporary folder

static inline void toy_config(unet_config *c, int conditional) {
    unet_config_named(c, "tiny");
    c->sample_size = 8;
    c->block_out_channels[0] = 8;
    c->block_out_channels[1] = 16;
    c->norm_num_groups = 4;
    c->num_class_embeds = conditional ? TOY_CLASSES + 1 : 0;
    c->dropout = 0.1f;
}

// named: class names "c0".."c2" (otherwise "0".."2", as a model without lethe.json has)
static inline int toy_save_model(const char *dir, int conditional, int named) {
    unet_config c;
    toy_config(&c, conditional);
    lethe_model m;
    if (model_create(&m, &c, 11)) return -1;
    snprintf(m.dataset, sizeof m.dataset, "toy");
    for (int k = 0; named && k < m.n_classes; k++) snprintf(m.class_names[k], 32, "c%d", k);
    lethe_status st = model_save(&m, m.params, dir, NULL);
    model_free(&m);
    return st ? -1 : 0;
}

// cmocka group set-up: the temporary folder with a conditional and an unconditional parent
static inline int toy_setup(const char *prefix, int named) {
    snprintf(toy_root, sizeof toy_root, "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(toy_root)) return -1;
    snprintf(toy_parent, sizeof toy_parent, "%s/parent", toy_root);
    snprintf(toy_uncond, sizeof toy_uncond, "%s/uncond", toy_root);
    return toy_save_model(toy_parent, 1, named) || toy_save_model(toy_uncond, 0, named) ? -1 : 0;
}

static inline int toy_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static inline int toy_teardown(void) { return nftw(toy_root, toy_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

// toy_root/name (8 rotating buffers, so a few can be live at once)
static inline char *toy_path(const char *name) {
    static char b[8][192];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 192, "%s/%s", toy_root, name);
    return p;
}

static inline float *toy_host_copy(const float *dev, size_t n) {
    float *h = malloc(n * sizeof(float));
    ops()->to_host(h, dev, n * sizeof(float));
    return h;
}

// the weights of a saved model, on the host (caller frees); *n gets their count
static inline float *toy_load_weights(const char *dir, size_t *n) {
    lethe_model m;
    if (model_load(&m, dir)) fail_msg("cannot load %s: %s", dir, lethe_last_error());
    *n = m.unet.table.total;
    float *w = toy_host_copy(m.params, *n);
    model_free(&m);
    return w;
}

// Loads the parent fresh (the loop changes it in place) and runs the loop on d (NULL: data-free).
static inline lethe_status toy_run(const unlearn_opts *o, const unlearn_method *meth, const lethe_dataset *d, int resume) {
    lethe_model m;
    lethe_status st = model_load(&m, o->model_dir);
    if (st) return st;
    if (!(st = fs_mkdir_p(o->out_dir))) st = unlearn_run_loop(o, meth, &m, d, resume);
    model_free(&m);
    return st;
}

#endif
