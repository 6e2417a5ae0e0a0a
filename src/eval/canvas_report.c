/* canvas_report.c: a text-to-image evaluation as JSON, Markdown and labelled PNG sheets (see canvas_eval.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "eval/canvas_eval.h"
#include "eval/report_files.h"
#include "io/font.h"
#include "io/png.h"
#include "ops/ops.h"

// ---- JSON --------------------------------------------------------------------------------------------

static void add_num(cJSON *o, const char *key, double v) {   // NaN (not computed) is null
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static const char *domain_name(canvas_forget_domain d) {
    return d == CANVAS_FORGET_STYLE ? "style" : d == CANVAS_FORGET_OBJECT ? "object" : "none";
}

static const char *concept_name(const canvas_eval_report *r, int j) {
    const int c = r->forget.concepts[j];
    return r->forget.domain == CANVAS_FORGET_STYLE ? canvas_style_name(c) : r->object_names[c];
}

static cJSON *settings_json(const canvas_eval_report *r) {
    const canvas_eval_opts *o = &r->opts;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "benchmark", "fashion-canvas");
    cJSON_AddStringToObject(s, "prompt_template", "a {object} in {style} style");
    cJSON_AddNumberToObject(s, "prompts", r->n_styles * CANVAS_N_OBJECTS);
    if (r->n_styles < CANVAS_N_STYLES) {   // a subset (--styles): the metrics are over these styles' prompts
        cJSON *st = cJSON_AddArrayToObject(s, "styles");
        for (int e = 0; e < r->n_styles; e++) cJSON_AddItemToArray(st, cJSON_CreateString(canvas_style_name(r->styles[e])));
    }
    cJSON_AddNumberToObject(s, "seeds_per_prompt", o->seeds);
    cJSON_AddStringToObject(s, "sampler", o->sampler == SAMPLER_DDIM ? "ddim" : "ddpm");
    cJSON_AddNumberToObject(s, "steps", o->steps);
    cJSON_AddNumberToObject(s, "eta", o->eta);
    cJSON_AddNumberToObject(s, "guidance", o->guidance);
    cJSON_AddStringToObject(s, "gemm_precision", ops_precision());   // of the GEMMs (--precision)
    cJSON_AddBoolToObject(s, "clipped_eps", o->clipped_eps);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddNumberToObject(s, "real_images_per_style", o->real_per_style);
    cJSON_AddStringToObject(s, "style_classifier", o->style_classifier);
    cJSON_AddStringToObject(s, "style_classifier_sha256", r->style_classifier_hash);
    add_num(s, "style_classifier_test_accuracy", r->style_classifier_accuracy >= 0 ? r->style_classifier_accuracy : NAN);
    cJSON_AddStringToObject(s, "object_classifier", o->object_classifier);
    cJSON_AddStringToObject(s, "object_classifier_sha256", r->object_classifier_hash);
    add_num(s, "object_classifier_test_accuracy", r->object_classifier_accuracy >= 0 ? r->object_classifier_accuracy : NAN);
    if (o->no_clip) cJSON_AddNullToObject(s, "clip");
    else cJSON_AddStringToObject(s, "clip", o->clip);
    return s;
}

static cJSON *model_json(const canvas_eval_report *r, const canvas_eval_model *m) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", m->dir);
    cJSON_AddStringToObject(j, "weights_sha256", m->hash);
    cJSON_AddStringToObject(j, "method", m->method);
    add_num(j, "style_accuracy", m->m.style_accuracy);
    add_num(j, "object_accuracy", m->m.object_accuracy);
    add_num(j, "ua", m->m.ua);
    add_num(j, "ira", m->m.ira);
    add_num(j, "cra", m->m.cra);
    add_num(j, "forget_cross_accuracy", m->m.forget_cross_accuracy);
    if (r->forget.n) {
        cJSON *u = cJSON_AddObjectToObject(j, "ua_per_concept");
        for (int k = 0; k < r->forget.n; k++) add_num(u, concept_name(r, k), m->m.ua_concept[k]);
    }
    add_num(j, "fid_style_features", m->fid_style);
    add_num(j, "fid_style_features_retained", m->fid_style_retained);
    add_num(j, "fid_object_features", m->fid_object);
    add_num(j, "fid_object_features_retained", m->fid_object_retained);
    add_num(j, "clip_score", m->clip_score);
    add_num(j, "clip_score_retained", m->clip_score_retained);
    add_num(j, "clip_score_forget", m->clip_score_forget);
    cJSON *ps = cJSON_AddArrayToObject(j, "per_style");
    for (int e = 0; e < r->n_styles; e++) {
        const int s = r->styles[e];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "style", canvas_style_name(s));
        cJSON_AddStringToObject(e, "family", canvas_family_name(canvas_style_family(s)));
        cJSON_AddBoolToObject(e, "forgotten", r->forget.domain == CANVAS_FORGET_STYLE && canvas_forget_involves(&r->forget, s, -1));
        add_num(e, "style_accuracy", m->m.style_acc_by_style[s]);
        add_num(e, "object_accuracy", m->m.object_acc_by_style[s]);
        add_num(e, "fid_style_features", m->fid_by_style[s]);
        add_num(e, "clip_score", m->clip_by_style[s]);
        cJSON_AddItemToArray(ps, e);
    }
    cJSON *po = cJSON_AddArrayToObject(j, "per_object");
    for (int o = 0; o < CANVAS_N_OBJECTS; o++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "object", r->object_names[o]);
        cJSON_AddBoolToObject(e, "forgotten", r->forget.domain == CANVAS_FORGET_OBJECT && canvas_forget_involves(&r->forget, -1, o));
        add_num(e, "object_accuracy", m->m.object_acc_by_object[o]);
        add_num(e, "style_accuracy", m->m.style_acc_by_object[o]);
        add_num(e, "fid_object_features", m->fid_by_object[o]);
        cJSON_AddItemToArray(po, e);
    }
    cJSON *t = cJSON_AddObjectToObject(j, "seconds");
    cJSON_AddNumberToObject(t, "load", m->t_load);
    cJSON_AddNumberToObject(t, "sample", m->t_sample);
    cJSON_AddNumberToObject(t, "judge", m->t_judge);
    cJSON_AddNumberToObject(t, "total", m->t_total);
    cJSON_AddNumberToObject(j, "sample_images_per_s", m->images_per_s);
    return j;
}

char *canvas_eval_json(const canvas_eval_report *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "text-to-image");
    if (r->command) cJSON_AddStringToObject(root, "command", r->command);
    cJSON_AddItemToObject(root, "settings", settings_json(r));
    cJSON *f = cJSON_AddObjectToObject(root, "forget");
    cJSON_AddStringToObject(f, "domain", domain_name(r->forget.domain));
    cJSON *fc = cJSON_AddArrayToObject(f, "concepts");
    for (int j = 0; j < r->forget.n; j++) cJSON_AddItemToArray(fc, cJSON_CreateString(concept_name(r, j)));
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int k = 0; k < r->n_models; k++) cJSON_AddItemToArray(models, model_json(r, &r->models[k]));
    cJSON_AddNumberToObject(root, "seconds_real_features", r->t_real);
    cJSON *w = cJSON_AddArrayToObject(root, "warnings");
    for (int i = 0; i < r->n_warnings; i++) cJSON_AddItemToArray(w, cJSON_CreateString(r->warnings[i]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

// ---- Markdown ----------------------------------------------------------------------------------------

static void pct(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, " %.1f |", 100.0 * v);
    else fprintf(f, " - |");
}

static void num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, " %.1f |", v);
    else fprintf(f, " - |");
}

static const char *short_name(const char *dir) {
    const char *s = strrchr(dir, '/');
    return s && s[1] ? s + 1 : dir;
}

void canvas_eval_markdown(const canvas_eval_report *r, FILE *f) {
    const canvas_eval_opts *o = &r->opts;
    const int forget = r->forget.domain != CANVAS_FORGET_NONE;
    fprintf(f, "## Fashion-Canvas answer set: %d prompts%s x %d seeds, %s %d steps, guidance %g\n\n",
            r->n_styles * CANVAS_N_OBJECTS, r->n_styles < CANVAS_N_STYLES ? " (the styles given)" : "", o->seeds, o->sampler == SAMPLER_DDIM ? "DDIM" : "DDPM", o->steps, o->guidance);
    if (forget) {
        fprintf(f, "Forgotten %s%s:", domain_name(r->forget.domain), r->forget.n > 1 ? "s" : "");
        for (int j = 0; j < r->forget.n; j++) fprintf(f, " %s", concept_name(r, j));
        fprintf(f, ". UA: share of their images not judged as them; IRA: %s accuracy on the other images; CRA: "
                   "%s accuracy on the other images; kept: %s accuracy on the forgotten concept's own images.\n\n",
                domain_name(r->forget.domain), r->forget.domain == CANVAS_FORGET_STYLE ? "object" : "style",
                r->forget.domain == CANVAS_FORGET_STYLE ? "object" : "style");
    }
    fprintf(f, "| model | style acc %% | object acc %% |%s FID style | FID object | CLIP score | img/s |\n",
            forget ? " UA % | IRA % | CRA % | kept % |" : "");
    fprintf(f, "|---|---|---|%s---|---|---|---|\n", forget ? "---|---|---|---|" : "");
    for (int k = 0; k < r->n_models; k++) {
        const canvas_eval_model *m = &r->models[k];
        fprintf(f, "| %s |", short_name(m->dir));
        pct(f, m->m.style_accuracy);
        pct(f, m->m.object_accuracy);
        if (forget) {
            pct(f, m->m.ua);
            pct(f, m->m.ira);
            pct(f, m->m.cra);
            pct(f, m->m.forget_cross_accuracy);
        }
        num(f, forget ? m->fid_style_retained : m->fid_style);
        num(f, forget ? m->fid_object_retained : m->fid_object);
        num(f, forget ? m->clip_score_retained : m->clip_score);
        fprintf(f, " %.1f |\n", m->images_per_s);
    }
    if (forget) fprintf(f, "\nFID and CLIP score over the retained images.\n");
    // per style: style accuracy (and object accuracy) of every model, family by family
    fprintf(f, "\n### Per style: style accuracy %% / object accuracy %%\n\n| style | family |");
    for (int k = 0; k < r->n_models; k++) fprintf(f, " %s |", short_name(r->models[k].dir));
    fprintf(f, "\n|---|---|");
    for (int k = 0; k < r->n_models; k++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int e = 0; e < r->n_styles; e++) {
        const int s = r->styles[e];
        const int gone = r->forget.domain == CANVAS_FORGET_STYLE && canvas_forget_involves(&r->forget, s, -1);
        fprintf(f, "| %s%s%s | %s |", gone ? "**" : "", canvas_style_name(s), gone ? "** (forgotten)" : "",
                canvas_family_name(canvas_style_family(s)));
        for (int k = 0; k < r->n_models; k++)
            fprintf(f, " %.0f / %.0f |", 100.0 * r->models[k].m.style_acc_by_style[s],
                    100.0 * r->models[k].m.object_acc_by_style[s]);
        fprintf(f, "\n");
    }
    fprintf(f, "\n### Per object: object accuracy %% / style accuracy %%\n\n| object |");
    for (int k = 0; k < r->n_models; k++) fprintf(f, " %s |", short_name(r->models[k].dir));
    fprintf(f, "\n|---|");
    for (int k = 0; k < r->n_models; k++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int c = 0; c < CANVAS_N_OBJECTS; c++) {
        const int gone = r->forget.domain == CANVAS_FORGET_OBJECT && canvas_forget_involves(&r->forget, -1, c);
        fprintf(f, "| %s%s%s |", gone ? "**" : "", r->object_names[c], gone ? "** (forgotten)" : "");
        for (int k = 0; k < r->n_models; k++)
            fprintf(f, " %.0f / %.0f |", 100.0 * r->models[k].m.object_acc_by_object[c],
                    100.0 * r->models[k].m.style_acc_by_object[c]);
        fprintf(f, "\n");
    }
    for (int i = 0; i < r->n_warnings; i++) fprintf(f, "%s- warning: %s\n", i ? "" : "\n", r->warnings[i]);
}

// ---- PNG sheets ----------------------------------------------------------------------------------------

#define GAP 2

typedef struct {
    uint8_t *px;
    int W, H, label_w, header_h, cell;
} sheet;

static lethe_status sheet_new(sheet *s, int rows, int tiles_per_row, int label_chars) {
    s->cell = CANVAS_SIZE;
    s->label_w = label_chars * FONT_ADVANCE + 6;
    s->header_h = FONT_HEIGHT + 6;
    s->W = s->label_w + tiles_per_row * (s->cell + GAP);
    s->H = s->header_h + rows * (s->cell + GAP);
    s->px = malloc((size_t)3 * s->W * s->H);
    if (!s->px) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for a %d x %d sheet", s->W, s->H);
    memset(s->px, 255, (size_t)3 * s->W * s->H);
    return LETHE_OK;
}

static void sheet_tile(sheet *s, int row, int col, const uint8_t *rgb) {
    const int x0 = s->label_w + col * (s->cell + GAP), y0 = s->header_h + row * (s->cell + GAP);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < CANVAS_SIZE; y++)
            memcpy(s->px + (size_t)c * s->W * s->H + (size_t)(y0 + y) * s->W + x0,
                   rgb + (size_t)c * CANVAS_SIZE * CANVAS_SIZE + (size_t)y * CANVAS_SIZE, CANVAS_SIZE);
}

static void sheet_row_label(sheet *s, int row, const char *text, int red) {
    const uint8_t ink[3] = {0, 0, 0}, warn[3] = {200, 0, 0};
    font_draw(s->px, 3, s->W, s->H, 2, s->header_h + row * (s->cell + GAP) + (s->cell - FONT_HEIGHT) / 2, text,
              red ? warn : ink, 1);
}

static void sheet_header(sheet *s, int col, int span, const char *text) {
    const uint8_t ink[3] = {0, 0, 0};
    const int x0 = s->label_w + col * (s->cell + GAP), w = span * (s->cell + GAP);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    while (strlen(buf) > 1 && font_text_width(buf, 1) > w) buf[strlen(buf) - 1] = 0;   // clipped to its columns
    font_draw(s->px, 3, s->W, s->H, x0 + (w - font_text_width(buf, 1)) / 2, 3, buf, ink, 1);
}

static lethe_status sheet_write(sheet *s, const char *path) {
    lethe_status st = png_write_grid_u8(path, s->px, 1, 3, s->H, s->W, 1, 0, 255);
    free(s->px);
    return st;
}

static int style_forgotten(const canvas_eval_report *r, int s) {
    return r->forget.domain == CANVAS_FORGET_STYLE && canvas_forget_involves(&r->forget, s, -1);
}

// one row per style, one column per object (seed 0)
static lethe_status model_sheet(const canvas_eval_report *r, int k, const char *path) {
    sheet s;
    lethe_status st = sheet_new(&s, r->n_styles, CANVAS_N_OBJECTS, 11);
    if (st) return st;
    for (int o = 0; o < CANVAS_N_OBJECTS; o++) sheet_header(&s, o, 1, r->object_names[o]);
    for (int e = 0; e < r->n_styles; e++) {
        const int sty = r->styles[e];
        sheet_row_label(&s, e, canvas_style_name(sty), style_forgotten(r, sty));
        for (int o = 0; o < CANVAS_N_OBJECTS; o++)
            sheet_tile(&s, e, o, r->models[k].grid + (size_t)(sty * CANVAS_N_OBJECTS + o) * CANVAS_NUMEL);
    }
    return sheet_write(&s, path);
}

// The side-by-side rows: the forgotten styles, the other styles of their families (the
// neighbours that should stay), then the first style of other families, up to 8 rows.
static int side_rows(const canvas_eval_report *r, int *rows) {
    int n = 0, used[CANVAS_N_STYLES] = {0};
    const int cap = 8;
    for (int j = 0; j < r->forget.n && r->forget.domain == CANVAS_FORGET_STYLE && n < cap; j++)
        if (!used[r->forget.concepts[j]]) used[rows[n++] = r->forget.concepts[j]] = 1;
    for (int j = 0; j < n && n < cap; j++)
        for (int s = 0; s < CANVAS_N_STYLES && n < cap; s++)
            if (!used[s] && r->evaluated[s] && canvas_style_family(s) == canvas_style_family(rows[j])) used[rows[n++] = s] = 1;
    for (int s = 0; s < CANVAS_N_STYLES && n < cap; s++)   // the first evaluated style of each other family
        if (!used[s] && r->evaluated[s] && (s == 0 || canvas_style_family(s) != canvas_style_family(s - 1) || !r->evaluated[s - 1]))
            used[rows[n++] = s] = 1;
    return n;
}

static lethe_status side_by_side(const canvas_eval_report *r, const char *path) {
    int rows[8];
    const int nr = side_rows(r, rows), nm = r->n_models, per = CANVAS_N_OBJECTS + 1;
    sheet s;
    lethe_status st = sheet_new(&s, nr, nm * per - 1, 11);
    if (st) return st;
    for (int k = 0; k < nm; k++) sheet_header(&s, k * per, CANVAS_N_OBJECTS, short_name(r->models[k].dir));
    for (int i = 0; i < nr; i++) {
        sheet_row_label(&s, i, canvas_style_name(rows[i]), style_forgotten(r, rows[i]));
        for (int k = 0; k < nm; k++)
            for (int o = 0; o < CANVAS_N_OBJECTS; o++)
                sheet_tile(&s, i, k * per + o, r->models[k].grid + (size_t)(rows[i] * CANVAS_N_OBJECTS + o) * CANVAS_NUMEL);
    }
    return sheet_write(&s, path);
}

lethe_status canvas_eval_write(const canvas_eval_report *r, const char *json_path) {
    char *json = canvas_eval_json(r);
    lethe_status st = json ? fs_write_text_atomic(json_path, json) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(json);
    char png[4096];
    for (int k = 0; !st && k < r->n_models; k++) {   // OUT.png, or OUT_1.png ... and OUT_side_by_side.png
        eval_grid_path(png, sizeof png, json_path, k, r->n_models);
        st = model_sheet(r, k, png);
    }
    if (!st && r->n_models > 1) {
        eval_png_path(png, sizeof png, json_path, "_side_by_side");
        st = side_by_side(r, png);
    }
    return st;
}
