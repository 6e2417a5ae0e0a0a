/*
 * spare.h: what spare.c exposes beyond its method table, for tests: the concept timestep
 * distribution (methods spec 5.3, reconstructed) and the adapter of a running context.
 */
#ifndef LETHE_UNLEARN_SPARE_H
#define LETHE_UNLEARN_SPARE_H

#include "unlearn/lora.h"
#include "unlearn/unlearn.h"

#define SPARE_T_CELL 20              // D(t) is measured once per cell of 20 timesteps
#define SPARE_SALIENCY_IMAGES 256    // cap of the saliency pass (batch 1 per image)
#define SPARE_CONCEPT_IMAGES 8       // forget images per cell of D(t)

// p (T entries) from D (one value per cell of SPARE_T_CELL timesteps, ceil(T / SPARE_T_CELL)
// cells): p(t) = D(cell of t) / (sum_cells D * width of the cell), i.e. a cell is drawn with
// probability proportional to D and t uniformly inside it. Returns 0, or -1 (p untouched)
// when D is negative, not finite or sums to 0.
int spare_concept_pmf(const double *D, int T, double *p);
// cdf[t] = p(0) + ... + p(t), with cdf[T-1] = 1 exactly.
void spare_pmf_to_cdf(const double *p, int T, double *cdf);
// The smallest t with cdf[t] >= u, for u in (0, 1] (inverse-CDF sampling).
int spare_draw_timestep(const double *cdf, int T, double u);

// The adapter of a context running SPARE (after setup), NULL otherwise.
const lora_adapter *spare_adapter(const unlearn_ctx *u);

#endif
