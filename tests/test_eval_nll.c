/*
 * test_eval_nll.c: the DDPM likelihood bound (src/eval/nll.c) and the membership-inference
 * denoising loss (src/eval/mia.c) with analytic denoisers.
 *
 * The reference values come from tests/fixtures/make_nll_fixture.py, an independent float64
 * numpy + mpmath implementation of improved-diffusion's bound (see its docstring), written to
 * tests/fixtures/nll_fixture.h. Both sides evaluate every timestep (no timestep sampling) with
 * the same Philox noise, and the same two analytic denoisers:
 *   XSTAR:  eps = (x_t - sqrt(abar_t) x*) / sqrt(1 - abar_t)   (optimal for the data set {x*})
 *   LINEAR: eps = A sqrt(1 - abar_t) x_t + B + C label
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "test_util.h"

#include "core/rng.h"
#include "diffusion/schedule.h"
#include "eval/mia.h"
#include "eval/nll.h"
#include "fixtures/nll_fixture.h"
#include "ops/ops.h"

// ---- analytic denoisers -------------------------------------------------------------------------

typedef struct {
    const lethe_schedule *s;
    int kind;                       // NLLFX_DENOISER_XSTAR or NLLFX_DENOISER_LINEAR
    float xstar[NLLFX_NUMEL];
    int fail;                       // 1: answer NaN
    long rows;
} analytic;

// A network with a closed form, behind the seam (forward only): labels from a CLASS cond.
static lethe_status analytic_eps(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                                 const float *t, const lethe_cond *c, int n) {
    (void)W; (void)ctx;
    analytic *a = d->net;
    const int *labels = c ? c->labels : NULL;
    a->rows += n;
    for (int i = 0; i < n; i++) {
        double abar = a->s->alphas_cumprod[(int)t[i]], sa = sqrt(abar), sb = sqrt(1.0 - abar);
        for (int e = 0; e < NLLFX_NUMEL; e++) {
            double xe = x[(size_t)i * NLLFX_NUMEL + e], v;
            if (a->fail) v = NAN;
            else if (a->kind == NLLFX_DENOISER_XSTAR) v = (xe - sa * a->xstar[e]) / sb;
            else v = NLLFX_LIN_A * sb * xe + NLLFX_LIN_B + NLLFX_LIN_C * (labels ? labels[i] : 0);
            eps[(size_t)i * NLLFX_NUMEL + e] = (float)v;
        }
    }
    return LETHE_OK;
}

static const lethe_denoiser_vtable analytic_vt = {.name = "analytic", .forward = analytic_eps};
static const lethe_cond_spec class_spec = {.kind = LETHE_COND_CLASS, .null_class = 9};

// n class labels as a cond (a view over them)
#define LC(lab, rows) (&(lethe_cond){.spec = class_spec, .n = (rows), .labels = (int *)(lab)})

typedef struct {
    lethe_schedule s;
    analytic an;
    lethe_denoiser net;
    denoiser_infer d;
    float *x0;                      // NLLFX_N fixture images on the backend
} fixture;

static float level(int k) { return (float)(k / 127.5 - 1.0); }

static void fixture_init(fixture *f, int kind) {
    schedule_config c;
    schedule_config_default(&c);
    assert_int_equal(schedule_init(&f->s, &c), LETHE_OK);
    f->an = (analytic){.s = &f->s, .kind = kind};
    for (int e = 0; e < NLLFX_NUMEL; e++) f->an.xstar[e] = level(nllfx_levels[NLLFX_XSTAR][e]);
    f->net = (lethe_denoiser){.vt = &analytic_vt, .net = &f->an, .channels = 1, .size = 4, .cond = class_spec};
    denoiser_infer_init(&f->d, &f->net, NULL);
    float host[NLLFX_N * NLLFX_NUMEL];
    for (int i = 0; i < NLLFX_N; i++)
        for (int e = 0; e < NLLFX_NUMEL; e++) host[i * NLLFX_NUMEL + e] = level(nllfx_levels[i][e]);
    f->x0 = ops()->alloc(sizeof host);
    assert_non_null(f->x0);
    ops()->to_device(f->x0, host, sizeof host);
}

static void fixture_free(fixture *f) {
    denoiser_infer_free(&f->d);
    ops()->release(f->x0);
    schedule_free(&f->s);
}

static double worst_rel;   // largest |got - want| / |want| seen by close_to where |want| > 1e-6

// |got - want| <= rel |want| + abs
static void close_to(double got, double want, double rel, double abs_, const char *what, int c, int i) {
    if (fabs(want) > 1e-6 && fabs(got - want) / fabs(want) > worst_rel) worst_rel = fabs(got - want) / fabs(want);
    if (!(fabs(got - want) <= rel * fabs(want) + abs_))
        fail_msg("case %d image %d %s: got %.12g, want %.12g (diff %.3g)", c, i, what, got, want, got - want);
}

static void count_progress(void *user, int done, int total) {
    int *p = user;
    p[0]++;
    p[1] = done;
    p[2] = total;
}

// ---- the fixture: every timestep against the float64 reference ------------------------------------

// Tolerance: lethe builds x_t, eps and d = x0_hat - x0 in float32 (relative rounding ~6e-8 per
// value, coefficients rounded to float too) and sums in double; the reference is float64
// throughout. Without clipping d comes from eps_hat - z directly and the terms agree to
// <= 4e-7 relative (measured), so rel 2e-6 leaves margin without hiding an off-by-one
// timestep or a wrong variance (those move the terms by 1e-4 or more). With clipping x0_hat
// itself is formed in float32 (|x0_hat| ~ 1, so d ~ 0.01 at t = 0 carries ~6e-8 absolute,
// ~1e-5 relative error), measured 1.1e-6 on the decoder: rel 1e-5 there.
// The absolute 1e-8 bits/dim covers terms that are exactly 0 in the reference (the XSTAR
// diffusion KLs of x*), where float32 rounding of x_t leaves ~1e-10.
static void test_fixture_all_timesteps(void **state) {
    worst_rel = 0;
    for (int c = 0; c < NLLFX_CASES; c++) {
        const nllfx_case *k = &nllfx_cases[c];
        fixture f;
        fixture_init(&f, k->denoiser);
        nll_opts o;
        nll_opts_default(&o);
        o.timesteps = 0;
        o.variance = k->fixed_large ? NLL_FIXED_LARGE : NLL_FIXED_SMALL;
        o.clip_denoised = k->clip;
        o.seed = NLLFX_SEED;
        o.batch = 7;            // rows of one image spread over several calls, and calls mix images
        nll_terms out[NLLFX_N];
        int prog[3] = {0};
        assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, NLLFX_FIRST_INDEX, out,
                                          count_progress, prog), LETHE_OK);
        const double rel = k->clip ? 1e-5 : 2e-6;
        for (int i = 0; i < NLLFX_N; i++) {
            close_to(out[i].prior, k->prior[i], 1e-9, 1e-15, "prior", c, i);
            close_to(out[i].decoder, k->decoder[i], rel, 1e-8, "decoder", c, i);
            close_to(out[i].diffusion, k->diffusion[i], rel, 1e-8, "diffusion", c, i);
            close_to(out[i].bpd, k->bpd[i], rel, 1e-8, "bpd", c, i);
        }
        const int rows = NLLFX_N * NLLFX_T;   // 999 KL terms + the decoder per image
        assert_int_equal(f.an.rows, rows);
        assert_int_equal(prog[0], (rows + 6) / 7);
        assert_int_equal(prog[1], rows);
        assert_int_equal(prog[2], rows);
        fixture_free(&f);
    }
    print_message("fixture: %d cases x %d images, largest relative difference %.3g\n", NLLFX_CASES, NLLFX_N, worst_rel);
}

// ---- batching and global indices -------------------------------------------------------------------

static void test_independent_of_batching(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_LINEAR);
    nll_opts o;
    nll_opts_default(&o);
    o.timesteps = 10;
    o.seed = 77;
    nll_terms a[NLLFX_N], b[NLLFX_N], c[NLLFX_N - 1];
    o.batch = 1;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 40, a, NULL, NULL), LETHE_OK);
    o.batch = 64;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 40, b, NULL, NULL), LETHE_OK);
    // images 1.. alone, with their global indices
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0 + NLLFX_NUMEL, LC(nllfx_labels + 1, NLLFX_N - 1), NLLFX_N - 1, 41, c, NULL, NULL),
                     LETHE_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(a + 1, c, sizeof c);
    // another seed draws other timesteps and noise
    o.seed = 78;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 40, b, NULL, NULL), LETHE_OK);
    assert_true(a[0].diffusion != b[0].diffusion);
    assert_true(a[0].prior == b[0].prior);
    fixture_free(&f);
}

// ---- the stratified estimator ---------------------------------------------------------------------

// With the same seed the stratified estimate sees the same noise at its drawn timesteps as the
// all-timesteps evaluation, so delta = stratified - exact isolates the timestep sampling; its
// mean over seeds must be 0 within the standard error (unbiased), for K dividing T-1 unevenly.
static void test_stratified_unbiased(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_LINEAR);
    enum { SEEDS = 200 };
    static double delta[SEEDS * NLLFX_N], exact_sum;
    nll_opts o;
    nll_opts_default(&o);
    o.batch = 256;
    exact_sum = 0;
    for (int sd = 0; sd < SEEDS; sd++) {
        nll_terms ex[NLLFX_N], st[NLLFX_N];
        o.seed = 1000 + (uint64_t)sd;
        o.timesteps = 0;
        assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 0, ex, NULL, NULL), LETHE_OK);
        o.timesteps = 50;       // 50 geometric strata: 1 index wide at small t, 100+ near T
        assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 0, st, NULL, NULL), LETHE_OK);
        for (int i = 0; i < NLLFX_N; i++) {
            delta[sd * NLLFX_N + i] = st[i].bpd - ex[i].bpd;
            exact_sum += ex[i].bpd;
            assert_true(st[i].decoder == ex[i].decoder && st[i].prior == ex[i].prior);
        }
    }
    double m, se;
    mean_stderr(delta, SEEDS * NLLFX_N, &m, &se);
    double exact = exact_sum / (SEEDS * NLLFX_N);
    print_message("stratified K=50: mean delta %.4g bits/dim, se %.4g, exact mean %.4f\n", m, se, exact);
    assert_true(fabs(m) < 4 * se);
    assert_true(se < 0.03 * exact);     // and the test has power: se is small against the value
    fixture_free(&f);
}

// ---- decoder, prior ---------------------------------------------------------------------------------

// x0 = x* with the XSTAR denoiser: the model mean at index 0 is exactly x0, so every
// interior pixel costs -log2 of the central bin mass erf(h / (s sqrt 2)), h = 1/255,
// s = sqrt(beta_tilde_1), and the diffusion KLs vanish (fixed_small: same variance, same mean).
static void test_decoder_perfect_mean(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_XSTAR);
    for (int e = 0; e < NLLFX_NUMEL; e++) f.an.xstar[e] = level(100 + 3 * e);   // interior levels only
    float *x = ops()->alloc(NLLFX_NUMEL * sizeof(float));
    ops()->to_device(x, f.an.xstar, sizeof f.an.xstar);
    nll_opts o;
    nll_opts_default(&o);
    nll_terms out;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, x, NULL, 1, 0, &out, NULL, NULL), LETHE_OK);
    double a0 = f.s.alphas_cumprod[0], a1 = f.s.alphas_cumprod[1];
    double beta1 = (a0 - a1) / a0, s = sqrt(beta1 * (1 - a0) / (1 - a1));
    double want = -log(erf(1.0 / 255.0 / (s * M_SQRT2))) / M_LN2;
    print_message("perfect mean: decoder %.9f bits/dim (central bin, s = %.6g), diffusion %.3g\n", out.decoder, s,
                  out.diffusion);
    assert_true(fabs(out.decoder - want) <= 1e-9 * want);
    assert_true(fabs(out.diffusion) < 1e-8);
    close_to(out.bpd, out.prior + out.decoder + out.diffusion, 1e-15, 0, "bpd sum", 0, 0);
    ops()->release(x);
    fixture_free(&f);
}

// KL(q(x_{T-1} | x0) || N(0, I)) = 0.5 (-log(1-a) - a + a x0^2) per dim, a = abar_{T-1} = 4.04e-5:
// at most ~2.9e-5 bits/dim (all pixels +-1), ~1e-5 for typical images.
static void test_prior_tiny(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_LINEAR);
    nll_opts o;
    nll_opts_default(&o);
    o.timesteps = 1;
    nll_terms out[NLLFX_N];
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, 0, out, NULL, NULL), LETHE_OK);
    double a = f.s.alphas_cumprod[NLLFX_T - 1];
    for (int i = 0; i < NLLFX_N; i++) {
        assert_true(out[i].prior > 0.5 * a * a / 2 / M_LN2 && out[i].prior < 3e-5);
        double sq = 0;
        for (int e = 0; e < NLLFX_NUMEL; e++) sq += (double)level(nllfx_levels[i][e]) * level(nllfx_levels[i][e]);
        close_to(out[i].prior, 0.5 * (-log(1 - a) - a + a * sq / NLLFX_NUMEL) / M_LN2, 1e-9, 0, "prior", 0, i);
    }
    fixture_free(&f);
}

// ---- errors -----------------------------------------------------------------------------------------

static void test_bad_input(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_LINEAR);
    nll_opts o;
    nll_opts_default(&o);
    nll_terms out[NLLFX_N];
    float v = 0.3f;     // not k/127.5 - 1
    ops()->to_device(f.x0 + 5, &v, sizeof v);
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, NULL, NLLFX_N, 0, out, NULL, NULL), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "8-bit"));
    v = level(3);
    ops()->to_device(f.x0 + 5, &v, sizeof v);
    o.batch = 0;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, NULL, NLLFX_N, 0, out, NULL, NULL), LETHE_ERR_ARG);
    o.batch = 4;
    o.timesteps = -1;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, NULL, NLLFX_N, 0, out, NULL, NULL), LETHE_ERR_ARG);
    o.timesteps = 3;
    f.an.fail = 1;
    assert_int_equal(nll_bits_per_dim(&f.s, &f.d, &o, f.x0, NULL, NLLFX_N, 0, out, NULL, NULL), LETHE_ERR_NUMERIC);
    double loss[NLLFX_N];
    assert_int_equal(denoising_losses(&f.s, &f.d, 2, 1, f.x0, NULL, NLLFX_N, loss, 4, NULL, NULL), LETHE_ERR_NUMERIC);
    f.an.fail = 0;
    assert_int_equal(denoising_losses(&f.s, &f.d, 0, 1, f.x0, NULL, NLLFX_N, loss, 4, NULL, NULL), LETHE_ERR_ARG);
    fixture_free(&f);
}

static void test_mean_stderr(void **state) {
    double v[4] = {1, 2, 3, 4}, m, se;
    mean_stderr(v, 4, &m, &se);
    assert_true(m == 2.5);
    close_to(se, sqrt(5.0 / 3.0 / 4.0), 1e-15, 0, "se", 0, 0);
    mean_stderr(v, 1, &m, &se);
    assert_true(m == 1 && se == 0);
}

// ---- membership-inference losses -------------------------------------------------------------------

static void test_mia_losses(void **state) {
    fixture f;
    fixture_init(&f, NLLFX_DENOISER_LINEAR);
    const uint64_t seed = 99;
    double a[NLLFX_N], b[NLLFX_N];
    int prog[3] = {0};
    assert_int_equal(denoising_losses(&f.s, &f.d, 5, seed, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, a, 1, count_progress, prog),
                     LETHE_OK);
    assert_int_equal(prog[0], 5 * NLLFX_N);
    assert_int_equal(prog[1], 5 * NLLFX_N);
    assert_int_equal(denoising_losses(&f.s, &f.d, 5, seed, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, b, 4, NULL, NULL), LETHE_OK);
    assert_memory_equal(a, b, sizeof a);                    // repeatable, independent of batching
    assert_int_equal(denoising_losses(&f.s, &f.d, 5, seed + 1, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, b, 4, NULL, NULL), LETHE_OK);
    assert_true(a[0] != b[0]);

    // pairs = 1 against a direct computation from the documented keying
    assert_int_equal(denoising_losses(&f.s, &f.d, 1, seed, f.x0, LC(nllfx_labels, NLLFX_N), NLLFX_N, a, 2, NULL, NULL), LETHE_OK);
    int t = (int)lethe_rand_below(seed, lethe_stream(LETHE_STREAM_MIA, 0, 1), 0, NLLFX_T);
    double abar = f.s.alphas_cumprod[t], sa = sqrt(abar), sb = sqrt(1 - abar);
    for (int i = 0; i < NLLFX_N; i++) {
        double sum = 0;
        for (int e = 0; e < NLLFX_NUMEL; e++) {
            double z = lethe_rand_normal(seed, lethe_stream(LETHE_STREAM_MIA, 0, 0), (uint64_t)e);
            double xt = sa * level(nllfx_levels[i][e]) + sb * z;
            double eps = NLLFX_LIN_A * sb * xt + NLLFX_LIN_B + NLLFX_LIN_C * nllfx_labels[i];
            sum += (eps - z) * (eps - z);
        }
        // float32 x_t and eps in lethe vs double here: ~1e-7 relative
        close_to(a[i], sum / NLLFX_NUMEL, 1e-6, 0, "mia loss", 0, i);
    }

    // the pairs are the same for every image: two copies of one image at different positions
    // (and another model, here the XSTAR denoiser, sees the same x_t) score the same
    float host[2 * NLLFX_NUMEL];
    for (int e = 0; e < NLLFX_NUMEL; e++) host[e] = host[NLLFX_NUMEL + e] = level(nllfx_levels[2][e]);
    float *x2 = ops()->alloc(sizeof host);
    ops()->to_device(x2, host, sizeof host);
    int lab2[2] = {1, 1};
    f.an.kind = NLLFX_DENOISER_XSTAR;
    for (int e = 0; e < NLLFX_NUMEL; e++) f.an.xstar[e] = host[e];
    assert_int_equal(denoising_losses(&f.s, &f.d, 7, seed, x2, LC(lab2, 2), 2, a, 3, NULL, NULL), LETHE_OK);
    assert_true(a[0] == a[1]);
    assert_true(a[0] < 1e-9);           // the optimal denoiser of the image predicts eps exactly
    ops()->release(x2);
    fixture_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_all_timesteps),
        cmocka_unit_test(test_independent_of_batching),
        cmocka_unit_test(test_stratified_unbiased),
        cmocka_unit_test(test_decoder_perfect_mean),
        cmocka_unit_test(test_prior_tiny),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_mean_stderr),
        cmocka_unit_test(test_mia_losses),
    };
    return cmocka_run_group_tests_name("eval_nll", tests, NULL, NULL);
}
