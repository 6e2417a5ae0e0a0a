/*
 * options.c: lethe_options, a set of name/value strings, and the table-driven setters that
 * turn them into the library's option structs (see api.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

static lethe_status bad_value(const char *what, const char *name, const char *value, const char *expected) {
    return lethe_fail(LETHE_ERR_ARG, "%s: option '%s' must be %s (got '%s')", what, name, expected, value);
}

lethe_status api_set(const api_opt *table, int n, void *target, const char *name, const char *value, const char *what) {
    const api_opt *o = NULL;
    for (int i = 0; i < n && !o; i++)
        if (!strcmp(table[i].name, name)) o = &table[i];
    if (!o) {
        char known[1024];
        size_t at = 0;
        known[0] = 0;
        for (int i = 0; i < n && at < sizeof known; i++)
            at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", table[i].name);
        return lethe_fail(LETHE_ERR_ARG, "%s: unknown option '%s' (known: %s)", what, name, known);
    }
    char *p = (char *)target + o->offset, *end;
    errno = 0;
    switch (o->type) {
    case API_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < INT32_MIN || v > INT32_MAX) return bad_value(what, name, value, "an integer");
        *(int *)p = (int)v;
        break;
    }
    case API_FLOAT: {
        float v = strtof(value, &end);
        if (end == value || *end || !isfinite(v)) return bad_value(what, name, value, "a finite number");
        *(float *)p = v;
        break;
    }
    case API_U64: {
        if (*value == '-') return bad_value(what, name, value, "a non-negative integer");
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno) return bad_value(what, name, value, "a non-negative integer");
        *(uint64_t *)p = (uint64_t)v;
        break;
    }
    case API_STRING: *(const char **)p = value; break;
    case API_FLAG:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) *(int *)p = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) *(int *)p = 0;
        else return bad_value(what, name, value, "1, true, yes, 0, false or no");
        break;
    }
    return LETHE_OK;
}

lethe_status api_apply(const api_opt *table, int n, void *target, const lethe_options *opts, const char *what) {
    lethe_status st = LETHE_OK;
    for (int i = 0; opts && i < opts->n && !st; i++) st = api_set(table, n, target, opts->names[i], opts->values[i], what);
    return st;
}
