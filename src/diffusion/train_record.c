/*
 * train_record.c: a training run's options as it records them (lethe.json "arguments", the
 * state's "options") and --resume starting from that record (see train_new.h). A resumed
 * run is the run that was started: only its budget and cadence may change, so a recipe
 * given again by a script is checked, not silently mixed with the defaults.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "diffusion/train_new.h"
#include "io/safetensors.h"

#define STATE_FILE "train_state.safetensors"   // diffusion/train.c's state, whose metadata holds the record

// The shortest decimal ("0.0005", not "0.000500000024") that reads back as f.
static void float_text(float f, char *buf, size_t cap) {
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, cap, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f) return;
    }
}

// "lr-schedule" -> "lr_schedule": the key of a row in the record
static void record_key(const opt_spec *s, char *key, size_t cap) {
    snprintf(key, cap, "%s", s->name);
    for (char *c = key; *c; c++)
        if (*c == '-') *c = '_';
}

char *train_job_arguments(const train_job *j) {
    cJSON *a = cJSON_CreateObject();
    const opt_table *t = &train_job_options;
    for (int i = 0; a && i < t->n; i++) {
        const opt_spec *s = &t->rows[i];
        opt_value v = opt_get(s, j);
        if ((s->flags & OPT_NO_RECORD) || !opt_is_set(s, v)) continue;
        char key[64], text[64];
        record_key(s, key, sizeof key);
        switch (s->type) {
        case OPT_INT: case OPT_FLAG: cJSON_AddNumberToObject(a, key, v.i); break;
        case OPT_U64: cJSON_AddNumberToObject(a, key, (double)v.u); break;
        case OPT_FLOAT: float_text(v.f, text, sizeof text); cJSON_AddRawToObject(a, key, text); break;
        case OPT_STRING: cJSON_AddStringToObject(a, key, v.s); break;
        case OPT_CHOICE: opt_format(s, v, text, sizeof text); cJSON_AddStringToObject(a, key, text); break;
        }
    }
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return text;
}

// The recorded value of row s into *v; 0 when the record has none that fits the row (a
// string left out of the record was unset: NULL).
static int recorded_value(const cJSON *rec, const opt_spec *s, opt_value *v) {
    char key[64];
    record_key(s, key, sizeof key);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, key);
    switch (s->type) {
    case OPT_INT: case OPT_FLAG: if (!cJSON_IsNumber(x)) return 0; v->i = x->valueint; return 1;
    case OPT_U64: if (!cJSON_IsNumber(x) || x->valuedouble < 0) return 0; v->u = (uint64_t)x->valuedouble; return 1;
    case OPT_FLOAT: if (!cJSON_IsNumber(x)) return 0; v->f = (float)x->valuedouble; return 1;
    case OPT_STRING:
        if (x && !cJSON_IsString(x)) return 0;
        v->s = x ? x->valuestring : NULL;
        return 1;
    case OPT_CHOICE: {
        if (!cJSON_IsString(x)) return 0;
        opt_value c;
        if (opt_parse(s, x->valuestring, &c)) return 0;
        *v = c;
        return 1;
    }
    }
    return 0;
}

static int same_value(const opt_spec *s, opt_value a, opt_value b) {
    switch (s->type) {
    case OPT_INT: case OPT_FLAG: case OPT_CHOICE: return a.i == b.i;
    case OPT_U64: return a.u == b.u;
    case OPT_FLOAT: return a.f == b.f;
    case OPT_STRING: return (!a.s && !b.s) || (a.s && b.s && !strcmp(a.s, b.s));
    }
    return 0;
}

// "--lr 0.001", "--no-ema", "without --classes"
static void as_flag(const opt_spec *s, opt_value v, char *buf, size_t cap) {
    char text[512];
    if (s->type == OPT_FLAG) { snprintf(buf, cap, "%s--%s", v.i ? "" : "without ", s->name); return; }
    if (!opt_is_set(s, v)) { snprintf(buf, cap, "without --%s", s->name); return; }
    if (s->type == OPT_FLOAT) float_text(v.f, text, sizeof text);
    else opt_format(s, v, text, sizeof text);
    snprintf(buf, cap, "--%s %s", s->name, text);
}

static lethe_status conflict(const train_job *j, const opt_spec *s, opt_value given, opt_value rec) {
    char g[600], r[600];
    as_flag(s, given, g, sizeof g);
    as_flag(s, rec, r, sizeof r);
    return lethe_fail(LETHE_ERR_ARG, "--resume: %s was given, but the run in %s was started %s%s (recorded in its %s); "
                      "a resumed run keeps its recipe: leave --%s out or give the recorded value, or train into a new "
                      "--out to change it", g, j->o.out_dir, strncmp(r, "without", 7) ? "with " : "", r, STATE_FILE, s->name);
}

lethe_status train_job_resume(train_job *j, const unsigned char *given, int *unchecked) {
    *unchecked = 0;
    char path[4096];
    if (!j->o.out_dir) return LETHE_OK;
    snprintf(path, sizeof path, "%s/" STATE_FILE, j->o.out_dir);
    if (!fs_exists(path)) return LETHE_OK;   // train_run: "nothing to resume"
    st_file f;
    lethe_status st = st_open(&f, path);
    if (st) return st;
    const char *text = st_metadata(&f, "options");
    cJSON *rec = text ? cJSON_Parse(text) : NULL;
    st_close(&f);
    if (!text) {
        *unchecked = 1;
        return LETHE_OK;
    }
    if (!cJSON_IsObject(rec)) {
        cJSON_Delete(rec);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: its recorded options are not a JSON object", path);
    }
    const opt_table *t = &train_job_options;
    for (int i = 0; i < t->n; i++) {   // first every check, so a refused resume changes nothing
        const opt_spec *s = &t->rows[i];
        opt_value rv;
        if (!given[i] || (s->flags & (OPT_NO_RECORD | OPT_RESUMABLE)) || !recorded_value(rec, s, &rv)) continue;
        if (!same_value(s, opt_get(s, j), rv)) {
            st = conflict(j, s, opt_get(s, j), rv);
            cJSON_Delete(rec);
            return st;
        }
    }
    for (int i = 0; i < t->n; i++) {
        const opt_spec *s = &t->rows[i];
        opt_value rv;
        if (!given[i] && !(s->flags & OPT_NO_RECORD) && recorded_value(rec, s, &rv)) opt_put(s, j, rv);
    }
    cJSON_Delete(j->recorded);
    j->recorded = rec;   // the recorded strings now in j point into it
    return LETHE_OK;
}
