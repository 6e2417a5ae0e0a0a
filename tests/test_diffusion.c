/*
 * test_diffusion.c: the noise schedule, timestep spacing, DDPM variance, LR and EMA rules
 * against the test vectors of ../shared/specs/diffusers-and-formats.md 3.6 (values read
 * off diffusers' DDPMScheduler / DDIMScheduler) and the formulas of 3.7.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "diffusion/schedule.h"
#include "optim/adamw.h"

static void close_rel(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol * fabs(want))) fail_msg("got %.9g, want %.9g (rel tol %g)", got, want, tol);
}

static void test_linear_schedule_vectors(void **state) {
    schedule_config c;
    schedule_config_default(&c);
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &c), LETHE_OK);
    close_rel(s.betas[0], 1.0e-4, 1e-6);
    close_rel(s.betas[999], 0.02, 1e-6);
    close_rel(s.alphas_cumprod[0], 0.99990, 1e-6);
    close_rel(s.alphas_cumprod[499], 0.0785872, 1e-5);
    close_rel(s.alphas_cumprod[999], 4.03583e-5, 1e-5);
    // DDPM fixed_small variance for the full chain: (1 - abar_prev) / (1 - abar_t) * beta_t
    double v999 = (1 - s.alphas_cumprod[998]) / (1 - s.alphas_cumprod[999]) * s.betas[999];
    double v1 = (1 - s.alphas_cumprod[0]) / (1 - s.alphas_cumprod[1]) * s.betas[1];
    close_rel(v999, 0.0199999642, 1e-5);
    close_rel(v1, 5.45348e-5, 1e-4);
    schedule_free(&s);
}

static void test_squaredcos_schedule_vectors(void **state) {
    schedule_config c;
    schedule_config_default(&c);
    c.schedule = BETA_SQUAREDCOS_CAP_V2;
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &c), LETHE_OK);
    close_rel(s.betas[0], 4.12842e-5, 1e-4);
    close_rel(s.betas[999], 0.999, 1e-6);
    close_rel(s.alphas_cumprod[499], 0.493843, 1e-5);
    close_rel(s.alphas_cumprod[999], 2.42873e-9, 1e-3);
    schedule_free(&s);
}

static void expect_timesteps(timestep_spacing sp, int offset, int n, const int *want) {
    schedule_config c;
    schedule_config_default(&c);
    c.spacing = sp;
    c.steps_offset = offset;
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &c), LETHE_OK);
    int got[16];
    assert_int_equal(schedule_timesteps(&s, n, got), LETHE_OK);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("spacing %d, N=%d: timestep %d is %d, want %d", sp, n, i, got[i], want[i]);
    schedule_free(&s);
}

static void test_timestep_spacing_vectors(void **state) {
    expect_timesteps(SPACING_LEADING, 0, 10, (int[]){900, 800, 700, 600, 500, 400, 300, 200, 100, 0});
    expect_timesteps(SPACING_LEADING, 1, 10, (int[]){901, 801, 701, 601, 501, 401, 301, 201, 101, 1});
    expect_timesteps(SPACING_TRAILING, 0, 10, (int[]){999, 899, 799, 699, 599, 499, 399, 299, 199, 99});
    expect_timesteps(SPACING_LINSPACE, 0, 10, (int[]){999, 888, 777, 666, 555, 444, 333, 222, 111, 0});
    expect_timesteps(SPACING_LEADING, 0, 7, (int[]){852, 710, 568, 426, 284, 142, 0});
    expect_timesteps(SPACING_TRAILING, 0, 7, (int[]){999, 856, 713, 570, 428, 285, 142});
    schedule_config c;
    schedule_config_default(&c);
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &c), LETHE_OK);
    int t[2];
    assert_int_equal(schedule_timesteps(&s, 0, t), LETHE_ERR_ARG);
    assert_int_equal(schedule_timesteps(&s, 1001, t), LETHE_ERR_ARG);
    schedule_free(&s);
}

static void test_scheduler_config_round_trip(void **state) {
    schedule_config a, b;
    schedule_config_default(&a);
    a.spacing = SPACING_TRAILING;
    a.steps_offset = 1;
    char *text = schedule_config_to_json(&a, "DDIMScheduler");
    assert_int_equal(schedule_config_from_json(&b, text, "x"), LETHE_OK);
    free(text);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(schedule_config_from_json(&b, "{\"prediction_type\": \"v_prediction\"}", "cfg.json"), LETHE_ERR_FORMAT);
    assert_non_null(strstr(lethe_last_error(), "v_prediction"));
}

static void test_lr_and_ema_rules(void **state) {
    // linear warm-up to the peak, then cosine to 0 at the last step
    close_rel(lr_at(LR_COSINE, 1e-3f, 0, 10, 110), 1e-4, 1e-6);
    close_rel(lr_at(LR_COSINE, 1e-3f, 9, 10, 110), 1e-3, 1e-6);
    close_rel(lr_at(LR_COSINE, 1e-3f, 60, 10, 110), 5e-4, 1e-5);
    assert_true(lr_at(LR_COSINE, 1e-3f, 110, 10, 110) < 1e-9);
    close_rel(lr_at(LR_CONSTANT, 1e-3f, 100, 10, 110), 1e-3, 1e-7);
    // diffusers EMAModel: decay 0 at the first update, then 1 - (1 + s)^-0.75, capped
    assert_true(ema_decay_at(1, 1.0f, 0.75f, 0.9999f) == 0.0f);
    close_rel(ema_decay_at(11, 1.0f, 0.75f, 0.9999f), 1.0 - pow(11.0, -0.75), 1e-6);
    close_rel(ema_decay_at(10000000, 1.0f, 0.75f, 0.9999f), 0.9999, 1e-7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_schedule_vectors),
        cmocka_unit_test(test_squaredcos_schedule_vectors),
        cmocka_unit_test(test_timestep_spacing_vectors),
        cmocka_unit_test(test_scheduler_config_round_trip),
        cmocka_unit_test(test_lr_and_ema_rules),
    };
    return cmocka_run_group_tests_name("diffusion", tests, NULL, NULL);
}
