/*
 * train.c: lethe_train, `lethe train` by option names (diffusion/train_new.h).
 */
#include "api/api.h"
#include "diffusion/train_new.h"
#include "lethe.h"

lethe_status lethe_train(const char *out_dir, const lethe_options *opts) {
    if (!out_dir) return lethe_fail(LETHE_ERR_ARG, "lethe_train: NULL output folder");
    train_job j;
    train_job_default(&j);
    lethe_status st = api_apply(&train_job_options, &j, NULL, opts, "lethe_train");
    if (st) return st;
    j.o.out_dir = out_dir;   // the argument, whatever "out" says
    j.o.command_line = "lethe_train (C API)";
    if (j.resume) {   // the run's recorded options, then the ones set by name (checked against them)
        unsigned char given[64] = {0};
        int unchecked;
        if (train_job_options.n > (int)sizeof given) return lethe_fail(LETHE_ERR_ARG, "lethe_train: too many options");
        for (int i = 0; opts && i < opts->n; i++) {
            const opt_spec *s = opt_find(train_job_options.rows, train_job_options.n, opts->names[i]);
            if (s) given[s - train_job_options.rows] = 1;
        }
        if ((st = train_job_resume(&j, given, &unchecked))) return lethe_fail_context(st, "lethe_train");
    }
    if ((st = train_job_check(&j))) { train_job_free(&j); return lethe_fail_context(st, "lethe_train"); }
    st = train_job_run(&j);
    train_job_free(&j);
    return st;
}
