/*
 * cmd_eval.c: `lethe eval`: judge one or several models with the evaluation classifier on
 * the same seeds and noise; JSON with every number and setting, Markdown on stdout, and a
 * PNG grid per model (one row per class).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "diffusion/model.h"
#include "eval/canvas_eval.h"
#include "eval/report_files.h"

#define MAX_POS EVAL_MAX_MODELS

// "a,b,c" -> pointers into a writable copy
static int split_models(char *list, const char **out, int cap) {
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap) return -1;
        out[n++] = tok;
    }
    return n;
}

// A text-to-image comparison: the answer set judged by the Fashion-Canvas judges (canvas_eval.h).
// The flags shared with the class-level eval keep their meaning; --n (images per prompt),
// --batch (prompts per chain) and --guidance take the text-to-image defaults unless given.
static int eval_text(const char *const *dirs, int n_models, const eval_request *req, const unsigned char *given,
                     canvas_eval_opts *co, const char *forget_styles, const char *forget_objects, const char *out,
                     int argc, char **argv) {
    const eval_opts *o = &req->o;
    co->sampler = o->sampler;
    co->steps = o->steps;
    co->eta = o->eta;
    co->clipped_eps = o->clipped_eps;
    co->seed = o->seed;
    co->quiet = o->quiet;
    for (int i = 0; i < eval_request_options.n; i++) {
        if (!given[i]) continue;
        const char *name = eval_request_options.rows[i].name;
        if (!strcmp(name, "n")) co->seeds = o->per_class;
        else if (!strcmp(name, "batch")) co->batch = o->batch;
        else if (!strcmp(name, "guidance")) co->guidance = o->guidance;
        else if (!strcmp(name, "no-fid")) co->real_per_style = 0;
    }
    canvas_eval_report rep;
    lethe_status st = canvas_eval_run(&rep, dirs, n_models, forget_styles, forget_objects, co);
    int code = 0;
    if (!st) {
        char *cmd = args_join(argc, argv);
        size_t len = strlen(cmd ? cmd : "") + 16;
        if ((rep.command = malloc(len))) snprintf(rep.command, len, "lethe eval %s", cmd ? cmd : "");
        free(cmd);
        st = canvas_eval_write(&rep, out);
    }
    if (st) {
        code = cli_fail("eval", st);
    } else {
        canvas_eval_markdown(&rep, stdout);
        fprintf(stderr, "lethe eval: wrote %s and its PNG sheets beside it (a row per style, a column per object%s)\n",
                out, rep.n_models > 1 ? "; *_side_by_side.png compares the models" : "");
    }
    canvas_eval_report_free(&rep);
    return code;
}

int cmd_eval(int argc, char **argv) {
    eval_request req;
    eval_request_default(&req);
    const char *models = NULL, *classifier = NULL, *forget = NULL, *out = "eval.json";
    int threads = 0;
    const char *device = "cpu", *precision = "fp32";
    canvas_eval_opts co;
    canvas_eval_opts_default(&co);
    const char *forget_styles = NULL, *forget_objects = NULL;
    arg_spec specs[48];
    int n = 0;
    specs[n++] = (arg_spec){"model", ARG_STRING, &models, "model folder, or several comma-separated (original,unlearned,retrained)"};
    specs[n++] = (arg_spec){"classifier", ARG_STRING, &classifier, "classifier folder from `lethe classifier` (required)"};
    specs[n++] = (arg_spec){"forget", ARG_STRING, &forget, "forget class(es), names or indices, comma-separated"};
    specs[n++] = (arg_spec){"out", ARG_STRING, &out, "JSON report; grids go beside it (OUT.png, or OUT_1.png ... for several models)"};
    int k = args_from_options(specs + n, ARGS_ROOM(specs, n, 11), &eval_request_options, &req);
    if (k < 0) return 2;
    n += k;
    specs[n++] = (arg_spec){"forget-style", ARG_STRING, &forget_styles, "text-to-image models: forgotten style(s), comma-separated (UA, IRA, CRA)"};
    specs[n++] = (arg_spec){"forget-object", ARG_STRING, &forget_objects, "text-to-image models: forgotten object(s), comma-separated"};
    specs[n++] = (arg_spec){"style-classifier", ARG_STRING, &co.style_classifier, "text-to-image models: the style judge"};
    specs[n++] = (arg_spec){"object-classifier", ARG_STRING, &co.object_classifier, "text-to-image models: the object judge"};
    specs[n++] = (arg_spec){"clip", ARG_STRING, &co.clip, "text-to-image models: the CLIP of the CLIP score"};
    specs[n++] = (arg_spec){"no-clip", ARG_FLAG, &co.no_clip, "text-to-image models: skip the CLIP score"};
    specs[n++] = (arg_spec){"styles", ARG_STRING, &co.styles, "text-to-image models: evaluate only these styles' prompts, comma-separated (a quick look; default: all 56)"};
    specs[n++] = (arg_spec){"real-per-style", ARG_INT, &co.real_per_style, "text-to-image models: real test images rendered in each style for FID"};
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    specs[n++] = (arg_spec){"precision", ARG_STRING, &precision, CLI_PRECISION_HELP};
    const char *pos[MAX_POS];
    int npos;
    int r = args_parse("eval", "eval --model DIR[,DIR...] --classifier DIR [--forget NAME] [--out eval.json] [options]\n\n"
                       "Generates a fixed, seeded set of samples per class from each model (the same noise for\n"
                       "every model) and reports per-class accuracy, UA, FID and IS (lethe-CNN features),\n"
                       "bits/dim on real test images and a membership-inference AUC, with wall times.\n\n"
                       "Text-to-image models (Fashion-Canvas): every style x object prompt, --n images each (default 2),\n"
                       "judged by the style and object classifiers (defaults: the committed ones under models/):\n"
                       "style and object accuracy per style and per object, FID on each judge's features, CLIP score;\n"
                       "with --forget-style or --forget-object, UA, IRA and CRA (UnlearnCanvas). Guidance default 5,\n"
                       "--batch counts prompts per chain (default 112); --classifier, --forget and the likelihood\n"
                       "and membership flags are for class-level models.",
                       specs, n, argc, argv, pos, MAX_POS, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    int text = 0;
    {   // the first model decides the kind of evaluation
        const char *first = NULL;
        char *copy = models ? strdup(models) : NULL;
        if (copy) first = strtok(copy, ",");
        if (!first && npos) first = pos[0];
        text = first && model_dir_is_text(first);
        free(copy);
    }
    if (text && (classifier || forget)) {
        fprintf(stderr, "lethe eval: this is a text-to-image model: it is judged by --style-classifier and "
                        "--object-classifier, and forgets with --forget-style or --forget-object (not %s)\n",
                classifier ? "--classifier" : "--forget");
        return 2;
    }
    if (!text && (forget_styles || forget_objects || co.styles)) {
        fprintf(stderr, "lethe eval: --forget-style, --forget-object and --styles are for text-to-image models; this "
                        "model takes --forget CLASS (and --classes)\n");
        return 2;
    }
    if (!classifier && !text) { fprintf(stderr, "lethe eval: --classifier DIR is required (train one with `lethe classifier`)\n"); return 2; }
    eval_request_check(&req);

    // models: --model a,b and/or positional folders
    const char *dirs[EVAL_MAX_MODELS];
    int n_models = 0;
    char *list = models ? strdup(models) : NULL;
    if (list) {
        n_models = split_models(list, dirs, EVAL_MAX_MODELS);
        if (n_models < 0) { free(list); fprintf(stderr, "lethe eval: at most %d models\n", EVAL_MAX_MODELS); return 2; }
    }
    for (int i = 0; i < npos; i++) {
        if (n_models == EVAL_MAX_MODELS) { free(list); fprintf(stderr, "lethe eval: at most %d models\n", EVAL_MAX_MODELS); return 2; }
        dirs[n_models++] = pos[i];
    }
    if (!n_models) { free(list); fprintf(stderr, "lethe eval: --model DIR is required\n"); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("eval", device)) { free(list); return 1; }
    if (cli_set_precision("eval", precision)) { free(list); return 2; }

    if (text) {
        unsigned char *given = calloc((size_t)eval_request_options.n, 1);
        if (!given) { free(list); return cli_fail("eval", lethe_fail(LETHE_ERR_NOMEM, "out of memory")); }
        args_given(&eval_request_options, argc, argv, given);
        int code = eval_text(dirs, n_models, &req, given, &co, forget_styles, forget_objects, out, argc, argv);
        free(given);
        free(list);
        return code;
    }
    eval_report rep;
    lethe_status st = eval_run(&rep, dirs, n_models, classifier, forget, &req.o);
    int code = 0;
    if (st) {
        code = cli_fail("eval", st);
        goto out;
    }
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 16;
    rep.command = malloc(len);
    if (rep.command) snprintf(rep.command, len, "lethe eval %s", cmd ? cmd : "");
    free(cmd);
    st = eval_report_write(&rep, out);
    if (st) {
        code = cli_fail("eval", st);
        goto out;
    }
    eval_report_markdown(&rep, stdout);
    char png[4096];
    eval_grid_path(png, sizeof png, out, rep.n_models - 1, rep.n_models);
    fprintf(stderr, "lethe eval: wrote %s and %s%s\n", out, png, rep.n_models > 1 ? " (one grid per model)" : "");
out:
    eval_report_free(&rep);
    free(list);
    return code;
}
