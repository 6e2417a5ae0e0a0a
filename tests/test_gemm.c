/*
 * test_gemm.c: the CPU ops' one GEMM (ops/cpu/gemm.c) and its bf16 mixed-precision path
 * (gemm_bf16.c, --precision bf16), against a naive double-precision product.
 *
 *   - fp32: every transpose pair, alpha and beta, leading dimensions wider than the
 *     matrices, called from serial code (a small product runs on one thread) and from
 *     inside an OpenMP region; within a few float32 ulps of the sums of |a||b|;
 *   - bf16: the same products within the bound of rounding both inputs to 8 significant
 *     bits (|error| <= 2^-7 sum |a||b| plus the fp32 bound), and visibly not fp32 (so the
 *     path really ran); small products stay fp32; a NaN input gives NaN; where this CPU or
 *     build cannot run bf16, ops_set_precision says why and the products stay fp32;
 *   - an unknown precision is an argument error.
 *
 * Run from the repository root: ./build/tests/test_gemm
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "ops/cpu/cpu.h"
#include "ops/ops.h"

typedef struct {
    bool ta, tb;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
} product;

static float *random_floats(size_t n, uint64_t seed) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = lethe_rand_uniform(seed, 0, i) * 2.0f - 1.0f;
    return p;
}

// stored sizes of A and B (rows x leading dimension)
static size_t a_floats(const product *p) { return (size_t)(p->ta ? p->k : p->m) * p->lda; }
static size_t b_floats(const product *p) { return (size_t)(p->tb ? p->n : p->k) * p->ldb; }
static float a_at(const product *p, const float *a, int i, int l) { return p->ta ? a[(size_t)l * p->lda + i] : a[(size_t)i * p->lda + l]; }
static float b_at(const product *p, const float *b, int l, int j) { return p->tb ? b[(size_t)j * p->ldb + l] : b[(size_t)l * p->ldb + j]; }

// Runs p through lethe_cpu_sgemm and returns the largest |error| / bound over C, bound =
// rel * alpha sum |a||b| + fp32's few ulps; the columns past n in each row of C must be untouched.
static double check_product(const product *p, uint64_t seed, double rel) {
    float *a = random_floats(a_floats(p), seed), *b = random_floats(b_floats(p), seed + 1);
    float *c = random_floats((size_t)p->m * p->ldc, seed + 2);
    float *c0 = malloc((size_t)p->m * p->ldc * sizeof *c0);
    memcpy(c0, c, (size_t)p->m * p->ldc * sizeof *c0);
    lethe_cpu_sgemm(p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, p->beta, c, p->ldc);
    double worst = 0.0;
    for (int i = 0; i < p->m; i++) {
        for (int j = 0; j < p->n; j++) {
            double sum = 0.0, mag = 0.0;
            for (int l = 0; l < p->k; l++) {
                const double t = (double)a_at(p, a, i, l) * b_at(p, b, l, j);
                sum += t;
                mag += fabs(t);
            }
            const double want = p->alpha * sum + p->beta * c0[(size_t)i * p->ldc + j];
            const double err = fabs(c[(size_t)i * p->ldc + j] - want);
            const double bound = rel * fabs(p->alpha) * mag + 64 * 1.2e-7 * (fabs(p->alpha) * mag + fabs(want)) + 1e-30;
            if (err / bound > worst) worst = err / bound;
        }
        for (int j = p->n; j < p->ldc; j++) assert_true(c[(size_t)i * p->ldc + j] == c0[(size_t)i * p->ldc + j]);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
    return worst;
}

// every transpose pair, alpha 1 and not, beta 0, 1 and other, padded leading dimensions
static void shapes(product *out, int *n_out, int m, int n, int k) {
    int count = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int v = 0; v < 3; v++) {
                product p = {ta, tb, m, n, k, 0, 0, n + 3 * v, v == 1 ? 0.5f : 1.0f, v == 0 ? 0.0f : v == 1 ? 1.0f : -0.25f};
                p.lda = (ta ? m : k) + v;
                p.ldb = (tb ? k : n) + 2 * v;
                out[count++] = p;
            }
    *n_out = count;
}

// Every variant of shapes() for each size: within fp32's bound, or (bf16) within the bf16
// bound while outside fp32's (the inputs really were rounded).
static void check_sizes(const int (*sizes)[3], size_t n_sizes, uint64_t seed0, bool bf16) {
    for (size_t s = 0; s < n_sizes; s++) {
        product ps[12];
        int np;
        shapes(ps, &np, sizes[s][0], sizes[s][1], sizes[s][2]);
        for (int i = 0; i < np; i++) {
            const product *p = &ps[i];
            const uint64_t seed = seed0 + s * 100 + (uint64_t)i;
            const double tight = check_product(p, seed, 0.0);
            const double worst = bf16 ? check_product(p, seed, 1.0 / 128) : tight;
            if (worst > 1.0 || (bf16 && tight <= 1.0))
                fail_msg("%s %dx%dx%d ta %d tb %d alpha %g beta %g: error %.3f x the %s bound, %.1f x fp32's",
                         bf16 ? "bf16" : "fp32", p->m, p->n, p->k, p->ta, p->tb, p->alpha, p->beta, worst,
                         bf16 ? "bf16" : "fp32", tight);
        }
    }
}

static void test_fp32(void **state) {
    (void)state;
    assert_int_equal(ops_set_precision("fp32", NULL), LETHE_OK);
    const int sizes[][3] = {{3, 5, 7}, {33, 17, 65}, {64, 300, 128}};
    check_sizes(sizes, sizeof sizes / sizeof sizes[0], 10, false);
}

// the same products from inside an OpenMP region (single-threaded there, as the ops call it)
static void test_fp32_in_parallel_region(void **state) {
    (void)state;
    assert_int_equal(ops_set_precision("fp32", NULL), LETHE_OK);
    int bad = 0;
    #pragma omp parallel for reduction(+ : bad)
    for (int i = 0; i < 8; i++) {
        const product p = {i & 1, (i >> 1) & 1, 40 + i, 70, 90, 0, 0, 70, 1.0f, i >= 4 ? 1.0f : 0.0f};
        product q = p;
        q.lda = q.ta ? q.m : q.k;
        q.ldb = q.tb ? q.k : q.n;
        bad += check_product(&q, 500 + i, 0.0) > 1.0;
    }
    assert_int_equal(bad, 0);
}

static void test_bf16(void **state) {
    (void)state;
    const char *why = NULL;
    assert_int_equal(ops_set_precision("bf16", &why), LETHE_OK);
    if (why) {   // not here: every product stays fp32, and the reason is given
        assert_string_equal(ops_precision(), "fp32");
        assert_true(strlen(why) > 10);
        print_message("bf16 not available on this machine (%s): checking the fp32 fallback only\n", why);
        product p = {false, false, 64, 300, 128, 128, 300, 300, 1.0f, 0.0f};
        assert_true(check_product(&p, 7, 0.0) <= 1.0);
        assert_int_equal(ops_set_precision("fp32", NULL), LETHE_OK);
        return;
    }
    assert_string_equal(ops_precision(), "bf16");
    // large enough for the bf16 path (>= 2^18 multiply-adds)
    const int sizes[][3] = {{64, 300, 128}, {130, 77, 260}};
    check_sizes(sizes, sizeof sizes / sizeof sizes[0], 20, true);
    // a small product stays fp32
    product small = {false, true, 16, 16, 16, 16, 16, 16, 1.0f, 0.0f};
    assert_true(check_product(&small, 3, 0.0) <= 1.0);
    // a NaN in A reaches C
    {
        const int m = 64, n = 64, k = 128;
        float *a = random_floats((size_t)m * k, 1), *b = random_floats((size_t)k * n, 2), *c = calloc((size_t)m * n, sizeof *c);
        a[5 * k + 3] = NAN;
        lethe_cpu_sgemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        for (int j = 0; j < n; j++) assert_true(isnan(c[5 * n + j]));
        assert_false(isnan(c[4 * n]));
        free(a);
        free(b);
        free(c);
    }
    assert_int_equal(ops_set_precision("fp32", NULL), LETHE_OK);
    assert_string_equal(ops_precision(), "fp32");
}

static void test_unknown_precision(void **state) {
    (void)state;
    const char *why = "unset";
    assert_int_equal(ops_set_precision("fp16", &why), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "fp32 or bf16"));
    assert_string_equal(ops_precision(), "fp32");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32),
        cmocka_unit_test(test_fp32_in_parallel_region),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_unknown_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
