/*
 * cmd_classifier.c: `lethe classifier`: train the evaluation classifier on a dataset and
 * record its test accuracy and the FID scale of its feature space (real test images
 * against real training images: the floor no model can beat; against noise: a ceiling).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsutil.h"
#include "eval/classifier_job.h"

static void banner(void *user, const eval_classifier *c, const lethe_dataset *train, const classifier_train_opts *o) {
    (void)user;
    fprintf(stderr, "lethe classifier: %zu parameters, %d training images of %d classes from %s, %d epochs%s\n",
            c->net.table.total, train->n, train->n_classes, train->name, o->epochs, o->augment.flip ? ", flips" : "");
}

// --check DIR: re-measures a trained classifier (accuracy, FID floor and ceiling) beside what
// its classifier.json recorded; exit 1 when it is below the accuracy its dataset requires.
static int check_classifier(const char *dir, const char *data, const classifier_job *j, const char *json_path) {
    classifier_check_result r;
    lethe_status st = classifier_check(dir, data, j->fid_images, j->train.seed, &r);
    if (st) return cli_fail("classifier", st);
    printf("| classifier | dataset | test accuracy (recorded) | FID test vs train (recorded) | FID test vs noise (recorded) "
           "| check time |\n|---|---|---|---|---|---|\n");
    printf("| %s | %s | %.2f%% (%.2f%%) | %.3f (%.3f) | %.1f (%.1f) | %.0f s |\n", dir, r.dataset, 100 * r.now.test_accuracy,
           100 * r.recorded_accuracy, r.now.fid_floor, r.recorded_fid_floor, r.now.fid_noise, r.recorded_fid_noise,
           r.now.seconds);
    if (json_path) {
        char *text = classifier_check_json(&r, dir);
        if (!text) return cli_fail("classifier", lethe_fail(LETHE_ERR_NOMEM, "out of memory"));
        st = fs_write_text_atomic(json_path, text);
        free(text);
        if (st) return cli_fail("classifier", st);
        fprintf(stderr, "lethe classifier: wrote %s\n", json_path);
    }
    if (r.now.test_accuracy < r.required_accuracy) {
        fprintf(stderr, "lethe classifier: %s: test accuracy %.2f%% is below the %.0f%% an evaluation classifier for %s "
                        "needs\n", dir, 100 * r.now.test_accuracy, 100 * r.required_accuracy, r.dataset);
        return 1;
    }
    return 0;
}

int cmd_classifier(int argc, char **argv) {
    classifier_job j;
    classifier_job_default(&j);
    int threads = 0;
    const char *device = "cpu", *check = NULL, *json = NULL;
    // with --check, --data defaults to the dataset the classifier names
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--check") || !strncmp(argv[i], "--check=", 8)) j.data = NULL;
    arg_spec specs[32];
    int n = args_from_options(specs, ARGS_ROOM(specs, 0, 4), &classifier_job_options, &j);
    if (n < 0) return 2;
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    specs[n++] = (arg_spec){"check", ARG_STRING, &check,
                            "train nothing: re-measure the trained classifier in this folder (test accuracy, FID floor and "
                            "noise, with --fid-images and --seed) beside what it recorded; exit 1 below its dataset's "
                            "required accuracy"};
    specs[n++] = (arg_spec){"json", ARG_STRING, &json, "with --check: also write the measurement as JSON to this file"};
    const char *pos[1];
    int npos;
    int r = args_parse("classifier", "classifier --data fashion-mnist --out DIR [options]\n"
                       "classifier --check DIR [--json FILE]\n\n"
                       "Trains the evaluation classifier (a small ResNet) whose predictions give per-class\n"
                       "accuracy and UA and whose penultimate features give FID (lethe-CNN features);\n"
                       "--check re-measures one already trained.",
                       specs, n, argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (check) {
        if (j.out_dir) { fprintf(stderr, "lethe classifier: --check trains nothing: drop --out (--json FILE writes the report)\n"); return 2; }
        cli_set_threads(threads);
        if (cli_set_device("classifier", device)) return 1;
        return check_classifier(check, j.data, &j, json);
    }
    if (json) { fprintf(stderr, "lethe classifier: --json goes with --check (training writes DIR/classifier.json)\n"); return 2; }
    if (!j.out_dir) { fprintf(stderr, "lethe classifier: --out DIR is required\n"); return 2; }
    if (classifier_job_check(&j)) { fprintf(stderr, "lethe classifier: %s\n", lethe_last_error()); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("classifier", device)) return 1;

    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 24;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe classifier %s", cmd ? cmd : "");
    j.command_line = full;
    j.on_ready = banner;
    classifier_job_result res;
    lethe_status st = classifier_job_run(&j, &res);
    free(cmd);
    free(full);
    if (st) return cli_fail("classifier", st);
    if (res.stopped) {
        fprintf(stderr, "lethe classifier: stopped after step %d (--stop-after); continue with --resume\n", res.steps_done);
        return 0;
    }
    printf("| dataset | test accuracy | FID test vs train | FID test vs noise | train time |\n|---|---|---|---|---|\n");
    printf("| %s | %.2f%% | %.3f | %.1f | %.0f s |\n", res.dataset, 100 * res.test_accuracy, res.fid_floor, res.fid_noise,
           res.train_seconds);
    fprintf(stderr, "lethe classifier: wrote %s (sha256 %.16s...)\n", j.out_dir, res.hash);
    if (res.test_accuracy < res.required_accuracy)
        fprintf(stderr, "lethe classifier: warning: test accuracy %.2f%% is below the %.0f%% an evaluation classifier "
                        "for %s needs (train longer: --epochs)\n", 100 * res.test_accuracy, 100 * res.required_accuracy,
                res.dataset);
    return 0;
}
