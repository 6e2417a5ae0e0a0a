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
    eval_opts o;
    eval_opts_default(&o);
    const char *models = NULL, *classifier = NULL, *forget = NULL, *out = "eval.json", *sampler = "ddim",
               *variance = "fixed_small", *data = NULL, *classes = NULL;
    int threads = 0, no_nll = 0, no_mia = 0;
    const char *device = "cpu";
    const arg_spec specs[] = {
        {"model", ARG_STRING, &models, "model folder, or several comma-separated (original,unlearned,retrained)"},
        {"classifier", ARG_STRING, &classifier, "classifier folder from `lethe classifier` (required)"},
        {"forget", ARG_STRING, &forget, "forget class(es), names or indices, comma-separated"},
        {"out", ARG_STRING, &out, "JSON report; grids go beside it (OUT.png, or OUT_1.png ... for several models)"},
        {"data", ARG_STRING, &data, "dataset of the real images (default: the folder the first model was trained on, from its "
                                       "lethe.json, else the classifier's dataset)"},
        {"classes", ARG_STRING, &classes, "evaluate only these classes (e.g. those the models were trained on; default: all)"},
        {"n", ARG_INT, &o.per_class, "samples per class (headline tables: 500)"},
        {"sampler", ARG_STRING, &sampler, "ddim or ddpm"},
        {"steps", ARG_INT, &o.steps, "sampling steps"},
        {"eta", ARG_FLOAT, &o.eta, "DDIM eta"},
        {"guidance", ARG_FLOAT, &o.guidance, "classifier-free guidance scale w (1: none)"},
        {"seed", ARG_U64, &o.seed, "seed of the sampling noise, the bits/dim estimator and the MIA pairs"},
        {"batch", ARG_INT, &o.batch, "samples per chain (guidance doubles the network batch)"},
        {"grid-cols", ARG_INT, &o.grid_cols, "samples per class in the PNG grid"},
        {"nll-images", ARG_INT, &o.nll_images, "real test images per class for bits/dim (0: skip)"},
        {"nll-timesteps", ARG_INT, &o.nll.timesteps, "bits/dim: timestep strata (one t each); 999: all T, exact"},
        {"nll-variance", ARG_STRING, &variance, "bits/dim: decoder variance fixed_small (beta tilde) or fixed_large (beta)"},
        {"no-nll", ARG_FLAG, &no_nll, "skip bits/dim"},
        {"mia-images", ARG_INT, &o.mia_images, "membership inference: training images (members) and as many test images"},
        {"mia-pairs", ARG_INT, &o.mia_pairs, "membership inference: (t, noise) pairs per image"},
        {"no-mia", ARG_FLAG, &no_mia, "skip membership inference"},
        {"no-fid", ARG_FLAG, &o.no_fid, "skip FID"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[MAX_POS];
    int npos;
    int r = args_parse("eval", "eval --model DIR[,DIR...] --classifier DIR [--forget NAME] [--out eval.json] [options]\n\n"
                       "Generates a fixed, seeded set of samples per class from each model (the same noise for\n"
                       "every model) and reports per-class accuracy, UA, FID and IS (lethe-CNN features),\n"
                       "bits/dim on real test images and a membership-inference AUC, with wall times.",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, MAX_POS, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!classifier) { fprintf(stderr, "lethe eval: --classifier DIR is required (train one with `lethe classifier`)\n"); return 2; }
    if (!strcmp(sampler, "ddim")) o.sampler = SAMPLER_DDIM;
    else if (!strcmp(sampler, "ddpm")) o.sampler = SAMPLER_DDPM;
    else { fprintf(stderr, "lethe eval: --sampler must be ddim or ddpm (got '%s')\n", sampler); return 2; }
    if (!strcmp(variance, "fixed_small")) o.nll.variance = NLL_FIXED_SMALL;
    else if (!strcmp(variance, "fixed_large")) o.nll.variance = NLL_FIXED_LARGE;
    else { fprintf(stderr, "lethe eval: --nll-variance must be fixed_small or fixed_large (got '%s')\n", variance); return 2; }
    if (no_nll) o.nll_images = 0;
    if (no_mia) o.mia_images = 0;
    o.data = data;
    o.classes = classes;

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
    lethe_status st = eval_run(&rep, dirs, n_models, classifier, forget, &o);
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
