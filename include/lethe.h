/*
 * lethe.h: the public C API of lethe, machine unlearning for diffusion models.
 *
 * Train class-conditional DDPM UNets (diffusers folders), sample them, make them forget
 * classes, and measure what they forgot. Link the static library and its dependencies:
 *
 *   cc prog.c $(pkg-config --cflags --libs --static lethe)
 *
 * Conventions
 *   - Every call that can fail returns a lethe_status: LETHE_OK (0) or an error code.
 *     On failure, lethe_last_error() gives one human-readable message (naming the file,
 *     option or class at fault). The message is per thread and overwritten by the next
 *     failure. Nothing in the library exits or aborts on bad input.
 *   - Handles are opaque: lethe_model, lethe_options, lethe_images. Each has a _free that
 *     accepts NULL.
 *   - Options are set by name and value, as strings, with the names of the `lethe` CLI's
 *     flags without the dashes ("steps", "forget-images"; underscores work too). Each call
 *     documents the names it takes; an unknown name or a bad value fails the call with
 *     LETHE_ERR_ARG. A NULL lethe_options means every default. The option set is read,
 *     never changed, by the calls, so one set can be reused.
 *   - Long calls (train, unlearn, evaluate) show a progress bar on stderr unless the
 *     environment sets LETHE_NO_PROGRESS; they print nothing else.
 *   - Results are deterministic: the same calls with the same seeds give bit-identical
 *     models, images and reports as the same `lethe` commands.
 */
#ifndef LETHE_H
#define LETHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LETHE_STATUS_DEFINED
#define LETHE_STATUS_DEFINED
typedef enum {
    LETHE_OK = 0,
    LETHE_ERR_IO,       // file missing, unreadable, unwritable, disk full
    LETHE_ERR_FORMAT,   // file exists but its content is corrupt or not what we expect
    LETHE_ERR_SHAPE,    // tensor/config shapes disagree
    LETHE_ERR_ARG,      // bad argument (unknown class, option, method, value)
    LETHE_ERR_NOMEM,    // allocation failed
    LETHE_ERR_NUMERIC,  // NaN/Inf loss or values
} lethe_status;
#endif

// ---- errors and setup ------------------------------------------------------------------

// The message of the last failure in this thread ("unknown error" if none).
const char *lethe_last_error(void);
// A short name for a status ("ok", "I/O error", "invalid argument", ...).
const char *lethe_status_name(lethe_status s);
// The library's version, "MAJOR.MINOR.PATCH".
const char *lethe_version(void);
// Where the ops run: "cpu" (default) or "cuda" (a library built with CUDA=1 and a GPU).
// Call it before any model is loaded or created.
lethe_status lethe_set_device(const char *name);

// ---- options -----------------------------------------------------------------------------

typedef struct lethe_options lethe_options;

lethe_status lethe_options_new(lethe_options **out);
// Sets (or replaces) one option; both strings are copied. Checked by the call that uses it.
lethe_status lethe_options_set(lethe_options *o, const char *name, const char *value);
void lethe_options_free(lethe_options *o);

// ---- models ------------------------------------------------------------------------------

// A model: the UNet, its weights, the noise schedule, class names and provenance.
typedef struct lethe_model lethe_model;

// Loads a diffusers folder (DIR/unet/..., DIR/scheduler/..., DIR/lethe.json).
lethe_status lethe_model_load(lethe_model **out, const char *dir);
// Writes the model as a diffusers folder; its lethe.json keeps the provenance of the
// folder it was loaded from (method, parent, command, one-step generator).
lethe_status lethe_model_save(const lethe_model *m, const char *dir);
void lethe_model_free(lethe_model *m);
// Real classes (0: unconditional), their names, and how the model was made ("" if unknown:
// "ga", "salun", ... for an unlearned model).
int lethe_model_num_classes(const lethe_model *m);
const char *lethe_model_class_name(const lethe_model *m, int k);   // NULL if k is out of range
lethe_status lethe_model_class_index(const lethe_model *m, const char *name_or_index, int *out);
const char *lethe_model_method(const lethe_model *m);
// Image shape: channels and side (images are square).
int lethe_model_channels(const lethe_model *m);
int lethe_model_image_size(const lethe_model *m);
// Number of weights.
size_t lethe_model_num_params(const lethe_model *m);

// ---- training ------------------------------------------------------------------------------

// Trains a new model into out_dir (`lethe train`). Options: data (fashion-mnist), config
// (tiny, small or a config.json), steps, batch, lr, lr-schedule (cosine|constant), warmup,
// adam-beta1, adam-beta2, adam-weight-decay, adam-epsilon, max-grad-norm, class-dropout,
// classes, exclude, unconditional, no-ema, ema-max-decay, ema-power, seed, init-seed,
// checkpoint-every, log-every, resume, stop-after, snapshots. With resume (1), the run's
// recorded options apply; an option set here too must keep its recorded value, but for
// steps, stop-after, checkpoint-every, log-every and snapshots (LETHE_ERR_ARG otherwise).
lethe_status lethe_train(const char *out_dir, const lethe_options *opts);

// ---- sampling ------------------------------------------------------------------------------

// Generated images: count x channels x size x size floats in [-1, 1], with a label each.
typedef struct lethe_images lethe_images;

// Samples a model (`lethe sample`). Options: class ("all", names or indices, comma-
// separated), n (per class), sampler (ddim|ddpm), steps, eta, guidance, seed, batch,
// timestep-spacing (leading|trailing|linspace), noise (a .npy of x_T), progress (1: a bar).
// A one-step generator (SFD) runs one network evaluation per image whatever the sampler.
lethe_status lethe_sample(lethe_model *m, const lethe_options *opts, lethe_images **out);
int lethe_images_count(const lethe_images *im);
const float *lethe_images_data(const lethe_images *im);   // image i at i * channels * size * size
const int *lethe_images_labels(const lethe_images *im);   // -1 for an unconditional model
int lethe_images_channels(const lethe_images *im);
int lethe_images_size(const lethe_images *im);
// A PNG grid (one row per class), a .npy (N, C, H, W) float32, IDX files PREFIX-images-idx3-ubyte
// and PREFIX-labels-idx1-ubyte.
lethe_status lethe_images_write_png(const lethe_images *im, const char *path);
lethe_status lethe_images_write_npy(const lethe_images *im, const char *path);
lethe_status lethe_images_write_idx(const lethe_images *im, const char *prefix);
void lethe_images_free(lethe_images *im);

// ---- unlearning ----------------------------------------------------------------------------

// Makes the model in model_dir forget classes with a method and writes the result to
// out_dir (`lethe unlearn`); its lethe.json records the parent's SHA-256, the method, the
// options and the forgotten classes. forget: class names or indices, comma-separated.
// Options: the flags of `lethe unlearn --help` (steps, batch, lr, seed, forget-images,
// alpha, surrogate, ...); unset ones take the method's defaults.
lethe_status lethe_unlearn(const char *model_dir, const char *method, const char *forget, const char *out_dir,
                           const lethe_options *opts);
// The methods, "retrain, finetune, ga, ...".
const char *lethe_unlearn_methods(void);

// ---- evaluation ----------------------------------------------------------------------------

// Trains the evaluation classifier into out_dir (`lethe classifier`). Options: data, epochs,
// batch, lr, warmup, weight-decay, channels, features, layers-per-block, shift, no-flip,
// train-images, fid-images, seed, init-seed. *test_accuracy (may be NULL) gets its accuracy.
lethe_status lethe_classifier_train(const char *out_dir, const lethe_options *opts, double *test_accuracy);

// Evaluates n_models model folders with a classifier (`lethe eval`): writes the JSON report
// to out_json and a PNG grid per model beside it. forget may be NULL. Options: data, classes,
// n, sampler (ddim|ddpm), steps, eta, guidance, seed, batch, grid-cols, nll-images,
// nll-timesteps, nll-variance (fixed_small|fixed_large), no-nll, mia-images, mia-pairs,
// no-mia, no-fid, progress.
lethe_status lethe_evaluate(const char *const *model_dirs, int n_models, const char *classifier_dir, const char *forget,
                            const char *out_json, const lethe_options *opts);

#ifdef __cplusplus
}
#endif

#endif
