/*
 * test_canvas_eval.c: the text-to-image answer-set metrics (src/eval/canvas_eval.c) against
 * hand-computed cases.
 *
 * - six judged images, a style forgotten: style / object accuracy overall, per style and per
 *   object, UA (forgotten style not judged as itself), IRA (style accuracy on the other
 *   images), CRA (object accuracy on them), and the object accuracy of the forgotten style's
 *   own images; the same images with an object forgotten (the domains swap); two styles
 *   forgotten at once (UA is the mean of the two concepts' UAs);
 * - without forget concepts UA, IRA and CRA are NaN, and classes with no image are NaN;
 * - forget lists: style and object names (case-insensitive), an unknown name is an error that
 *   names it and lists the valid ones, a name given twice and "everything forgotten" are errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "test_util.h"

#include "eval/canvas_eval.h"

static const char OBJECTS[CANVAS_N_OBJECTS][32] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                   "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};

// (style, object, predicted style, predicted object)
static const int S[6] = {3, 3, 3, 4, 4, 5}, O[6] = {0, 1, 2, 0, 1, 0};
static const int PS[6] = {3, 5, 7, 4, 4, 6}, PO[6] = {0, 1, 4, 0, 2, 0};

static void near(double got, double want) { assert_true(fabs(got - want) < 1e-12); }

static void test_style_forgotten(void **state) {
    (void)state;
    canvas_forget f = {.domain = CANVAS_FORGET_STYLE, .concepts = {3}, .n = 1};
    canvas_metrics m;
    canvas_metrics_compute(S, O, PS, PO, 6, &f, &m);
    near(m.style_accuracy, 3.0 / 6);    // images 0, 3, 4
    near(m.object_accuracy, 4.0 / 6);   // images 0, 1, 3, 5
    near(m.style_acc_by_style[3], 1.0 / 3);
    near(m.style_acc_by_style[4], 1.0);
    near(m.style_acc_by_style[5], 0.0);
    assert_true(isnan(m.style_acc_by_style[0]));
    near(m.object_acc_by_style[3], 2.0 / 3);
    near(m.object_acc_by_style[4], 0.5);
    near(m.object_acc_by_object[0], 1.0);
    near(m.object_acc_by_object[1], 0.5);
    near(m.object_acc_by_object[2], 0.0);
    near(m.style_acc_by_object[0], 2.0 / 3);   // images 0, 3 right, 5 wrong
    assert_true(isnan(m.object_acc_by_object[9]));
    near(m.ua, 2.0 / 3);                       // images 1, 2 no longer style 3
    near(m.ua_concept[0], 2.0 / 3);
    near(m.ira, 2.0 / 3);                      // images 3, 4, 5: styles right for 3, 4
    near(m.cra, 2.0 / 3);                      // objects right for 3, 5
    near(m.forget_cross_accuracy, 2.0 / 3);    // objects of images 0, 1 right, 2 wrong
}

static void test_object_forgotten(void **state) {
    (void)state;
    canvas_forget f = {.domain = CANVAS_FORGET_OBJECT, .concepts = {0}, .n = 1};
    canvas_metrics m;
    canvas_metrics_compute(S, O, PS, PO, 6, &f, &m);
    near(m.ua, 0.0);                           // images 0, 3, 5 are all still t-shirts
    near(m.ira, 1.0 / 3);                      // images 1, 2, 4: objects right for 1 only
    near(m.cra, 1.0 / 3);                      // styles right for 4 only
    near(m.forget_cross_accuracy, 2.0 / 3);    // styles of images 0, 3 right, 5 wrong
}

static void test_two_styles_forgotten(void **state) {
    (void)state;
    canvas_forget f = {.domain = CANVAS_FORGET_STYLE, .concepts = {3, 5}, .n = 2};
    canvas_metrics m;
    canvas_metrics_compute(S, O, PS, PO, 6, &f, &m);
    near(m.ua_concept[0], 2.0 / 3);
    near(m.ua_concept[1], 1.0);                // image 5 judged style 6
    near(m.ua, (2.0 / 3 + 1.0) / 2);
    near(m.ira, 1.0);                          // images 3, 4
    near(m.cra, 0.5);
    near(m.forget_cross_accuracy, 3.0 / 4);    // images 0, 1, 2, 5: objects right but for 2
}

static void test_nothing_forgotten(void **state) {
    (void)state;
    canvas_forget f = {0};
    canvas_metrics m;
    canvas_metrics_compute(S, O, PS, PO, 6, &f, &m);
    assert_true(isnan(m.ua) && isnan(m.ira) && isnan(m.cra) && isnan(m.forget_cross_accuracy));
    near(m.style_accuracy, 0.5);
}

static void test_forget_parse(void **state) {
    (void)state;
    canvas_forget f;
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_STYLE, "zebra,Photo", OBJECTS), LETHE_OK);
    assert_int_equal(f.n, 2);
    int zebra;
    assert_int_equal(canvas_style_index("zebra", &zebra), LETHE_OK);
    assert_int_equal(f.concepts[0], zebra);
    assert_int_equal(f.concepts[1], 0);
    assert_true(canvas_forget_involves(&f, zebra, 3) && canvas_forget_involves(&f, 0, 9));
    assert_false(canvas_forget_involves(&f, zebra + 1, 3));
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_OBJECT, "trouser,ANKLE-BOOT", OBJECTS), LETHE_OK);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.concepts[0], 1);
    assert_int_equal(f.concepts[1], 9);
    assert_true(canvas_forget_involves(&f, 7, 1) && !canvas_forget_involves(&f, 7, 2));

    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_OBJECT, "trousers", OBJECTS), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "trousers"));
    assert_non_null(strstr(lethe_last_error(), "ankle-boot"));
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_STYLE, "zebbra", OBJECTS), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "zebbra"));
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_STYLE, "zebra,zebra", OBJECTS), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "twice"));
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_OBJECT,
                                         "t-shirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot",
                                         OBJECTS), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "nothing is retained"));
    assert_int_equal(canvas_forget_parse(&f, CANVAS_FORGET_STYLE, "", OBJECTS), LETHE_OK);
    assert_int_equal(f.domain, CANVAS_FORGET_NONE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_style_forgotten),     cmocka_unit_test(test_object_forgotten),
        cmocka_unit_test(test_two_styles_forgotten), cmocka_unit_test(test_nothing_forgotten),
        cmocka_unit_test(test_forget_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
