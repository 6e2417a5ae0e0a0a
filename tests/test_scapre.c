/*
 * test_scapre.c: ScaPre's closed-form edit (src/unlearn/scapre.c) against hand-computed
 * pieces and its per-row objective.
 *
 * - the Informax soft mask: rows that separate the concept from the neutral input perfectly
 *   have MI log 2, a row that responds to nothing MI 0; z-scored over rows, sigmoid(z / T)^p;
 * - the spectral term for two orthogonal concept vectors of norms 3 and 1 (median 2):
 *   R = mu (1 - sigmoid(1)) u1 u1^T + mu (1 - sigmoid(-1)) u2 u2^T;
 * - the Bures step: a row along w0 moves to the weighted radius (lp a + mu r0) / (lp + mu); an
 *   orthogonal row keeps its direction at radius lp a / (lp + mu);
 * - the edit (no Bures step) is a stationary point of the per-row objective
 *   (lambda + mu)||w - w0||^2 + sum_k (c_k.w)^2 + s sum_e (w.e - m_ik v*_ei)^2 + w^T R w
 *   + s m_i^max ||Pi_C w||^2, its gradient computed here from the pieces (Pi_C from a hand
 *   2 x 2 inverse); the edit is deterministic and shrinks the response to the concepts.
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

#include "core/rng.h"
#include "unlearn/scapre.h"

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_mi_mask(void **state) {
    (void)state;
    const float W0[6] = {1, 0, 0, 1, 0, 0}, c[2] = {1, 0}, e0[2] = {0, 1};
    scapre_opts o;
    scapre_opts_default(&o);
    double m[3];
    scapre_mi_mask(W0, 3, 2, c, e0, &o, 7, m);
    const double z1 = (1.0 / 3) / sqrt(2.0 / 9), z3 = (-2.0 / 3) / sqrt(2.0 / 9);
    assert_true(fabs(m[0] - pow(sig(z1 / 0.7), 8)) < 1e-5);
    assert_true(fabs(m[1] - pow(sig(z1 / 0.7), 8)) < 1e-5);
    assert_true(fabs(m[2] - pow(sig(z3 / 0.7), 8)) < 1e-5);
}

static void test_spectral(void **state) {
    (void)state;
    const float C[6] = {3, 0, 0, 0, 1, 0};   // rows: 3 e1, e2
    scapre_opts o;
    scapre_opts_default(&o);
    double R[9];
    assert_int_equal(scapre_spectral(C, 2, 3, 0.5, &o, R), LETHE_OK);
    const double want[9] = {0.5 * (1 - sig(1)), 0, 0, 0, 0.5 * (1 - sig(-1)), 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) assert_true(fabs(R[i] - want[i]) < 1e-9);
}

static void test_bures(void **state) {
    (void)state;
    const float w0[2] = {1, 0};
    double w[2] = {2, 0};
    scapre_bures(w, w0, 2, 1.0, 1.0, 1);
    assert_true(fabs(w[0] - 1.5) < 1e-12 && fabs(w[1]) < 1e-12);   // r = (1 * 2 + 1 * 1 * 1) / 2
    double v[2] = {0, 3};
    scapre_bures(v, w0, 2, 1.0, 1.0, 2);
    assert_true(fabs(v[0]) < 1e-12 && fabs(v[1] - 1.5) < 1e-12);    // kappa = 0: same direction, radius lp a / (lp + mu)
}

static uint64_t xs = 0x9E3779B97F4A7C15ull;
static float urand(void) {
    xs ^= xs << 13, xs ^= xs >> 7, xs ^= xs << 17;
    return (float)((double)(xs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void test_edit_stationary(void **state) {
    (void)state;
    enum { DO = 6, DI = 5, M = 2, NE = 4 };
    float W0[DO * DI], W[DO * DI], W2[DO * DI], C[M * DI], E[NE * DI], G[NE * DI], e0[DI];
    const int owner[NE] = {0, 0, 1, 1};
    for (int i = 0; i < DO * DI; i++) W0[i] = urand();
    for (int i = 0; i < M * DI; i++) C[i] = urand();
    for (int i = 0; i < NE * DI; i++) E[i] = urand(), G[i] = urand();
    for (int i = 0; i < DI; i++) e0[i] = urand();
    memcpy(E, C, sizeof(float) * DI);                // each concept's first token pair is c_k
    memcpy(E + 2 * DI, C + DI, sizeof(float) * DI);
    scapre_opts o;
    scapre_opts_default(&o);
    o.bures_iters = 0;
    memcpy(W, W0, sizeof W);
    assert_int_equal(scapre_edit(W, DO, DI, C, M, E, G, owner, NE, e0, &o), LETHE_OK);
    memcpy(W2, W0, sizeof W);
    assert_int_equal(scapre_edit(W2, DO, DI, C, M, E, G, owner, NE, e0, &o), LETHE_OK);
    assert_memory_equal(W, W2, sizeof W);   // deterministic
    // the pieces, as the edit computes them
    const double mu = scapre_entropy_weight(W0, DO, DI, C, M, &o);
    double mask[M][DO], R[DI * DI];
    for (int k = 0; k < M; k++) scapre_mi_mask(W0, DO, DI, C + k * DI, e0, &o, lethe_stream(LETHE_STREAM_PROBE, 2, k), mask[k]);
    assert_int_equal(scapre_spectral(C, M, DI, mu, &o, R), LETHE_OK);
    // Pi_C = C^T K^-1 C, K = C C^T (2 x 2)
    double K[4] = {0};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < DI; c++) K[a * 2 + b] += (double)C[a * DI + c] * C[b * DI + c];
    const double det = K[0] * K[3] - K[1] * K[2], Ki[4] = {K[3] / det, -K[1] / det, -K[2] / det, K[0] / det};
    double Pi[DI * DI] = {0};
    for (int i = 0; i < DI; i++)
        for (int j = 0; j < DI; j++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) Pi[i * DI + j] += C[a * DI + i] * Ki[a * 2 + b] * C[b * DI + j];
    const double s = o.erase_scale, lp = o.lambda + mu;
    double worst = 0;
    for (int r = 0; r < DO; r++) {
        const float *w = W + r * DI, *w0 = W0 + r * DI;
        const double mmax = fmax(mask[0][r], mask[1][r]);
        double g[DI];
        for (int c = 0; c < DI; c++) g[c] = lp * (w[c] - w0[c]);
        for (int k = 0; k < M; k++) {
            double cw = 0;
            for (int c = 0; c < DI; c++) cw += (double)C[k * DI + c] * w[c];
            for (int c = 0; c < DI; c++) g[c] += cw * C[k * DI + c];
        }
        for (int e = 0; e < NE; e++) {
            double we = 0, vs = 0;
            for (int c = 0; c < DI; c++) we += (double)w[c] * E[e * DI + c], vs += (double)w0[c] * G[e * DI + c];
            for (int c = 0; c < DI; c++) g[c] += s * (we - mask[owner[e]][r] * vs) * E[e * DI + c];
        }
        for (int i = 0; i < DI; i++)
            for (int j = 0; j < DI; j++) g[i] += (R[i * DI + j] + s * mmax * Pi[i * DI + j]) * w[j];
        for (int c = 0; c < DI; c++) worst = fmax(worst, fabs(g[c]));
    }
    assert_true(worst < 1e-4);
    // the response to the concepts shrinks
    for (int k = 0; k < M; k++) {
        double before = 0, after = 0;
        for (int r = 0; r < DO; r++) {
            double a = 0, b = 0;
            for (int c = 0; c < DI; c++) a += (double)W0[r * DI + c] * C[k * DI + c], b += (double)W[r * DI + c] * C[k * DI + c];
            before += a * a, after += b * b;
        }
        assert_true(after < before);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mi_mask), cmocka_unit_test(test_spectral), cmocka_unit_test(test_bures),
        cmocka_unit_test(test_edit_stationary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
