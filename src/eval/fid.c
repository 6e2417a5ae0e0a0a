/*
 * fid.c: feature statistics, FID, Inception score and KID (see fid.h).
 *
 * Linear algebra goes through CBLAS (OpenBLAS) and LAPACKE_dsyevd; nothing here solves
 * eigenproblems by hand. All accumulation is in double.
 */
#include "eval/fid.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

// Rows centred and merged per block in feature_stats_add: big enough for dsyrk to run
// at BLAS speed, small enough that the scratch (FS_BLOCK * dim doubles) stays ~2 MB at dim 2048.
#define FS_BLOCK 128
#define FS_MAX_DIM 16384

// rng.h's purpose tags have none for KID yet; a tag of our own keeps its streams apart
// from the ones listed there.
#define KID_STREAM_PURPOSE 0x4B

// ----------------------------------------------------------------------------
// feature statistics

// Scratch that lives after the dim x dim matrix in the `outer` allocation (see fid.h).
static double *fs_block_buf(const feature_stats *s) { return s->outer + (size_t)s->dim * s->dim; }
static double *fs_vec_buf(const feature_stats *s) { return fs_block_buf(s) + (size_t)FS_BLOCK * s->dim; }

lethe_status feature_stats_init(feature_stats *s, int dim) {
    memset(s, 0, sizeof *s);
    if (dim < 1 || dim > FS_MAX_DIM)
        return lethe_fail(LETHE_ERR_ARG, "feature statistics: dim %d is outside [1, %d]", dim, FS_MAX_DIM);
    size_t d = (size_t)dim;
    s->sum = calloc(d, sizeof *s->sum);
    s->outer = calloc(d * d + (size_t)(FS_BLOCK + 1) * d, sizeof *s->outer);
    if (!s->sum || !s->outer) {
        feature_stats_free(s);
        return lethe_fail(LETHE_ERR_NOMEM, "feature statistics: out of memory for dim %d (%.1f MB)", dim,
                          (double)(d * d) * 8 / 1e6);
    }
    s->dim = dim;
    return LETHE_OK;
}

void feature_stats_free(feature_stats *s) {
    free(s->sum);
    free(s->outer);
    memset(s, 0, sizeof *s);
}

// The accumulation only writes the upper triangle (dsyrk/dsyr); copy it down.
static void mirror_upper(double *m, int dim) {
    for (int i = 1; i < dim; i++)
        for (int j = 0; j < i; j++) m[(size_t)i * dim + j] = m[(size_t)j * dim + i];
}

// Merges one block of nb rows: centre on the block mean, add its scatter, then the
// Chan et al. correction for the distance between the block mean and the running mean.
static void fs_add_block(feature_stats *s, const float *x, int nb) {
    const int d = s->dim;
    double *c = fs_block_buf(s), *bsum = fs_vec_buf(s);
    memset(bsum, 0, (size_t)d * sizeof *bsum);
    for (int r = 0; r < nb; r++)
        for (int j = 0; j < d; j++) bsum[j] += x[(size_t)r * d + j];
    for (int r = 0; r < nb; r++)
        for (int j = 0; j < d; j++) c[(size_t)r * d + j] = x[(size_t)r * d + j] - bsum[j] / nb;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, nb, 1.0, c, d, 1.0, s->outer, d);
    if (s->n > 0) {
        // delta = mean_b - mean_a, reusing the first row of the block buffer
        double na = (double)s->n, *delta = c;
        for (int j = 0; j < d; j++) delta[j] = bsum[j] / nb - s->sum[j] / na;
        cblas_dsyr(CblasRowMajor, CblasUpper, d, na * nb / (na + nb), delta, 1, s->outer, d);
    }
    for (int j = 0; j < d; j++) s->sum[j] += bsum[j];
    s->n += nb;
}

void feature_stats_add(feature_stats *s, const float *features, int n) {
    if (n <= 0) return;
    for (int r0 = 0; r0 < n; r0 += FS_BLOCK) {
        int nb = n - r0 < FS_BLOCK ? n - r0 : FS_BLOCK;
        fs_add_block(s, features + (size_t)r0 * s->dim, nb);
    }
    mirror_upper(s->outer, s->dim);
}

void feature_stats_merge(feature_stats *dst, const feature_stats *src) {
    if (src->n == 0) return;
    const int d = dst->dim;
    if (src->dim != d) {
        // A programming error with no status to return: poison dst so that
        // feature_stats_moments fails instead of returning a silently wrong answer.
        for (int j = 0; j < d; j++) dst->sum[j] = NAN;
        return;
    }
    const double na = (double)dst->n, nb = (double)src->n, w = na * nb / (na + nb);
    double *delta = fs_vec_buf(dst);
    for (int j = 0; j < d; j++) delta[j] = na > 0 ? src->sum[j] / nb - dst->sum[j] / na : 0.0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            size_t k = (size_t)i * d + j;
            dst->outer[k] += src->outer[k] + w * delta[i] * delta[j];
        }
    for (int j = 0; j < d; j++) dst->sum[j] += src->sum[j];
    dst->n += src->n;
}

lethe_status feature_stats_moments(const feature_stats *s, double *mean, double *cov) {
    if (s->n < 2)
        return lethe_fail(LETHE_ERR_ARG, "feature statistics: need at least 2 rows for a covariance, have %ld", s->n);
    const size_t d = (size_t)s->dim;
    for (size_t j = 0; j < d; j++) mean[j] = s->sum[j] / (double)s->n;
    for (size_t k = 0; k < d * d; k++) cov[k] = s->outer[k] / (double)(s->n - 1);
    for (size_t j = 0; j < d; j++)
        if (!isfinite(mean[j]) || !isfinite(cov[j * d + j]))
            return lethe_fail(LETHE_ERR_NUMERIC,
                              "feature statistics: feature %zu has a non-finite mean or variance "
                              "(NaN/Inf features, or stats of different dims merged)", j);
    return LETHE_OK;
}

// ----------------------------------------------------------------------------
// FID

// Turns LAPACKE's info into a status naming the step that failed.
static lethe_status lapack_status(lapack_int info, const char *what, int dim) {
    if (info == 0) return LETHE_OK;
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        return lethe_fail(LETHE_ERR_NOMEM, "FID: LAPACKE_dsyevd (%s, dim %d): out of memory", what, dim);
    if (info < 0)
        return lethe_fail(LETHE_ERR_NUMERIC, "FID: LAPACKE_dsyevd (%s, dim %d): argument %d is invalid "
                          "(NaN in the matrix?)", what, dim, (int)-info);
    return lethe_fail(LETHE_ERR_NUMERIC, "FID: LAPACKE_dsyevd (%s, dim %d) did not converge (info %d)", what, dim,
                      (int)info);
}

// sqrtm(s1) = V diag(sqrt(max(w, 0))) V^T from dsyevd; the result goes to `a`.
// s1 is overwritten by V, t (dim x dim) and w (dim) are scratch.
static lethe_status sym_sqrtm(double *a, double *s1, double *t, double *w, int dim) {
    lethe_status st = lapack_status(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', dim, s1, dim, w), "sqrtm(S1)", dim);
    if (st) return st;
    // t = V diag(sqrt w): scale column k of V (the eigenvectors are its columns).
    for (int i = 0; i < dim; i++)
        for (int k = 0; k < dim; k++) t[(size_t)i * dim + k] = s1[(size_t)i * dim + k] * sqrt(fmax(w[k], 0.0));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dim, dim, dim, 1.0, t, dim, s1, dim, 0.0, a, dim);
    return LETHE_OK;
}

// Tr sqrtm(S1 S2) as sum sqrt(max(lambda, 0)) over the eigenvalues of A S2 A, A = sqrtm(S1).
// s1 is overwritten; a, t (dim x dim) and w (dim) are scratch.
static lethe_status trace_sqrt_product(double *s1, const double *s2, double *a, double *t, double *w, int dim,
                                       double *trace) {
    lethe_status st = sym_sqrtm(a, s1, t, w, dim);
    if (st) return st;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0, a, dim, s2, dim, 0.0, t, dim);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0, t, dim, a, dim, 0.0, s1, dim);
    // A S2 A is symmetric in exact arithmetic; average away the rounding before dsyevd.
    for (int i = 0; i < dim; i++)
        for (int j = i + 1; j < dim; j++) {
            double m = 0.5 * (s1[(size_t)i * dim + j] + s1[(size_t)j * dim + i]);
            s1[(size_t)i * dim + j] = s1[(size_t)j * dim + i] = m;
        }
    st = lapack_status(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', dim, s1, dim, w), "eigenvalues of A S2 A", dim);
    if (st) return st;
    double sum = 0;
    for (int i = 0; i < dim; i++) sum += sqrt(fmax(w[i], 0.0));
    *trace = sum;
    return LETHE_OK;
}

lethe_status frechet_distance(const feature_stats *a, const feature_stats *b, double *fid) {
    if (a->dim != b->dim)
        return lethe_fail(LETHE_ERR_SHAPE, "FID: feature dims differ (%d vs %d)", a->dim, b->dim);
    const int d = a->dim;
    const size_t dd = (size_t)d * d;
    double *mu = malloc(3 * (size_t)d * sizeof *mu), *mats = malloc(4 * dd * sizeof *mats);
    lethe_status st = LETHE_OK;
    if (!mu || !mats) {
        st = lethe_fail(LETHE_ERR_NOMEM, "FID: out of memory for dim %d", d);
        goto done;
    }
    double *mu1 = mu, *mu2 = mu + d, *w = mu + 2 * (size_t)d;
    double *s1 = mats, *s2 = mats + dd, *sq = mats + 2 * dd, *t = mats + 3 * dd;
    if ((st = feature_stats_moments(a, mu1, s1))) {
        lethe_fail_context(st, "FID, first set");
        goto done;
    }
    if ((st = feature_stats_moments(b, mu2, s2))) {
        lethe_fail_context(st, "FID, second set");
        goto done;
    }
    double dmu2 = 0, tr = 0, trsq;
    for (int i = 0; i < d; i++) {
        dmu2 += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        tr += s1[(size_t)i * d + i] + s2[(size_t)i * d + i];
    }
    if ((st = trace_sqrt_product(s1, s2, sq, t, w, d, &trsq))) goto done;
    *fid = dmu2 + tr - 2.0 * trsq;
done:
    free(mu);
    free(mats);
    return st;
}

// ----------------------------------------------------------------------------
// Inception score

double inception_score(const float *probs, int n, int classes) {
    if (n < 1 || classes < 1) return NAN;
    double *py = calloc((size_t)classes, sizeof *py);
    if (!py) return NAN;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < classes; c++) py[c] += probs[(size_t)i * classes + c];
    for (int c = 0; c < classes; c++) py[c] /= n;
    double kl = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < classes; c++) {
            double p = probs[(size_t)i * classes + c];
            if (p > 0) kl += p * log(p / py[c]);   // p > 0 implies py[c] > 0
        }
    free(py);
    return exp(kl / n);
}

// ----------------------------------------------------------------------------
// KID

// Copies m rows of x (n, dim) chosen without replacement (partial Fisher-Yates on `idx`)
// into out (m, dim) as double.
static void kid_pick(double *out, const float *x, int n, int dim, int m, int *idx, uint64_t seed,
                     uint64_t stream) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int j = 0; j < m; j++) {
        int r = j + (int)lethe_rand_below(seed, stream, (uint64_t)j, (uint32_t)(n - j));
        int tmp = idx[j];
        idx[j] = idx[r];
        idx[r] = tmp;
        for (int k = 0; k < dim; k++) out[(size_t)j * dim + k] = x[(size_t)idx[j] * dim + k];
    }
}

// Sum of (g + 1)^3 over the strict upper triangle of the m x m matrix g (the kernel
// between distinct rows of one set), doubled for the symmetric lower half.
static double kid_offdiag_sum(const double *g, int m) {
    double s = 0;
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) {
            double k = g[(size_t)i * m + j] + 1.0;
            s += k * k * k;
        }
    return 2.0 * s;
}

// Unbiased MMD^2 between the rows of x and y (both m x dim).
static double kid_mmd2(const double *x, const double *y, double *g, int m, int dim) {
    const double inv_d = 1.0 / dim, mm = (double)m;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, m, dim, inv_d, x, dim, 0.0, g, m);
    double kxx = kid_offdiag_sum(g, m);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, m, dim, inv_d, y, dim, 0.0, g, m);
    double kyy = kid_offdiag_sum(g, m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, dim, inv_d, x, dim, y, dim, 0.0, g, m);
    double kxy = 0;
    for (size_t k = 0; k < (size_t)m * m; k++) {
        double v = g[k] + 1.0;
        kxy += v * v * v;
    }
    return (kxx + kyy) / (mm * (mm - 1)) - 2.0 * kxy / (mm * mm);
}

lethe_status kernel_inception_distance(const float *fa, int na, const float *fb, int nb, int dim, int subsets,
                                       int m, uint64_t seed, double *kid_mean, double *kid_std) {
    if (dim < 1 || subsets < 1 || m < 2 || m > na || m > nb)
        return lethe_fail(LETHE_ERR_ARG, "KID: need dim >= 1, subsets >= 1 and 2 <= m <= min(na, nb); "
                          "got dim %d, subsets %d, m %d, na %d, nb %d", dim, subsets, m, na, nb);
    const size_t md = (size_t)m * dim;
    int *idx = malloc((size_t)(na > nb ? na : nb) * sizeof *idx);
    double *x = malloc(2 * md * sizeof *x), *g = malloc((size_t)m * m * sizeof *g);
    double *mmd = malloc((size_t)subsets * sizeof *mmd);
    lethe_status st = LETHE_OK;
    if (!idx || !x || !g || !mmd) {
        st = lethe_fail(LETHE_ERR_NOMEM, "KID: out of memory (m %d, dim %d)", m, dim);
        goto done;
    }
    double *y = x + md, mean = 0, var = 0;
    for (int s = 0; s < subsets; s++) {
        kid_pick(x, fa, na, dim, m, idx, seed, lethe_stream(KID_STREAM_PURPOSE, (uint64_t)s, 0));
        kid_pick(y, fb, nb, dim, m, idx, seed, lethe_stream(KID_STREAM_PURPOSE, (uint64_t)s, 1));
        mmd[s] = kid_mmd2(x, y, g, m, dim);
        mean += mmd[s];
    }
    mean /= subsets;
    for (int s = 0; s < subsets; s++) var += (mmd[s] - mean) * (mmd[s] - mean);
    if (!isfinite(mean)) {
        st = lethe_fail(LETHE_ERR_NUMERIC, "KID: non-finite result (NaN/Inf features?)");
        goto done;
    }
    *kid_mean = mean;
    *kid_std = sqrt(var / subsets);
done:
    free(idx);
    free(x);
    free(g);
    free(mmd);
    return st;
}
