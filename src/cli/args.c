/* args.c: long-flag parser with generated help (see args.h). */
#include "cli/args.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/options.h"
#include "ops/ops.h"

int args_split(const char *arg, char *name, size_t cap, const char **value) {
    if (strncmp(arg, "--", 2) != 0) return 1;
    const char *eq = strchr(arg + 2, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (len >= cap) len = cap - 1;
    memcpy(name, arg + 2, len);
    name[len] = 0;
    *value = eq ? eq + 1 : NULL;
    return 0;
}

static void print_help(const char *cmd, const char *usage, const arg_spec *specs, int n) {
    fprintf(stderr, "usage: lethe %s\n\n%s\n\noptions:\n", cmd, usage);
    for (int i = 0; i < n; i++) {
        const arg_spec *s = &specs[i];
        char def[128] = "";
        switch (s->type) {
        case ARG_INT: snprintf(def, sizeof def, " (default %d)", *(int *)s->target); break;
        case ARG_FLOAT: snprintf(def, sizeof def, " (default %g)", (double)*(float *)s->target); break;
        case ARG_U64: snprintf(def, sizeof def, " (default %llu)", (unsigned long long)*(uint64_t *)s->target); break;
        case ARG_STRING:
            if (*(const char **)s->target) snprintf(def, sizeof def, " (default %s)", *(const char **)s->target);
            break;
        case ARG_CHOICE: {
            const opt_spec os = {.name = s->name, .type = OPT_CHOICE, .choices = s->choices};
            char text[64];
            opt_format(&os, (opt_value){.i = *(int *)s->target}, text, sizeof text);
            snprintf(def, sizeof def, " (default %s)", text);
            break;
        }
        case ARG_FLAG: break;
        }
        // an unset method knob (NaN, -1): its help says what stands in, or the method decides
        if (strstr(def, "nan") || !strcmp(def, " (default -1)"))
            snprintf(def, sizeof def, "%s", strstr(s->help, "default") ? "" : " (default: the method's)");
        const char *meta = s->type == ARG_INT || s->type == ARG_U64 ? " N" : s->type == ARG_FLOAT ? " X" : s->type == ARG_STRING || s->type == ARG_CHOICE ? " S" : "";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", s->name, meta);
        char alias[64] = "";
        if (s->alias) snprintf(alias, sizeof alias, " (also --%s)", s->alias);
        fprintf(stderr, "  %-26s %s%s%s\n", left, s->help, def, alias);
    }
    fprintf(stderr, "  %-26s %s\n", "-h, --help", "show this help");
}

int args_parse(const char *cmd, const char *usage, const arg_spec *specs, int n_specs, int argc, char **argv,
               const char **pos, int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd, usage, specs, n_specs);
            return ARGS_HELP;
        }
        char name[64];
        const char *eq;
        if (args_split(a, name, sizeof name, &eq)) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "lethe %s: unexpected argument '%s' (see lethe %s --help)\n", cmd, a, cmd);
                return ARGS_ERROR;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const arg_spec *s = NULL;
        for (int k = 0; k < n_specs && !s; k++)
            if (opt_same_name(name, specs[k].name) || (specs[k].alias && opt_same_name(name, specs[k].alias))) s = &specs[k];
        if (!s) {
            fprintf(stderr, "lethe %s: unknown option '--%s' (see lethe %s --help)\n", cmd, name, cmd);
            return ARGS_ERROR;
        }
        if (s->type == ARG_FLAG) {
            if (eq) { fprintf(stderr, "lethe %s: --%s takes no value\n", cmd, s->name); return ARGS_ERROR; }
            *(int *)s->target = 1;
            continue;
        }
        const char *val = eq ? eq : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "lethe %s: --%s needs a value\n", cmd, s->name);
            return ARGS_ERROR;
        }
        // values are parsed as the library's option tables parse theirs (core/options.h)
        const opt_spec os = {.name = s->name, .type = s->type == ARG_INT ? OPT_INT : s->type == ARG_U64 ? OPT_U64
                                                   : s->type == ARG_FLOAT ? OPT_FLOAT : s->type == ARG_CHOICE ? OPT_CHOICE : OPT_STRING,
                             .choices = s->choices};
        opt_value v;
        if (opt_parse(&os, val, &v)) {
            fprintf(stderr, "lethe %s: %s\n", cmd, lethe_last_error());
            return ARGS_ERROR;
        }
        switch (s->type) {
        case ARG_INT: case ARG_CHOICE: *(int *)s->target = v.i; break;
        case ARG_U64: *(uint64_t *)s->target = v.u; break;
        case ARG_FLOAT: *(float *)s->target = v.f; break;
        case ARG_STRING: *(const char **)s->target = v.s; break;
        case ARG_FLAG: break;
        }
    }
    return ARGS_OK;
}

int args_from_options(arg_spec *out, int cap, const opt_table *table, void *base) {
    if (table->n > cap) {   // a table grew past the command's flag array: a build mistake, said plainly
        fprintf(stderr, "lethe: internal error: %d library options do not fit %d flag rows\n", table->n, cap);
        return -1;
    }
    const opt_spec *t = table->rows;
    for (int i = 0; i < table->n; i++) {
        static const arg_type as_arg[] = {[OPT_INT] = ARG_INT, [OPT_U64] = ARG_U64, [OPT_FLOAT] = ARG_FLOAT,
                                          [OPT_STRING] = ARG_STRING, [OPT_FLAG] = ARG_FLAG, [OPT_CHOICE] = ARG_CHOICE};
        out[i] = (arg_spec){t[i].name, as_arg[t[i].type], (char *)base + t[i].offset, t[i].help, t[i].alias, t[i].choices};
    }
    return table->n;
}

void args_given(const opt_table *t, int argc, char **argv, unsigned char *given) {
    memset(given, 0, (size_t)t->n);
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *eq;
        if (args_split(argv[i], name, sizeof name, &eq)) continue;
        const opt_spec *s = opt_find(t->rows, t->n, name);
        if (!s) continue;
        given[s - t->rows] = 1;
        if (s->type != OPT_FLAG && !eq) i++;   // its value is the next argument
    }
}

char *args_join(int argc, char **argv) {
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < argc; i++) {
        if (i) strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

void cli_set_threads(int n) {
    if (n <= 0) return;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

int cli_set_precision(const char *cmd, const char *precision) {
    const char *fallback;
    if (ops_set_precision(precision, &fallback)) {
        fprintf(stderr, "lethe %s: error: %s\n", cmd, lethe_last_error());
        return 2;
    }
    if (fallback) fprintf(stderr, "lethe %s: --precision %s: %s; running in fp32\n", cmd, precision, fallback);
    return 0;
}

int cli_set_device(const char *cmd, const char *device) {
    if (ops_select_device(device)) {
        fprintf(stderr, "lethe %s: error: %s\n", cmd, lethe_last_error());
        return 1;
    }
    if (strcmp(ops()->name, "cpu") != 0) fprintf(stderr, "lethe %s: device %s\n", cmd, ops_device_description());
    return 0;
}
