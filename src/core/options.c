/* options.c: option tables (see options.h). */
#include "core/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int opt_same_name(const char *given, const char *name) {
    for (; *given && *name; given++, name++) {
        char g = *given == '_' ? '-' : *given;
        if (g != *name) return 0;
    }
    return *given == 0 && *name == 0;
}

const opt_spec *opt_find(const opt_spec *t, int n, const char *name) {
    for (int i = 0; name && i < n; i++)
        if (opt_same_name(name, t[i].name) || (t[i].alias && opt_same_name(name, t[i].alias))) return &t[i];
    return NULL;
}

// the index of `text` among the '|'-separated choices, or -1
static int choice_index(const char *choices, const char *text) {
    int k = 0;
    for (const char *c = choices; c && *c; k++) {
        size_t len = strcspn(c, "|");
        if (strlen(text) == len && !strncmp(c, text, len)) return k;
        c += len + (c[len] == '|');
    }
    return -1;
}

// "a or b", "a, b or c"
static void choices_in_words(const char *choices, char *buf, size_t cap) {
    int n = 1;
    for (const char *c = choices; *c; c++) n += *c == '|';
    size_t at = 0;
    int k = 0;
    buf[0] = 0;
    for (const char *c = choices; *c && at < cap; k++) {
        size_t len = strcspn(c, "|");
        at += (size_t)snprintf(buf + at, cap - at, "%s%.*s", k == 0 ? "" : k == n - 1 ? " or " : ", ", (int)len, c);
        c += len + (c[len] == '|');
    }
}

lethe_status opt_parse(const opt_spec *s, const char *text, opt_value *out) {
    if (!text) return lethe_fail(LETHE_ERR_ARG, "--%s needs a value", s->name);
    char *end;
    errno = 0;
    switch (s->type) {
    case OPT_INT: {
        long v = strtol(text, &end, 10);
        if (*end || end == text || errno || v < -2147483647L || v > 2147483647L) break;
        out->i = (int)v;
        return LETHE_OK;
    }
    case OPT_U64: {
        unsigned long long v = strtoull(text, &end, 10);
        if (*end || end == text || errno || text[0] == '-') break;
        out->u = v;
        return LETHE_OK;
    }
    case OPT_FLOAT: {
        float v = strtof(text, &end);
        if (*end || end == text || errno || v != v) break;
        out->f = v;
        return LETHE_OK;
    }
    case OPT_STRING: out->s = text; return LETHE_OK;
    case OPT_FLAG:
        if (!strcmp(text, "1") || !strcmp(text, "true") || !strcmp(text, "yes")) out->i = 1;
        else if (!strcmp(text, "0") || !strcmp(text, "false") || !strcmp(text, "no")) out->i = 0;
        else break;
        return LETHE_OK;
    case OPT_CHOICE: {
        int k = choice_index(s->choices, text);
        if (k >= 0) {
            out->i = k;
            return LETHE_OK;
        }
        char words[256];
        choices_in_words(s->choices, words, sizeof words);
        return lethe_fail(LETHE_ERR_ARG, "--%s must be %s (got '%s')", s->name, words, text);
    }
    }
    const char *what = s->type == OPT_FLOAT ? "number" : s->type == OPT_FLAG ? "switch (1 or 0)" : "integer";
    return lethe_fail(LETHE_ERR_ARG, "--%s: '%s' is not a valid %s", s->name, text, what);
}

opt_value opt_get(const opt_spec *s, const void *base) {
    const char *p = (const char *)base + s->offset;
    opt_value v;
    memset(&v, 0, sizeof v);
    switch (s->type) {
    case OPT_INT: case OPT_FLAG: case OPT_CHOICE: memcpy(&v.i, p, sizeof v.i); break;
    case OPT_U64: memcpy(&v.u, p, sizeof v.u); break;
    case OPT_FLOAT: memcpy(&v.f, p, sizeof v.f); break;
    case OPT_STRING: memcpy(&v.s, p, sizeof v.s); break;
    }
    return v;
}

void opt_put(const opt_spec *s, void *base, opt_value v) {
    char *p = (char *)base + s->offset;
    switch (s->type) {
    case OPT_INT: case OPT_FLAG: case OPT_CHOICE: memcpy(p, &v.i, sizeof v.i); break;
    case OPT_U64: memcpy(p, &v.u, sizeof v.u); break;
    case OPT_FLOAT: memcpy(p, &v.f, sizeof v.f); break;
    case OPT_STRING: memcpy(p, &v.s, sizeof v.s); break;
    }
}

void opt_defaults(const opt_spec *t, int n, void *base) {
    for (int i = 0; i < n; i++) opt_put(&t[i], base, t[i].dflt);
}

int opt_is_set(const opt_spec *s, opt_value v) {
    switch (s->type) {
    case OPT_INT: return v.i >= 0;
    case OPT_FLOAT: return isfinite(v.f);
    case OPT_STRING: return v.s != NULL;
    case OPT_U64: case OPT_FLAG: case OPT_CHOICE: return 1;
    }
    return 0;
}

void opt_format(const opt_spec *s, opt_value v, char *buf, size_t cap) {
    buf[0] = 0;
    if (!opt_is_set(s, v)) return;
    switch (s->type) {
    case OPT_INT: snprintf(buf, cap, "%d", v.i); break;
    case OPT_U64: snprintf(buf, cap, "%llu", (unsigned long long)v.u); break;
    case OPT_FLOAT: snprintf(buf, cap, "%g", (double)v.f); break;
    case OPT_STRING: snprintf(buf, cap, "%s", v.s); break;
    case OPT_FLAG: snprintf(buf, cap, "%s", v.i ? "on" : "off"); break;
    case OPT_CHOICE: {
        const char *c = s->choices;
        for (int k = 0; c && *c && k < v.i; k++) c += strcspn(c, "|") + (c[strcspn(c, "|")] == '|');
        snprintf(buf, cap, "%.*s", c ? (int)strcspn(c, "|") : 0, c ? c : "");
        break;
    }
    }
}

lethe_status opt_set(const opt_spec *t, int n, void *base, const char *name, const char *text) {
    const opt_spec *s = opt_find(t, n, name);
    if (!s) {
        char known[1024];
        size_t at = 0;
        known[0] = 0;
        for (int i = 0; i < n && at < sizeof known; i++)
            at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", t[i].name);
        return lethe_fail(LETHE_ERR_ARG, "unknown option '%s' (known: %s)", name ? name : "", known);
    }
    opt_value v;
    lethe_status st = opt_parse(s, text, &v);
    if (!st) opt_put(s, base, v);
    return st;
}

void opt_usage(const opt_spec *s, char *buf, size_t cap) {
    const char *meta = s->type == OPT_INT || s->type == OPT_U64 ? " N" : s->type == OPT_FLOAT ? " X" : s->type == OPT_STRING ? " S" : "";
    if (s->type == OPT_CHOICE) snprintf(buf, cap, "--%s %s", s->name, s->choices);
    else snprintf(buf, cap, "--%s%s", s->name, meta);
}
