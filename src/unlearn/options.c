/*
 * options.c: the options of `lethe unlearn` and unlearn_run, from their declarations: the
 * loop's table (loop.c) and each method's own (unlearn_method.options). Setting by name,
 * binding a method's options to its struct, the "arguments" of lethe.json, --help and the
 * Markdown of docs/unlearning.md all read the same rows.
 *
 * A method option may be set before the method: it is kept under the name given and bound
 * when the method is set (an old shared spelling such as "alpha" then becomes that method's
 * option, e.g. esd's negative-guidance) and again when the run starts. An option the method
 * does not use is an error that names the methods using it, since silently ignoring it
 * would run a different experiment from the one asked for. The loop's options apply to
 * every method (retrain takes its recipe from the parent and ignores --lr and --batch, as
 * its file says).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "unlearn/unlearn.h"
#include "unlearn/unlearn_internal.h"

// ---- lookup -----------------------------------------------------------------------------------

// `name` without leading dashes and with '-' for '_', into out; 0 if it does not fit
static int normalise(const char *name, char *out, size_t cap) {
    while (*name == '-') name++;
    size_t n = strlen(name);
    if (n == 0 || n >= cap) return 0;
    for (size_t i = 0; i <= n; i++) out[i] = name[i] == '_' ? '-' : name[i];
    return 1;
}

// The first method row declaring `name` (name or alias), or NULL.
static const opt_spec *any_method_option(const char *name) {
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        const opt_spec *s = opt_find(m->options, m->n_options, name);
        if (s) return s;
    }
    return NULL;
}

// "ga, esd, salun, spare, sfd": the methods that declare `name`
static void methods_using(const char *name, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < unlearn_method_count() && at < cap; i++) {
        const unlearn_method *m = unlearn_method_at(i);
        if (opt_find(m->options, m->n_options, name))
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", m->name);
    }
}

static lethe_status not_for_method(const char *name, const unlearn_method *m) {
    char using[256];
    methods_using(name, using, sizeof using);
    return lethe_fail(LETHE_ERR_ARG, "--%s is not an option of --method %s; it is used by %s (lethe unlearn --method %s "
                      "--help lists %s's options)", name, m->name, using, m->name, m->name);
}

static void drop_given(unlearn_opts *o, int k) {
    memmove(&o->given[k], &o->given[k + 1], (size_t)(o->n_given - k - 1) * sizeof o->given[0]);
    o->n_given--;
}

// Renames every given option to m's name for it (aliases resolved); a later one of the same
// option replaces an earlier one. Fails, changing nothing, if m does not use one of them.
static lethe_status bind_given(unlearn_opts *o, const unlearn_method *m) {
    for (int k = 0; k < o->n_given; k++)
        if (!opt_find(m->options, m->n_options, o->given[k].name)) return not_for_method(o->given[k].name, m);
    for (int k = 0; k < o->n_given; k++) {
        const opt_spec *s = opt_find(m->options, m->n_options, o->given[k].name);
        snprintf(o->given[k].name, sizeof o->given[k].name, "%s", s->name);
    }
    for (int k = o->n_given - 1; k > 0; k--)
        for (int j = k - 1; j >= 0; j--)
            if (!strcmp(o->given[j].name, o->given[k].name)) {
                drop_given(o, j);
                k--;
            }
    return LETHE_OK;
}

// ---- setting ------------------------------------------------------------------------------------

// opt_parse, its messages naming the option as it was given ("--alpha: 'x' is not a valid number")
static lethe_status parse_as_given(const opt_spec *s, const char *given, const char *value, opt_value *v) {
    opt_spec named = *s;
    named.name = given;
    return opt_parse(&named, value, v);
}

lethe_status unlearn_opts_set(unlearn_opts *o, const char *name, const char *value) {
    char key[sizeof o->given[0].name];
    if (!name || !normalise(name, key, sizeof key)) return lethe_fail(LETHE_ERR_ARG, "unknown option '%s'", name ? name : "");
    lethe_status st;
    const opt_spec *s = opt_find(unlearn_loop_options, unlearn_n_loop_options, key);
    if (s) {   // one of the loop's
        opt_value v = s->dflt;
        if (value && (st = parse_as_given(s, key, value, &v))) return st;
        if (s->offset == offsetof(unlearn_opts, method) && v.s) {
            const unlearn_method *m = unlearn_find(v.s);
            if (!m) return lethe_fail(LETHE_ERR_ARG, "unknown method '%s' (methods: %s)", v.s, unlearn_method_names());
            if ((st = bind_given(o, m))) return st;
        }
        opt_put(s, o, v);
        return LETHE_OK;
    }
    s = any_method_option(key);
    if (!s) return lethe_fail(LETHE_ERR_ARG, "unknown option '--%s' (lethe unlearn --help lists the options)", key);
    const unlearn_method *m = unlearn_find(o->method);
    if (m && !(s = opt_find(m->options, m->n_options, key))) return not_for_method(key, m);
    // every declaration of a name has one type (tests/test_unlearn_options.c), so s parses it
    opt_value v;
    if (value && (st = parse_as_given(s, key, value, &v))) return st;
    if (m) snprintf(key, sizeof key, "%s", s->name);   // bound now: the method's name for it
    for (int k = o->n_given - 1; k >= 0; k--)
        if (!strcmp(o->given[k].name, key)) drop_given(o, k);
    if (!value) return LETHE_OK;
    if (o->n_given == UNLEARN_MAX_GIVEN) return lethe_fail(LETHE_ERR_ARG, "more than %d method options", UNLEARN_MAX_GIVEN);
    unlearn_given *g = &o->given[o->n_given++];
    snprintf(g->name, sizeof g->name, "%s", key);
    g->v = v;
    return LETHE_OK;
}

int unlearn_option_is_flag(const char *name) {
    char key[sizeof((unlearn_opts *)0)->given[0].name];
    if (!name || !normalise(name, key, sizeof key)) return -1;
    const opt_spec *s = opt_find(unlearn_loop_options, unlearn_n_loop_options, key);
    if (!s) s = any_method_option(key);
    return s ? s->type == OPT_FLAG : -1;
}

lethe_status unlearn_method_options(const unlearn_opts *o, const unlearn_method *m, void *out, size_t cap) {
    if (m->options_size > cap)
        return lethe_fail(LETHE_ERR_ARG, "%s: its options need %zu bytes, more than UNLEARN_OPTIONS_BYTES (%zu)", m->name,
                          m->options_size, cap);
    memset(out, 0, cap);
    opt_defaults(m->options, m->n_options, out);
    for (int k = 0; k < o->n_given; k++) {
        const opt_spec *s = opt_find(m->options, m->n_options, o->given[k].name);
        if (!s) return not_for_method(o->given[k].name, m);
        opt_put(s, out, o->given[k].v);
    }
    return LETHE_OK;
}

// ---- provenance -----------------------------------------------------------------------------------

static void add_value(cJSON *a, const opt_spec *s, opt_value v) {
    char key[64], text[64];
    if (!opt_is_set(s, v)) return;
    snprintf(key, sizeof key, "%s", s->name);
    for (char *c = key; *c; c++)
        if (*c == '-') *c = '_';
    switch (s->type) {
    case OPT_INT: case OPT_FLAG: cJSON_AddNumberToObject(a, key, (double)v.i); break;
    case OPT_U64: cJSON_AddNumberToObject(a, key, (double)v.u); break;
    case OPT_FLOAT: cJSON_AddNumberToObject(a, key, float_as_decimal(v.f)); break;
    case OPT_STRING: cJSON_AddStringToObject(a, key, v.s); break;
    case OPT_CHOICE: opt_format(s, v, text, sizeof text); cJSON_AddStringToObject(a, key, text); break;
    }
}

cJSON *unlearn_arguments_json(const unlearn_opts *o) {
    cJSON *a = cJSON_CreateObject();
    for (int i = 0; i < unlearn_n_loop_options; i++) {
        const opt_spec *s = &unlearn_loop_options[i];
        if (!(s->flags & OPT_NO_RECORD)) add_value(a, s, opt_get(s, o));
    }
    const unlearn_method *m = unlearn_find(o->method);
    max_align_t mopt[UNLEARN_OPTIONS_BYTES / sizeof(max_align_t)];
    if (m && !unlearn_method_options(o, m, mopt, sizeof mopt))   // checked before the run: cannot fail here
        for (int i = 0; i < m->n_options; i++) add_value(a, &m->options[i], opt_get(&m->options[i], mopt));
    return a;
}

// ---- help and docs ---------------------------------------------------------------------------------

typedef struct {
    char *s;
    size_t len, cap;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !t->cap) return;   // cap 0: an earlier allocation failed
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = 2 * (t->len + (size_t)n + 1);
        char *s = realloc(t->s, cap);
        if (!s) { free(t->s); *t = (text){0}; return; }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static text text_new(void) {
    text t = {malloc(1024), 0, 1024};
    if (!t.s) t.cap = 0;
    else t.s[0] = 0;
    return t;
}

// the default in words: "1e-05", "required", "the method's", "" (none to show)
static void default_words(const opt_spec *s, char *buf, size_t cap) {
    buf[0] = 0;
    if (s->flags & OPT_REQUIRED) snprintf(buf, cap, "required");
    else if (s->type == OPT_FLAG) return;
    else if (opt_is_set(s, s->dflt)) opt_format(s, s->dflt, buf, cap);
    else if (s->dflt_text) snprintf(buf, cap, "%s", s->dflt_text);
}

static void help_line(text *t, const opt_spec *s, int is_loop) {
    char left[96], def[128], dflt[96] = "", alias[64] = "";
    opt_usage(s, left, sizeof left);
    default_words(s, def, sizeof def);
    const char *form = s->flags & OPT_REQUIRED ? " (%s)" : opt_is_set(s, s->dflt) ? " (default %s)" : " (default: %s)";
    if (def[0]) snprintf(dflt, sizeof dflt, form, def);
    if (s->alias) snprintf(alias, sizeof alias, " (also --%s)", s->alias);
    const char *help = is_loop && !strcmp(s->name, "method") ? unlearn_method_names() : s->help;
    put(t, "  %-26s %s%s%s\n", left, help, dflt, alias);
}

// "200 steps, batch 32, lr 1e-05": the method's defaults for the loop's options
static void method_defaults(const unlearn_method *m, char *buf, size_t cap) {
    if (m->run) {
        snprintf(buf, cap, "the parent's recipe; --steps overrides its step count");
        return;
    }
    char lr[64];
    if (m->lr_note) snprintf(lr, sizeof lr, "%s", m->lr_note);
    else snprintf(lr, sizeof lr, "%g", (double)m->default_lr);
    int at = snprintf(buf, cap, "%d steps, batch %d, lr %s", m->default_steps,
                      m->default_batch > 0 ? m->default_batch : UNLEARN_DEFAULT_BATCH, lr);
    if (m->default_weight_decay != 0 && at > 0 && (size_t)at < cap)
        snprintf(buf + at, cap - (size_t)at, ", weight decay %g", (double)m->default_weight_decay);
}

char *unlearn_options_help(const char *method, int part) {
    text t = text_new();
    if (part == 0) {
        for (int i = 0; i < unlearn_n_loop_options; i++) help_line(&t, &unlearn_loop_options[i], 1);
        return t.s;
    }
    const unlearn_method *only = unlearn_find(method);
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        if (only && m != only) continue;
        char d[128];
        method_defaults(m, d, sizeof d);
        put(&t, "\n%s (%s):%s\n", m->name, d, m->n_options ? "" : " no options of its own");
        for (int k = 0; k < m->n_options; k++) help_line(&t, &m->options[k], 0);
    }
    return t.s;
}

// a Markdown table cell: '|' and '*' escaped
static void cell(text *t, const char *s) {
    for (; *s; s++)
        if (*s == '|' || *s == '*') put(t, "\\%c", *s);
        else put(t, "%c", *s);
}

char *unlearn_options_markdown(void) {
    text t = text_new();
    char buf[256];
    put(&t, "Options of every method (the loop's table, `src/unlearn/loop.c`):\n\n| option | default | meaning |\n|---|---|---|\n");
    for (int i = 0; i < unlearn_n_loop_options; i++) {
        const opt_spec *s = &unlearn_loop_options[i];
        opt_usage(s, buf, sizeof buf);
        put(&t, "| `");
        cell(&t, buf);
        put(&t, "` | ");
        default_words(s, buf, sizeof buf);
        cell(&t, buf);
        put(&t, " | ");
        cell(&t, !strcmp(s->name, "method") ? unlearn_method_names() : s->help);
        put(&t, " |\n");
    }
    put(&t, "\nEach method's defaults for them (its record in its file):\n\n| method | defaults |\n|---|---|\n");
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        method_defaults(m, buf, sizeof buf);
        put(&t, "| `%s` | %s |\n", m->name, buf);
    }
    put(&t, "\nEach method's own options (its table, `src/unlearn/METHOD.c`); an option given to a method that "
            "does not use it is an error:\n\n| method | option | old spelling | default | meaning |\n|---|---|---|---|---|\n");
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        for (int k = 0; k < m->n_options; k++) {
            const opt_spec *s = &m->options[k];
            opt_usage(s, buf, sizeof buf);
            put(&t, "| `%s` | `", m->name);
            cell(&t, buf);
            put(&t, "` | %s%s%s | ", s->alias ? "`--" : "", s->alias ? s->alias : "", s->alias ? "`" : "");
            default_words(s, buf, sizeof buf);
            cell(&t, buf);
            put(&t, " | ");
            cell(&t, s->help);
            put(&t, " |\n");
        }
    }
    return t.s;
}
