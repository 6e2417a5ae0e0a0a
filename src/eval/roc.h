/*
 * roc.h: area under the ROC curve, for the membership-inference attack
 * (specs/evaluation.md, "Privacy and robustness"): how well a score separates
 * members (positives) from non-members (negatives).
 */
#ifndef LETHE_EVAL_ROC_H
#define LETHE_EVAL_ROC_H

// P(score of a random positive > score of a random negative), ties counting 1/2:
// the Mann-Whitney U statistic / (n_pos n_neg). O(n log n). Orientation matters: a
// score where members are LOWER (a loss) must be negated first, or use 1 - auc.
// NAN when either set is empty, a score is NaN, or memory runs out.
double roc_auc(const double *pos, int n_pos, const double *neg, int n_neg);

// Hanley & McNeil (1982) standard error of `auc`:
//   sqrt((A(1-A) + (n_pos-1)(Q1-A^2) + (n_neg-1)(Q2-A^2)) / (n_pos n_neg)),
//   Q1 = A/(2-A), Q2 = 2A^2/(1+A).
// It depends on the scores only through auc and the counts (pos/neg are not read).
// NAN when either set is empty or auc is NaN.
double roc_auc_stderr(const double *pos, int n_pos, const double *neg, int n_neg, double auc);

#endif
