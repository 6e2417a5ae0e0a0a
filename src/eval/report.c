/* report.c: an evaluation as JSON, as Markdown tables and as PNG grids (see evaluate.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluate.h"
#include "io/png.h"
#include "ops/ops.h"

// ---- JSON --------------------------------------------------------------------------------------------

// NaN (not computed) becomes null, so a reader never mistakes it for a number
static void add_num(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *per_class_obj(const eval_report *r, const double *v) {
    cJSON *o = cJSON_CreateObject();
    for (int c = 0; c < r->K; c++) add_num(o, r->class_names[c], v[c]);
    return o;
}

static const char *sampler_name(sampler_kind k) { return k == SAMPLER_DDIM ? "ddim" : "ddpm"; }

static cJSON *settings_json(const eval_report *r) {
    const eval_opts *o = &r->opts;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "dataset", r->dataset);
    if (r->data.dir[0]) cJSON_AddStringToObject(s, "dataset_path", r->data.dir);   // read from a model's record
    cJSON_AddNumberToObject(s, "samples_per_class", o->per_class);
    cJSON_AddStringToObject(s, "sampler", sampler_name(o->sampler));
    cJSON_AddNumberToObject(s, "steps", o->steps);
    cJSON_AddNumberToObject(s, "eta", o->eta);
    cJSON_AddNumberToObject(s, "guidance", o->guidance);
    cJSON_AddStringToObject(s, "gemm_precision", ops_precision());   // of the GEMMs (--precision)
    cJSON_AddStringToObject(s, "guidance_convention", "eps = eps_null + w (eps_c - eps_null)");
    cJSON_AddBoolToObject(s, "clipped_eps", o->clipped_eps);   // diffusers' use_clipped_model_output
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddStringToObject(s, "noise", "x_T and sampler noise keyed by (class * 2^20 + index): same for every model");
    cJSON_AddStringToObject(s, "quantisation", "samples rounded to uint8 before the classifier, as a PNG");
    cJSON *nll = cJSON_AddObjectToObject(s, "nll");
    cJSON_AddNumberToObject(nll, "images_per_class", o->nll_images);
    cJSON_AddNumberToObject(nll, "timestep_strata", o->nll.timesteps);
    cJSON_AddStringToObject(nll, "variance", o->nll.variance == NLL_FIXED_SMALL ? "fixed_small" : "fixed_large");
    cJSON_AddBoolToObject(nll, "clip_denoised", o->nll.clip_denoised);
    cJSON_AddStringToObject(nll, "estimator",
                            "prior + exact decoder term + one t per stratum of 1..T-1 weighted by stratum size");
    cJSON *mia = cJSON_AddObjectToObject(s, "membership_inference");
    cJSON_AddNumberToObject(mia, "images_per_side", o->mia_images);
    cJSON_AddNumberToObject(mia, "pairs", o->mia_pairs);
    cJSON_AddStringToObject(mia, "attack", "loss threshold: mean denoising loss over fixed (t, noise) pairs; "
                                           "members = training images, non-members = test images of the same classes");
    cJSON_AddStringToObject(mia, "classes", r->n_forget ? "forget" : "all");
    return s;
}

static cJSON *model_json(const eval_report *r, const eval_model_result *m) {
    const int K = r->K;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", m->dir);
    cJSON_AddStringToObject(o, "weights_sha256", m->hash);
    if (m->method[0]) cJSON_AddStringToObject(o, "method", m->method);
    if (m->one_step_t > 0) {   // sampled with one evaluation, not with the settings' sampler
        cJSON *g = cJSON_AddObjectToObject(o, "generator");
        cJSON_AddStringToObject(g, "kind", "one-step");
        cJSON_AddNumberToObject(g, "t_init", m->one_step_t);
    }
    cJSON_AddBoolToObject(o, "conditional", m->conditional);
    cJSON_AddNumberToObject(o, "samples", m->n_samples);
    if (m->conditional) {
        cJSON_AddItemToObject(o, "generation_accuracy", per_class_obj(r, m->gen_accuracy));
        add_num(o, "retained_accuracy", m->retained_accuracy);
    }
    cJSON_AddItemToObject(o, "class_fraction", per_class_obj(r, m->class_fraction));
    cJSON *conf = cJSON_AddArrayToObject(o, "confusion");
    for (int c = 0; c < (m->conditional ? K : 1); c++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < K; j++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)m->confusion[(size_t)c * K + j]));
        cJSON_AddItemToArray(conf, row);
    }
    cJSON *fg = cJSON_AddObjectToObject(o, "forget");
    for (int j = 0; j < r->n_forget; j++) {
        cJSON *f = cJSON_AddObjectToObject(fg, r->class_names[r->forget[j]]);
        add_num(f, "ua", m->ua[j]);
        add_num(f, "forget_class_confidence", m->forget_confidence[j]);
        if (!m->conditional) add_num(f, "pul_percent", m->pul[j]);
    }
    add_num(o, "mean_entropy_nats", m->mean_entropy);
    add_num(o, "inception_score", m->inception_score);
    cJSON *fid = cJSON_AddObjectToObject(o, "fid_lethe_cnn");
    add_num(fid, "all", m->fid_all);
    add_num(fid, "retained", m->fid_retained);
    if (m->conditional) cJSON_AddItemToObject(fid, "per_class", per_class_obj(r, m->fid_class));
    cJSON *nll = cJSON_AddObjectToObject(o, "bits_per_dim");
    cJSON_AddItemToObject(nll, "per_class", per_class_obj(r, m->bpd));
    cJSON_AddItemToObject(nll, "stderr", per_class_obj(r, m->bpd_se));
    add_num(nll, "forget_mean", m->bpd_forget);
    add_num(nll, "retained_mean", m->bpd_retained);
    cJSON *mia = cJSON_AddObjectToObject(o, "membership_inference");
    add_num(mia, "auc", m->mia_auc);
    add_num(mia, "auc_stderr", m->mia_auc_se);
    cJSON_AddNumberToObject(mia, "members", m->mia_members);
    cJSON *t = cJSON_AddObjectToObject(o, "seconds");
    add_num(t, "load", m->t_load);
    add_num(t, "sample", m->t_sample);
    add_num(t, "classify", m->t_classify);
    add_num(t, "fid", m->t_fid);
    add_num(t, "nll", m->t_nll);
    add_num(t, "mia", m->t_mia);
    add_num(t, "total", m->t_total);
    add_num(o, "sampling_images_per_second", m->sample_images_per_s);
    return o;
}

char *eval_report_json(const eval_report *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "lethe-eval-1");
    if (r->command) cJSON_AddStringToObject(root, "command", r->command);
    cJSON_AddItemToObject(root, "settings", settings_json(r));
    cJSON *cls = cJSON_AddObjectToObject(root, "classifier");
    cJSON_AddStringToObject(cls, "dir", r->classifier_dir);
    cJSON_AddStringToObject(cls, "weights_sha256", r->classifier_hash);
    add_num(cls, "test_accuracy", r->classifier_test_accuracy >= 0 ? r->classifier_test_accuracy : NAN);
    cJSON_AddNumberToObject(cls, "feature_dim", r->feature_dim);
    cJSON_AddStringToObject(cls, "fid_features", "FID (lethe-CNN features): not comparable with Inception FID");
    cJSON *names = cJSON_AddArrayToObject(root, "classes");
    for (int c = 0; c < r->K; c++) cJSON_AddItemToArray(names, cJSON_CreateString(r->class_names[c]));
    cJSON *ev = cJSON_AddArrayToObject(root, "evaluated_classes");   // --classes (all by default)
    for (int j = 0; j < r->n_classes; j++) cJSON_AddItemToArray(ev, cJSON_CreateString(r->class_names[r->classes[j]]));
    cJSON *fg = cJSON_AddArrayToObject(root, "forget_classes");
    for (int j = 0; j < r->n_forget; j++) cJSON_AddItemToArray(fg, cJSON_CreateString(r->class_names[r->forget[j]]));
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int k = 0; k < r->n_models; k++) cJSON_AddItemToArray(models, model_json(r, &r->models[k]));
    add_num(root, "real_features_seconds", r->t_real);
    cJSON *w = cJSON_AddArrayToObject(root, "warnings");
    for (int i = 0; i < r->n_warnings; i++) cJSON_AddItemToArray(w, cJSON_CreateString(r->warnings[i]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

// ---- Markdown ----------------------------------------------------------------------------------------

static void cell(FILE *f, double v, const char *fmt, double scale) {
    if (isfinite(v)) {
        fputs(" ", f);
        fprintf(f, fmt, v * scale);
        fputs(" |", f);
    } else {
        fputs(" - |", f);
    }
}

static void single_model(const eval_report *r, const eval_model_result *m, FILE *f) {
    fprintf(f, "| class | generation accuracy | FID | bits/dim | |\n|---|---|---|---|---|\n");
    for (int c = 0; c < r->K; c++) {
        if (!r->evaluated[c]) continue;
        fprintf(f, "| %s |", r->class_names[c]);
        cell(f, m->conditional ? m->gen_accuracy[c] : m->class_fraction[c], "%.1f%%", 100);
        cell(f, m->fid_class[c], "%.2f", 1);
        if (isfinite(m->bpd[c])) fprintf(f, " %.3f ± %.3f |", m->bpd[c], m->bpd_se[c]);
        else fputs(" - |", f);
        fprintf(f, " %s |\n", r->is_forget[c] ? "forget" : "");
    }
    if (!m->conditional) fprintf(f, "\n(unconditional model: the accuracy column is the share of samples in each class)\n");
}

// one row: a label and the value of each model
#define ROW(label, expr, fmt, scale)                                                   \
    do {                                                                               \
        fprintf(f, "| %s |", label);                                                   \
        for (int k = 0; k < r->n_models; k++) {                                        \
            const eval_model_result *m = &r->models[k];                                \
            (void)m;                                                                   \
            cell(f, (expr), fmt, scale);                                               \
        }                                                                              \
        fputc('\n', f);                                                                \
    } while (0)

void eval_report_markdown(const eval_report *r, FILE *f) {
    fprintf(f, "## lethe eval: %s, %d samples per class, %s %d steps, guidance %g, seed %llu\n\n", r->dataset,
            r->opts.per_class, sampler_name(r->opts.sampler), r->opts.steps, (double)r->opts.guidance,
            (unsigned long long)r->opts.seed);
    if (r->n_models == 1) {
        single_model(r, &r->models[0], f);
        fputc('\n', f);
    }
    fprintf(f, "| metric |");
    for (int k = 0; k < r->n_models; k++) {
        const char *d = r->models[k].dir, *b = strrchr(d, '/');
        fprintf(f, " %s |", b && b[1] ? b + 1 : d);
    }
    fprintf(f, "\n|---|");
    for (int k = 0; k < r->n_models; k++) fprintf(f, "---|");
    fputc('\n', f);
    char label[96];
    for (int j = 0; j < r->n_forget; j++) {
        const char *name = r->class_names[r->forget[j]];
        snprintf(label, sizeof label, "UA %s", name);
        ROW(label, m->ua[j], "%.1f%%", 100);
        snprintf(label, sizeof label, "confidence %s", name);
        ROW(label, m->forget_confidence[j], "%.3f", 1);
        if (!r->models[0].conditional && r->n_models > 1) {
            snprintf(label, sizeof label, "PUL %s", name);
            ROW(label, m->pul[j], "%.1f%%", 1);
        }
    }
    ROW("retained accuracy", m->retained_accuracy, "%.1f%%", 100);
    if (r->n_models > 1)
        for (int c = 0; c < r->K; c++) {
            if (!r->evaluated[c]) continue;
            snprintf(label, sizeof label, "accuracy %s%s", r->class_names[c], r->is_forget[c] ? " (forget)" : "");
            ROW(label, m->conditional ? m->gen_accuracy[c] : m->class_fraction[c], "%.1f%%", 100);
        }
    ROW("FID retained (lethe-CNN)", m->fid_retained, "%.2f", 1);
    ROW("FID all (lethe-CNN)", m->fid_all, "%.2f", 1);
    ROW("IS", m->inception_score, "%.2f", 1);
    ROW("entropy (nats)", m->mean_entropy, "%.3f", 1);
    if (r->n_forget) ROW("bits/dim forget", m->bpd_forget, "%.3f", 1);
    ROW("bits/dim retained", m->bpd_retained, "%.3f", 1);
    ROW("MIA AUC", m->mia_auc, "%.3f", 1);
    ROW("sampling img/s", m->sample_images_per_s, "%.1f", 1);
    ROW("seconds (sample)", m->t_sample, "%.1f", 1);
    ROW("seconds (FID)", m->t_fid, "%.1f", 1);
    ROW("seconds (bits/dim)", m->t_nll, "%.1f", 1);
    ROW("seconds (MIA)", m->t_mia, "%.1f", 1);
    ROW("seconds (total)", m->t_total, "%.1f", 1);
    if (r->classifier_test_accuracy >= 0)
        fprintf(f, "\nclassifier %s: test accuracy %.2f%%, feature width %d (FID on these features, not Inception's)\n",
                r->classifier_dir, 100 * r->classifier_test_accuracy, r->feature_dim);
    else
        fprintf(f, "\nclassifier %s: test accuracy unknown, feature width %d\n", r->classifier_dir, r->feature_dim);
    for (int i = 0; i < r->n_warnings; i++) fprintf(f, "warning: %s\n", r->warnings[i]);
}

// ---- grid ---------------------------------------------------------------------------------------------

lethe_status eval_report_grid(const eval_report *r, int model, const char *path) {
    const eval_model_result *m = &r->models[model];
    int cols = r->opts.grid_cols < r->opts.per_class ? r->opts.grid_cols : r->opts.per_class;
    if (!m->grid) return lethe_fail(LETHE_ERR_ARG, "no samples kept for model %d", model);
    return png_write_grid_u8(path, m->grid, m->grid_rows * cols, r->channels, r->size, r->size, cols, 2, 0);
}

// Rows of classes; in each row every model's samples of that class, a blank tile between
// models. The samples of one row share their noise across models (eval_run's seeding).
lethe_status eval_report_side_by_side(const eval_report *r, const int *classes, int n_classes, const char *path) {
    const int cols = r->opts.grid_cols < r->opts.per_class ? r->opts.grid_cols : r->opts.per_class;
    const int nm = r->n_models, row_tiles = nm * cols + (nm - 1);
    const size_t numel = (size_t)r->channels * r->size * r->size;
    if (n_classes < 1 || cols < 1) return lethe_fail(LETHE_ERR_ARG, "side-by-side grid: no classes or no samples");
    for (int k = 0; k < nm; k++)
        if (!r->models[k].grid || !r->models[k].conditional)
            return lethe_fail(LETHE_ERR_ARG, "side-by-side grid: model %d has no class-conditional samples", k + 1);
    int rows[LETHE_MAX_CLASSES];
    for (int i = 0; i < n_classes; i++) {
        rows[i] = -1;
        for (int j = 0; j < r->n_classes; j++)
            if (r->classes[j] == classes[i]) rows[i] = j;
        if (rows[i] < 0) return lethe_fail(LETHE_ERR_ARG, "side-by-side grid: class %d was not evaluated", classes[i]);
    }
    unsigned char *tiles = malloc((size_t)n_classes * row_tiles * numel);
    if (!tiles) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    memset(tiles, 255, (size_t)n_classes * row_tiles * numel);   // the blank tiles stay white
    for (int i = 0; i < n_classes; i++)
        for (int k = 0; k < nm; k++)
            memcpy(tiles + ((size_t)i * row_tiles + (size_t)k * (cols + 1)) * numel,
                   r->models[k].grid + (size_t)rows[i] * cols * numel, (size_t)cols * numel);
    lethe_status st = png_write_grid_u8(path, tiles, n_classes * row_tiles, r->channels, r->size, r->size, row_tiles, 2, 0);
    free(tiles);
    return st;
}
