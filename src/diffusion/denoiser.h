/*
 * denoiser.h: the network seam. Everything that runs a denoising network (training, the
 * samplers, evaluation, every unlearning method) does it through lethe_denoiser:
 *
 *   eps (n, C, S, S) = f(W; x_t (n, C, S, S), t (n float timesteps), cond (n rows))
 *
 * with the parameter base W explicit, so one network runs on live, teacher, EMA or generator
 * weights. A training-mode forward (ctx->train) saves what the backward needs in the
 * instance; backward accumulates dL/dW into G and dL/dx into dx (either may be NULL), as
 * ops' backward ops do. An instance holds one forward's activations: a method that keeps
 * several networks' activations at once (SFD) clones the instance.
 *
 * The UNet (nn/unet.h) is one implementation (diffusion/unet_denoiser.h); a new network is
 * a new vtable and constructor, and nothing that uses the seam changes.
 */
#ifndef LETHE_DIFFUSION_DENOISER_H
#define LETHE_DIFFUSION_DENOISER_H

#include <stddef.h>

#include "core/params.h"
#include "diffusion/cond.h"
#include "nn/module.h"
#include "ops/arena.h"

typedef struct lethe_denoiser lethe_denoiser;

typedef struct {
    const char *name;   // the network's class ("UNet2DModel"), model_index.json's entry for it
    lethe_status (*forward)(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                            const float *t, const lethe_cond *c, int n);
    lethe_status (*backward)(lethe_denoiser *d, const float *W, float *G, lethe_arena *arena, const float *deps,
                             float *dx);
    // another instance of the same network (same parameter table, its own saved activations)
    lethe_status (*clone)(const lethe_denoiser *d, lethe_denoiser *out);
    void (*release)(lethe_denoiser *d);           // frees what clone made (owns_net instances only)
    char *(*config_json)(const lethe_denoiser *d); // the network's config.json text (caller frees); may be NULL
    // which weights a low-rank adapter (SPARE's LoRA) adapts; NULL: lora.h's default rule
    int (*lora_target)(const param_entry *e);
    // 1 for a (d_out, d_in) projection that reads the conditioning tokens (cross-attention
    // keys and values: what closed-form concept editors such as UCE and ScaPre change); NULL:
    // the network has none
    int (*cross_kv)(const param_entry *e);
} lethe_denoiser_vtable;

struct lethe_denoiser {
    const lethe_denoiser_vtable *vt;
    void *net;                  // the implementation's state (a lethe_unet for the UNet)
    int owns_net;               // 1: denoiser_free releases net (clones)
    const param_table *table;   // W: tensor names, shapes, offsets, total floats
    int channels, size;         // samples are (channels, size, size)
    lethe_cond_spec cond;       // what it is conditioned on (LETHE_COND_NONE: unconditional)
};

static inline size_t denoiser_numel(const lethe_denoiser *d) { return (size_t)d->channels * d->size * d->size; }
static inline size_t denoiser_num_params(const lethe_denoiser *d) { return d->table->total; }
static inline int denoiser_conditional(const lethe_denoiser *d) { return d->cond.kind != LETHE_COND_NONE; }
// 1 if its cond rows can be made null (classifier-free guidance, class dropout)
static inline int denoiser_has_null(const lethe_denoiser *d) { return cond_has_null(&d->cond); }

lethe_status denoiser_forward(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                              const float *t, const lethe_cond *c, int n);
lethe_status denoiser_backward(lethe_denoiser *d, const float *W, float *G, lethe_arena *arena, const float *deps,
                               float *dx);
lethe_status denoiser_clone(const lethe_denoiser *d, lethe_denoiser *out);
void denoiser_free(lethe_denoiser *d);
// A cond of this network's kind with room for cap rows (all null).
lethe_status denoiser_cond_alloc(const lethe_denoiser *d, lethe_cond *c, int cap);

// ---- inference: the network bound to weights, as the samplers and evaluations see it ----
typedef struct {
    lethe_denoiser *net;
    const float *W;
    lethe_arena arena;      // scratch of one call (nothing is kept)
    long evaluations;       // images passed through the network (for throughput reports)
} denoiser_infer;

void denoiser_infer_init(denoiser_infer *b, lethe_denoiser *net, const float *W);
void denoiser_infer_free(denoiser_infer *b);
// eps (n, C, S, S) for x at timesteps t under c (NULL: no conditioning), inference mode.
lethe_status denoiser_infer_eps(denoiser_infer *b, float *eps, const float *x, const float *t, const lethe_cond *c, int n);

#endif
