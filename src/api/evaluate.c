/*
 * evaluate.c: lethe_classifier_train and lethe_evaluate, `lethe classifier` and `lethe eval`
 * by option names (eval/classifier_job.h, eval/evaluate.h, eval/report_files.h).
 */
#include "api/api.h"
#include "eval/classifier_job.h"
#include "eval/report_files.h"
#include "lethe.h"

lethe_status lethe_classifier_train(const char *out_dir, const lethe_options *opts, double *test_accuracy) {
    if (!out_dir) return lethe_fail(LETHE_ERR_ARG, "lethe_classifier_train: NULL output folder");
    classifier_job j;
    classifier_job_default(&j);
    j.train.quiet = 1;
    lethe_status st = api_apply(&classifier_job_options, &j, NULL, opts, "lethe_classifier_train");
    if (st) return st;
    j.out_dir = out_dir;
    j.command_line = "lethe_classifier_train (C API)";
    classifier_job_result res;
    if ((st = classifier_job_run(&j, &res))) return st;
    if (test_accuracy) *test_accuracy = res.test_accuracy;
    return LETHE_OK;
}

lethe_status lethe_evaluate(const char *const *model_dirs, int n_models, const char *classifier_dir, const char *forget,
                            const char *out_json, const lethe_options *opts) {
    if (!model_dirs || n_models < 1 || n_models > EVAL_MAX_MODELS || !classifier_dir || !out_json)
        return lethe_fail(LETHE_ERR_ARG, "lethe_evaluate: 1 to %d model folders, a classifier folder and an output path "
                          "are required", EVAL_MAX_MODELS);
    eval_request r;
    eval_request_default(&r);
    int progress = 0;
    lethe_status st = api_apply(&eval_request_options, &r, &progress, opts, "lethe_evaluate");
    if (st) return st;
    eval_request_check(&r);
    r.o.quiet = !progress;
    eval_report rep;
    if (!(st = eval_run(&rep, model_dirs, n_models, classifier_dir, forget, &r.o))) st = eval_report_write(&rep, out_json);
    eval_report_free(&rep);
    return st;
}
