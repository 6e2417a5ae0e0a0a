/* args.c: long-flag parser with generated help (see args.h). */
#include "cli/args.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/ops.h"

static int same_flag(const char *given, const char *name) {
    for (; *given && *name; given++, name++) {
        char g = *given == '_' ? '-' : *given;
        if (g != *name) return 0;
    }
    return *given == 0 && *name == 0;
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
        case ARG_FLAG: break;
        }
        // an unset method knob (NaN, -1): its help says what stands in, or the method decides
        if (strstr(def, "nan") || !strcmp(def, " (default -1)"))
            snprintf(def, sizeof def, "%s", strstr(s->help, "default") ? "" : " (default: the method's)");
        const char *meta = s->type == ARG_INT || s->type == ARG_U64 ? " N" : s->type == ARG_FLOAT ? " X" : s->type == ARG_STRING ? " S" : "";
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
        if (strncmp(a, "--", 2) != 0) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "lethe %s: unexpected argument '%s' (see lethe %s --help)\n", cmd, a, cmd);
                return ARGS_ERROR;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        const arg_spec *s = NULL;
        for (int k = 0; k < n_specs && !s; k++)
            if (same_flag(name, specs[k].name) || (specs[k].alias && same_flag(name, specs[k].alias))) s = &specs[k];
        if (!s) {
            fprintf(stderr, "lethe %s: unknown option '--%s' (see lethe %s --help)\n", cmd, name, cmd);
            return ARGS_ERROR;
        }
        if (s->type == ARG_FLAG) {
            if (eq) { fprintf(stderr, "lethe %s: --%s takes no value\n", cmd, s->name); return ARGS_ERROR; }
            *(int *)s->target = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "lethe %s: --%s needs a value\n", cmd, s->name);
            return ARGS_ERROR;
        }
        char *end;
        errno = 0;
        switch (s->type) {
        case ARG_INT: {
            long v = strtol(val, &end, 10);
            if (*end || end == val || errno || v < -2147483647L || v > 2147483647L) goto bad;
            *(int *)s->target = (int)v;
            break;
        }
        case ARG_U64: {
            unsigned long long v = strtoull(val, &end, 10);
            if (*end || end == val || errno || val[0] == '-') goto bad;
            *(uint64_t *)s->target = v;
            break;
        }
        case ARG_FLOAT: {
            float v = strtof(val, &end);
            if (*end || end == val || errno || v != v) goto bad;
            *(float *)s->target = v;
            break;
        }
        case ARG_STRING: *(const char **)s->target = val; break;
        case ARG_FLAG: break;
        }
        continue;
    bad:
        fprintf(stderr, "lethe %s: --%s: '%s' is not a valid %s\n", cmd, s->name, val,
                s->type == ARG_FLOAT ? "number" : "integer");
        return ARGS_ERROR;
    }
    return ARGS_OK;
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

int cli_set_device(const char *cmd, const char *device) {
    if (ops_select_device(device)) {
        fprintf(stderr, "lethe %s: error: %s\n", cmd, lethe_last_error());
        return 1;
    }
    if (strcmp(ops()->name, "cpu") != 0) fprintf(stderr, "lethe %s: device %s\n", cmd, ops_device_description());
    return 0;
}
