/*
 * params.h: the name/offset/shape table behind a model's one flat parameter buffer.
 *
 * Every named tensor (its name is the diffusers state-dict key) is an (offset, shape)
 * entry. Gradients, Adam moments, EMA, masks are parallel flat buffers of the same
 * length, so optimizers and checkpoint I/O are loops over flat buffers and loading
 * is a lookup by name.
 */
#ifndef LETHE_CORE_PARAMS_H
#define LETHE_CORE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define PARAM_NAME_MAX 96

// How a tensor is initialised (PyTorch defaults).
typedef enum {
    PARAM_INIT_UNIFORM_FAN_IN,   // Conv2d/Linear weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    PARAM_INIT_ONES,             // GroupNorm weight
    PARAM_INIT_ZEROS,            // GroupNorm bias
    PARAM_INIT_NORMAL,           // Embedding: N(0, 1)
} param_init;

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int64_t shape[4];
    size_t offset, numel;
    param_init init;
    int fan_in;
} param_entry;

typedef struct {
    param_entry *entries;
    int n, cap;
    size_t total;        // floats
} param_table;

void param_table_init(param_table *t);
void param_table_free(param_table *t);
// Appends "name" with the given shape; returns its offset (aligned to 16 floats).
// Names longer than PARAM_NAME_MAX-1 are a programming error (asserted in debug builds).
size_t param_table_add(param_table *t, const char *name, int ndim, const int64_t *shape,
                       param_init init, int fan_in);
const param_entry *param_table_find(const param_table *t, const char *name);

// Fills host buffer `params` (t->total floats) with PyTorch-default initial values,
// deterministically from seed (one Philox stream per tensor).
void param_table_init_values(const param_table *t, float *params, uint64_t seed);

#endif
