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
#include "eval/classifier_job.h"

static void banner(void *user, const eval_classifier *c, const lethe_dataset *train, const classifier_train_opts *o) {
    (void)user;
    fprintf(stderr, "lethe classifier: %zu parameters, %d training images of %d classes from %s, %d epochs%s\n",
            c->net.table.total, train->n, train->n_classes, train->name, o->epochs, o->augment.flip ? ", flips" : "");
}

int cmd_classifier(int argc, char **argv) {
    classifier_job j;
    classifier_job_default(&j);
    classifier_train_opts *o = &j.train;
    int threads = 0;
    const char *device = "cpu";
    const arg_spec specs[] = {
        {"data", ARG_STRING, &j.data, "dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files"},
        {"out", ARG_STRING, &j.out_dir, "output folder (required)"},
        {"epochs", ARG_INT, &o->epochs, "passes over the training set"},
        {"batch", ARG_INT, &o->batch, "images per step"},
        {"lr", ARG_FLOAT, &o->lr, "peak learning rate (AdamW, cosine decay)"},
        {"warmup", ARG_INT, &o->warmup, "learning-rate warm-up steps"},
        {"weight-decay", ARG_FLOAT, &o->weight_decay, "AdamW decoupled weight decay"},
        {"channels", ARG_STRING, &j.channels, "channels per stage (a stride-2 convolution between stages)"},
        {"features", ARG_INT, &j.features, "width of the penultimate layer: the FID feature space (<= 128)"},
        {"layers-per-block", ARG_INT, &j.layers_per_block, "residual blocks per stage"},
        {"shift", ARG_INT, &o->augment.max_shift, "augmentation: random shifts up to this many pixels"},
        {"no-flip", ARG_FLAG, &j.no_flip, "augmentation: no left-right flips (default: flips except for MNIST digits)"},
        {"train-images", ARG_INT, &j.train_images, "train on the first N training images only (0: all; for quick runs)"},
        {"fid-images", ARG_INT, &j.fid_images, "images for the FID floor (test vs train) and noise checks"},
        {"seed", ARG_U64, &o->seed, "seed of batches and augmentation"},
        {"init-seed", ARG_U64, &j.init_seed, "seed of the initial weights"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("classifier", "classifier --data fashion-mnist --out DIR [options]\n\n"
                       "Trains the evaluation classifier (a small ResNet) whose predictions give per-class\n"
                       "accuracy and UA and whose penultimate features give FID (lethe-CNN features).",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!j.out_dir) { fprintf(stderr, "lethe classifier: --out DIR is required\n"); return 2; }
    if (j.fid_images < 2) { fprintf(stderr, "lethe classifier: --fid-images must be at least 2\n"); return 2; }
    if (j.train_images < 0) { fprintf(stderr, "lethe classifier: --train-images must be >= 0\n"); return 2; }
    classifier_config scratch;
    if (classifier_parse_channels(j.channels, &scratch)) { fprintf(stderr, "lethe classifier: %s\n", lethe_last_error()); return 2; }
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
