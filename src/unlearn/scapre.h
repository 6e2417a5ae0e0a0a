/*
 * scapre.h: ScaPre's closed-form edit of one cross-attention key/value matrix (Deng et al.,
 * ICLR 2026, "Forget Many, Forget Right"), as its released edit/erase_scale.py computes it
 * (specs/methods.md 4.2, steps 1-8):
 *
 *   per output row i of W0 (d_out x d_in):
 *     M_i = (lambda + mu) I + R + sum_k c_k c_k^T + S_e + s m_i^max Pi_C        (d_in x d_in, SPD)
 *     b_i = (lambda + mu) w0_i + V_i
 *     w_i = M_i^-1 b_i                                   (Cholesky, LAPACKE)
 *   then a Bures proximal step per row (bures_iters).
 *
 *   c_k      concept k's feature at its last word token (C = [c_1 .. c_m])
 *   e, g     UCE's token pairs (concept tokens from the last word on, the guide's beside them);
 *            v* = W0 g
 *   S_e      s sum e e^T;  V = s sum_k diag(m_.k) sum_j v*_kj e_kj^T
 *   m_ik     the Informax soft mask: how much output i tells concept k's inputs from the
 *            neutral input e0 (mutual information of a median-thresholded response, z-scored
 *            over rows, sigmoid(z / T)^p); m_i^max = max_k m_ik
 *   mu       the mean normalised response entropy over rows (the Bures weight)
 *   R        the spectral term U diag((1 - g_j) mu) U^T of C = U S V^T, g_j = sigmoid((S_j -
 *            median S) / T_s)^p_s (only with ased)
 *   Pi_C     C (C^T C + 1e-8 I)^-1 C^T
 *
 * The random probes (noise on c_k and e0) come from lethe's Philox stream of `seed`, so an
 * edit is reproducible (the released code draws them from torch's global generator).
 */
#ifndef LETHE_UNLEARN_SCAPRE_H
#define LETHE_UNLEARN_SCAPRE_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    float lambda;          // 0.5 (hard-coded `lamb` in the released code)
    float erase_scale;     // s (Confuse / art: 2; Diversi50: 3)
    float p;               // soft-mask exponent (Confuse / art: 8; Diversi50: 5)
    float mi_temperature;  // 0.7
    float noise;           // probe noise sn = 0.01
    int mi_samples;        // positives and as many negatives per concept: 5
    int use_mi_mask;       // 1 (erase_scale.py --use_mi_softmask)
    int entropy_samples;   // per concept: 30 (Confuse / art), 20 elsewhere
    int entropy_bins;      // 20
    int ased;              // the spectral term R (Confuse / art: on)
    float spectral_t, spectral_p;   // T_s = p_s = 1
    int bures_iters;       // 1 in every released script
    uint64_t seed;
} scapre_opts;

void scapre_opts_default(scapre_opts *o);   // the Confuse / art setting of erase_scale.py

// The pieces, exposed for tests. Arrays are row-major, host, float features / double results.
// m_out (d_out): concept c's soft mask over W0's rows; e0: the neutral input. stream: a
// distinct Philox stream per concept.
void scapre_mi_mask(const float *W0, int d_out, int d_in, const float *c, const float *e0, const scapre_opts *o,
                    uint64_t stream, double *m_out);
// mu: the mean over rows of the normalised entropy (in [0, 1]) of each row's response to the
// m concepts' noisy probes (entropy_samples each, min-max normalised per row, entropy_bins bins).
double scapre_entropy_weight(const float *W0, int d_out, int d_in, const float *C, int m, const scapre_opts *o);
// R (d_in x d_in) = U diag((1 - g_j) mu) U^T from the SVD of the m concept vectors (rows of C).
lethe_status scapre_spectral(const float *C, int m, int d_in, double mu, const scapre_opts *o, double *R);
// One Bures proximal step set (iters) on row w (d_in) towards w0, weights lp = lambda + mu and mu.
void scapre_bures(double *w, const float *w0, int d_in, double lp, double mu, int iters);

// The edit: W (d_out x d_in) is W0 on entry, the edited matrix on return.
// C: m concept vectors (rows); E, G: n_e token-pair rows, row r belonging to concept owner[r];
// e0: the neutral input (the empty prompt's EOS feature).
lethe_status scapre_edit(float *W, int d_out, int d_in, const float *C, int m, const float *E, const float *G,
                         const int *owner, int n_e, const float *e0, const scapre_opts *o);

#endif
