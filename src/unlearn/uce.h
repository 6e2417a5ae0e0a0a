/*
 * uce.h: UCE's closed-form edit of one projection matrix (Gandikota et al., WACV 2024;
 * specs/methods.md 7.7): the cross-attention to_k / to_v matrices of a text-to-image UNet
 * read the text encoder's token features, so mapping a concept's features to a guide's
 * output erases the concept, while preserved concepts keep their outputs.
 *
 *   W = argmin  lambda ||W - W0||^2 + s_e sum_k ||W e_k - W0 g_k||^2 + s_p sum_j ||W p_j - W0 p_j||^2
 *     = (lambda W0 + s_e sum_k (W0 g_k) e_k^T + s_p sum_j (W0 p_j) p_j^T)
 *       (lambda I + s_e sum_k e_k e_k^T + s_p sum_j p_j p_j^T)^-1
 *
 * e_k: the erased concepts' token features, g_k: the guide prompt's features at the same
 * token positions (v*_k = W0 g_k, UCE's "replace"), p_j: the preserved concepts' features.
 *
 * Solved by Cholesky (LAPACKE), in whichever of two equivalent forms has the smaller system:
 *   primal  the d_in x d_in system above (many features);
 *   kernel  W = W0 + Y (lambda I + F F^T)^-1 F, with F the n stacked features (rows, scaled by
 *           sqrt(s)) and Y their d_out x n target residuals (sqrt(s_e)(W0 g_k - W0 e_k); 0 for
 *           preserved ones): the push-through identity of the same minimiser, an n x n system.
 *           It stays defined at lambda = 0 when the n features are independent, where W maps
 *           every e_k exactly onto W0 g_k and every p_j onto W0 p_j (the minimum-change edit).
 */
#ifndef LETHE_UNLEARN_UCE_H
#define LETHE_UNLEARN_UCE_H

#include "core/error.h"

typedef struct {
    float lambda;        // pull towards W0 (UCE-derived scripts: 0.5)
    float erase_scale;   // s_e (1)
    float preserve_scale;   // s_p (< 0: max(0.1, 1 / n_preserved), UCE's default)
} uce_opts;

void uce_opts_default(uce_opts *o);

// W (d_out x d_in, row-major, host) is W0 on entry and the edited matrix on return.
// erase, guide: n_e x d_in rows; preserve: n_p x d_in rows (may be NULL when n_p = 0).
// An error (W untouched) when the system is not positive definite: lambda = 0 with more
// features than d_in, or dependent features.
lethe_status uce_edit(float *W, int d_out, int d_in, const float *erase, const float *guide, int n_e,
                      const float *preserve, int n_p, const uce_opts *o);

#endif
