/*
 * canvas_judges.c: how well the Fashion-Canvas judges see through each style: the object
 * classifier's and the style classifier's accuracy on real test images, per style.
 *
 *   ./build/bench/canvas_judges OBJECT_DIR STYLE_DIR [images per style=500] [--json]
 *
 * Every style renders the same first N test images (keys = their indices), so the rows
 * differ only by style. Either classifier folder may be "-" to skip it. Threads:
 * OMP_NUM_THREADS. Prints a table (style, family, object accuracy, style accuracy, the
 * worst object of that style) and the means; --json prints one JSON object instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/canvas.h"
#include "data/canvas_set.h"
#include "eval/classifier_model.h"
#include "ops/ops.h"

static void die(lethe_status st) {
    fprintf(stderr, "canvas_judges: %s\n", lethe_last_error());
    exit((int)st ? (int)st : 1);
}

// Accuracy of `c` on the first n test images in `style`, against objects or styles; the
// per-object accuracies (10) go to per_object when non-NULL.
static double judge_style(eval_classifier *c, const canvas_set *set, int style, int n, int by_style,
                          double *per_object) {
    size_t *items = malloc((size_t)n * sizeof(size_t));
    float *x = malloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    int *objects = malloc((size_t)n * sizeof(int));
    float *probs = malloc((size_t)n * (by_style ? CANVAS_N_STYLES : 10) * sizeof(float));
    float *xd = ops()->alloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    if (!items || !x || !objects || !probs || !xd) {
        fprintf(stderr, "canvas_judges: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) items[i] = (size_t)i * CANVAS_N_STYLES + (size_t)style;
    canvas_set_batch(set, items, n, x, NULL, objects, NULL, 0);
    ops()->to_device(xd, x, (size_t)n * CANVAS_NUMEL * sizeof(float));
    lethe_status st = eval_classifier_predict(c, xd, n, probs, NULL, 256);
    if (st) die(st);
    const int k = by_style ? CANVAS_N_STYLES : 10;
    int right = 0, right_obj[10] = {0}, count_obj[10] = {0};
    for (int i = 0; i < n; i++) {
        const int truth = by_style ? style : objects[i];
        const int ok = argmax_row(probs + (size_t)i * k, k) == truth;
        right += ok;
        count_obj[objects[i]]++;
        right_obj[objects[i]] += ok;
    }
    if (per_object)
        for (int o = 0; o < 10; o++) per_object[o] = count_obj[o] ? (double)right_obj[o] / count_obj[o] : -1.0;
    ops()->release(xd);
    free(items);
    free(x);
    free(objects);
    free(probs);
    return (double)right / n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: canvas_judges OBJECT_DIR|- STYLE_DIR|- [images per style=500] [--json]\n");
        return 2;
    }
    int n = 500, json = 0;
    for (int a = 3; a < argc; a++) {
        if (!strcmp(argv[a], "--json")) json = 1;
        else n = atoi(argv[a]);
    }
    if (n < 1 || n > 10000) {
        fprintf(stderr, "canvas_judges: images per style must be in 1..10000\n");
        return 2;
    }
    lethe_status st;
    eval_classifier objc = {0}, stylec = {0};
    const int have_obj = strcmp(argv[1], "-") != 0, have_style = strcmp(argv[2], "-") != 0;
    if (have_obj && (st = eval_classifier_load(&objc, argv[1]))) die(st);
    if (have_style && (st = eval_classifier_load(&stylec, argv[2]))) die(st);
    canvas_set set;
    if ((st = canvas_set_load(&set, "fashion-mnist", LETHE_SPLIT_TEST, 0))) die(st);

    double sum_obj = 0, sum_style = 0, worst_obj = 2, worst_style = 2;
    int worst_obj_at = 0, worst_style_at = 0;
    if (json) printf("{\"images_per_style\": %d, \"styles\": [", n);
    else printf("%-12s %-10s %8s %8s  %s\n", "style", "family", "object", "style", "worst object in this style");
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        double per_object[10], acc_obj = -1, acc_style = -1;
        if (have_obj) acc_obj = judge_style(&objc, &set, s, n, 0, per_object);
        if (have_style) acc_style = judge_style(&stylec, &set, s, n, 1, NULL);
        int wo = 0;
        if (have_obj)
            for (int o = 1; o < 10; o++)
                if (per_object[o] >= 0 && per_object[o] < per_object[wo]) wo = o;
        sum_obj += acc_obj;
        sum_style += acc_style;
        if (acc_obj < worst_obj) worst_obj = acc_obj, worst_obj_at = s;
        if (acc_style < worst_style) worst_style = acc_style, worst_style_at = s;
        const char *family = canvas_family_name(canvas_style_family(s));
        if (json)
            printf("%s{\"style\": \"%s\", \"family\": \"%s\", \"object_accuracy\": %.4f, \"style_accuracy\": %.4f}",
                   s ? ", " : "", canvas_style_name(s), family, acc_obj, acc_style);
        else
            printf("%-12s %-10s %8.3f %8.3f  %s %.3f\n", canvas_style_name(s), family, acc_obj, acc_style,
                   have_obj ? set.objects.class_names[wo] : "-", have_obj ? per_object[wo] : -1.0);
    }
    if (json)
        printf("], \"mean_object_accuracy\": %.4f, \"mean_style_accuracy\": %.4f}\n", sum_obj / CANVAS_N_STYLES,
               sum_style / CANVAS_N_STYLES);
    else
        printf("mean: object %.4f (worst %s %.3f), style %.4f (worst %s %.3f), %d images per style\n",
               sum_obj / CANVAS_N_STYLES, canvas_style_name(worst_obj_at), worst_obj, sum_style / CANVAS_N_STYLES,
               canvas_style_name(worst_style_at), worst_style, n);
    canvas_set_free(&set);
    if (have_obj) eval_classifier_free(&objc);
    if (have_style) eval_classifier_free(&stylec);
    return 0;
}
