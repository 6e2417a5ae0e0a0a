/*
 * test_concepts.c: a text-to-image model's concepts as classes (unlearn/concepts.h), on a
 * model whose classes are named as the prompt-labelled Fashion-Canvas split names them
 * ("{style} {object}", class style * n_objects + object):
 * - a style names its n_objects classes, an object its one class per style, a prompt class
 *   itself; matching ignores case and '-'; a class already chosen is not added twice;
 * - a style flag refuses an object and the reverse; an unknown word lists the styles and objects;
 * - SPARE's surrogate of a forget prompt replaces its style (or object) and keeps the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "core/error.h"
#include "unlearn/concepts.h"

static const char *const styles[] = {"photo", "zebra", "candy"};
static const char *const objects[] = {"t-shirt", "trouser", "ankle-boot"};
#define NS 3
#define NO 3

static lethe_model *prompt_model(void) {
    lethe_model *m = calloc(1, sizeof *m);
    for (int s = 0; s < NS; s++)
        for (int o = 0; o < NO; o++) snprintf(m->class_names[s * NO + o], 32, "%s %s", styles[s], objects[o]);
    m->n_classes = NS * NO;
    return m;
}

static void test_add(void **state) {
    (void)state;
    lethe_model *m = prompt_model();
    int out[LETHE_MAX_CLASSES], in[LETHE_MAX_CLASSES] = {0}, n = 0;
    assert_int_equal(concepts_add(m, "Zebra", CONCEPT_ANY, out, &n, LETHE_MAX_CLASSES, in), LETHE_OK);
    assert_int_equal(n, NO);
    for (int i = 0; i < NO; i++) assert_int_equal(out[i], 1 * NO + i);
    assert_int_equal(concepts_add(m, "ankleboot", CONCEPT_OBJECT, out, &n, LETHE_MAX_CLASSES, in), LETHE_OK);
    assert_int_equal(n, NO + 2);   // zebra ankle-boot was in already
    assert_int_equal(out[NO], 0 * NO + 2);
    assert_int_equal(out[NO + 1], 2 * NO + 2);
    assert_int_equal(concepts_add(m, "candy trouser", CONCEPT_ANY, out, &n, LETHE_MAX_CLASSES, in), LETHE_OK);
    assert_int_equal(n, NO + 3);
    assert_int_equal(out[NO + 2], 2 * NO + 1);
    free(m);
}

static void test_add_errors(void **state) {
    (void)state;
    lethe_model *m = prompt_model();
    int out[LETHE_MAX_CLASSES], in[LETHE_MAX_CLASSES] = {0}, n = 0;
    assert_int_equal(concepts_add(m, "trouser", CONCEPT_STYLE, out, &n, LETHE_MAX_CLASSES, in), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "'trouser' is not a style"));
    assert_int_equal(concepts_add(m, "zebra", CONCEPT_OBJECT, out, &n, LETHE_MAX_CLASSES, in), LETHE_ERR_ARG);
    assert_int_equal(concepts_add(m, "zebr", CONCEPT_ANY, out, &n, LETHE_MAX_CLASSES, in), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "styles: photo, zebra, candy; objects: t-shirt, trouser, ankle-boot"));
    assert_int_equal(n, 0);
    assert_int_equal(concepts_add(m, "zebra", CONCEPT_STYLE, out, &n, 2, in), LETHE_ERR_ARG);   // more than cap
    free(m);
}

static void test_substitute(void **state) {
    (void)state;
    lethe_model *m = prompt_model();
    int k = -1;
    assert_int_equal(concepts_substitute(m, 1 * NO + 1, "photo", &k), LETHE_OK);   // zebra trouser -> photo trouser
    assert_int_equal(k, 0 * NO + 1);
    assert_int_equal(concepts_substitute(m, 1 * NO + 1, "T-Shirt", &k), LETHE_OK);   // zebra trouser -> zebra t-shirt
    assert_int_equal(k, 1 * NO + 0);
    assert_int_equal(concepts_substitute(m, 1 * NO + 1, "candy ankle-boot", &k), LETHE_OK);   // a whole prompt
    assert_int_equal(k, 2 * NO + 2);
    assert_int_equal(concepts_substitute(m, 0, "sailor", &k), LETHE_ERR_ARG);
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_substitute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
