/* params.c: parameter table (see params.h). */
#include "core/params.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void param_table_init(param_table *t) { memset(t, 0, sizeof *t); }

void param_table_free(param_table *t) {
    free(t->entries);
    memset(t, 0, sizeof *t);
}

size_t param_table_add(param_table *t, const char *name, int ndim, const int64_t *shape,
                       param_init init, int fan_in) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        param_entry *e = realloc(t->entries, (size_t)cap * sizeof *e);
        if (!e) abort();   // a few KB: running out here means the process is already dead
        t->entries = e;
        t->cap = cap;
    }
    param_entry *e = &t->entries[t->n++];
    memset(e, 0, sizeof *e);
    assert(strlen(name) < PARAM_NAME_MAX);
    strncpy(e->name, name, PARAM_NAME_MAX - 1);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        e->numel *= (size_t)shape[i];
    }
    e->offset = t->total;
    e->init = init;
    e->fan_in = fan_in;
    t->total += (e->numel + 15) / 16 * 16;
    return e->offset;
}

const param_entry *param_table_find(const param_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].name, name) == 0) return &t->entries[i];
    return NULL;
}

void param_table_init_values(const param_table *t, float *params, uint64_t seed) {
    memset(params, 0, t->total * sizeof(float));
    for (int i = 0; i < t->n; i++) {
        const param_entry *e = &t->entries[i];
        float *p = params + e->offset;
        uint64_t stream = lethe_stream(LETHE_STREAM_INIT, (uint64_t)i, 0);
        float bound = e->fan_in > 0 ? 1.0f / sqrtf((float)e->fan_in) : 0.0f;
        for (size_t j = 0; j < e->numel; j++) {
            switch (e->init) {
            case PARAM_INIT_UNIFORM_FAN_IN: p[j] = bound * (2.0f * lethe_rand_uniform(seed, stream, j) - 1.0f); break;
            case PARAM_INIT_ONES: p[j] = 1.0f; break;
            case PARAM_INIT_ZEROS: p[j] = 0.0f; break;
            case PARAM_INIT_NORMAL: p[j] = lethe_rand_normal(seed, stream, j); break;
            }
        }
    }
}
