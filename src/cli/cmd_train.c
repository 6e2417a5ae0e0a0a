/*
 * cmd_train.c: `lethe train`: train a class-conditional (or unconditional) UNet2DModel
 * on a dataset, writing a diffusers folder with checkpoints, a JSON-lines log and --resume,
 * and optionally K weight snapshots for VDU (--snapshots K, see diffusion/train.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "data/canvas.h"
#include "diffusion/train_new.h"

typedef struct { const char *config, *out, *text_encoder; } banner_args;

static void banner(void *user, const lethe_model *m, const lethe_dataset *ds) {
    const banner_args *b = user;
    if (model_is_text(m)) {   // ds: the Fashion-MNIST images the canvas renders
        fprintf(stderr, "lethe train: %s, %zu parameters, text-to-image on fashion-canvas (%d images x %d styles, "
                "prompts encoded by %s) -> %s\n", b->config, unet_cond_num_params(m->ucond), ds->n, CANVAS_N_STYLES,
                b->text_encoder, b->out);
        return;
    }
    fprintf(stderr, "lethe train: %s, %zu parameters, %d images of %d classes from %s -> %s\n",
            b->config, unet_num_params(&m->unet), ds->n, ds->n_classes, ds->name, b->out);
}

int cmd_train(int argc, char **argv) {
    train_job j;
    train_job_default(&j);
    train_opts *o = &j.o;
    train_source *src = &j.src;
    int threads = 0;
    const char *device = "cpu", *precision = "fp32";
    arg_spec specs[48];
    int n = args_from_options(specs, ARGS_ROOM(specs, 0, 3), &train_job_options, &j);
    if (n < 0) return 2;
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    specs[n++] = (arg_spec){"precision", ARG_STRING, &precision, CLI_PRECISION_HELP};
    const char *pos[1];
    int npos;
    int r = args_parse("train", "train --data fashion-mnist --config tiny --steps N --out DIR [options]\n\n"
                       "Trains a DDPM epsilon-prediction UNet2DModel (linear betas 1e-4..0.02, T=1000); with --text-encoder DIR\n"
                       "--data fashion-canvas --config canvas-tiny, a text-to-image UNet2DConditionModel on (image, prompt) pairs.\n"
                       "With --snapshots N, S = --steps and H = floor(S/2), snapshot k = 1..N is taken after step\n"
                       "H + ceil(k (S - H) / N) (the last is the final model): OUT/snapshots/snapshot_STEP.safetensors.",
                       specs, n, argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    const char *out = o->out_dir;
    if (!out) { fprintf(stderr, "lethe train: --out DIR is required\n"); return 2; }
    lethe_status st = LETHE_OK;
    if (j.resume) {   // the run's recorded options, then the flags given now (checked against them)
        unsigned char given[sizeof specs / sizeof specs[0]];
        int unchecked = 0;
        args_given(&train_job_options, argc, argv, given);
        if ((st = train_job_resume(&j, given, &unchecked))) {
            fprintf(stderr, "lethe train: %s\n", lethe_last_error());
            train_job_free(&j);
            return 2;
        }
        if (unchecked)
            fprintf(stderr, "lethe train: warning: %s/train_state.safetensors records no options (an older lethe wrote "
                    "it): resuming with the options given now, which could not be checked against the run's\n", out);
    }
    if (!st) st = train_job_check(&j);
    if (st) { fprintf(stderr, "lethe train: %s\n", lethe_last_error()); train_job_free(&j); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("train", device)) return 1;
    if (cli_set_precision("train", precision)) return 2;

    if (src->classes && src->exclude) {
        fprintf(stderr, "lethe train: give --classes or --exclude, not both\n");
        train_job_free(&j);
        return 2;
    }
    char from[4200];   // --init-from: the network and the text encoder are that folder's
    if (src->init_from) snprintf(from, sizeof from, "the model in %s", src->init_from);
    banner_args ba = {src->init_from ? from : src->config, out, src->init_from ? src->init_from : src->text_encoder};
    src->on_ready = banner;
    src->user = &ba;
    char *cmdline = args_join(argc, argv);
    size_t len = strlen(cmdline ? cmdline : "") + 16;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe train %s", cmdline ? cmdline : "");
    o->command_line = full;
    st = train_job_run(&j);
    free(cmdline);
    free(full);
    train_job_free(&j);
    if (st) return cli_fail("train", st);
    fprintf(stderr, "lethe train: wrote %s\n", out);
    return 0;
}
