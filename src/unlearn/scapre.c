/* scapre.c: ScaPre's closed-form matrix edit (see scapre.h). */
#include "unlearn/scapre.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void scapre_opts_default(scapre_opts *o) {
    *o = (scapre_opts){.lambda = 0.5f, .erase_scale = 2.0f, .p = 8.0f, .mi_temperature = 0.7f, .noise = 0.01f,
                       .mi_samples = 5, .use_mi_mask = 1, .entropy_samples = 30, .entropy_bins = 20, .ased = 1,
                       .spectral_t = 1.0f, .spectral_p = 1.0f, .bures_iters = 1, .seed = 0};
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// out (d_out) = W0 (v + noise * N(0, I)), the probe's noise from (seed, stream, probe)
static void probe(const float *W0, int d_out, int d_in, const float *v, float noise, uint64_t seed, uint64_t stream,
                  uint64_t probe_index, float *tmp, double *out) {
    for (int c = 0; c < d_in; c++)
        tmp[c] = v[c] + noise * lethe_rand_normal(seed, stream, probe_index * (uint64_t)d_in + (uint64_t)c);
    for (int r = 0; r < d_out; r++) {
        double a = 0;
        for (int c = 0; c < d_in; c++) a += (double)W0[(size_t)r * d_in + c] * tmp[c];
        out[r] = a;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void scapre_mi_mask(const float *W0, int d_out, int d_in, const float *c, const float *e0, const scapre_opts *o,
                    uint64_t stream, double *m_out) {
    const int k = o->mi_samples, n = 2 * k;
    double *a = malloc((size_t)n * d_out * sizeof(double)), *col = malloc((size_t)n * sizeof(double));
    float *tmp = malloc((size_t)d_in * sizeof(float));
    if (!a || !col || !tmp) {   // no memory: no mask (every row weighs fully)
        for (int r = 0; r < d_out; r++) m_out[r] = 1.0;
        free(a), free(col), free(tmp);
        return;
    }
    // rows 0..k-1: positives (the concept), k..2k-1: negatives (the neutral input)
    for (int s = 0; s < n; s++)
        probe(W0, d_out, d_in, s < k ? c : e0, o->noise, o->seed, stream, (uint64_t)s, tmp, a + (size_t)s * d_out);
    double mean = 0, sq = 0;
    for (int r = 0; r < d_out; r++) {
        for (int s = 0; s < n; s++) col[s] = a[(size_t)s * d_out + r];
        qsort(col, (size_t)n, sizeof *col, cmp_double);
        const double tau = n % 2 ? col[n / 2] : 0.5 * (col[n / 2 - 1] + col[n / 2]);
        // the 2 x 2 table of (z = response above the median, y = positive), each count + 1e-8
        double cnt[2][2] = {{1e-8, 1e-8}, {1e-8, 1e-8}};
        for (int s = 0; s < n; s++) cnt[a[(size_t)s * d_out + r] > tau][s < k] += 1.0;
        const double tot = cnt[0][0] + cnt[0][1] + cnt[1][0] + cnt[1][1];
        double mi = 0;
        for (int z = 0; z < 2; z++)
            for (int y = 0; y < 2; y++) {
                const double pzy = cnt[z][y] / tot, pz = (cnt[z][0] + cnt[z][1]) / tot, py = (cnt[0][y] + cnt[1][y]) / tot;
                mi += pzy * log(pzy / (pz * py));
            }
        m_out[r] = mi;
        mean += mi;
        sq += mi * mi;
    }
    mean /= d_out;
    const double sd = sqrt(fmax(sq / d_out - mean * mean, 0.0));
    for (int r = 0; r < d_out; r++) {
        const double z = (m_out[r] - mean) / (sd + 1e-8);
        m_out[r] = pow(sigmoid(z / o->mi_temperature), o->p);
    }
    free(a), free(col), free(tmp);
}

double scapre_entropy_weight(const float *W0, int d_out, int d_in, const float *C, int m, const scapre_opts *o) {
    const int per = o->entropy_samples, n = per * m, bins = o->entropy_bins;
    double *a = malloc((size_t)n * d_out * sizeof(double)), *hist = malloc((size_t)bins * sizeof(double));
    float *tmp = malloc((size_t)d_in * sizeof(float));
    double mu = 0;
    if (!a || !hist || !tmp || n < 1 || bins < 2) goto done;
    for (int k = 0; k < m; k++)
        for (int s = 0; s < per; s++)
            probe(W0, d_out, d_in, C + (size_t)k * d_in, o->noise, o->seed, lethe_stream(LETHE_STREAM_PROBE, 1, (uint64_t)k),
                  (uint64_t)s, tmp, a + ((size_t)k * per + s) * d_out);
    for (int r = 0; r < d_out; r++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int s = 0; s < n; s++) lo = fmin(lo, a[(size_t)s * d_out + r]), hi = fmax(hi, a[(size_t)s * d_out + r]);
        memset(hist, 0, (size_t)bins * sizeof(double));
        for (int s = 0; s < n; s++) {
            const double u = hi > lo ? (a[(size_t)s * d_out + r] - lo) / (hi - lo) : 0.0;   // min-max normalised
            int b = (int)(u * bins);
            hist[b < bins ? b : bins - 1] += 1.0;
        }
        double h = 0;
        for (int b = 0; b < bins; b++)
            if (hist[b] > 0) h -= hist[b] / n * log(hist[b] / n);
        mu += h / log((double)bins);
    }
    mu /= d_out;
done:
    free(a), free(hist), free(tmp);
    return mu;
}

lethe_status scapre_spectral(const float *C, int m, int d_in, double mu, const scapre_opts *o, double *R) {
    // C's m rows (row-major m x d_in) are the columns of a column-major d_in x m matrix, whose
    // left singular vectors U (d_in x r) span the concepts
    const int r = m < d_in ? m : d_in;
    double *A = malloc((size_t)m * d_in * sizeof(double)), *S = malloc((size_t)r * sizeof(double));
    double *U = malloc((size_t)d_in * r * sizeof(double)), *VT = malloc((size_t)r * m * sizeof(double));
    double *sorted = malloc((size_t)r * sizeof(double)), *superb = malloc((size_t)(r > 1 ? r : 2) * sizeof(double));
    lethe_status st = LETHE_OK;
    if (!A || !S || !U || !VT || !sorted || !superb) {
        st = lethe_fail(LETHE_ERR_NOMEM, "scapre: out of memory");
        goto done;
    }
    for (size_t i = 0; i < (size_t)m * d_in; i++) A[i] = C[i];   // dgesvd overwrites its input
    if (LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', d_in, m, A, d_in, S, U, d_in, VT, r, superb)) {
        st = lethe_fail(LETHE_ERR_NUMERIC, "scapre: the SVD of the concept vectors did not converge");
        goto done;
    }
    memcpy(sorted, S, (size_t)r * sizeof(double));
    qsort(sorted, (size_t)r, sizeof *sorted, cmp_double);
    const double med = r % 2 ? sorted[r / 2] : 0.5 * (sorted[r / 2 - 1] + sorted[r / 2]);
    memset(R, 0, (size_t)d_in * d_in * sizeof(double));
    for (int j = 0; j < r; j++) {
        const double g = pow(sigmoid((S[j] - med) / o->spectral_t), o->spectral_p), w = (1.0 - g) * mu;
        const double *u = U + (size_t)j * d_in;   // column j (column-major)
        cblas_dger(CblasRowMajor, d_in, d_in, w, u, 1, u, 1, R, d_in);
    }
done:
    free(A), free(S), free(U), free(VT), free(sorted), free(superb);
    return st;
}

void scapre_bures(double *w, const float *w0, int d_in, double lp, double mu, int iters) {
    double a = 0, r0 = 0;
    for (int c = 0; c < d_in; c++) a += w[c] * w[c], r0 += (double)w0[c] * w0[c];
    a = sqrt(a), r0 = sqrt(r0);
    if (iters < 1 || a == 0 || r0 == 0) return;
    double *ua = malloc((size_t)d_in * 2 * sizeof(double));
    if (!ua) return;
    double *u = ua + d_in, r = a;
    for (int c = 0; c < d_in; c++) ua[c] = u[c] = w[c] / a;
    for (int it = 0; it < iters; it++) {
        double kappa = 0, nrm = 0;
        for (int c = 0; c < d_in; c++) kappa += u[c] * w0[c] / r0;
        kappa = fmax(0.0, kappa);
        r = (lp * a + mu * r0 * kappa) / (lp + mu);
        for (int c = 0; c < d_in; c++) {
            u[c] = lp * a * ua[c] + mu * r0 * kappa * w0[c] / r0;
            nrm += u[c] * u[c];
        }
        nrm = sqrt(nrm);
        for (int c = 0; c < d_in; c++) u[c] = nrm > 0 ? u[c] / nrm : ua[c];
    }
    for (int c = 0; c < d_in; c++) w[c] = r * u[c];
    free(ua);
}

// a double copy of n floats (NULL when out of memory; caller frees)
static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    if (d && x)
        for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

// Pi_C (d_in x d_in) = C^T (C C^T + 1e-8 I)^-1 C with C's m rows the concept vectors
static lethe_status projector(const float *C, int m, int d_in, double *Pi) {
    double *Cd = to_double(C, (size_t)m * d_in), *K = malloc((size_t)m * m * sizeof(double));
    double *X = malloc((size_t)m * d_in * sizeof(double));
    lethe_status st = LETHE_OK;
    if (!Cd || !K || !X) {
        st = lethe_fail(LETHE_ERR_NOMEM, "scapre: out of memory");
        goto done;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, d_in, 1.0, Cd, d_in, Cd, d_in, 0.0, K, m);
    for (int i = 0; i < m; i++) K[(size_t)i * m + i] += 1e-8;
    memcpy(X, Cd, (size_t)m * d_in * sizeof(double));
    // X = K^-1 C (d_in right-hand sides)
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', m, d_in, K, m, X, d_in)) {
        st = lethe_fail(LETHE_ERR_NUMERIC, "scapre: the concept vectors' Gram matrix is singular");
        goto done;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d_in, d_in, m, 1.0, Cd, d_in, X, d_in, 0.0, Pi, d_in);
done:
    free(Cd), free(K), free(X);
    return st;
}

lethe_status scapre_edit(float *W, int d_out, int d_in, const float *C, int m, const float *E, const float *G,
                         const int *owner, int n_e, const float *e0, const scapre_opts *o) {
    if (d_out < 1 || d_in < 1 || m < 1 || n_e < 0 || !C || !e0 || (n_e && (!E || !G || !owner)))
        return lethe_fail(LETHE_ERR_ARG, "scapre: bad shapes (%d x %d, %d concepts, %d token pairs)", d_out, d_in, m, n_e);
    const size_t DD = (size_t)d_in * d_in;
    const double s = o->erase_scale;
    double *mask = malloc((size_t)m * d_out * sizeof(double)), *mmax = malloc((size_t)d_out * sizeof(double));
    double *base = calloc(DD, sizeof(double)), *Pi = malloc(DD * sizeof(double)), *R = calloc(DD, sizeof(double));
    double *M = malloc(DD * sizeof(double)), *b = malloc((size_t)d_in * sizeof(double));
    double *vstar = malloc((size_t)(n_e ? n_e : 1) * d_out * sizeof(double)), *Wn = malloc((size_t)d_out * d_in * sizeof(double));
    double *Cd = NULL, *Ed = NULL, *Gd = NULL, *W0d = NULL, *coef = NULL;
    lethe_status st = LETHE_OK;
    if (!mask || !mmax || !base || !Pi || !R || !M || !b || !vstar || !Wn) {
        st = lethe_fail(LETHE_ERR_NOMEM, "scapre: out of memory");
        goto done;
    }
    // 3-5: the entropy weight mu, the soft masks, the spectral term
    const double mu = scapre_entropy_weight(W, d_out, d_in, C, m, o);
    for (int k = 0; k < m; k++) {
        if (o->use_mi_mask) scapre_mi_mask(W, d_out, d_in, C + (size_t)k * d_in, e0, o,
                                           lethe_stream(LETHE_STREAM_PROBE, 2, (uint64_t)k), mask + (size_t)k * d_out);
        else for (int r = 0; r < d_out; r++) mask[(size_t)k * d_out + r] = 1.0;
    }
    for (int r = 0; r < d_out; r++) {
        mmax[r] = 0;
        for (int k = 0; k < m; k++) mmax[r] = fmax(mmax[r], mask[(size_t)k * d_out + r]);
    }
    if (o->ased && (st = scapre_spectral(C, m, d_in, mu, o, R))) goto done;
    if ((st = projector(C, m, d_in, Pi))) goto done;
    // 6: base = (lambda + mu) I + R + sum c c^T + s sum e e^T, the part of M_i shared by all rows;
    // v* = G W0^T (n_e x d_out): v*_e = W0 g_e
    const double lp = o->lambda + mu;
    const int ne = n_e ? n_e : 1;
    Cd = to_double(C, (size_t)m * d_in), Ed = to_double(E, (size_t)ne * d_in), Gd = to_double(G, (size_t)ne * d_in);
    W0d = to_double(W, (size_t)d_out * d_in), coef = malloc((size_t)ne * sizeof(double));
    if (!Cd || !Ed || !Gd || !W0d || !coef) {
        st = lethe_fail(LETHE_ERR_NOMEM, "scapre: out of memory");
        goto done;
    }
    memcpy(base, R, DD * sizeof(double));
    for (int i = 0; i < d_in; i++) base[(size_t)i * d_in + i] += lp;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d_in, d_in, m, 1.0, Cd, d_in, Cd, d_in, 1.0, base, d_in);
    if (n_e) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d_in, d_in, n_e, s, Ed, d_in, Ed, d_in, 1.0, base, d_in);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_e, d_out, d_in, 1.0, Gd, d_in, W0d, d_in, 0.0, vstar, d_out);
    }
    // 7: per row, M_i = base + s m_i^max Pi_C, b_i = lp w0_i + E^T coef, coef_e = s m_{i,owner(e)} v*_{e,i}
    for (int r = 0; r < d_out && !st; r++) {
        for (size_t i = 0; i < DD; i++) M[i] = base[i] + s * mmax[r] * Pi[i];
        for (int c = 0; c < d_in; c++) b[c] = lp * W0d[(size_t)r * d_in + c];
        if (n_e) {
            for (int e = 0; e < n_e; e++) coef[e] = s * mask[(size_t)owner[e] * d_out + r] * vstar[(size_t)e * d_out + r];
            cblas_dgemv(CblasRowMajor, CblasTrans, n_e, d_in, 1.0, Ed, d_in, coef, 1, 1.0, b, 1);
        }
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', d_in, 1, M, d_in, b, 1)) {
            st = lethe_fail(LETHE_ERR_NUMERIC, "scapre: row %d's system is not positive definite", r);
            break;
        }
        // 8: the Bures proximal step towards w0_i
        scapre_bures(b, W + (size_t)r * d_in, d_in, lp, mu, o->bures_iters);
        memcpy(Wn + (size_t)r * d_in, b, (size_t)d_in * sizeof(double));
    }
    if (!st)
        for (size_t i = 0; i < (size_t)d_out * d_in; i++) W[i] = (float)Wn[i];
done:
    free(mask), free(mmax), free(base), free(Pi), free(R), free(M), free(b), free(vstar), free(Wn);
    free(Cd), free(Ed), free(Gd), free(W0d), free(coef);
    return st;
}
