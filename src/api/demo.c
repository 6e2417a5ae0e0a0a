/*
 * demo.c: `lethe demo` (see demo.h): unlearn from the reference model and judge it beside
 * its parent, or (--train) train the tiny model and draw its classes.
 */
#include "api/demo.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "diffusion/sample_job.h"
#include "diffusion/train_new.h"
#include "eval/evaluate.h"
#include "eval/report_files.h"
#include "unlearn/unlearn.h"

// The recommended method and the budget the demo gives it (README "Picking a method").
#define DEMO_METHOD "spare"
// SPARE maps the forget label to a kept class: the demo's when --method-options does not say
#define DEMO_SPARE_OPTIONS "surrogate=dress"
#define DEMO_SPARE_OPTIONS_DRESS "surrogate=coat"   // forgetting dress itself
#define DEMO_STEPS (-1)                        // the method's own default budget (SPARE: 100 steps)
#define DEMO_FORGET "trouser"

#define ROW(name, type, field, dflt, help) {name, NULL, type, offsetof(demo_opts, field), dflt, help, NULL, NULL, 0}
static const opt_spec demo_rows[] = {
    {"out", NULL, OPT_STRING, offsetof(demo_opts, out), {.s = "runs/demo"},
     "run folder (unlearning: OUT/unlearned, OUT/eval.json, OUT/eval.md, OUT/side_by_side.png; --train: OUT/model, "
     "OUT/samples)", NULL, NULL, OPT_NO_RECORD},
    ROW("model", OPT_STRING, model, {.s = DEMO_MODEL}, "the model to unlearn from (the committed reference model)"),
    ROW("classifier", OPT_STRING, classifier, {.s = DEMO_CLASSIFIER}, "the evaluation classifier"),
    ROW("forget", OPT_STRING, forget, {.s = DEMO_FORGET}, "the class to forget (name or index)"),
    ROW("method", OPT_STRING, method, {.s = DEMO_METHOD}, "the unlearning method"),
    {"method-options", NULL, OPT_STRING, offsetof(demo_opts, method_options), {.s = NULL},
     "more unlearning options, NAME=VALUE[,NAME=VALUE...] (default: none; for spare surrogate=dress, or "
     "surrogate=coat when forgetting dress)", NULL, NULL, 0},
    {"steps", NULL, OPT_INT, offsetof(demo_opts, steps), {.i = DEMO_STEPS},
     "unlearning steps (default -1: the method's own; with --train: training steps, default 1000)", NULL, NULL, 0},
    ROW("per-class", OPT_INT, per_class, {.i = 20},
        "samples per class judged for each model (with --train: drawn per class)"),
    ROW("sample-steps", OPT_INT, sample_steps, {.i = 25}, "DDIM steps"),
    ROW("guidance", OPT_FLOAT, guidance, {.f = 2.0f}, "classifier-free guidance scale"),
    ROW("kept-rows", OPT_INT, kept_rows, {.i = 3}, "kept classes shown in the side-by-side grid"),
    ROW("seed", OPT_U64, seed, {.u = 0}, "seed of the unlearning run and of the samples' noise"),
    ROW("train", OPT_FLAG, train, {.i = 0}, "train the tiny model from scratch instead (the first demo)"),
    ROW("data", OPT_STRING, data, {.s = "fashion-mnist"}, "dataset (--train)"),
    ROW("batch", OPT_INT, batch, {.i = 64}, "training batch (--train)"),
    {"snapshots", NULL, OPT_INT, offsetof(demo_opts, snapshots), {.i = -1},
     "weight snapshots kept in OUT/model/snapshots for VDU (--train; default 5, at most steps/2)", NULL, NULL, 0},
    {"again", NULL, OPT_FLAG, offsetof(demo_opts, again), {.i = 0},
     "redo the work whose result is already in OUT (default: reuse a finished model)", NULL, NULL, OPT_NO_RECORD},
};
const opt_table demo_options = {demo_rows, (int)(sizeof demo_rows / sizeof demo_rows[0])};

void demo_opts_default(demo_opts *o) {
    memset(o, 0, sizeof *o);
    opt_defaults(demo_rows, demo_options.n, o);
}

// What the unlearning stage was asked (OUT/demo_unlearn.json): a finished run is reused only
// for the same request (caller frees).
static char *unlearn_request_json(const demo_opts *d) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", d->model);
    cJSON_AddStringToObject(r, "method", d->method);
    cJSON_AddStringToObject(r, "method_options", d->method_options ? d->method_options : "");
    cJSON_AddStringToObject(r, "forget", d->forget);
    cJSON_AddNumberToObject(r, "steps", d->steps);
    cJSON_AddNumberToObject(r, "seed", (double)d->seed);
    const unlearn_method *m = unlearn_find(d->method);   // the method's defaults, which a newer lethe may change
    if (m) {
        cJSON_AddNumberToObject(r, "default_steps", m->default_steps);
        cJSON_AddNumberToObject(r, "default_lr", m->default_lr);
    }
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

// 1 if the request file at path holds exactly this request.
static int same_request(const char *path, const char *request) {
    char *text;
    if (!fs_exists(path) || fs_read_text(path, &text)) return 0;
    int same = !strcmp(text, request);
    free(text);
    return same;
}

// ---- training (--train) ----------------------------------------------------------------------------

static lethe_status demo_train(const demo_opts *d, demo_result *res) {
    train_job j;   // `lethe train`'s options (and record, for --resume), with the demo's budget
    train_job_default(&j);
    train_opts *o = &j.o;
    // --steps is the unlearning budget unless given with --train: the first demo trained 1000 steps
    const opt_spec *steps_row = opt_find(train_job_options.rows, train_job_options.n, "steps");
    const int steps_given = d->train_given && steps_row && d->train_given[steps_row - train_job_options.rows];
    o->steps = steps_given && d->steps > 0 ? d->steps : 1000;
    o->warmup = 100;
    o->batch = d->batch;
    o->seed = d->seed;
    o->checkpoint_every = 250;
    o->snapshots = d->snapshots;
    if (o->snapshots < 0) {   // one snapshot per step at most, over the second half (train.h)
        int half = o->steps - o->steps / 2;
        o->snapshots = half < 5 ? half : 5;
    }
    j.src.data = d->data;
    char state[4096];
    snprintf(res->model_dir, sizeof res->model_dir, "%s/model", d->out);
    snprintf(res->samples_dir, sizeof res->samples_dir, "%s/samples", d->out);
    snprintf(state, sizeof state, "%s/train_state.safetensors", res->model_dir);
    lethe_status st;
    if ((st = fs_mkdir_p(res->samples_dir))) return st;

    lethe_model m;
    if (!d->again && train_finished(res->model_dir, o->steps) && model_load(&m, res->model_dir) == LETHE_OK) {
        fprintf(stderr, "lethe demo: reusing the finished model in %s (--again to train again)\n", res->model_dir);
    } else {
        j.resume = !d->again && fs_exists(state);
        o->out_dir = res->model_dir;
        o->command_line = d->command_line ? d->command_line : "lethe demo --train";
        if (j.resume) {   // the interrupted run's recorded options, then the flags given now (checked against them)
            static const unsigned char none[64];
            int unchecked = 0;
            if ((st = train_job_resume(&j, d->train_given ? d->train_given : none, &unchecked))) {
                train_job_free(&j);
                return st;
            }
            if (unchecked)
                fprintf(stderr, "lethe demo: warning: %s records no options (an older lethe wrote it): resuming with the "
                        "options given now, which could not be checked against the run's\n", state);
        }
        fprintf(stderr, "lethe demo: %s the tiny model on %s for %d steps of %d images\n",
                j.resume ? "resuming" : "training", j.src.data, o->steps, o->batch);
        // train_run leaves the exported (EMA) weights in the model, so the saved folder is what it sampled
        st = train_job_run(&j);
        train_job_free(&j);
        if (st || (st = model_load(&m, res->model_dir))) return st;
    }

    // one grid per class, and all classes together (one row per class), all in one batch
    sample_job sj;
    sample_job_default(&sj);
    sj.n = d->per_class;
    sj.steps = d->sample_steps;
    sj.guidance = d->guidance;
    sj.seed = d->seed;
    sj.batch = 2 * m.n_classes * d->per_class;
    sample_images s;
    if ((st = sample_job_run(&m, &sj, &s))) { model_free(&m); return st; }
    snprintf(res->grid, sizeof res->grid, "%s/all_classes.png", res->samples_dir);
    st = sample_images_write_png(&s, res->grid);
    char path[4096];
    for (int k = 0; k < m.n_classes && !st; k++) {
        snprintf(path, sizeof path, "%s/%02d_%s.png", res->samples_dir, k, m.class_names[k]);
        st = sample_images_write_png_range(&s, k * d->per_class, d->per_class, path);
    }
    sample_images_free(&s);
    model_free(&m);
    return st;
}

// ---- unlearning ------------------------------------------------------------------------------------

// "a=1,b=x" into unlearn_opts_set calls; the copy lives in `keep` (strings are kept by pointer)
static lethe_status set_method_options(unlearn_opts *u, const char *list, char *keep, size_t cap) {
    if (!list || !*list) return LETHE_OK;
    if (strlen(list) >= cap) return lethe_fail(LETHE_ERR_ARG, "--method-options: too long");
    snprintf(keep, cap, "%s", list);
    for (char *item = strtok(keep, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq) return lethe_fail(LETHE_ERR_ARG, "--method-options: '%s' is not NAME=VALUE", item);
        *eq = 0;
        while (*item == '-') item++;
        lethe_status st = unlearn_opts_set(u, item, eq + 1);
        if (st) return st;
    }
    return LETHE_OK;
}

// Whether dir holds a model's weights (the reference model is missing outside the repository root).
static int has_weights(const char *dir) {
    char weights[4096];
    snprintf(weights, sizeof weights, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    return fs_exists(weights);
}

static lethe_status demo_unlearn(const demo_opts *d, demo_result *res) {
    lethe_status st;
    if (!has_weights(d->model))
        return lethe_fail(LETHE_ERR_IO, "%s: no reference model there; run lethe demo from the repository root (the "
                          "models are in models/), pass --model DIR, or train one with lethe demo --train", d->model);
    if ((st = fs_mkdir_p(d->out))) return st;
    snprintf(res->model_dir, sizeof res->model_dir, "%s/unlearned", d->out);

    // 1. unlearn (resumes an interrupted run; a finished one is reused unless --again)
    unlearn_opts u;
    unlearn_opts_default(&u);
    char keep[1024], steps_text[32], seed_text[32];
    const char *mopts = d->method_options;
    if (!mopts && !strcmp(d->method, "spare"))
        mopts = !strcmp(d->forget, "dress") || !strcmp(d->forget, "3") ? DEMO_SPARE_OPTIONS_DRESS : DEMO_SPARE_OPTIONS;
    if ((st = unlearn_opts_set(&u, "method", d->method)) || (st = set_method_options(&u, mopts, keep, sizeof keep)))
        return st;
    if (d->steps > 0) {
        snprintf(steps_text, sizeof steps_text, "%d", d->steps);
        if ((st = unlearn_opts_set(&u, "steps", steps_text))) return st;
    }
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)d->seed);
    if ((st = unlearn_opts_set(&u, "seed", seed_text))) return st;
    u.model_dir = d->model;
    u.forget = d->forget;
    u.out_dir = res->model_dir;
    u.command_line = d->command_line ? d->command_line : "lethe demo";
    char state[4096], provenance[4096];   // an interrupted run has a state file and no lethe.json yet
    snprintf(state, sizeof state, "%s/unlearn_state.safetensors", res->model_dir);
    snprintf(provenance, sizeof provenance, "%s/lethe.json", res->model_dir);
    char *request = unlearn_request_json(d), request_path[4096];
    if (!request) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    snprintf(request_path, sizeof request_path, "%s/demo_unlearn.json", d->out);
    // lethe.json is written once, after the last step: with it the run is finished, without it
    // an interrupted run of the same request resumes; anything else starts afresh
    const int same = !d->again && same_request(request_path, request);
    if (same && fs_exists(provenance)) {
        fprintf(stderr, "lethe demo: reusing the unlearned model in %s (the same request; --again to unlearn again)\n",
                res->model_dir);
    } else {
        u.resume = same && fs_exists(state);
        fprintf(stderr, "lethe demo: 1/2 %s forgets '%s' in %s\n", d->method, d->forget, d->model);
        if (!u.resume) remove(provenance);   // the model there was made for another request: not finished for this one
        if (!(st = fs_write_text_atomic(request_path, request))) st = unlearn_run(&u);
        if (st) { free(request); return st; }
    }
    free(request);

    // 2. the original and the unlearned model side by side, same noise
    fprintf(stderr, "lethe demo: 2/2 judging the original and the unlearned model (%d samples per class each)\n",
            d->per_class);
    eval_opts eo;
    eval_opts_default(&eo);
    eo.per_class = d->per_class;
    eo.steps = d->sample_steps;
    eo.guidance = d->guidance;
    eo.seed = d->seed;
    eo.grid_cols = d->per_class < 8 ? d->per_class : 8;
    eo.nll_images = 0;   // the demo shows what the models generate; `lethe eval` adds bits/dim and MIA
    eo.mia_images = 0;
    const char *dirs[2] = {d->model, res->model_dir};
    eval_report r;
    if ((st = eval_run(&r, dirs, 2, d->classifier, d->forget, &eo))) return st;
    r.command = (char *)(d->command_line ? d->command_line : "lethe demo");
    snprintf(res->json, sizeof res->json, "%s/eval.json", d->out);
    snprintf(res->table, sizeof res->table, "%s/eval.md", d->out);
    snprintf(res->grid, sizeof res->grid, "%s/side_by_side.png", d->out);
    st = eval_report_write(&r, res->json);
    char *md = NULL;
    size_t md_len = 0;
    FILE *f = st ? NULL : open_memstream(&md, &md_len);
    if (f) {
        eval_report_markdown(&r, f);
        fclose(f);
        st = fs_write_text_atomic(res->table, md);
        if (!st) fputs(md, stdout);
    } else if (!st) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(md);
    // rows: the forgotten class, then the first kept classes
    int rows[LETHE_MAX_CLASSES], n = 0;
    for (int j = 0; j < r.n_forget; j++) rows[n++] = r.forget[j];
    for (int j = 0; j < r.n_classes && n < r.n_forget + d->kept_rows; j++)
        if (!r.is_forget[r.classes[j]]) rows[n++] = r.classes[j];
    if (!st) st = eval_report_side_by_side(&r, rows, n, res->grid);
    r.command = NULL;
    eval_report_free(&r);
    return st;
}

lethe_status demo_run(const demo_opts *o, demo_result *r) {
    memset(r, 0, sizeof *r);
    if (o->per_class < 1 || o->sample_steps < 1 || o->kept_rows < 0)
        return lethe_fail(LETHE_ERR_ARG, "--per-class and --sample-steps must be positive, --kept-rows at least 0");
    double t0 = lethe_now();
    int train = o->train;
    if (!train && !strcmp(o->model, DEMO_MODEL) && !has_weights(o->model)) {
        // run outside the repository root, or a checkout without the reference model: the first demo
        fprintf(stderr, "lethe demo: no reference model in %s (run from the repository root, or pass --model DIR); "
                "training the tiny model from scratch instead, as lethe demo --train does\n", o->model);
        train = 1;
    }
    lethe_status st = train ? demo_train(o, r) : demo_unlearn(o, r);
    r->trained = train;
    r->seconds = lethe_now() - t0;
    return st;
}
