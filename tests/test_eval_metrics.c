/*
 * test_eval_metrics.c: evaluation metrics against independent references.
 *
 * FID, KID and IS against NumPy float64 values (tests/fixtures/make_fid_fixture.py ->
 * fid_fixture.h) and against closed forms (a set with itself, a constant shift, uniform and
 * one-hot predictions); feature covariances of magnitude-1e3 features against NumPy; ROC AUC
 * against hand-counted cases and an O(n^2) pair count; SHA-256 against the FIPS 180-2
 * test vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "eval/fid.h"
#include "eval/roc.h"
#include "io/hash.h"

#include "fixtures/fid_fixture.h"

// |got - want| <= tol * max(|want|, floor), with both values printed on failure.
static void assert_close(double got, double want, double tol, double floor_, const char *what) {
    double scale = fabs(want) > floor_ ? fabs(want) : floor_;
    if (!(fabs(got - want) <= tol * scale)) {
        fprintf(stderr, "%s: got %.17g, want %.17g (rel err %.3g, tol %.3g)\n", what, got, want,
                fabs(got - want) / scale, tol);
        fail();
    }
}

// Stats of n rows of x, added in one call.
static void stats_of(feature_stats *s, const float *x, int n, int dim) {
    assert_int_equal(feature_stats_init(s, dim), LETHE_OK);
    feature_stats_add(s, x, n);
}

static double fid_of(const float *x1, int n1, const float *x2, int n2, int dim) {
    feature_stats a, b;
    stats_of(&a, x1, n1, dim);
    stats_of(&b, x2, n2, dim);
    double fid = NAN;
    assert_int_equal(frechet_distance(&a, &b, &fid), LETHE_OK);
    feature_stats_free(&a);
    feature_stats_free(&b);
    return fid;
}

// ----------------------------------------------------------------------------
// FID and feature statistics

static void test_fid_numpy_reference(void **state) {
    (void)state;
    double fid = fid_of(fidfx_x1, FIDFX_N1, fidfx_x2, FIDFX_N2, FIDFX_DIM);
    assert_close(fid, fidfx_fid12, 1e-9, 0, "FID(x1, x2) vs NumPy");
    // FID is symmetric in its arguments although the computation (sqrtm of S1) is not
    double fid21 = fid_of(fidfx_x2, FIDFX_N2, fidfx_x1, FIDFX_N1, FIDFX_DIM);
    assert_close(fid21, fidfx_fid12, 1e-9, 0, "FID(x2, x1) vs NumPy");
}

// S1 of rank 3 in dim 6: exercises the clipping of negative eigenvalues. NumPy's value
// is itself only good to ~1e-8 relative here (see the fixture's comment).
static void test_fid_rank_deficient(void **state) {
    (void)state;
    double fid = fid_of(fidfx_x1, 4, fidfx_x2, FIDFX_N2, FIDFX_DIM);
    assert_true(isfinite(fid));
    assert_close(fid, fidfx_fid_rankdef, 1e-7, 0, "FID(x1[:4], x2) vs NumPy");
}

static void check_moments_x3(const feature_stats *s, const char *how) {
    double mean[FIDFX_DIM], cov[FIDFX_DIM * FIDFX_DIM];
    assert_int_equal(s->n, FIDFX_N3);
    assert_int_equal(feature_stats_moments(s, mean, cov), LETHE_OK);
    double maxcov = 0;
    for (int k = 0; k < FIDFX_DIM * FIDFX_DIM; k++) maxcov = fmax(maxcov, fabs(fidfx_cov3[k]));
    for (int j = 0; j < FIDFX_DIM; j++) assert_close(mean[j], fidfx_mean3[j], 1e-14, 0, how);
    // Raw sums of x x^T would be off by ~1e-6 relative here (x^2 ~ 1e6, cov ~ 1e-2).
    for (int k = 0; k < FIDFX_DIM * FIDFX_DIM; k++) assert_close(cov[k], fidfx_cov3[k], 1e-11, maxcov, how);
}

// Features of magnitude 1e3 with spread 0.1, added in one call (3 internal blocks),
// row by row, and in uneven pieces merged from separate stats: all must match NumPy.
static void test_fid_moments_large_offset(void **state) {
    (void)state;
    feature_stats s, part;
    stats_of(&s, fidfx_x3, FIDFX_N3, FIDFX_DIM);
    check_moments_x3(&s, "x3 one call");
    feature_stats_free(&s);

    assert_int_equal(feature_stats_init(&s, FIDFX_DIM), LETHE_OK);
    for (int r = 0; r < FIDFX_N3; r++) feature_stats_add(&s, fidfx_x3 + r * FIDFX_DIM, 1);
    check_moments_x3(&s, "x3 row by row");
    feature_stats_free(&s);

    static const int cuts[] = {0, 7, 8, 140, 299, FIDFX_N3};
    assert_int_equal(feature_stats_init(&s, FIDFX_DIM), LETHE_OK);
    for (int i = 0; i + 1 < (int)(sizeof cuts / sizeof cuts[0]); i++) {
        stats_of(&part, fidfx_x3 + cuts[i] * FIDFX_DIM, cuts[i + 1] - cuts[i], FIDFX_DIM);
        feature_stats_merge(&s, &part);
        feature_stats_free(&part);
    }
    check_moments_x3(&s, "x3 merged pieces");
    feature_stats_free(&s);
}

// x1 and x2 each accumulated from merged pieces give the NumPy FID.
static void test_fid_merge(void **state) {
    (void)state;
    feature_stats a, b, part;
    assert_int_equal(feature_stats_init(&a, FIDFX_DIM), LETHE_OK);
    stats_of(&part, fidfx_x1, 17, FIDFX_DIM);
    feature_stats_merge(&a, &part);   // into empty stats
    feature_stats_free(&part);
    stats_of(&part, fidfx_x1 + 17 * FIDFX_DIM, FIDFX_N1 - 17, FIDFX_DIM);
    feature_stats_merge(&a, &part);
    feature_stats_free(&part);
    stats_of(&b, fidfx_x2, 3, FIDFX_DIM);
    feature_stats_add(&b, fidfx_x2 + 3 * FIDFX_DIM, FIDFX_N2 - 3);
    double fid = NAN;
    assert_int_equal(frechet_distance(&a, &b, &fid), LETHE_OK);
    assert_close(fid, fidfx_fid12, 1e-9, 0, "FID of merged stats vs NumPy");
    feature_stats_free(&a);
    feature_stats_free(&b);
}

// n rows of dim normal values on a 2^-10 grid, so adding a shift of a few units is exact in float.
static float *grid_normal_rows(int n, int dim, uint64_t seed) {
    float *x = malloc((size_t)n * dim * sizeof *x);
    assert_non_null(x);
    for (int i = 0; i < n * dim; i++) x[i] = roundf(lethe_rand_normal(seed, 1, (uint64_t)i) * 1024.0f) / 1024.0f;
    // correlate the columns so the covariance is not near-diagonal
    for (int r = 0; r < n; r++)
        for (int j = 1; j < dim; j++) x[r * dim + j] += x[r * dim + j - 1] * 0.5f;
    return x;
}

static double trace_cov(const float *x, int n, int dim) {
    feature_stats s;
    stats_of(&s, x, n, dim);
    double *mean = malloc(dim * sizeof *mean), *cov = malloc((size_t)dim * dim * sizeof *cov), tr = 0;
    assert_int_equal(feature_stats_moments(&s, mean, cov), LETHE_OK);
    for (int j = 0; j < dim; j++) tr += cov[j * dim + j];
    free(mean);
    free(cov);
    feature_stats_free(&s);
    return tr;
}

// FID(X, X) = 0 and FID(X, X + c) = ||c||^2, to ~1e-9 of the traces involved.
static void test_fid_self_and_shift(void **state) {
    (void)state;
    const int n = 200, dim = 10;
    float *x = grid_normal_rows(n, dim, 42), *y = malloc((size_t)n * dim * sizeof *y);
    assert_non_null(y);
    double c[10] = {0.5, -1.25, 2, 3, -0.75, 0.25, 0, 1, -2, 0.125}, c2 = 0;
    for (int j = 0; j < dim; j++) c2 += c[j] * c[j];
    for (int r = 0; r < n; r++)
        for (int j = 0; j < dim; j++) y[r * dim + j] = x[r * dim + j] + (float)c[j];
    double tr = trace_cov(x, n, dim);

    double self = fid_of(x, n, x, n, dim);
    assert_close(self, 0, 1e-9, 2 * tr, "FID(X, X)");
    double shifted = fid_of(x, n, y, n, dim);
    assert_close(shifted, c2, 1e-9, c2 + 2 * tr, "FID(X, X + c)");
    free(x);
    free(y);
}

static void test_fid_errors(void **state) {
    (void)state;
    feature_stats a, b;
    double fid = 0, mean[3], cov[9];
    assert_int_equal(feature_stats_init(&a, 0), LETHE_ERR_ARG);
    assert_null(a.sum);

    stats_of(&a, fidfx_x1, 1, FIDFX_DIM);   // one row: no covariance
    stats_of(&b, fidfx_x2, FIDFX_N2, FIDFX_DIM);
    assert_int_equal(frechet_distance(&a, &b, &fid), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "FID, first set: "));
    assert_non_null(strstr(lethe_last_error(), "at least 2 rows"));
    feature_stats_free(&a);

    stats_of(&a, fidfx_x1, FIDFX_N1, 3);    // dims differ
    assert_int_equal(frechet_distance(&a, &b, &fid), LETHE_ERR_SHAPE);
    feature_stats_merge(&a, &b);          // poisons a
    assert_int_equal(feature_stats_moments(&a, mean, cov), LETHE_ERR_NUMERIC);
    feature_stats_free(&a);
    feature_stats_free(&b);

    float bad[2 * 3] = {1, 2, 3, 4, NAN, 6};
    stats_of(&a, bad, 2, 3);
    stats_of(&b, bad, 1, 3);
    feature_stats_add(&b, fidfx_x1, 1);
    assert_int_equal(frechet_distance(&a, &b, &fid), LETHE_ERR_NUMERIC);
    assert_non_null(strstr(lethe_last_error(), "non-finite"));
    feature_stats_free(&a);
    feature_stats_free(&b);
}

// ----------------------------------------------------------------------------
// Inception score

static void test_is_closed_forms(void **state) {
    (void)state;
    enum { N = 40, K = 8 };
    float p[N * K];
    for (int i = 0; i < N * K; i++) p[i] = 1.0f / K;
    assert_close(inception_score(p, N, K), 1.0, 1e-12, 0, "IS uniform");
    // one-hot, every class used N / K times: KL = log K per row
    memset(p, 0, sizeof p);
    for (int i = 0; i < N; i++) p[i * K + (i * 3) % K] = 1.0f;
    assert_close(inception_score(p, N, K), (double)K, 1e-12, 0, "IS one-hot");
    // rows (1, 0) and (1/2, 1/2): p(y) = (3/4, 1/4), mean KL = 3/4 log(4/3)
    float q[4] = {1, 0, 0.5f, 0.5f};
    assert_close(inception_score(q, 2, 2), 1.2408064788027995, 1e-12, 0, "IS hand case");
    assert_true(isnan(inception_score(q, 0, 2)));
}

static void test_is_numpy_reference(void **state) {
    (void)state;
    assert_close(inception_score(fidfx_probs, FIDFX_N_IS, FIDFX_K_IS), fidfx_is, 1e-12, 0, "IS vs NumPy");
}

// ----------------------------------------------------------------------------
// KID

// m = n: every subset is the whole set, so the value is the full unbiased MMD^2 (NumPy).
static void test_kid_numpy_reference(void **state) {
    (void)state;
    double mean = NAN, std = NAN;
    assert_int_equal(kernel_inception_distance(fidfx_xk, FIDFX_NK, fidfx_yk, FIDFX_NK, FIDFX_DIM, 3, FIDFX_NK, 7,
                                               &mean, &std), LETHE_OK);
    assert_close(mean, fidfx_kid_xy, 1e-10, 1, "KID(xk, yk) vs NumPy");
    assert_true(std <= 1e-9 * fabs(fidfx_kid_xy));
    assert_int_equal(kernel_inception_distance(fidfx_xk, FIDFX_NK, fidfx_xk, FIDFX_NK, FIDFX_DIM, 1, FIDFX_NK, 7,
                                               &mean, &std), LETHE_OK);
    assert_close(mean, fidfx_kid_xx, 1e-10, 1, "KID(xk, xk) vs NumPy");
}

// Subsets of one set against itself: near 0; against a shifted copy: clearly positive.
// The seed fixes the result; another seed changes it.
static void test_kid_properties(void **state) {
    (void)state;
    const int n = 400, dim = 8, m = 100, subsets = 20;
    float *x = grid_normal_rows(n, dim, 7), *y = malloc((size_t)n * dim * sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < n * dim; i++) y[i] = x[i] + 1.0f;
    double same, same_std, shift, shift_std, again, again_std, other, other_std;
    assert_int_equal(kernel_inception_distance(x, n, x, n, dim, subsets, m, 1, &same, &same_std), LETHE_OK);
    assert_int_equal(kernel_inception_distance(x, n, y, n, dim, subsets, m, 1, &shift, &shift_std), LETHE_OK);
    print_message("KID same %.4g +- %.3g, shifted %.4g +- %.3g\n", same, same_std, shift, shift_std);
    assert_true(shift > 0);
    assert_true(fabs(same) < 0.05 * shift);
    assert_true(fabs(same) < 3 * same_std);
    assert_true(shift > 3 * shift_std);
    assert_int_equal(kernel_inception_distance(x, n, x, n, dim, subsets, m, 1, &again, &again_std), LETHE_OK);
    assert_true(again == same && again_std == same_std);
    assert_int_equal(kernel_inception_distance(x, n, x, n, dim, subsets, m, 2, &other, &other_std), LETHE_OK);
    assert_true(other != same);
    free(x);
    free(y);
}

static void test_kid_errors(void **state) {
    (void)state;
    double mean, std;
    assert_int_equal(kernel_inception_distance(fidfx_xk, 10, fidfx_yk, 5, FIDFX_DIM, 1, 6, 1, &mean, &std),
                     LETHE_ERR_ARG);
    assert_int_equal(kernel_inception_distance(fidfx_xk, 10, fidfx_yk, 10, FIDFX_DIM, 1, 1, 1, &mean, &std),
                     LETHE_ERR_ARG);
    assert_int_equal(kernel_inception_distance(fidfx_xk, 10, fidfx_yk, 10, FIDFX_DIM, 0, 5, 1, &mean, &std),
                     LETHE_ERR_ARG);
}

// ----------------------------------------------------------------------------
// ROC AUC

static void test_auc_hand_cases(void **state) {
    (void)state;
    // pairs (p, n): 3>1, 3>2, 2>1, 2=2, 2>1, 2=2 -> (4 + 2 * 1/2) / 6
    const double pos[] = {3, 2, 2}, neg[] = {1, 2};
    assert_close(roc_auc(pos, 3, neg, 2), 5.0 / 6.0, 1e-15, 0, "AUC with ties");
    const double all_tied_p[] = {1, 1}, all_tied_n[] = {1};
    assert_close(roc_auc(all_tied_p, 2, all_tied_n, 1), 0.5, 1e-15, 0, "AUC all tied");
    const double hi[] = {5, 6, 7.5}, lo[] = {-1, 0, 4.9, 2};
    assert_close(roc_auc(hi, 3, lo, 4), 1.0, 0, 1, "AUC perfect");
    assert_close(roc_auc(lo, 4, hi, 3), 0.0, 0, 1, "AUC reversed");
    // unsorted, repeated positives: 1 -> 0; each 4 -> 1 (beats 2) + 1/2 (ties 4); 0 -> 0
    const double p2[] = {1, 4, 4, 0}, n2[] = {4, 2};
    assert_close(roc_auc(p2, 4, n2, 2), 3.0 / 8.0, 1e-15, 0, "AUC unsorted");
}

// Against a direct count of all pairs on data with many ties.
static void test_auc_vs_pair_count(void **state) {
    (void)state;
    enum { NP = 203, NN = 151 };
    double pos[NP], neg[NN], wins = 0;
    for (int i = 0; i < NP; i++) pos[i] = (double)lethe_rand_below(3, 1, (uint64_t)i, 12);
    for (int i = 0; i < NN; i++) neg[i] = (double)lethe_rand_below(3, 2, (uint64_t)i, 10);
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < NN; j++) wins += pos[i] > neg[j] ? 1.0 : pos[i] == neg[j] ? 0.5 : 0.0;
    assert_close(roc_auc(pos, NP, neg, NN), wins / (NP * NN), 1e-15, 0, "AUC vs pair count");
}

static void test_auc_errors_and_stderr(void **state) {
    (void)state;
    const double p[] = {1, NAN}, n[] = {0};
    assert_true(isnan(roc_auc(p, 0, n, 1)));
    assert_true(isnan(roc_auc(p, 1, n, 0)));
    assert_true(isnan(roc_auc(p, 2, n, 1)));
    // Hanley-McNeil, values from the formula evaluated in Python
    assert_close(roc_auc_stderr(NULL, 10, NULL, 20, 0.8), 0.093571125650787998, 1e-14, 0, "SE 0.8");
    const double pos[] = {3, 2, 2}, neg[] = {1, 2};
    double auc = roc_auc(pos, 3, neg, 2);
    assert_close(roc_auc_stderr(pos, 3, neg, 2, auc), 0.20070822176430708, 1e-14, 0, "SE 5/6");
    assert_close(roc_auc_stderr(NULL, 5, NULL, 5, 1.0), 0.0, 0, 1, "SE at 1");
    assert_true(isnan(roc_auc_stderr(NULL, 0, NULL, 5, 0.5)));
}

// ----------------------------------------------------------------------------
// SHA-256 (FIPS 180-2 appendix B vectors)

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[65];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    sha256_hex(a, 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

// A file of 1,000,000 'a' (several read chunks, last one partial) hashes to the FIPS
// vector and to sha256_hex of the same bytes; missing files and directories fail.
static void test_sha256_file(void **state) {
    (void)state;
    char path[] = "/tmp/lethe-test-hash-XXXXXX", hex[65], want[65];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    assert_int_equal(write(fd, a, 1000000), 1000000);
    assert_int_equal(close(fd), 0);
    sha256_hex(a, 1000000, want);
    assert_int_equal(sha256_file(path, hex), LETHE_OK);
    assert_string_equal(hex, want);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(sha256_file(path, hex), LETHE_ERR_IO);
    assert_non_null(strstr(lethe_last_error(), path));
    assert_string_equal(hex, "");
    assert_int_equal(sha256_file("/tmp", hex), LETHE_ERR_IO);
    assert_non_null(strstr(lethe_last_error(), "/tmp"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fid_numpy_reference),
        cmocka_unit_test(test_fid_rank_deficient),
        cmocka_unit_test(test_fid_moments_large_offset),
        cmocka_unit_test(test_fid_merge),
        cmocka_unit_test(test_fid_self_and_shift),
        cmocka_unit_test(test_fid_errors),
        cmocka_unit_test(test_is_closed_forms),
        cmocka_unit_test(test_is_numpy_reference),
        cmocka_unit_test(test_kid_numpy_reference),
        cmocka_unit_test(test_kid_properties),
        cmocka_unit_test(test_kid_errors),
        cmocka_unit_test(test_auc_hand_cases),
        cmocka_unit_test(test_auc_vs_pair_count),
        cmocka_unit_test(test_auc_errors_and_stderr),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
