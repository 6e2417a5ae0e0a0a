/*
 * test_uce.c: UCE's closed-form edit (src/unlearn/uce.c) against its objective.
 *
 * - the result satisfies the normal equations of the objective, W (lambda I + sum s f f^T) =
 *   lambda W0 + sum s (W0 t) f^T, computed independently here in double, for the primal form
 *   (more features than d_in) and the kernel form (fewer), with and without preserved concepts;
 * - at the boundary between the forms (n = d_in: kernel; n = d_in + 1: primal) both are the
 *   exact minimisers of their objectives;
 * - lambda = 0 with no preserved set maps every erased feature exactly onto W0 times its guide
 *   feature (the test), and lambda = 0 with preserved features also keeps their outputs;
 * - lambda = 0 with a feature given twice (a singular system) is refused with a message, W
 *   untouched; bad arguments are errors;
 * - the default preserve scale is max(0.1, 1 / n_preserved).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "unlearn/uce.h"

static uint64_t rng = 88172645463325252ull;
static float urand(void) {   // xorshift, in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *randm(int r, int c) {
    float *m = malloc((size_t)r * c * sizeof(float));
    for (int i = 0; i < r * c; i++) m[i] = urand();
    return m;
}

// max |W M - B| / max |B| of the objective's normal equations (double)
static double normal_residual(const float *W, const float *W0, int dout, int din, const float *E, const float *G, int ne,
                              const float *P, int np, float lambda, float se, float sp) {
    double *M = calloc((size_t)din * din, sizeof(double)), *B = calloc((size_t)dout * din, sizeof(double));
    for (int i = 0; i < din; i++) M[i * din + i] = lambda;
    for (int r = 0; r < dout * din; r++) B[r] = lambda * (double)W0[r];
    for (int k = 0; k < ne + np; k++) {
        const float *f = k < ne ? E + k * din : P + (k - ne) * din, *t = k < ne ? G + k * din : f;
        const double s = k < ne ? se : sp;
        for (int a = 0; a < din; a++)
            for (int b = 0; b < din; b++) M[a * din + b] += s * f[a] * f[b];
        for (int o = 0; o < dout; o++) {
            double w0t = 0;
            for (int a = 0; a < din; a++) w0t += (double)W0[o * din + a] * t[a];
            for (int b = 0; b < din; b++) B[o * din + b] += s * w0t * f[b];
        }
    }
    double worst = 0, scale = 0;
    for (int o = 0; o < dout; o++)
        for (int b = 0; b < din; b++) {
            double wm = 0;
            for (int a = 0; a < din; a++) wm += (double)W[o * din + a] * M[a * din + b];
            worst = fmax(worst, fabs(wm - B[o * din + b]));
            scale = fmax(scale, fabs(B[o * din + b]));
        }
    free(M), free(B);
    return worst / scale;
}

static void check_case(int dout, int din, int ne, int np, float lambda) {
    float *W0 = randm(dout, din), *E = randm(ne, din), *G = randm(ne, din), *P = np ? randm(np, din) : NULL;
    float *W = malloc((size_t)dout * din * sizeof(float));
    memcpy(W, W0, (size_t)dout * din * sizeof(float));
    uce_opts o;
    uce_opts_default(&o);
    o.lambda = lambda;
    o.erase_scale = 0.7f;
    assert_int_equal(uce_edit(W, dout, din, E, G, ne, P, np, &o), LETHE_OK);
    const float sp = np ? fmaxf(0.1f, 1.0f / np) : 0.1f;
    assert_true(normal_residual(W, W0, dout, din, E, G, ne, P, np, lambda, 0.7f, sp) < 1e-5);
    free(W0), free(E), free(G), free(P), free(W);
}

static void test_normal_equations(void **state) {
    (void)state;
    check_case(6, 8, 3, 0, 0.5f);    // kernel form
    check_case(6, 8, 3, 2, 0.5f);    // kernel, with preserved
    check_case(5, 4, 9, 0, 0.5f);    // primal form
    check_case(5, 4, 7, 4, 0.1f);    // primal, with preserved
    check_case(16, 64, 15, 10, 0.5f);   // canvas-tiny's shapes: 15 tokens, d_in 64
}

static void test_forms_agree(void **state) {
    (void)state;
    const int dout = 4, din = 6;
    float *W0 = randm(dout, din), *E = randm(6, din), *G = randm(6, din);
    float *A = malloc(sizeof(float) * dout * din), *B = malloc(sizeof(float) * dout * din);
    uce_opts o;
    uce_opts_default(&o);
    memcpy(A, W0, sizeof(float) * dout * din);
    memcpy(B, W0, sizeof(float) * dout * din);
    assert_int_equal(uce_edit(A, dout, din, E, G, 6, NULL, 0, &o), LETHE_OK);   // n = d_in: kernel
    // n = 7 > d_in: the primal form (the 6th feature given twice)
    float *E7 = malloc(sizeof(float) * 7 * din), *G7 = malloc(sizeof(float) * 7 * din);
    memcpy(E7, E, sizeof(float) * 6 * din);
    memcpy(E7 + 6 * din, E + 5 * din, sizeof(float) * din);
    memcpy(G7, G, sizeof(float) * 6 * din);
    memcpy(G7 + 6 * din, G + 5 * din, sizeof(float) * din);
    // (a row given twice weighs double, so the two objectives differ: each is checked against its own)
    assert_int_equal(uce_edit(B, dout, din, E7, G7, 7, NULL, 0, &o), LETHE_OK);
    assert_true(normal_residual(A, W0, dout, din, E, G, 6, NULL, 0, 0.5f, 1, 0.1f) < 1e-5);
    assert_true(normal_residual(B, W0, dout, din, E7, G7, 7, NULL, 0, 0.5f, 1, 0.1f) < 1e-5);
    free(W0), free(E), free(G), free(A), free(B), free(E7), free(G7);
}

static void test_lambda_zero_exact(void **state) {
    (void)state;
    const int dout = 8, din = 16, ne = 5, np = 3;
    float *W0 = randm(dout, din), *E = randm(ne, din), *G = randm(ne, din), *P = randm(np, din);
    float *W = malloc(sizeof(float) * dout * din);
    uce_opts o;
    uce_opts_default(&o);
    o.lambda = 0;
    for (int with_p = 0; with_p < 2; with_p++) {
        memcpy(W, W0, sizeof(float) * dout * din);
        assert_int_equal(uce_edit(W, dout, din, E, G, ne, with_p ? P : NULL, with_p ? np : 0, &o), LETHE_OK);
        for (int k = 0; k < ne + (with_p ? np : 0); k++) {
            const float *f = k < ne ? E + k * din : P + (k - ne) * din, *t = k < ne ? G + k * din : f;
            for (int r = 0; r < dout; r++) {
                double got = 0, want = 0;
                for (int c = 0; c < din; c++) got += (double)W[r * din + c] * f[c], want += (double)W0[r * din + c] * t[c];
                assert_true(fabs(got - want) < 1e-4);
            }
        }
    }
    float *Edup = malloc(sizeof(float) * 2 * din), *Gdup = malloc(sizeof(float) * 2 * din);
    memcpy(Edup, E, sizeof(float) * din);
    memcpy(Edup + din, E, sizeof(float) * din);   // the same feature twice: singular kernel system
    memcpy(Gdup, G, sizeof(float) * 2 * din);
    memcpy(W, W0, sizeof(float) * dout * din);
    assert_int_equal(uce_edit(W, dout, din, Edup, Gdup, 2, NULL, 0, &o), LETHE_ERR_NUMERIC);
    assert_non_null(strstr(lethe_last_error(), "singular"));
    assert_memory_equal(W, W0, sizeof(float) * dout * din);
    free(W0), free(E), free(G), free(P), free(W), free(Edup), free(Gdup);
}

static void test_bad_args(void **state) {
    (void)state;
    float W[4] = {0}, E[2] = {0};
    uce_opts o;
    uce_opts_default(&o);
    assert_true(o.lambda == 0.5f && o.erase_scale == 1.0f && o.preserve_scale < 0);
    assert_int_equal(uce_edit(W, 2, 2, E, NULL, 1, NULL, 0, &o), LETHE_ERR_ARG);
    o.lambda = -1;
    assert_int_equal(uce_edit(W, 2, 2, E, E, 1, NULL, 0, &o), LETHE_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_equations), cmocka_unit_test(test_forms_agree),
        cmocka_unit_test(test_lambda_zero_exact), cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
