/*
 * adamw.h: AdamW (PyTorch torch.optim.AdamW semantics) over a flat parameter buffer,
 * with global gradient-norm clipping (torch.nn.utils.clip_grad_norm_).
 */
#ifndef LETHE_OPTIM_ADAMW_H
#define LETHE_OPTIM_ADAMW_H

#include <stddef.h>

#include "core/error.h"

typedef enum {
    OPTIM_ADAMW,   // the default everywhere
    OPTIM_SGD      // p -= lr * buf, buf = beta1 buf + g + weight_decay p (torch.optim.SGD, no dampening):
                   // a step proportional to the gradient, for preconditioned updates (VDU's natural
                   // gradient), where Adam's per-coordinate normalisation would undo the preconditioner
} optim_kind;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;   // SGD: beta1 is the momentum; beta2 and eps unused
    float max_grad_norm;     // <= 0: no clipping
    optim_kind kind;         // 0: AdamW
} adamw_config;

typedef struct {
    adamw_config cfg;
    size_t n;
    float *m, *v;            // backend memory, n floats each (SGD: m is the momentum buffer, v unused)
    int step;                // updates done so far
} adamw_state;

lethe_status adamw_init(adamw_state *o, const adamw_config *cfg, size_t n);
void adamw_free(adamw_state *o);
// One update of P from G (AdamW or SGD, by cfg.kind) with learning rate lr (already scheduled); mask may be NULL.
// Returns the gradient norm before clipping in *grad_norm (may be NULL).
void adamw_update(adamw_state *o, float *P, const float *G, const float *mask, float lr, double *grad_norm);

// Learning rate at optimisation step `step` (0-based): linear warm-up over `warmup` steps,
// then constant or cosine decay to 0 at `total` (diffusers get_scheduler semantics, except
// that warm-up step k uses (k+1)/warmup: diffusers' first step has learning rate 0).
typedef enum { LR_CONSTANT, LR_COSINE } lr_schedule;
float lr_at(lr_schedule kind, float base_lr, int step, int warmup, int total);

// diffusers EMAModel decay for the given optimisation step (1-based count of updates done):
// min(1 - (1 + s/inv_gamma)^-power, max_decay) with s = step - 1, and 0 for s <= 0.
float ema_decay_at(int step, float inv_gamma, float power, float max_decay);

#endif
