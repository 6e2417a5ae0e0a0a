/* param_file.c: see param_file.h. */
#include "nn/param_file.h"

#include <stdlib.h>

#include "io/safetensors.h"
#include "ops/ops.h"

lethe_status param_table_write(const char *path, const param_table *t, const float *params, const char *const *meta,
                               int n_meta) {
    float *host = malloc(t->total * sizeof(float));
    st_entry *entries = calloc((size_t)t->n, sizeof *entries);
    if (!host || !entries) {
        free(host);
        free(entries);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    ops()->to_host(host, params, t->total * sizeof(float));
    for (int i = 0; i < t->n; i++) {
        const param_entry *e = &t->entries[i];
        entries[i].name = e->name;
        entries[i].data = host + e->offset;
        entries[i].ndim = e->ndim;
        for (int d = 0; d < e->ndim; d++) entries[i].shape[d] = e->shape[d];
    }
    lethe_status st = st_write(path, entries, t->n, meta, n_meta);
    free(entries);
    free(host);
    return st;
}
