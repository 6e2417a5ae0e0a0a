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
    if ((st = train_job_check(&j))) return lethe_fail_context(st, "lethe_train");
    j.o.out_dir = out_dir;   // the argument, whatever "out" says
    j.o.command_line = "lethe_train (C API)";
    return train_new(&j.src, &j.o, j.resume);
}
