/*
 * test_unlearn_sfd.c: SFD (src/unlearn/sfd.c) on a toy class-conditional UNet (8x8, 8/16
 * channels, dropout 0.1, 3 classes + null) through the shared loop, with NO dataset (the
 * loop is given train = NULL: the method is data-free by construction):
 *
 * - the generator objective's gradient with respect to the generator's weights matches
 *   central differences of the objective (omega held fixed, as the method detaches it), at a
 *   step where the fake score and generator already differ from the teacher, with the
 *   default guided teacher and with the unguided one;
 * - the frozen teacher never changes; the loop's optimiser moves only the generator (the
 *   fake score moves by its own update, the EMA by averaging);
 * - the output is a one-step generator (lethe.json "generator", t_init), model_load reads it
 *   and the one-step sampler gives x0 = (x_in - sqrt(1 - abar) eps(x_in)) / sqrt(abar);
 * - --stop-after 1 + --resume reproduces the uninterrupted run bit for bit;
 * - bad input: override = forget class, t_init outside [1, T-1], an unconditional model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"
#include "unlearn_toy.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"
#include "ops/ops.h"
#include "unlearn/sfd.h"
#include "unlearn/unlearn_internal.h"

#define N_CLASSES TOY_CLASSES

static int group_setup(void **state) {
    (void)state;
    return toy_setup("lethe-test-sfd", 1);
}

static int group_teardown(void **state) {
    (void)state;
    return toy_teardown();
}

static void toy_opts(unlearn_opts *o, const char *out) {
    unlearn_opts_default(o);
    o->method = "sfd";
    o->model_dir = toy_parent;
    o->out_dir = out;
    o->forget = "1";
    o->steps = 2;
    o->batch = 3;
    o->lr = 1e-3f;
    o->weight_decay = 0.0f;
    o->seed = 7;
    o->quiet = 1;
    o->log_every = 1;
}

// ----------------------------------------------------------------------------
// the spy: checks around the real steps

static float *parent_host;   // the parent's weights
static int fd_done, steps_seen;
static double fd_worst, dir_err;

static void fd_check(unlearn_ctx *u, int step) {
    const size_t n = u->n_params;
    float *theta = sfd_network(u, 0);
    double L0;
    ops()->fill(u->train_grads, 0.0f, u->n_train);
    assert_int_equal(sfd_generator_objective(u, step, 0, &L0), LETHE_OK);   // records omega
    float *g = toy_host_copy(u->train_grads, n), *w = toy_host_copy(theta, n);
    // the 16 largest gradient entries and 8 spread over the buffer
    size_t idx[24];
    int k = 0;
    for (int j = 0; j < 16; j++) {
        size_t best = 0;
        float bv = -1;
        for (size_t i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < k; q++) taken |= idx[q] == i;
            if (!taken && fabsf(g[i]) > bv) { bv = fabsf(g[i]); best = i; }
        }
        idx[k++] = best;
    }
    for (int j = 0; j < 8; j++) idx[k++] = (size_t)(j * 7919 + 13) % n;
    float gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmaxf(gmax, fabsf(g[i]));
    for (int q = 0; q < k; q++) {
        const size_t i = idx[q];
        // float32 networks: smaller steps drown in rounding (1e-3 gives 27% error, 3e-2 under 1%)
        const float h = 3e-2f * fmaxf(1.0f, fabsf(w[i]));
        double up, down;
        float v = w[i] + h;
        ops()->to_device(theta + i, &v, sizeof v);
        assert_int_equal(sfd_generator_objective(u, step, 1, &up), LETHE_OK);
        v = w[i] - h;
        ops()->to_device(theta + i, &v, sizeof v);
        assert_int_equal(sfd_generator_objective(u, step, 1, &down), LETHE_OK);
        ops()->to_device(theta + i, &w[i], sizeof(float));
        double fd = (up - down) / ((double)(w[i] + h) - (double)(w[i] - h));
        double err = fabs(fd - g[i]) / fmax(fabs(fd), 1e-2 * gmax);
        if (err > fd_worst) fd_worst = err;
    }
    // the directional derivative along the gradient: many coordinates at once, far above
    // the float32 noise of single-weight differences
    double gg = 0;
    for (size_t i = 0; i < n; i++) gg += (double)g[i] * g[i];
    const double eps_dir = 3e-3 / sqrt(gg);
    float *wp = malloc(n * sizeof(float));
    double Lp[2];
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < n; i++) wp[i] = w[i] + (float)((side ? -eps_dir : eps_dir) * g[i]);
        ops()->to_device(theta, wp, n * sizeof(float));
        assert_int_equal(sfd_generator_objective(u, step, 1, &Lp[side]), LETHE_OK);
    }
    ops()->to_device(theta, w, n * sizeof(float));
    dir_err = fabs((Lp[0] - Lp[1]) / (2 * eps_dir) - gg) / gg;
    free(wp);
    ops()->fill(u->train_grads, 0.0f, u->n_train);   // the real step starts from zero
    free(g);
    free(w);
    fd_done = 1;
}

static lethe_status spy_step(unlearn_ctx *u, int step) {
    const size_t n = u->n_params;
    if (step == 1) fd_check(u, step);   // after one step: psi and theta differ from the teacher
    float *psi_before = toy_host_copy(sfd_network(u, 1), n);
    lethe_status st = unlearn_sfd.step(u, step);
    if (st) return st;
    // the teacher is the parent, unchanged
    float *t = toy_host_copy(u->teacher, n);
    assert_memory_equal(t, parent_host, n * sizeof(float));
    // the fake score moved in this step (its own Adam update)
    float *psi = toy_host_copy(sfd_network(u, 1), n);
    assert_memory_not_equal(psi, psi_before, n * sizeof(float));
    // the loop's optimiser sees only the generator: the mask is 1 on theta, 0 elsewhere
    float *mask = toy_host_copy(u->mask, u->n_train);
    for (size_t i = 0; i < u->n_train; i++) assert_true(mask[i] == (i < n ? 1.0f : 0.0f));
    assert_true(isfinite(u->loss));
    free(t); free(psi); free(psi_before); free(mask);
    steps_seen++;
    return LETHE_OK;
}

static void test_gradient_teacher_and_output(void **state) {
    (void)state;
    size_t n;
    parent_host = toy_load_weights(toy_parent, &n);
    unlearn_method spy = unlearn_sfd;
    spy.step = spy_step;
    unlearn_opts o;
    char *out = toy_path("sfd_a");
    toy_opts(&o, out);
    lethe_status st = toy_run(&o, &spy, NULL, 0);
    if (st) fail_msg("sfd: %s", lethe_last_error());
    assert_int_equal(steps_seen, 2);
    assert_true(fd_done);
    print_message("sfd: generator gradient vs central differences (24 weights): max rel err %.3g\n", fd_worst);
    print_message("sfd: derivative along the gradient vs central difference: rel err %.3g\n", dir_err);
    assert_true(fd_worst < 2e-2);
    assert_true(dir_err < 1e-3);   // 4.6e-5 when written

    // a one-step generator on disk
    lethe_model g;
    assert_int_equal(model_load(&g, out), LETHE_OK);
    assert_int_equal(g.one_step_t, 440);
    assert_string_equal(g.method, "sfd");
    size_t ng;
    float *w = toy_load_weights(out, &ng);
    assert_int_equal(ng, n);
    assert_memory_not_equal(w, parent_host, n * sizeof(float));

    // the one-step sampler: x0 = (x_in - sqrt(1 - abar) eps(x_in)) / sqrt(abar), x_in = sqrt(1 - abar) z
    lethe_schedule sched;
    assert_int_equal(schedule_init(&sched, &g.sched), LETHE_OK);
    const int m = 2;
    const size_t numel = 64, sz = m * numel;
    float *x = ops()->alloc(sz * sizeof(float)), *xin = ops()->alloc(sz * sizeof(float)), *eps = ops()->alloc(sz * sizeof(float));
    sampler_initial_noise(x, m, numel, 3, 0);
    float *z = toy_host_copy(x, sz);
    int labels[2] = {0, 2};
    denoiser_infer den;
    denoiser_infer_init(&den, &g.net, g.params);
    sampler_opts so = {.kind = SAMPLER_ONE_STEP, .one_step_t = g.one_step_t, .steps = 1, .seed = 3};
    const lethe_cond cond = cond_class_view(&g.net.cond, labels, m);
    assert_int_equal(sampler_run(&sched, &so, &den, x, &cond, m, NULL, NULL), LETHE_OK);
    const double abar = sched.alphas_cumprod[440];
    float *hx = toy_host_copy(x, sz), *hin = malloc(sz * sizeof(float));
    for (size_t i = 0; i < sz; i++) hin[i] = (float)sqrt(1 - abar) * z[i];
    ops()->to_device(xin, hin, sz * sizeof(float));
    float tt[2] = {440, 440};
    assert_int_equal(denoiser_infer_eps(&den, eps, xin, tt, &cond, m), LETHE_OK);
    float *he = toy_host_copy(eps, sz);
    double worst = 0;
    for (size_t i = 0; i < sz; i++) {
        double want = ((double)hin[i] - sqrt(1 - abar) * he[i]) / sqrt(abar);
        want = want > 1 ? 1 : want < -1 ? -1 : want;   // the scheduler's clip_sample
        worst = fmax(worst, fabs(want - hx[i]));
    }
    assert_true(worst < 1e-5);
    denoiser_infer_free(&den);
    schedule_free(&sched);
    ops()->release(x); ops()->release(xin); ops()->release(eps);
    free(z); free(hx); free(hin); free(he); free(w);
    model_free(&g);

    // the same run, stopped after step 1 and resumed, gives the same generator
    char *out_b = toy_path("sfd_b");
    toy_opts(&o, out_b);
    o.stop_after = 1;
    if ((st = toy_run(&o, &unlearn_sfd, NULL, 0))) fail_msg("sfd stop: %s", lethe_last_error());
    o.stop_after = 0;
    if ((st = toy_run(&o, &unlearn_sfd, NULL, 1))) fail_msg("sfd resume: %s", lethe_last_error());
    size_t na, nb;
    float *a = toy_load_weights(out, &na), *b = toy_load_weights(out_b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(float));
    free(a);
    free(b);
    free(parent_host);
}

// The first test runs the default, guided teacher (--teacher-guidance 2: eps = 2 eps(c) -
// eps(null), one batch of 2n rows); this one the unguided teacher (1: one batch of n rows).
static void test_gradient_unguided_teacher(void **state) {
    (void)state;
    size_t n;
    parent_host = toy_load_weights(toy_parent, &n);
    fd_done = steps_seen = 0;
    fd_worst = dir_err = 0;
    unlearn_method spy = unlearn_sfd;
    spy.step = spy_step;
    unlearn_opts o;
    toy_opts(&o, toy_path("sfd_unguided"));
    assert_int_equal(unlearn_opts_set(&o, "teacher-guidance", "1"), LETHE_OK);
    lethe_status st = toy_run(&o, &spy, NULL, 0);
    if (st) fail_msg("sfd unguided: %s", lethe_last_error());
    assert_int_equal(steps_seen, 2);
    assert_true(fd_done);
    print_message("sfd, unguided teacher: gradient vs central differences: max rel err %.3g, along the gradient %.3g\n",
                  fd_worst, dir_err);
    assert_true(fd_worst < 2e-2);
    assert_true(dir_err < 1e-3);
    free(parent_host);

    // out of range
    toy_opts(&o, toy_path("sfd_bad_guidance"));
    assert_int_equal(unlearn_opts_set(&o, "teacher-guidance", "-1"), LETHE_OK);
    assert_int_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_ERR_ARG);
}

static void test_bad_input(void **state) {
    (void)state;
    unlearn_opts o;
    toy_opts(&o, toy_path("bad"));
    assert_int_equal(unlearn_opts_set(&o, "override", "c1"), LETHE_OK);   // the forget class itself
    assert_int_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "forget class"));
    toy_opts(&o, toy_path("bad"));
    assert_int_equal(unlearn_opts_set(&o, "override", "c7"), LETHE_OK);
    assert_int_not_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_OK);
    toy_opts(&o, toy_path("bad"));
    assert_int_equal(unlearn_opts_set(&o, "t-init", "1000"), LETHE_OK);
    assert_int_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "t-init"));
    toy_opts(&o, toy_path("bad"));
    assert_int_equal(unlearn_opts_set(&o, "t_init", "0"), LETHE_OK);
    assert_int_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_ERR_ARG);
    toy_opts(&o, toy_path("bad"));
    o.model_dir = toy_uncond;
    o.forget = "1";
    assert_int_not_equal(toy_run(&o, &unlearn_sfd, NULL, 0), LETHE_OK);
    // through the entry point too (it reads no dataset for a data-free method)
    toy_opts(&o, toy_path("bad"));
    o.model_dir = toy_uncond;
    assert_int_equal(unlearn_run(&o), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "class-conditional"));
}

int main(void) {
#ifdef _OPENMP
    omp_set_num_threads(1);   // toy tensors: threads would only wait on each other
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_teacher_and_output),
        cmocka_unit_test(test_gradient_unguided_teacher),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
