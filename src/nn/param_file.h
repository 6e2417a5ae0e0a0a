/*
 * param_file.h: a network's flat parameter buffer written as a safetensors file under its
 * table's names and shapes (the UNet, the evaluation classifier, the CLIP text encoder).
 */
#ifndef LETHE_NN_PARAM_FILE_H
#define LETHE_NN_PARAM_FILE_H

#include "core/error.h"
#include "core/params.h"

// params: t->total floats in backend memory. meta: n_meta (key, value) pairs. Atomic
// (st_write writes a temporary file and renames it).
lethe_status param_table_write(const char *path, const param_table *t, const float *params, const char *const *meta,
                               int n_meta);

#endif
