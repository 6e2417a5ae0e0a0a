/*
 * cmd_unlearn.c: `lethe unlearn`: make a model forget classes with one of the methods of
 * src/unlearn/, writing a diffusers folder whose lethe.json records the parent's SHA-256,
 * the method, every argument and the forgotten classes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "unlearn/unlearn.h"

int cmd_unlearn(int argc, char **argv) {
    unlearn_opts o;
    unlearn_opts_default(&o);
    const char *lr_kind = "constant";
    int threads = 0;
    const char *device = "cpu";
    char method_help[320];   // the registered methods, so --help never lists one that is missing
    snprintf(method_help, sizeof method_help, "%s (required)", unlearn_method_names());
    const arg_spec specs[] = {
        {"model", ARG_STRING, &o.model_dir, "the model to unlearn from (diffusers folder; required)"},
        {"method", ARG_STRING, &o.method, method_help},
        {"forget", ARG_STRING, &o.forget, "class(es) to forget: names or indices, comma-separated (required)"},
        {"out", ARG_STRING, &o.out_dir, "output folder (required)"},
        {"data", ARG_STRING, &o.data, "training data (default: the model's dataset)"},
        {"steps", ARG_INT, &o.steps, "optimisation steps (-1: the method's default)"},
        {"batch", ARG_INT, &o.batch, "images per batch of each stream (-1: the method's default, 32; esd: 1)"},
        {"lr", ARG_FLOAT, &o.lr, "learning rate (AdamW; default: the method's)"},
        {"lr-schedule", ARG_STRING, &lr_kind, "constant or cosine"},
        {"warmup", ARG_INT, &o.warmup, "learning-rate warm-up steps"},
        {"weight-decay", ARG_FLOAT, &o.weight_decay, "AdamW decoupled weight decay"},
        {"max-grad-norm", ARG_FLOAT, &o.max_grad_norm, "clip the global gradient norm (0: off)"},
        {"seed", ARG_U64, &o.seed, "seed of every random choice"},
        {"forget-images", ARG_INT, &o.forget_images, "use only the first N forget images (data-constrained runs; 0: all)"},
        {"retain-images", ARG_INT, &o.retain_images, "use only the first N retain images (0: all)"},
        {"alpha", ARG_FLOAT, &o.alpha, "ga/salun/spare: weight of the retain term; esd: negative guidance eta; sfd: SiD alpha (1.2)"},
        {"gamma", ARG_FLOAT, &o.gamma, "sa: replay weight; vdu: stability weight"},
        {"lambda", ARG_FLOAT, &o.lambda, "sa: EWC weight"},
        {"mask-fraction", ARG_FLOAT, &o.mask_fraction, "salun/spare: top fraction of weights by saliency that may change"},
        {"fisher-samples", ARG_INT, &o.fisher_samples, "sa: generated samples for the Fisher diagonal"},
        {"replay-samples", ARG_INT, &o.replay_samples, "sa: generated samples of retained classes for replay"},
        {"checkpoints", ARG_STRING, &o.checkpoints, "vdu: model folders for the parameter statistics (comma-separated)"},
        {"snapshots", ARG_STRING, &o.snapshots, "vdu: a training folder with snapshots (lethe train --snapshots K)"},
        {"var-floor", ARG_FLOAT, &o.var_floor, "vdu: floor of the checkpoint variance, relative to its mean"},
        {"surrogate", ARG_STRING, &o.surrogate, "spare: the class the forget class is mapped to"},
        {"lora-rank", ARG_INT, &o.lora_rank, "spare: LoRA rank"},
        {"lora-alpha", ARG_FLOAT, &o.lora_alpha, "spare: LoRA alpha (scale alpha/rank)"},
        {"timesteps", ARG_STRING, &o.timesteps, "spare: concept (targeted) or uniform timestep sampling"},
        {"adam-beta1", ARG_FLOAT, &o.adam_beta1, "Adam beta1 (default 0.9; sfd: 0)"},
        {"adam-beta2", ARG_FLOAT, &o.adam_beta2, "Adam beta2 (default 0.999)"},
        {"override", ARG_STRING, &o.override, "sfd: the kept class whose teacher score the forget class learns (default: a random kept class per sample)"},
        {"t-init", ARG_INT, &o.t_init, "sfd: the generator's timestep (default 440)"},
        {"t-min", ARG_INT, &o.t_min, "sfd: lowest t of the score losses (default 38)"},
        {"t-max", ARG_INT, &o.t_max, "sfd: t of the score losses is below this (default 712)"},
        {"fake-lr", ARG_FLOAT, &o.fake_lr, "sfd: learning rate of the fake score (default: --lr)"},
        {"fake-retain-weight", ARG_FLOAT, &o.w_fake_retain, "sfd: l_sr (default 1)"},
        {"fake-forget-weight", ARG_FLOAT, &o.w_fake_forget, "sfd: l_sf (default 1)"},
        {"gen-retain-weight", ARG_FLOAT, &o.w_gen_retain, "sfd: l_gr (default 1)"},
        {"gen-forget-weight", ARG_FLOAT, &o.w_gen_forget, "sfd: l_gf (default 1)"},
        {"gen-ema", ARG_FLOAT, &o.gen_ema, "sfd: maximum EMA decay of the generator, with warm-up (default 0.999; 0: off)"},
        {"clip-value", ARG_FLOAT, &o.clip_value, "sfd: clip gradients by value to [-v, v] (default 1; 0: off)"},
        {"checkpoint-every", ARG_INT, &o.checkpoint_every, "steps between checkpoints of the state"},
        {"log-every", ARG_INT, &o.log_every, "steps between unlearn_log.jsonl records"},
        {"resume", ARG_FLAG, &o.resume, "continue from OUT/unlearn_state.safetensors"},
        {"stop-after", ARG_INT, &o.stop_after, "stop after N steps of this invocation (resume later)"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    // usage: the registered methods with their one-line summaries
    char usage[4096];
    int at = snprintf(usage, sizeof usage, "unlearn --model DIR --method NAME --forget CLASS[,CLASS...] --out DIR [options]\n\n"
                      "Makes a model forget classes; unset method options take the method's defaults\n"
                      "(docs/unlearning.md lists them and what is reconstructed). Methods:\n");
    for (int i = 0; i < unlearn_method_count() && at < (int)sizeof usage; i++) {
        const unlearn_method *m = unlearn_method_at(i);
        at += snprintf(usage + at, sizeof usage - (size_t)at, "  %-9s %s%s\n", m->name, m->summary,
                       m->reconstructed ? " [reconstructed]" : "");
    }
    const char *pos[1];
    int npos;
    int r = args_parse("unlearn", usage,
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!o.method) { fprintf(stderr, "lethe unlearn: --method is required (%s)\n", unlearn_method_names()); return 2; }
    if (!o.model_dir || !o.out_dir || !o.forget) {
        fprintf(stderr, "lethe unlearn: --model, --forget and --out are required\n");
        return 2;
    }
    if (!strcmp(lr_kind, "cosine")) o.lr_kind = LR_COSINE;
    else if (!strcmp(lr_kind, "constant")) o.lr_kind = LR_CONSTANT;
    else { fprintf(stderr, "lethe unlearn: --lr-schedule must be constant or cosine\n"); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("unlearn", device)) return 1;
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 24;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe unlearn %s", cmd ? cmd : "");
    o.command_line = full;
    lethe_status st = unlearn_run(&o);
    free(cmd);
    free(full);
    if (st) return cli_fail("unlearn", st);
    fprintf(stderr, "lethe unlearn: wrote %s\n", o.out_dir);
    return 0;
}
