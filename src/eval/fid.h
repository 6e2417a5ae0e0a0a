/*
 * fid.h: feature statistics and the distribution metrics built on them (specs/evaluation.md,
 * "Distribution metrics"): FID, Inception score and KID.
 *
 * Features are the evaluation classifier's penultimate activations (float, n rows of dim).
 * Name results "FID (lethe-CNN features)": they are not comparable with Inception FID.
 * Callers should warn when n < 2 * dim: FID is then biased upward (the spec asks for it;
 * the library does not print).
 *
 *   feature_stats real, fake;
 *   feature_stats_init(&real, dim); feature_stats_add(&real, feats, n); ...
 *   frechet_distance(&real, &fake, &fid);
 */
#ifndef LETHE_EVAL_FID_H
#define LETHE_EVAL_FID_H

#include <stdint.h>

#include "core/error.h"

// Running statistics of feature rows, in double.
//   sum:   sum of the rows (dim), so mean = sum / n.
//   outer: the centred scatter matrix sum_i (x_i - mean)(x_i - mean)^T (dim x dim, row-major,
//          symmetric), NOT the raw sum of x x^T: raw second moments cancel catastrophically
//          for features of magnitude 1e3 (x^2 ~ 1e6 against a variance that may be ~1e-2).
//          Rows are added in blocks: each block is centred on its own mean and merged with
//          Chan, Golub & LeVeque's update  M += M_b + delta delta^T n_a n_b / (n_a + n_b),
//          delta = mean_b - mean_a (Welford's update generalised to blocks).
// The allocation behind `outer` also holds scratch space for feature_stats_add, so that
// adding rows never allocates and cannot fail.
typedef struct {
    int dim;
    long n;
    double *sum;
    double *outer;
} feature_stats;

lethe_status feature_stats_init(feature_stats *s, int dim);   // dim in [1, 16384]
void feature_stats_add(feature_stats *s, const float *features, int n);    // features: (n, dim)
void feature_stats_merge(feature_stats *dst, const feature_stats *src);    // dst += src, same dim
// mean: (dim); cov: (dim, dim), unbiased (divided by n - 1). Needs n >= 2.
lethe_status feature_stats_moments(const feature_stats *s, double *mean, double *cov);
void feature_stats_free(feature_stats *s);

// FID = ||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrtm(S1 S2), where
// Tr sqrtm(S1 S2) = sum_i sqrt(max(lambda_i, 0)) over the eigenvalues of the symmetric
// matrix A S2 A, A = sqrtm(S1) (LAPACKE_dsyevd; negative eigenvalues of S1 clipped to 0).
// A S2 A is similar to S1 S2 when S1 is nonsingular, and stays symmetric, so a symmetric
// solver applies and no complex arithmetic is needed.
lethe_status frechet_distance(const feature_stats *a, const feature_stats *b, double *fid);

// exp(E_x KL(p(y|x) || p(y))), p(y) the mean of the n rows of `probs` (n, classes).
// Rows are taken as given (they should sum to 1); 0 log 0 = 0. NAN when n < 1 or classes < 1.
double inception_score(const float *probs, int n, int classes);

// KID: the unbiased MMD^2 estimate with kernel k(x, y) = (x.y / dim + 1)^3 between random
// subsets of size m of fa (na, dim) and fb (nb, dim), drawn without replacement, fresh for
// each of `subsets` subsets, from Philox streams of `seed` (reproducible, thread-count free).
// kid_std is the population standard deviation over subsets (ddof 0, as torch-fidelity).
// Needs 2 <= m <= min(na, nb). With m = na = nb every subset is the whole set.
// The kernel is not shift-invariant: features of magnitude 1e3 give kernel values ~1e18
// whose rounding swamps the MMD, so use KID on features of order 1 (as Inception's are).
lethe_status kernel_inception_distance(const float *fa, int na, const float *fb, int nb, int dim, int subsets,
                                       int m, uint64_t seed, double *kid_mean, double *kid_std);

#endif
