/*
 * test_plot.c: line charts (io/plot.h): a straight series passes through the panel pixel its
 * midpoint maps to, each series has its own colour, a NaN point leaves a gap, the same input
 * gives the same pixels, and bad input is an error (no finite point, too many series, x <= 0
 * on a log scale, a tiny image).
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
#include "io/plot.h"

#define W 640
#define H 400

static int has_rgb(const unsigned char *px, int x, int y, int r, int g, int b) {
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            const size_t i = (size_t)(y + dy) * W + (x + dx);
            if (px[i] == r && px[(size_t)W * H + i] == g && px[(size_t)2 * W * H + i] == b) return 1;
        }
    return 0;
}

static long count_rgb(const unsigned char *px, int r, int g, int b) {
    long n = 0;
    for (size_t i = 0; i < (size_t)W * H; i++) n += px[i] == r && px[(size_t)W * H + i] == g && px[(size_t)2 * W * H + i] == b;
    return n;
}

static void test_line_and_colours(void **state) {
    (void)state;
    const double x[] = {0, 10}, y[] = {0, 10}, y2[] = {10, 0};
    plot_series s[2] = {{"up", x, y, 2}, {"down", x, y2, 2}};
    plot_axes a;
    plot_axes_default(&a);
    a.y_min = 0, a.y_max = 10;
    unsigned char *px, *again;
    assert_int_equal(plot_lines(&a, s, 2, &px), LETHE_OK);
    // the panel spans x 64 .. 500 and y 26 .. 356; x is padded by 4% of its range on each side
    const int mx = 64 + (int)lround(5.4 / 10.8 * 436), my = 356 - 165;
    assert_true(has_rgb(px, mx, my, 31, 119, 180) || has_rgb(px, mx, my, 214, 39, 40));   // both cross there
    const int qx = 64 + (int)lround(2.9 / 10.8 * 436), qy = 356 - (int)lround(0.25 * 330);   // (2.5, 2.5): "up" only
    assert_true(has_rgb(px, qx, qy, 31, 119, 180));
    assert_false(has_rgb(px, qx, qy, 214, 39, 40));
    assert_true(count_rgb(px, 214, 39, 40) > 300);   // the second series and its legend
    assert_int_equal(plot_lines(&a, s, 2, &again), LETHE_OK);
    assert_memory_equal(px, again, (size_t)3 * W * H);
    free(px), free(again);
}

static void test_gap(void **state) {
    (void)state;
    const double x[] = {0, 5, 10}, y[] = {0, NAN, 10}, yfull[] = {0, 5, 10};
    plot_series gap = {"gap", x, y, 3}, full = {"full", x, yfull, 3};
    plot_axes a;
    plot_axes_default(&a);
    a.y_min = 0, a.y_max = 10;
    unsigned char *pg, *pf;
    assert_int_equal(plot_lines(&a, &gap, 1, &pg), LETHE_OK);
    assert_int_equal(plot_lines(&a, &full, 1, &pf), LETHE_OK);
    assert_true(count_rgb(pg, 31, 119, 180) + 200 < count_rgb(pf, 31, 119, 180));   // no line across the NaN
    free(pg), free(pf);
}

static void test_errors(void **state) {
    (void)state;
    const double x[] = {0, 1}, y[] = {NAN, NAN}, yy[] = {1, 2};
    plot_series none = {"none", x, y, 2}, ok = {"ok", x, yy, 2}, many[PLOT_MAX_SERIES + 1];
    for (int i = 0; i <= PLOT_MAX_SERIES; i++) many[i] = ok;
    plot_axes a;
    plot_axes_default(&a);
    unsigned char *px;
    assert_int_equal(plot_lines(&a, &none, 1, &px), LETHE_ERR_ARG);
    assert_int_equal(plot_lines(&a, many, PLOT_MAX_SERIES + 1, &px), LETHE_ERR_ARG);
    a.log_x = 1;   // x = 0 on a log scale
    assert_int_equal(plot_lines(&a, &ok, 1, &px), LETHE_ERR_ARG);
    a.log_x = 0, a.width = 100;
    assert_int_equal(plot_lines(&a, &ok, 1, &px), LETHE_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_colours),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
