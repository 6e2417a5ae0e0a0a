/*
 * roc.c: ROC AUC by the Mann-Whitney U statistic (see roc.h).
 *
 * Both score sets are copied and sorted; one merge-like walk then counts, for each
 * positive, the negatives strictly below it and those equal to it. Counts are exact
 * integers (int64), so ties are handled exactly and the result is a ratio of integers.
 */
#include "eval/roc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

// Sorted copy of x, or NULL when out of memory or x holds a NaN (qsort needs a total order).
static double *sorted_copy(const double *x, int n) {
    for (int i = 0; i < n; i++)
        if (isnan(x[i])) return NULL;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return NULL;
    memcpy(c, x, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    return c;
}

double roc_auc(const double *pos, int n_pos, const double *neg, int n_neg) {
    if (n_pos < 1 || n_neg < 1) return NAN;
    double *p = sorted_copy(pos, n_pos), *q = sorted_copy(neg, n_neg);
    double auc = NAN;
    if (p && q) {
        // twice U, so that a tie (worth 1/2) stays an integer
        int64_t u2 = 0, below = 0, equal = 0;
        for (int i = 0, j = 0; i < n_pos; i++) {
            if (i > 0 && p[i] == p[i - 1]) { u2 += 2 * below + equal; continue; }
            while (j < n_neg && q[j] < p[i]) j++;
            below = j;
            equal = 0;
            while (j + equal < n_neg && q[j + equal] == p[i]) equal++;
            u2 += 2 * below + equal;
        }
        auc = (double)u2 / (2.0 * (double)n_pos * (double)n_neg);
    }
    free(p);
    free(q);
    return auc;
}

double roc_auc_stderr(const double *pos, int n_pos, const double *neg, int n_neg, double auc) {
    if (n_pos < 1 || n_neg < 1 || isnan(auc)) return NAN;
    const double a = auc, q1 = a / (2.0 - a), q2 = 2.0 * a * a / (1.0 + a);
    double var = (a * (1.0 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) /
                 ((double)n_pos * (double)n_neg);
    return sqrt(fmax(var, 0.0));   // rounding can make it -1e-17 at auc = 0 or 1
}
