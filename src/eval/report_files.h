/*
 * report_files.h: what `lethe eval` writes: the JSON report and one PNG grid per model
 * beside it (OUT.json -> OUT.png; several models: OUT_1.png, OUT_2.png, ...).
 */
#ifndef LETHE_EVAL_REPORT_FILES_H
#define LETHE_EVAL_REPORT_FILES_H

#include <stddef.h>

#include "eval/evaluate.h"

// json_path with its extension replaced by SUFFIX.png (OUT.json, "_side_by_side" -> OUT_side_by_side.png).
void eval_png_path(char *dst, size_t cap, const char *json_path, const char *suffix);
// The grid path of model k (0-based) of n_models for a report written to json_path.
void eval_grid_path(char *dst, size_t cap, const char *json_path, int k, int n_models);
// Writes the JSON (atomically) and every model's grid.
lethe_status eval_report_write(const eval_report *r, const char *json_path);

#endif
