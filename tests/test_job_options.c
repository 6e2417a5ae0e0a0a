/*
 * test_job_options.c: the options of train, sample, eval and classifier, declared once in
 * the library (train_job_options, sample_request_options, eval_request_options,
 * classifier_job_options) and set by name with opt_set, the path lethe_options takes (the
 * CLI's flags are the same rows, args_from_options):
 *
 * - every table: names unique, no alias clashing with a name, every row inside its struct;
 * - names, '_' spellings and aliases (learning_rate, cfg-scale) reach the declared field;
 * - an OPT_CHOICE word resolves into the library's enum (lr-schedule, sampler, nll-variance);
 * - unknown names list the known ones; bad values are LETHE_ERR_ARG naming name and value;
 * - the checks: class-dropout in [0, 1], n and batch positive, fid-images at least 2;
 * - train's record (train_job_arguments): every recorded row, floats as the shortest decimal
 *   that reads back as the same float, no --out, --resume or --stop-after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/sample_job.h"
#include "diffusion/train_new.h"
#include "eval/classifier_job.h"
#include "eval/evaluate.h"

static void assert_msg_has(const char *needle) {
    if (!strstr(lethe_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", lethe_last_error(), needle);
}

// opt_set through a table, as lethe_options' values are set
static lethe_status set(const opt_table *t, void *base, const char *name, const char *value) {
    return opt_set(t->rows, t->n, base, name, value);
}

// sets every {name, value} of `given`, each must succeed
static void set_all(const opt_table *t, void *base, const char *const (*given)[2], int n) {
    for (int i = 0; i < n; i++)
        if (set(t, base, given[i][0], given[i][1])) fail_msg("%s = %s: %s", given[i][0], given[i][1], lethe_last_error());
}

// st is LETHE_ERR_ARG, the message naming `needle`
static void expect_failed(lethe_status st, const char *needle) {
    assert_int_equal(st, LETHE_ERR_ARG);
    assert_msg_has(needle);
}

static void expect_error(const opt_table *t, void *base, const char *name, const char *value, const char *needle) {
    expect_failed(set(t, base, name, value), needle);
}

static void check_table(const opt_table *table, size_t struct_size) {
    const opt_spec *t = table->rows;
    const int n = table->n;
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        assert_non_null(t[i].name);
        assert_non_null(t[i].help);
        assert_true(t[i].offset < struct_size);
        if (t[i].type == OPT_CHOICE) assert_non_null(t[i].choices);
        for (int k = 0; k < n; k++) {
            if (k == i) continue;
            if (opt_same_name(t[i].name, t[k].name)) fail_msg("'%s' declared twice", t[i].name);
            if (t[k].alias && opt_same_name(t[i].name, t[k].alias)) fail_msg("alias '%s' is another option's name", t[k].alias);
        }
    }
}

static void test_tables(void **state) {
    (void)state;
    check_table(&train_job_options, sizeof(train_job));
    check_table(&sample_request_options, sizeof(sample_request));
    check_table(&eval_request_options, sizeof(eval_request));
    check_table(&classifier_job_options, sizeof(classifier_job));
}

static void test_train(void **state) {
    (void)state;
    train_job j;
    train_job_default(&j);
    const opt_table *t = &train_job_options;
    assert_int_equal(set(t, &j, "learning_rate", "0.5"), LETHE_OK);   // diffusers spelling, '_' for '-'
    assert_true(j.o.adam.lr == 0.5f);
    assert_int_equal(set(t, &j, "max-train-steps", "7"), LETHE_OK);
    assert_int_equal(j.o.steps, 7);
    assert_int_equal(set(t, &j, "seed", "18446744073709551615"), LETHE_OK);
    assert_true(j.o.seed == UINT64_MAX);
    assert_int_equal(set(t, &j, "no-ema", "yes"), LETHE_OK);
    assert_int_equal(set(t, &j, "lr-scheduler", "constant"), LETHE_OK);
    assert_int_equal(set(t, &j, "log-every", "0"), LETHE_OK);
    assert_int_equal(train_job_check(&j), LETHE_OK);
    assert_int_equal(j.o.lr_kind, LR_CONSTANT);
    assert_int_equal(j.o.use_ema, 0);
    assert_int_equal(j.o.log_every, 1);

    train_job d;
    train_job_default(&d);
    assert_int_equal(train_job_check(&d), LETHE_OK);   // the defaults: cosine, EMA on
    assert_int_equal(d.o.lr_kind, LR_COSINE);
    assert_int_equal(d.o.use_ema, 1);

    expect_error(t, &j, "stepz", "1", "unknown option 'stepz'");
    assert_msg_has("init-seed");
    expect_error(t, &j, "lr-schedule", "linear", "cosine or constant");
    assert_msg_has("linear");
    expect_error(t, &j, "steps", "3x", "3x");
    assert_int_equal(j.o.steps, 7);   // a bad value changes nothing
    assert_int_equal(set(t, &j, "class-dropout", "1.5"), LETHE_OK);
    expect_failed(train_job_check(&j), "class-dropout");
}

static void test_train_record(void **state) {
    (void)state;
    train_job j;
    train_job_default(&j);
    const opt_table *t = &train_job_options;
    assert_int_equal(set(t, &j, "lr", "0.12345678"), LETHE_OK);   // needs 8 digits to read back
    assert_int_equal(set(t, &j, "ema-max-decay", "0.99"), LETHE_OK);
    assert_int_equal(set(t, &j, "lr-schedule", "constant"), LETHE_OK);
    assert_int_equal(set(t, &j, "exclude", "trouser"), LETHE_OK);
    assert_int_equal(set(t, &j, "out", "/tmp/x"), LETHE_OK);
    assert_int_equal(set(t, &j, "stop-after", "3"), LETHE_OK);
    char *text = train_job_arguments(&j);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"ema_max_decay\":0.99,"));   // as written, not 0.99000000953674316
    cJSON *a = cJSON_Parse(text);
    free(text);
    assert_non_null(a);
    assert_true((float)cJSON_GetObjectItem(a, "lr")->valuedouble == 0.12345678f);
    assert_string_equal(cJSON_GetObjectItem(a, "lr_schedule")->valuestring, "constant");
    assert_string_equal(cJSON_GetObjectItem(a, "exclude")->valuestring, "trouser");
    assert_int_equal(cJSON_GetObjectItem(a, "warmup")->valueint, 200);
    assert_null(cJSON_GetObjectItem(a, "classes"));      // unset: left out
    assert_null(cJSON_GetObjectItem(a, "out"));          // this invocation's, not the run's
    assert_null(cJSON_GetObjectItem(a, "stop_after"));
    assert_null(cJSON_GetObjectItem(a, "resume"));
    int recorded = 0;
    for (int i = 0; i < t->n; i++) recorded += !(t->rows[i].flags & OPT_NO_RECORD) && opt_is_set(&t->rows[i], opt_get(&t->rows[i], &j));
    assert_int_equal(cJSON_GetArraySize(a), recorded);
    cJSON_Delete(a);
}

static void test_sample(void **state) {
    (void)state;
    sample_request r;
    sample_request_default(&r);
    assert_int_equal(sample_request_check(&r), LETHE_OK);
    assert_int_equal(r.job.kind, SAMPLER_DDIM);
    const opt_table *t = &sample_request_options;
    static const char *const given[][2] = {{"sampling-method", "ddpm"}, {"cfg_scale", "3.5"}, {"class", "trouser"}};
    set_all(t, &r, given, 3);
    assert_int_equal(sample_request_check(&r), LETHE_OK);
    assert_int_equal(r.job.kind, SAMPLER_DDPM);
    assert_true(r.job.guidance == 3.5f);
    assert_string_equal(r.job.classes, "trouser");
    expect_error(t, &r, "sampler", "euler", "euler");
    assert_int_equal(set(t, &r, "out", "x.png"), LETHE_ERR_ARG);   // the CLI's file, not the library's
    assert_int_equal(set(t, &r, "batch", "0"), LETHE_OK);
    expect_failed(sample_request_check(&r), "--batch");
}

static void test_eval_and_classifier(void **state) {
    (void)state;
    eval_request r;
    eval_request_default(&r);
    const opt_table *t = &eval_request_options;
    eval_request_check(&r);
    assert_int_equal(r.o.sampler, SAMPLER_DDIM);
    assert_int_equal(r.o.nll.variance, NLL_FIXED_SMALL);
    const int mia = r.o.mia_images;
    assert_true(mia > 0 && r.o.nll_images > 0);
    static const char *const given[][2] = {{"nll_variance", "fixed_large"}, {"no-nll", "1"}, {"sampler", "ddpm"}};
    set_all(t, &r, given, 3);
    eval_request_check(&r);
    assert_int_equal(r.o.nll.variance, NLL_FIXED_LARGE);
    assert_int_equal(r.o.sampler, SAMPLER_DDPM);
    assert_int_equal(r.o.nll_images, 0);
    assert_int_equal(r.o.mia_images, mia);
    expect_error(t, &r, "nll-variance", "fixed_medium", "fixed_small or fixed_large");

    classifier_job j;
    classifier_job_default(&j);
    assert_int_equal(classifier_job_check(&j), LETHE_OK);
    assert_int_equal(set(&classifier_job_options, &j, "fid-images", "1"), LETHE_OK);
    expect_failed(classifier_job_check(&j), "--fid-images");
    assert_int_equal(set(&classifier_job_options, &j, "fid_images", "2"), LETHE_OK);
    assert_int_equal(set(&classifier_job_options, &j, "channels", "16,x"), LETHE_OK);
    assert_int_equal(classifier_job_check(&j), LETHE_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_train),
        cmocka_unit_test(test_train_record),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_eval_and_classifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
