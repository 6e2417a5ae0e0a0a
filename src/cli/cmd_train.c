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
#include "diffusion/train_new.h"

typedef struct { const char *config, *out; } banner_args;

static void banner(void *user, const lethe_model *m, const lethe_dataset *ds) {
    const banner_args *b = user;
    fprintf(stderr, "lethe train: %s, %zu parameters, %d images of %d classes from %s -> %s\n",
            b->config, unet_num_params(&m->unet), ds->n, ds->n_classes, ds->name, b->out);
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    train_opts_default(&o);
    train_source src;
    train_source_default(&src);
    const char *out = NULL, *lr_kind = "cosine";
    int resume = 0, no_ema = 0, threads = 0;
    const char *device = "cpu";
    const arg_spec specs[] = {
        {"data", ARG_STRING, &src.data, "dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files (lethe.json "
                                          "records the folder and a fingerprint of its files)"},
        {"config", ARG_STRING, &src.config, "model config: tiny, small, or a UNet2DModel config.json"},
        {"out", ARG_STRING, &out, "output folder (diffusers layout; required)", "output-dir"},
        {"steps", ARG_INT, &o.steps, "optimisation steps", "max-train-steps"},
        {"batch", ARG_INT, &o.batch, "images per step", "train-batch-size"},
        {"lr", ARG_FLOAT, &o.adam.lr, "peak learning rate (AdamW)", "learning-rate"},
        {"lr-schedule", ARG_STRING, &lr_kind, "after warm-up: cosine or constant", "lr-scheduler"},
        {"warmup", ARG_INT, &o.warmup, "learning-rate warm-up steps", "lr-warmup-steps"},
        {"adam-beta1", ARG_FLOAT, &o.adam.beta1, "AdamW beta1"},
        {"adam-beta2", ARG_FLOAT, &o.adam.beta2, "AdamW beta2"},
        {"adam-weight-decay", ARG_FLOAT, &o.adam.weight_decay, "AdamW decoupled weight decay"},
        {"adam-epsilon", ARG_FLOAT, &o.adam.eps, "AdamW epsilon"},
        {"max-grad-norm", ARG_FLOAT, &o.adam.max_grad_norm, "clip the global gradient norm (0: off)"},
        {"class-dropout", ARG_FLOAT, &o.class_dropout, "probability of training a label as the null class (for guidance)"},
        {"classes", ARG_STRING, &src.classes, "train only on these classes (names or indices, comma-separated)"},
        {"exclude", ARG_STRING, &src.exclude, "train on every class but these (a retain set: e.g. --exclude trouser)"},
        {"unconditional", ARG_FLAG, &src.unconditional, "no class conditioning (num_class_embeds = null)"},
        {"no-ema", ARG_FLAG, &no_ema, "export the live weights instead of the EMA weights"},
        {"ema-max-decay", ARG_FLOAT, &o.ema_max_decay, "EMA: maximum decay"},
        {"ema-power", ARG_FLOAT, &o.ema_power, "EMA: warm-up power"},
        {"seed", ARG_U64, &o.seed, "seed of every random choice (batches, t, noise, dropout)"},
        {"init-seed", ARG_U64, &o.init_seed, "seed of the initial weights"},
        {"checkpoint-every", ARG_INT, &o.checkpoint_every, "steps between checkpoints (0: only at the end)", "checkpointing-steps"},
        {"log-every", ARG_INT, &o.log_every, "steps between train_log.jsonl records"},
        {"resume", ARG_FLAG, &resume, "continue from OUT/train_state.safetensors"},
        {"stop-after", ARG_INT, &o.stop_after, "stop after N steps of this invocation (checkpointed; resume later)"},
        {"snapshots", ARG_INT, &o.snapshots, "keep N snapshots of the exported weights (EMA unless --no-ema), evenly "
                                             "spaced over the second half, in OUT/snapshots/ (for unlearn --method vdu "
                                             "--snapshots OUT)"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("train", "train --data fashion-mnist --config tiny --steps N --out DIR [options]\n\n"
                       "Trains a DDPM epsilon-prediction UNet2DModel (linear betas 1e-4..0.02, T=1000).\n"
                       "With --snapshots N, S = --steps and H = floor(S/2), snapshot k = 1..N is taken after step\n"
                       "H + ceil(k (S - H) / N) (the last is the final model): OUT/snapshots/snapshot_STEP.safetensors.",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!out) { fprintf(stderr, "lethe train: --out DIR is required\n"); return 2; }
    if (strcmp(lr_kind, "cosine") && strcmp(lr_kind, "constant")) {
        fprintf(stderr, "lethe train: --lr-schedule must be cosine or constant (got '%s')\n", lr_kind);
        return 2;
    }
    if (o.class_dropout < 0 || o.class_dropout > 1) { fprintf(stderr, "lethe train: --class-dropout must be in [0, 1]\n"); return 2; }
    if (o.log_every < 1) o.log_every = 1;
    o.lr_kind = strcmp(lr_kind, "cosine") ? LR_CONSTANT : LR_COSINE;
    o.use_ema = !no_ema;
    o.out_dir = out;
    cli_set_threads(threads);
    if (cli_set_device("train", device)) return 1;

    if (src.classes && src.exclude) { fprintf(stderr, "lethe train: give --classes or --exclude, not both\n"); return 2; }
    banner_args ba = {src.config, out};
    src.on_ready = banner;
    src.user = &ba;
    char *cmdline = args_join(argc, argv);
    size_t len = strlen(cmdline ? cmdline : "") + 16;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe train %s", cmdline ? cmdline : "");
    o.command_line = full;
    lethe_status st = train_new(&src, &o, resume);
    free(cmdline);
    free(full);
    if (st) return cli_fail("train", st);
    fprintf(stderr, "lethe train: wrote %s\n", out);
    return 0;
}
