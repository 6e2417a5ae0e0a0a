/*
 * evaluate.c: lethe_classifier_train and lethe_evaluate, `lethe classifier` and `lethe eval`
 * by option names (eval/classifier_job.h, eval/evaluate.h, eval/report_files.h).
 */
#include <stddef.h>
#include <string.h>

#include "api/api.h"
#include "eval/classifier_job.h"
#include "eval/report_files.h"
#include "lethe.h"

#define C(name, type, field) {name, type, offsetof(classifier_job, field)}
static const api_opt classifier_table[] = {
    C("data", API_STRING, data),
    C("epochs", API_INT, train.epochs),
    C("batch", API_INT, train.batch),
    C("lr", API_FLOAT, train.lr),
    C("warmup", API_INT, train.warmup),
    C("weight-decay", API_FLOAT, train.weight_decay),
    C("channels", API_STRING, channels),
    C("features", API_INT, features),
    C("layers-per-block", API_INT, layers_per_block),
    C("shift", API_INT, train.augment.max_shift),
    C("no-flip", API_FLAG, no_flip),
    C("train-images", API_INT, train_images),
    C("fid-images", API_INT, fid_images),
    C("seed", API_U64, train.seed),
    C("init-seed", API_U64, init_seed),
};

lethe_status lethe_classifier_train(const char *out_dir, const lethe_options *opts, double *test_accuracy) {
    if (!out_dir) return lethe_fail(LETHE_ERR_ARG, "lethe_classifier_train: NULL output folder");
    classifier_job j;
    classifier_job_default(&j);
    j.train.quiet = 1;
    lethe_status st = api_apply(classifier_table, (int)(sizeof classifier_table / sizeof classifier_table[0]), &j, opts,
                                "lethe_classifier_train");
    if (st) return st;
    j.out_dir = out_dir;
    j.command_line = "lethe_classifier_train (C API)";
    classifier_job_result res;
    if ((st = classifier_job_run(&j, &res))) return st;
    if (test_accuracy) *test_accuracy = res.test_accuracy;
    return LETHE_OK;
}

typedef struct {
    eval_opts o;
    const char *sampler, *variance;
    int no_nll, no_mia, progress;
} eval_args;

#define E(name, type, field) {name, type, offsetof(eval_args, field)}
static const api_opt eval_table[] = {
    E("data", API_STRING, o.data),
    E("classes", API_STRING, o.classes),
    E("n", API_INT, o.per_class),
    E("sampler", API_STRING, sampler),
    E("steps", API_INT, o.steps),
    E("eta", API_FLOAT, o.eta),
    E("guidance", API_FLOAT, o.guidance),
    E("seed", API_U64, o.seed),
    E("batch", API_INT, o.batch),
    E("grid-cols", API_INT, o.grid_cols),
    E("nll-images", API_INT, o.nll_images),
    E("nll-timesteps", API_INT, o.nll.timesteps),
    E("nll-variance", API_STRING, variance),
    E("no-nll", API_FLAG, no_nll),
    E("mia-images", API_INT, o.mia_images),
    E("mia-pairs", API_INT, o.mia_pairs),
    E("no-mia", API_FLAG, no_mia),
    E("no-fid", API_FLAG, o.no_fid),
    E("progress", API_FLAG, progress),
};

lethe_status lethe_evaluate(const char *const *model_dirs, int n_models, const char *classifier_dir, const char *forget,
                            const char *out_json, const lethe_options *opts) {
    if (!model_dirs || n_models < 1 || n_models > EVAL_MAX_MODELS || !classifier_dir || !out_json)
        return lethe_fail(LETHE_ERR_ARG, "lethe_evaluate: 1 to %d model folders, a classifier folder and an output path "
                          "are required", EVAL_MAX_MODELS);
    eval_args a = {.sampler = "ddim", .variance = "fixed_small"};
    eval_opts_default(&a.o);
    lethe_status st = api_apply(eval_table, (int)(sizeof eval_table / sizeof eval_table[0]), &a, opts, "lethe_evaluate");
    if (st) return st;
    if (!strcmp(a.sampler, "ddim")) a.o.sampler = SAMPLER_DDIM;
    else if (!strcmp(a.sampler, "ddpm")) a.o.sampler = SAMPLER_DDPM;
    else return lethe_fail(LETHE_ERR_ARG, "lethe_evaluate: sampler must be ddim or ddpm (got '%s')", a.sampler);
    if (!strcmp(a.variance, "fixed_small")) a.o.nll.variance = NLL_FIXED_SMALL;
    else if (!strcmp(a.variance, "fixed_large")) a.o.nll.variance = NLL_FIXED_LARGE;
    else return lethe_fail(LETHE_ERR_ARG, "lethe_evaluate: nll-variance must be fixed_small or fixed_large (got '%s')", a.variance);
    if (a.no_nll) a.o.nll_images = 0;
    if (a.no_mia) a.o.mia_images = 0;
    a.o.quiet = !a.progress;
    eval_report rep;
    if (!(st = eval_run(&rep, model_dirs, n_models, classifier_dir, forget, &a.o))) st = eval_report_write(&rep, out_json);
    eval_report_free(&rep);
    return st;
}
