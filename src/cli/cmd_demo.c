/*
 * cmd_demo.c: `lethe demo`, the main job (api/demo.h): forget a class from the committed
 * reference model and show the original and the unlearned model side by side; with
 * --train, train the tiny model from scratch and draw its classes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/demo.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "diffusion/train_new.h"

int cmd_demo(int argc, char **argv) {
    demo_opts o;
    demo_opts_default(&o);
    int threads = 0;
    const char *device = "cpu";
    arg_spec specs[32];
    int n = args_from_options(specs, ARGS_ROOM(specs, 0, 2), &demo_options, &o);
    if (n < 0) return 2;
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    const char *pos[1];
    int npos;
    int r = args_parse("demo", "demo [--out runs/demo] [--forget CLASS] [--method NAME] [options]\n\n"
                       "Forgets a class (default: trouser) from the committed reference model (" DEMO_MODEL ")\n"
                       "with the recommended method, then judges the original and the unlearned model side by\n"
                       "side with the committed classifier on the same noise: UA, retained accuracy and FID in\n"
                       "OUT/eval.md and OUT/eval.json, samples in OUT/side_by_side.png (a row per class, the\n"
                       "forgotten one first: the original's samples, a white tile, the unlearned model's).\n"
                       "Run again, it reuses the unlearned model (--again to redo it).\n"
                       "With --train: trains the tiny model from scratch instead and writes one grid per class.",
                       specs, n, argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    cli_set_threads(threads);
    if (cli_set_device("demo", device)) return 1;
    // which of `lethe train`'s options were given (--steps, --batch, --data, --seed, --snapshots),
    // so a resumed --train run takes the others from its record
    unsigned char given[64] = {0};
    if (train_job_options.n > (int)sizeof given) return 1;
    args_given(&train_job_options, argc, argv, given);
    o.train_given = given;
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 16;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe demo %s", cmd ? cmd : "");
    o.command_line = full;
    demo_result res;
    lethe_status st = demo_run(&o, &res);
    free(cmd);
    free(full);
    if (st) return cli_fail("demo", st);
    if (res.trained)
        fprintf(stderr, "lethe demo: done in %.1f s: model in %s, grids in %s (all_classes.png: one row per class)\n",
                res.seconds, res.model_dir, res.samples_dir);
    else
        fprintf(stderr, "lethe demo: done in %.1f s: results in %s: table %s (and %s), side-by-side samples %s "
                "(each row: original | unlearned, same noise; the forgotten class first), unlearned model %s\n",
                res.seconds, o.out, res.table, res.json, res.grid, res.model_dir);
    return 0;
}
