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

int cmd_eval(int argc, char **argv) {
    eval_request req;
    eval_request_default(&req);
    const char *models = NULL, *classifier = NULL, *forget = NULL, *out = "eval.json";
    int threads = 0;
    const char *device = "cpu";
    arg_spec specs[40];
    int n = 0;
    specs[n++] = (arg_spec){"model", ARG_STRING, &models, "model folder, or several comma-separated (original,unlearned,retrained)"};
    specs[n++] = (arg_spec){"classifier", ARG_STRING, &classifier, "classifier folder from `lethe classifier` (required)"};
    specs[n++] = (arg_spec){"forget", ARG_STRING, &forget, "forget class(es), names or indices, comma-separated"};
    specs[n++] = (arg_spec){"out", ARG_STRING, &out, "JSON report; grids go beside it (OUT.png, or OUT_1.png ... for several models)"};
    int k = args_from_options(specs + n, ARGS_ROOM(specs, n, 2), &eval_request_options, &req);
    if (k < 0) return 2;
    n += k;
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    const char *pos[MAX_POS];
    int npos;
    int r = args_parse("eval", "eval --model DIR[,DIR...] --classifier DIR [--forget NAME] [--out eval.json] [options]\n\n"
                       "Generates a fixed, seeded set of samples per class from each model (the same noise for\n"
                       "every model) and reports per-class accuracy, UA, FID and IS (lethe-CNN features),\n"
                       "bits/dim on real test images and a membership-inference AUC, with wall times.",
                       specs, n, argc, argv, pos, MAX_POS, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!classifier) { fprintf(stderr, "lethe eval: --classifier DIR is required (train one with `lethe classifier`)\n"); return 2; }
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
