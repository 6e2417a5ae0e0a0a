/*
 * options.c: lethe_options, a set of name/value strings, and api_apply, which sets them
 * through the library's option tables (see api.h).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "lethe.h"

// "forget_images" and "--forget-images" name the option "forget-images".
static char *canonical(const char *name) {
    while (*name == '-') name++;
    char *s = strdup(name);
    if (s)
        for (char *p = s; *p; p++)
            if (*p == '_') *p = '-';
    return s;
}

lethe_status lethe_options_new(lethe_options **out) {
    *out = calloc(1, sizeof **out);
    return *out ? LETHE_OK : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
}

lethe_status lethe_options_set(lethe_options *o, const char *name, const char *value) {
    if (!o || !name || !value) return lethe_fail(LETHE_ERR_ARG, "lethe_options_set: NULL options, name or value");
    char *n = canonical(name), *v = strdup(value);
    if (!n || !v || !*n) {
        int empty = n && !*n;
        free(n);
        free(v);
        return empty ? lethe_fail(LETHE_ERR_ARG, "lethe_options_set: empty option name")
                     : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->names[i], n)) {
            free(n);
            free(o->values[i]);
            o->values[i] = v;
            return LETHE_OK;
        }
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 16;
        char **nn = realloc(o->names, (size_t)cap * sizeof *nn);
        if (nn) o->names = nn;
        char **vv = nn ? realloc(o->values, (size_t)cap * sizeof *vv) : NULL;
        if (vv) o->values = vv;
        if (!nn || !vv) { free(n); free(v); return lethe_fail(LETHE_ERR_NOMEM, "out of memory"); }
        o->cap = cap;
    }
    o->names[o->n] = n;
    o->values[o->n++] = v;
    return LETHE_OK;
}

void lethe_options_free(lethe_options *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        free(o->names[i]);
        free(o->values[i]);
    }
    free(o->names);
    free(o->values);
    free(o);
}

lethe_status api_apply(const opt_table *table, void *target, int *progress, const lethe_options *opts,
                       const char *what) {
    static const opt_spec progress_row = {.name = "progress", .type = OPT_FLAG};
    for (int i = 0; opts && i < opts->n; i++) {
        lethe_status st;
        if (progress && !strcmp(opts->names[i], "progress")) {
            opt_value v;
            if (!(st = opt_parse(&progress_row, opts->values[i], &v))) *progress = v.i;
        } else {
            st = opt_set(table->rows, table->n, target, opts->names[i], opts->values[i]);
        }
        if (st) return lethe_fail_context(st, "%s", what);
    }
    return LETHE_OK;
}
