/*
 * baselines.h: what the ESD, SalUn and SA method files (esd.c, salun.c, sa.c) expose beyond
 * their method tables, so tests can check the pieces directly.
 */
#ifndef LETHE_UNLEARN_BASELINES_H
#define LETHE_UNLEARN_BASELINES_H

#include <stddef.h>

#include "unlearn/unlearn.h"

// SA's EWC term: returns lambda * sum_i F_i (W_i - W0_i)^2 (double accumulation) and, when
// grad is not NULL, adds its gradient 2 lambda F (W - W0) to grad. scratch: n floats. All
// buffers are backend memory.
double sa_ewc(const float *F, const float *W, const float *W0, float lambda, float *grad, float *scratch, size_t n);
// After SA's setup: the Fisher diagonal (n_params floats, backend memory) and the replay set
// (samples of the parent for the retained classes). NULL before setup.
const float *sa_fisher(const unlearn_ctx *u);
const lethe_dataset *sa_replay_set(const unlearn_ctx *u);

#endif
