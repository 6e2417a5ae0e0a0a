/*
 * unlearn.h: one unlearning loop, many methods (specs/methods.md).
 *
 * The loop (loop.c) owns what every method shares: the parent model and its hash, the
 * forget and retain data streams, a frozen copy of the parent (the teacher) when a method
 * needs one, the optimizer over the trainable buffer (the network's weights unless a method
 * substitutes its own, as SPARE's LoRA factors), an optional parameter mask, the learning
 * rate schedule, logging with a progress bar, atomic checkpoints, --resume, and writing the
 * result as a diffusers folder whose lethe.json records the parent's SHA-256, the method,
 * every argument and the forgotten classes.
 *
 * A method is a table of callbacks (one file per method in src/unlearn/):
 *   setup(u)   once, before the first step (also on resume, and it must be deterministic:
 *              masks, Fisher diagonals and checkpoint statistics are recomputed, not saved);
 *              it may change u->adam.cfg (betas, clipping) before the optimizer is made;
 *   step(u, s) compute the loss of step s and ACCUMULATE its gradient into u->train_grads
 *              (zeroed by the loop), using the helpers below; the loop then clips, masks and
 *              applies AdamW;
 *   finish(u)  after the last step (e.g. merge adapters into u->params);
 *   cleanup(u) free method state.
 * Every random choice of step s is a pure function of (seed, s), so --resume reproduces an
 * uninterrupted run exactly.
 *
 * Methods reach the network only through the seam (diffusion/denoiser.h): the helpers below
 * run u->model->net on the weights they are given, and conditioning is a lethe_cond made with
 * unlearn_cond_alloc / the batches' cond and changed with cond.h's helpers. A method names
 * classes only where it means classes (the forget class, a surrogate), so another network
 * (another conditioning) needs no edit here.
 */
#ifndef LETHE_UNLEARN_UNLEARN_H
#define LETHE_UNLEARN_UNLEARN_H

#include <stdint.h>

#include "core/options.h"
#include "ops/arena.h"
#include "data/dataset.h"
#include "diffusion/cond.h"
#include "diffusion/schedule.h"
#include "diffusion/model.h"
#include "optim/adamw.h"

#define UNLEARN_MAX_CHECKPOINTS 16
#define UNLEARN_DEFAULT_BATCH 32

#define UNLEARN_MAX_GIVEN 32      // method options set on one unlearn_opts
#define UNLEARN_OPTIONS_BYTES 256 // room for the largest method's options struct (u->mopt)

// A method option as set by name, kept until the run binds it to the method's table.
typedef struct {
    char name[32];                 // the method's name for it; an alias ("alpha") until the method is known
    opt_value v;                   // parsed with the option's type when it was set
} unlearn_given;

// Options are declared once, as tables (core/options.h): the loop's, the fields below, in
// loop.c (unlearn_loop_options); each method's in its own file (unlearn_method.options, a
// struct of the method's own that it reads as u->mopt). CLI flags, --help, the defaults,
// lethe.json's "arguments" and docs/unlearning.md's option tables are generated from them.
// Set options by name with unlearn_opts_set, as the CLI does; a method option is kept in
// given[] and checked against the method's table when the method is set and when it runs.
typedef struct {
    const char *method;
    const char *model_dir;         // the parent (original) model
    const char *out_dir;
    const char *data;              // dataset spec (default: the folder the model recorded, else its dataset name)
    const char *forget;            // class names or indices, comma-separated (text-to-image: concepts)
    const char *forget_styles;     // text-to-image: styles, comma-separated
    const char *forget_objects;    // text-to-image: objects, comma-separated
    const char *forget_file;       // text-to-image: a file of concepts, one per line
    int steps, batch;              // optimisation steps, images per batch of each stream (-1: the method's default)
    float lr;                      // NaN: the method's default
    int warmup;
    lr_schedule lr_kind;
    float weight_decay;            // NaN: the method's default
    float max_grad_norm;
    float adam_beta1, adam_beta2;  // NaN: the method's (0.9, 0.999; SFD: 0, 0.999)
    uint64_t seed;
    int forget_images;             // > 0: only the first N forget images (data-constrained runs)
    int retain_images;             // > 0: only the first N retain images
    int checkpoint_every, log_every, stop_after;
    int resume;                    // continue from OUT/unlearn_state.safetensors
    int quiet;
    const char *command_line;      // recorded in lethe.json
    int n_given;                   // the method's own options, in the order they were set
    unlearn_given given[UNLEARN_MAX_GIVEN];
} unlearn_opts;

// Every loop option at its declared default, no method option given.
void unlearn_opts_default(unlearn_opts *o);
// Sets an option by its name or alias, without leading dashes ('_' may stand for '-'), from
// its text as on the command line ("1e-4", "cosine"; a switch takes "1" or "0"). NULL
// returns the option to its default. Strings are kept by pointer, not copied: they must
// outlive o. LETHE_ERR_ARG with a message for an unknown name, a bad value, an unknown
// method, or an option the method (once set) does not use; an old shared spelling such as
// "alpha" takes the meaning it has for the method (ga: retain-weight, esd:
// negative-guidance, ...).
lethe_status unlearn_opts_set(unlearn_opts *o, const char *name, const char *value);
// 1 if option `name` is a switch (no value on the command line), 0 if it takes a value,
// -1 if no table declares it.
int unlearn_option_is_flag(const char *name);
// The loop's table (loop.c).
extern const opt_spec unlearn_loop_options[];
extern const int unlearn_n_loop_options;
// `lethe unlearn --help` (caller frees): the loop's options (part 0), or the options of
// `method` (part 1; NULL or unknown: of every method), one line each with its default.
char *unlearn_options_help(const char *method, int part);
// docs/unlearning.md's generated option tables, as Markdown (caller frees).
char *unlearn_options_markdown(void);

typedef struct unlearn_ctx unlearn_ctx;

typedef struct {
    const char *name;
    const char *summary;           // one line for --help
    const char *reconstructed;     // NULL, or what of this method is reconstructed, not verified
    int needs_teacher;             // u->teacher: frozen copy of the parent's weights
    int needs_retain;              // the retain stream is used
    int needs_forget_data;         // the forget images are read (SA, SFD: labels only)
    int data_free;                 // reads no image at all (SFD): no dataset is loaded; classes come
                                   // from the model, u->train is NULL and the image sets are empty
    float default_lr;              // used when --lr is not given
    // optional: the default --lr when it depends on the method's own options (vdu: --update
    // natural is SGD, adam is Adam); mopt is the parsed method options. lr_note says it in
    // --help ("0.1; --update adam: 1e-05").
    float (*lr_for)(const void *mopt);
    const char *lr_note;
    float default_weight_decay;    // used when --weight-decay is not given
    int default_steps;             // used when --steps is not given
    int default_batch;             // used when --batch is not given (0: UNLEARN_DEFAULT_BATCH)
    lethe_status (*setup)(unlearn_ctx *u);
    lethe_status (*step)(unlearn_ctx *u, int step);
    lethe_status (*finish)(unlearn_ctx *u);
    void (*cleanup)(unlearn_ctx *u);
    // a method that is not a loop over steps (retrain) replaces the whole run
    lethe_status (*run)(const unlearn_opts *o, lethe_model *parent, const lethe_dataset *train);
    // the method's own options: its table, and the struct of options_size bytes it fills (u->mopt)
    const opt_spec *options;
    int n_options;
    size_t options_size;
} unlearn_method;

// In a method's record: UNLEARN_OPTIONS(ga_options, ga_opts).
#define UNLEARN_OPTIONS(table, type) \
    .options = table, .n_options = (int)(sizeof table / sizeof table[0]), .options_size = sizeof(type)

const unlearn_method *unlearn_find(const char *name);   // NULL if unknown
int unlearn_method_count(void);
const unlearn_method *unlearn_method_at(int i);
// "retrain, finetune, ga, ..." for messages and help
const char *unlearn_method_names(void);

struct unlearn_ctx {
    const unlearn_opts *o;
    const unlearn_method *method;
    const void *mopt;              // the method's options struct: its table's defaults, then what was given
    lethe_model *model;            // the parent, being changed in place: model->params are live
    char parent_sha256[65];
    lethe_schedule sched;
    const lethe_dataset *train;    // the full training split
    lethe_dataset forget_set, retain_set;
    int forget[LETHE_MAX_CLASSES], n_forget;
    int is_forget[LETHE_MAX_CLASSES];
    int is_kept[LETHE_MAX_CLASSES];   // trained on (model_trained_on) and not forgotten: what must be retained
    int class_conditional;         // 1: the network reads classes (labels, or a text-to-image model's prompt
                                   // classes, concepts.h) and has an unconditional row (guidance)
    size_t numel;                  // C*H*W
    size_t n_params;               // the network's parameters (model->net.table->total)
    float *params, *grads;         // the network's live weights and a gradient buffer (backend)
    float *teacher;                // frozen parent weights, or NULL
    // what the optimizer updates: by default params/grads; a method may point these at its own
    float *train_params, *train_grads;
    size_t n_train;
    float *mask;                   // n_train floats (1 = may change) or NULL
    adamw_state adam;
    lethe_arena arena;
    int step;                      // steps done
    // the loss of the current step and up to 4 named parts, for the log
    double loss;
    const char *part_name[4];
    double part[4];
    int n_parts;
    void *state;                   // method-private
    void *batches;                 // the helpers' per-stream batch buffers (objectives.c)
};

// Runs the method end to end: the output folder holds the unlearned model.
lethe_status unlearn_run(const unlearn_opts *o);

// ---- helpers for methods (objectives.c) --------------------------------------------------------

typedef enum { STREAM_FORGET = 1, STREAM_RETAIN = 2, STREAM_EXTRA = 3 } unlearn_stream;

// Scratch tensors of one batch (backend memory, owned by the loop, valid during a step).
typedef struct {
    int n;
    float *x0, *xt, *eps, *target, *pred;   // (n, C, H, W)
    float *t;                                // n timesteps (host)
    int *labels;                             // n class labels of the images (host)
    lethe_cond cond;                         // what the network is conditioned on: the images' classes
                                             // as sampled (unlearn_drop_cond may null rows)
} unlearn_batch;

// n images of `set` chosen by Philox (seed, step, stream): x0 in [-1, 1], their labels and b->cond.
lethe_status unlearn_sample_images(unlearn_ctx *u, const lethe_dataset *set, int step, unlearn_stream s,
                                   unlearn_batch *b, int n);
// t uniform in [t_lo, t_hi) per image (or `fixed_t` >= 0 for all), eps ~ N(0, I), and
// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps. Keyed by (seed, step, stream).
void unlearn_noise(unlearn_ctx *u, int step, unlearn_stream s, unlearn_batch *b, int t_lo, int t_hi);
// The same on caller buffers, for a method's own streams: t (host), eps and xt (backend),
// n rows of x0 (backend) (schedule_add_noise keyed by (seed, step, stream)).
void unlearn_diffuse(unlearn_ctx *u, int step, uint64_t stream, int n, int t_lo, int t_hi, const float *x0, float *t,
                     float *eps, float *xt);
// A cond of the network's kind with room for n rows (all null); cond_free it.
lethe_status unlearn_cond_alloc(unlearn_ctx *u, lethe_cond *c, int n);
// eps prediction of weights W (u->params, u->teacher, ...) without gradients: out (n, C, H, W).
lethe_status unlearn_predict(unlearn_ctx *u, const float *W, const float *xt, const float *t, const lethe_cond *c,
                             int n, float *out);
// loss = mean((eps_theta(x_t) - target)^2) with the live weights; accumulates
// weight * d loss / d params into u->grads. *loss_out gets the unweighted loss.
lethe_status unlearn_mse_grad(unlearn_ctx *u, const float *xt, const float *t, const lethe_cond *c, int n,
                              const float *target, float weight, double *loss_out);
// Per-row losses: out[r] = mean((pred[r] - target[r])^2) over one image's numel floats, for
// n rows (out: n host doubles).
void unlearn_row_mse(const unlearn_ctx *u, const float *pred, const float *target, int n, double *out);
// Fills w[0..n) (host) from the rows' losses under the live weights (row_loss, n host doubles).
typedef void (*unlearn_row_weigh)(void *ctx, const double *row_loss, float *w, int n);
// Per-row weighted denoising loss: predicts with the live weights, puts each row's loss
// l_r = mean((eps_theta(x_t)[r] - target[r])^2) into row_loss (n host doubles), asks weigh
// for the rows' weights w_r, and accumulates sum_r w_r d l_r / d params into u->grads.
// Weights w_r = weight / n for every row give unlearn_mse_grad's gradient. Used where a row's
// weight depends on its own loss or timestep (VDU's gate and ELBO weights).
lethe_status unlearn_mse_grad_rows(unlearn_ctx *u, const float *xt, const float *t, const lethe_cond *c, int n,
                                   const float *target, unlearn_row_weigh weigh, void *ctx, double *row_loss);
// The batch for a stream (allocated on first use at size n; error if a larger n is asked).
lethe_status unlearn_batch_get(unlearn_ctx *u, unlearn_stream s, int n, unlearn_batch **out);
// Makes each row of b->cond null with probability p (Philox keyed by step and stream), as
// training did, so retain terms keep the unconditional branch trained (b->labels keep the classes).
void unlearn_drop_cond(unlearn_ctx *u, int step, unlearn_stream s, unlearn_batch *b, float p);
#define UNLEARN_CLASS_DROPOUT 0.1f
// Denoising loss of a batch drawn from `set` (t uniform on [0, T), fresh noise), with
// class dropout p, its gradient accumulated into u->grads times `weight` (negative for
// ascent). The loss is returned in *loss.
lethe_status unlearn_dsm(unlearn_ctx *u, const lethe_dataset *set, int step, unlearn_stream s, int n, float p_drop,
                         float weight, double *loss);
// Records a named part of the step's loss for the log.
void unlearn_log_part(unlearn_ctx *u, const char *name, double value);

// Mask of the top `fraction` of |score| over all n entries (1 inside, 0 outside), in
// backend memory: ties at the threshold are kept. Returns the threshold in *thr.
lethe_status unlearn_top_fraction_mask(const float *score, size_t n, float fraction, float *mask, float *thr);

#endif
