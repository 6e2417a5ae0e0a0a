/*
 * vdu.h: the parts of VDU (vdu.c, methods spec 3) that tests reach directly: the
 * per-parameter statistics of K checkpoints and the stability term B with its gradient.
 *
 * Statistics: theta^(1..K) are K >= 2 weight vectors of the parent's architecture, read
 * from model folders (--checkpoints A,B,...) or from the snapshots of one training run
 * (--snapshots DIR, written by `lethe train --snapshots K`). Then, per parameter i,
 *   mu_i   = (1/K) sum_k theta_i^(k)
 *   var_i  = (1/K) sum_k (theta_i^(k) - mu_i)^2                (population variance)
 *   eps_v  = var_floor * mean_i var_i                            (the variance floor)
 *   p_i    = 1 / (var_i + eps_v),   prec_i = p_i / mean_j p_j    (precision, mean 1)
 * with i over the parameters (the means exclude the flat buffer's alignment padding,
 * which gets mu = prec = 0), computed in double on the host (Welford), once, in setup.
 * Because prec is normalised
 * and the floor is relative, multiplying every variance by a constant changes nothing
 * (so 1/K or 1/(K-1) does not matter).
 * Or (--anchor-precision fisher, lethe's, not the paper's) mu is the parent and prec a diagonal
 * Fisher of the parent's own samples of the kept classes (vdu_stats_from_fisher).
 */
#ifndef LETHE_UNLEARN_VDU_H
#define LETHE_UNLEARN_VDU_H

#include <stddef.h>

#include "diffusion/model.h"
#include "unlearn/unlearn.h"

typedef enum { VDU_FAITHFUL, VDU_GATED, VDU_RECONSTRUCTED } vdu_objective_kind;   // --objective's order
typedef enum { VDU_WEIGHT_SIMPLE, VDU_WEIGHT_ELBO } vdu_weighting;
// --anchor-precision's order; auto: checkpoints when --checkpoints or --snapshots is given, else fisher
typedef enum { VDU_PRECISION_CHECKPOINTS, VDU_PRECISION_FISHER, VDU_PRECISION_AUTO } vdu_precision;
typedef enum { VDU_UPDATE_ADAM, VDU_UPDATE_NATURAL } vdu_update;                   // --update's order

// The defaults are the setting measured best on the reference parent (docs/unlearning.md,
// "VDU"): gated, the natural gradient, the Fisher anchor; the paper's form is --objective
// faithful --update adam --anchor-precision checkpoints (with --checkpoints or --snapshots).
#define VDU_DEFAULT_OBJECTIVE VDU_GATED
#define VDU_DEFAULT_UPDATE VDU_UPDATE_NATURAL
#define VDU_DEFAULT_GAMMA 1.0f          // reconstructed: B's multiplier
#define VDU_DEFAULT_CONVEX_GAMMA 0.5f   // faithful, gated: the convex weight
#define VDU_DEFAULT_GATE 20.0f
#define VDU_DEFAULT_LR_NATURAL 0.1f     // SGD on prec^-1 grad L, clipped to norm 1: a step of at most 0.1
#define VDU_DEFAULT_LR_ADAM 1e-5f       // Adam: every weight moves by about lr a step
#define VDU_DEFAULT_VAR_FLOOR 1e-2f
#define VDU_DEFAULT_FISHER_SAMPLES 256

typedef struct {
    float *mu, *prec;                          // backend memory, n floats each
    size_t n;
    int k;                                     // checkpoints used
    char *source[UNLEARN_MAX_CHECKPOINTS];     // their paths (model folders or snapshot files)
    int step[UNLEARN_MAX_CHECKPOINTS];         // a snapshot's training step; -1 for a model folder
    double mean_var;                           // mean_i var_i
    double var_eps;                            // eps_v = var_floor * mean_var
    double mean_raw_prec;                      // mean_i 1 / (var_i + eps_v), the normaliser
    double mean_fisher;                        // --anchor-precision fisher: mean_i F_i (the rest above 0)
} vdu_stats;

// Reads the K weight vectors named by exactly one of `checkpoints` (comma-separated model
// folders; the parent may be one) or `snapshots` (a training folder, or its snapshots/
// subfolder, holding snapshots.json). Every one must have the parent's UNet config.
// Errors: neither or both given, fewer than 2 or more than UNLEARN_MAX_CHECKPOINTS,
// another config, unreadable files, all checkpoints identical (no variance).
lethe_status vdu_stats_load(vdu_stats *s, const lethe_model *parent, const char *checkpoints, const char *snapshots,
                            float var_floor);
void vdu_stats_free(vdu_stats *s);

// --anchor-precision fisher: mu = theta0 (the parent's weights) and
//   prec_i = (F_i + floor * mean F) / mean_j (F_j + floor * mean F)   (mean 1)
// with F a diagonal Fisher of the kept classes (fisher.h), means over the parameters (the
// padding gets prec 0). theta0, fisher: backend memory, n floats (the parent's buffer size).
// Error when F is 0 everywhere.
lethe_status vdu_stats_from_fisher(vdu_stats *s, const lethe_model *parent, const float *theta0, const float *fisher,
                                   float floor);

// B(theta) = 0.5 * sum_i prec_i (theta_i - mu_i)^2, returned. If grad is not NULL it also
// accumulates weight * dB/dtheta = weight * prec * (theta - mu) into grad.
// scratch: n floats of backend memory (overwritten).
double vdu_anchor(const vdu_stats *s, const float *theta, float *grad, float weight, float *scratch);

// One step's objective on the forget batch of step `step` (drawn from (seed, step) as the
// run does), with the options the run's setup resolved (u->state): accumulates its
// gradient into u->grads and returns its terms. The method's step is this plus the log.
typedef struct {
    double loss;          // the objective's value
    double forget_dsm;    // mean_r l_r, the unweighted denoising loss of the batch (live weights)
    double forget_term;   // mean_r C_t(r) min(l_r, gate * l_parent_r) (no min unless gated)
    double anchor;        // B
    int open;             // images whose ascent is on (all unless gated)
} vdu_terms;
lethe_status vdu_objective(unlearn_ctx *u, int step, vdu_terms *out);

#endif
