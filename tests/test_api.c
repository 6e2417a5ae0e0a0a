/*
 * test_api.c: the public C API through include/lethe.h alone: the error convention
 * (status values and names agree with the library's, messages name what is wrong),
 * options by name, a model trained, loaded, sampled, saved and reloaded, and the
 * unlearning entry's argument checks. Writes to a mkdtemp dir in /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lethe.h"

static char tmp[64];

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/lethe_api_XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp, name);
    return p[k];
}

#define assert_msg_has(s) assert_non_null(strstr(lethe_last_error(), s))

static void test_status_names(void **state) {
    (void)state;
    // lethe.h repeats core/error.h's enum: the names the library gives must match its values
    assert_string_equal(lethe_status_name(LETHE_OK), "ok");
    assert_string_equal(lethe_status_name(LETHE_ERR_IO), "I/O error");
    assert_string_equal(lethe_status_name(LETHE_ERR_FORMAT), "format error");
    assert_string_equal(lethe_status_name(LETHE_ERR_SHAPE), "shape error");
    assert_string_equal(lethe_status_name(LETHE_ERR_ARG), "invalid argument");
    assert_string_equal(lethe_status_name(LETHE_ERR_NOMEM), "out of memory");
    assert_string_equal(lethe_status_name(LETHE_ERR_NUMERIC), "numeric error");
    assert_non_null(strchr(lethe_version(), '.'));
    assert_non_null(strstr(lethe_unlearn_methods(), "salun"));
    assert_int_equal(lethe_set_device("cpu"), LETHE_OK);
    assert_int_equal(lethe_set_device("tpu"), LETHE_ERR_ARG);
}

static void test_options(void **state) {
    (void)state;
    lethe_options *o;
    assert_int_equal(lethe_options_new(&o), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "steps", "3"), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "steps", "2"), LETHE_OK);   // replaced, not added
    assert_int_equal(lethe_options_set(o, "", "2"), LETHE_ERR_ARG);
    assert_int_equal(lethe_options_set(o, "x", NULL), LETHE_ERR_ARG);
    // an unknown name fails the call that reads it, naming it and the known ones
    assert_int_equal(lethe_options_set(o, "stepz", "1"), LETHE_OK);
    assert_int_equal(lethe_train(path("never"), o), LETHE_ERR_ARG);
    assert_msg_has("unknown option 'stepz'");
    assert_msg_has("init-seed");
    lethe_options_free(o);
    // values are checked by type
    const char *bad[][2] = {{"steps", "3x"}, {"lr", "fast"}, {"seed", "-1"}, {"resume", "maybe"}, {"lr-schedule", "linear"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lethe_options_new(&o), LETHE_OK);
        assert_int_equal(lethe_options_set(o, bad[i][0], bad[i][1]), LETHE_OK);
        assert_int_equal(lethe_train(path("never"), o), LETHE_ERR_ARG);
        assert_msg_has(bad[i][0]);
        assert_msg_has(bad[i][1]);
        lethe_options_free(o);
    }
    lethe_options_free(NULL);
}

static void test_errors(void **state) {
    (void)state;
    lethe_model *m = (lethe_model *)1;
    assert_int_equal(lethe_model_load(&m, path("absent")), LETHE_ERR_IO);
    assert_null(m);
    assert_msg_has("absent");
    lethe_model_free(NULL);
    lethe_images_free(NULL);
    assert_int_equal(lethe_unlearn(path("absent"), "salun", NULL, path("out"), NULL), LETHE_ERR_ARG);
    lethe_options *o;
    assert_int_equal(lethe_options_new(&o), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "frobnicate", "1"), LETHE_OK);
    assert_int_equal(lethe_unlearn(path("absent"), "salun", "trouser", path("out"), o), LETHE_ERR_ARG);
    assert_msg_has("frobnicate");
    lethe_options_free(o);
    const char *dirs[] = {path("absent")};
    assert_int_equal(lethe_evaluate(dirs, 0, path("cls"), NULL, path("e.json"), NULL), LETHE_ERR_ARG);
}

// sha of nothing: compares two float arrays bit for bit
static int same_floats(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

static void test_train_sample_save(void **state) {
    (void)state;
    lethe_options *o;
    assert_int_equal(lethe_options_new(&o), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "steps", "2"), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "batch", "2"), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "warmup", "1"), LETHE_OK);
    assert_int_equal(lethe_options_set(o, "classes", "trouser,bag"), LETHE_OK);
    assert_int_equal(lethe_train(path("m"), o), LETHE_OK);
    lethe_options_free(o);

    lethe_model *m;
    assert_int_equal(lethe_model_load(&m, path("m")), LETHE_OK);
    assert_int_equal(lethe_model_num_classes(m), 10);
    assert_string_equal(lethe_model_class_name(m, 1), "trouser");
    assert_null(lethe_model_class_name(m, 10));
    int k = -1;
    assert_int_equal(lethe_model_class_index(m, "bag", &k), LETHE_OK);
    assert_int_equal(k, 8);
    assert_int_equal(lethe_model_class_index(m, "unicorn", &k), LETHE_ERR_ARG);
    assert_int_equal(lethe_model_channels(m), 1);
    assert_int_equal(lethe_model_image_size(m), 28);
    assert_true(lethe_model_num_params(m) > 100000);

    lethe_options *so;
    lethe_images *a, *b;
    assert_int_equal(lethe_options_new(&so), LETHE_OK);
    assert_int_equal(lethe_options_set(so, "class", "trouser,bag"), LETHE_OK);
    assert_int_equal(lethe_options_set(so, "n", "3"), LETHE_OK);
    assert_int_equal(lethe_options_set(so, "steps", "3"), LETHE_OK);
    assert_int_equal(lethe_options_set(so, "batch", "4"), LETHE_OK);
    assert_int_equal(lethe_sample(m, so, &a), LETHE_OK);
    assert_int_equal(lethe_images_count(a), 6);
    assert_int_equal(lethe_images_channels(a), 1);
    assert_int_equal(lethe_images_size(a), 28);
    assert_int_equal(lethe_images_labels(a)[0], 1);
    assert_int_equal(lethe_images_labels(a)[5], 8);
    assert_int_equal(lethe_images_write_png(a, path("a.png")), LETHE_OK);
    assert_int_equal(lethe_images_write_npy(a, path("a.npy")), LETHE_OK);
    assert_int_equal(lethe_images_write_idx(a, path("a")), LETHE_OK);

    // saved and reloaded: the same weights (the same samples) and the same provenance
    assert_int_equal(lethe_model_save(m, path("copy")), LETHE_OK);
    lethe_model *c;
    assert_int_equal(lethe_model_load(&c, path("copy")), LETHE_OK);
    assert_int_equal(lethe_sample(c, so, &b), LETHE_OK);
    assert_true(same_floats(lethe_images_data(a), lethe_images_data(b), 6 * 28 * 28));
    FILE *f = fopen(path("copy/lethe.json"), "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "\"steps_done\""));    // the trained model's provenance, kept
    assert_non_null(strstr(text, "\"trained_classes\""));
    lethe_images_free(b);

    // a bad option value is reported by lethe_sample
    assert_int_equal(lethe_options_set(so, "sampler", "euler"), LETHE_OK);
    assert_int_equal(lethe_sample(m, so, &b), LETHE_ERR_ARG);
    assert_msg_has("euler");
    assert_int_equal(lethe_options_set(so, "sampler", "ddim"), LETHE_OK);
    assert_int_equal(lethe_options_set(so, "class", "unicorn"), LETHE_OK);
    assert_int_equal(lethe_sample(m, so, &b), LETHE_ERR_ARG);
    assert_msg_has("unicorn");

    lethe_images_free(a);
    lethe_options_free(so);
    lethe_model_free(c);
    lethe_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_train_sample_save),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
