/*
 * report_files.c: the JSON report and the grids beside it (see report_files.h).
 */
#include "eval/report_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

void eval_png_path(char *dst, size_t cap, const char *json_path, const char *suffix) {
    const char *dot = strrchr(json_path, '.'), *slash = strrchr(json_path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - json_path) : strlen(json_path);
    snprintf(dst, cap, "%.*s%s.png", (int)stem, json_path, suffix);
}

void eval_grid_path(char *dst, size_t cap, const char *json_path, int k, int n_models) {
    char suffix[32] = "";
    if (n_models > 1) snprintf(suffix, sizeof suffix, "_%d", k + 1);
    eval_png_path(dst, cap, json_path, suffix);
}

lethe_status eval_report_write(const eval_report *r, const char *json_path) {
    char *json = eval_report_json(r);
    lethe_status st = json ? fs_write_text_atomic(json_path, json) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(json);
    char png[4096];
    for (int k = 0; !st && k < r->n_models; k++) {
        eval_grid_path(png, sizeof png, json_path, k, r->n_models);
        st = eval_report_grid(r, k, png);
    }
    return st;
}
