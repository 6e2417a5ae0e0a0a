/*
 * test_util.h: shared helpers for lethe's cmocka tests.
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>.
 */
#ifndef LETHE_TEST_UTIL_H
#define LETHE_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// Directory of committed fixtures, relative to the repository root (tests run from there).
#define FIXTURE_DIR "tests/fixtures"

// max |a-b| / max(max|b|, floor): a scale-aware relative error for whole tensors.
static inline double tensor_rel_err(const float *a, const float *b, size_t n, double floor_) {
    double md = 0, mb = floor_;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return md / mb;
}

#endif
