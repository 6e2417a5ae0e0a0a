/* uce.c: UCE's closed-form matrix edit (see uce.h). */
#include "unlearn/uce.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void uce_opts_default(uce_opts *o) {
    o->lambda = 0.5f;
    o->erase_scale = 1.0f;
    o->preserve_scale = -1.0f;
}

static float preserve_scale(const uce_opts *o, int n_p) {
    if (o->preserve_scale >= 0) return o->preserve_scale;
    const float inv = n_p > 0 ? 1.0f / (float)n_p : 1.0f;
    return inv > 0.1f ? inv : 0.1f;
}

// Cholesky of the SPD m x m system M (column-major = row-major: symmetric) and the solve of
// nrhs right-hand sides in X (column-major m x nrhs). Numerically singular (a pivot below
// 1e-10 of the largest diagonal entry, e.g. a feature given twice at lambda = 0) is an error.
static int spd_solve(double *M, int m, double *X, int nrhs) {
    double dmax = 0;
    for (int i = 0; i < m; i++) dmax = fmax(dmax, M[(size_t)i * m + i]);
    if (dmax <= 0 || LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', m, M, m)) return 1;
    for (int i = 0; i < m; i++)
        if (M[(size_t)i * m + i] * M[(size_t)i * m + i] < 1e-10 * dmax) return 1;
    return LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', m, nrhs, M, m, X, m) != 0;
}

// In double: the systems are small (d_in or n rows), and a near-singular one (lambda = 0)
// keeps its digits.
lethe_status uce_edit(float *W, int d_out, int d_in, const float *erase, const float *guide, int n_e,
                      const float *preserve, int n_p, const uce_opts *o) {
    if (d_out < 1 || d_in < 1 || n_e < 0 || n_p < 0 || (n_p && !preserve) || (n_e && (!erase || !guide)))
        return lethe_fail(LETHE_ERR_ARG, "uce: bad shapes (%d x %d, %d erased, %d preserved)", d_out, d_in, n_e, n_p);
    if (o->lambda < 0 || o->erase_scale < 0) return lethe_fail(LETHE_ERR_ARG, "uce: lambda and the erase scale must be >= 0");
    const int n = n_e + n_p;
    if (n == 0) return LETHE_OK;
    const double se = sqrt((double)o->erase_scale), sp = sqrt((double)preserve_scale(o, n_p));
    // F (n x d_in): scaled features; T (n x d_in): the scaled feature each row's output should
    // come from (guide for erased rows, itself for preserved ones), so targets are W0 T^T
    double *F = malloc((size_t)n * d_in * sizeof(double)), *T = malloc((size_t)n * d_in * sizeof(double));
    double *W0 = malloc((size_t)d_out * d_in * sizeof(double));
    const int kernel = n <= d_in, m = kernel ? n : d_in;   // the system's size
    double *M = malloc((size_t)m * m * sizeof(double)), *R = malloc((size_t)d_out * (kernel ? n : d_in) * sizeof(double));
    lethe_status st = LETHE_OK;
    if (!F || !T || !W0 || !M || !R) {
        st = lethe_fail(LETHE_ERR_NOMEM, "uce: out of memory");
        goto done;
    }
    for (int r = 0; r < n; r++)
        for (int c = 0; c < d_in; c++) {
            const int er = r < n_e;
            const double f = er ? erase[(size_t)r * d_in + c] : preserve[(size_t)(r - n_e) * d_in + c];
            const double t = er ? guide[(size_t)r * d_in + c] : f;
            F[(size_t)r * d_in + c] = (er ? se : sp) * f;
            T[(size_t)r * d_in + c] = (er ? se : sp) * t;
        }
    for (size_t i = 0; i < (size_t)d_out * d_in; i++) W0[i] = W[i];
    if (kernel) {
        // M = lambda I + F F^T (n x n); R = W0 (T - F)^T (d_out x n); W = W0 + R M^-1 F
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d_in, 1.0, F, d_in, F, d_in, 0.0, M, n);
        for (int i = 0; i < n; i++) M[(size_t)i * n + i] += o->lambda;
        for (size_t i = 0; i < (size_t)n * d_in; i++) T[i] -= F[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d_out, n, d_in, 1.0, W0, d_in, T, d_in, 0.0, R, n);
        // R M^-1 = (M^-1 R^T)^T: solve M X = R^T with R^T's columns as right-hand sides; M is
        // symmetric, so X^T = R M^-1 is R's rows solved in place as a column-major n x d_out block
        if (spd_solve(M, n, R, d_out)) {
            st = lethe_fail(LETHE_ERR_NUMERIC, "uce: the %d features' system is singular (dependent features with "
                            "lambda = 0?)", n);
            goto done;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d_out, d_in, n, 1.0, R, n, F, d_in, 1.0, W0, d_in);
    } else {
        // M = lambda I + F^T F (d_in x d_in); B = lambda W0 + W0 T^T F (d_out x d_in); W = B M^-1
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d_in, d_in, n, 1.0, F, d_in, F, d_in, 0.0, M, d_in);
        for (int i = 0; i < d_in; i++) M[(size_t)i * d_in + i] += o->lambda;
        double *TF = malloc((size_t)d_in * d_in * sizeof(double));
        if (!TF) {
            st = lethe_fail(LETHE_ERR_NOMEM, "uce: out of memory");
            goto done;
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d_in, d_in, n, 1.0, T, d_in, F, d_in, 0.0, TF, d_in);
        memcpy(R, W0, (size_t)d_out * d_in * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d_out, d_in, d_in, 1.0, W0, d_in, TF, d_in, o->lambda, R,
                    d_in);
        free(TF);
        // W M = B, M symmetric: M W^T = B^T; B's rows are W^T's columns (column-major d_in x d_out)
        if (spd_solve(M, d_in, R, d_out)) {
            st = lethe_fail(LETHE_ERR_NUMERIC, "uce: the %d x %d system is not positive definite (lambda = 0 with "
                            "features that do not span the space?)", d_in, d_in);
            goto done;
        }
        memcpy(W0, R, (size_t)d_out * d_in * sizeof(double));
    }
    for (size_t i = 0; i < (size_t)d_out * d_in; i++) W[i] = (float)W0[i];
done:
    free(F), free(T), free(W0), free(M), free(R);
    return st;
}
