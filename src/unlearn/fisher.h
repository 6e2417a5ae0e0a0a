/*
 * fisher.h: what SA and VDU share: guided samples of the parent (no training image read) and
 * a diagonal Fisher of the denoising loss on them (fisher.c).
 *
 * Samples: DDIM, FISHER_GEN_STEPS steps, eta 0, guidance FISHER_GEN_GUIDANCE, stepping along
 * the eps re-derived from the clipped x0 (lethe's sampling default, docs/evaluation.md),
 * stored as uint8 like saved PNGs, from the weights the caller gives. The noise seed is
 * derived from the run's --seed and the caller's stream index, so the samples are not the
 * ones `lethe eval` draws for the same seed. Several sets can be filled from the same chains:
 * each set takes its classes round robin (sample j of a set is of its (j mod n_classes)-th
 * class), and a class's samples in every set are the first chains of that class.
 *
 * Fisher: F = (1/N) sum_n (T/k) g_n^2 with g_n = sum_{i<k} grad_theta sum_pixels
 * |eps - eps_theta(x_n, t_i)|^2 at the live weights, k = FISHER_TIMESTEPS stratified
 * timesteps (one uniform in each [i T/k, (i+1) T/k), fresh noise each), one backward pass of
 * k images per sample, labels kept. This replaces the sum over all T timesteps of SA's code
 * (T backward passes per sample); sa.c's header says what it estimates without bias and what
 * it underestimates.
 */
#ifndef LETHE_UNLEARN_FISHER_H
#define LETHE_UNLEARN_FISHER_H

#include <stdint.h>

#include "unlearn/unlearn.h"

#define FISHER_TIMESTEPS 8
#define FISHER_GEN_STEPS 25
#define FISHER_GEN_GUIDANCE 2.0f

typedef struct {
    lethe_dataset *set;                    // filled (allocated here; dataset_free it)
    const char *name;                      // the dataset's name
    int n;                                 // samples
    int classes[LETHE_MAX_CLASSES];        // 1: this set samples class k (ignored when unconditional)
} parent_sample_set;

// Fills every set from the parent's chains (see above). An unconditional parent's sets take
// its unguided samples, whatever their classes (labels 0);
// `stream` is the caller's index of its Philox streams; `purpose` ends the progress line
// ("for the Fisher diagonal (64) and replay (256)"). parent: the weights (backend) to sample.
lethe_status unlearn_parent_samples(unlearn_ctx *u, const float *parent, const char *method, uint32_t stream,
                                    const char *purpose, parent_sample_set *sets, int n_sets);

// fisher (n_params floats, backend) = the diagonal above over `samples`, at u->params;
// noise and timesteps from `stream`, dropout keyed by dropout_key + sample index.
// scratch: n_params floats (backend). LETHE_ERR_NUMERIC when it is not finite.
lethe_status unlearn_fisher_diagonal(unlearn_ctx *u, const char *method, const lethe_dataset *samples, uint32_t stream,
                                     uint64_t dropout_key, float *fisher, float *scratch);

#endif
