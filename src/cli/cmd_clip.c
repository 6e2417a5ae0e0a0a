/*
 * cmd_clip.c: `lethe clip`: trains the small two-tower CLIP contrastively on Fashion-Canvas
 * (eval/clip_train.h) and reports its zero-shot style and object accuracy on test images.
 * OUT/text_encoder/ is a transformers CLIPTextModelWithProjection folder: the frozen text
 * encoder of a text-to-image model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "eval/clip_train.h"

int cmd_clip(int argc, char **argv) {
    clip_train_opts o;
    clip_train_defaults(&o);
    const char *data = NULL, *device = "cpu";
    int threads = 0, resume = 0;
    arg_spec specs[] = {
        {"data", ARG_STRING, &data, "the dataset: fashion-canvas (required)"},
        {"source", ARG_STRING, (void *)&o.source, "the Fashion-MNIST images under the canvas (name or IDX folder)"},
        {"out", ARG_STRING, (void *)&o.out_dir, "output folder (required)"},
        {"steps", ARG_INT, &o.steps, "optimisation steps"},
        {"batch", ARG_INT, &o.batch, "(image, prompt) pairs per step, all prompts distinct"},
        {"lr", ARG_FLOAT, &o.lr, "peak learning rate (AdamW, cosine decay)", "learning-rate"},
        {"warmup", ARG_INT, &o.warmup, "linear warm-up steps"},
        {"weight-decay", ARG_FLOAT, &o.weight_decay, "AdamW weight decay"},
        {"seed", ARG_U64, &o.seed, "initial weights and batches"},
        {"checkpoint-every", ARG_INT, &o.checkpoint_every, "steps between checkpoints (0: only at the end)"},
        {"log-every", ARG_INT, &o.log_every, "steps between records of clip_log.jsonl"},
        {"stop-after", ARG_INT, &o.stop_after, "stop (checkpointed) after this many steps of this invocation"},
        {"resume", ARG_FLAG, &resume, "continue the run in --out from its last checkpoint (same flags)"},
        {"zeroshot-images", ARG_INT, &o.zeroshot_images, "test images for zero-shot accuracy at the end (0: none)"},
        {"quiet", ARG_FLAG, &o.quiet, "no progress bar"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    int npos;
    int r = args_parse("clip", "clip --data fashion-canvas --out DIR [options]\n\n"
                       "Trains a small CLIP (a CLIPTextModelWithProjection text encoder and a ResNet image\n"
                       "encoder, 64-wide shared embeddings) with CLIP's contrastive loss and learned\n"
                       "temperature on Fashion-Canvas (image, prompt) pairs. DIR gets text_encoder/,\n"
                       "tokenizer/, image_encoder/, clip.json, clip_log.jsonl and clip_state.safetensors.",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, NULL, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!data) { fprintf(stderr, "lethe clip: --data fashion-canvas is required\n"); return 2; }
    if (strcmp(data, "fashion-canvas") != 0) {
        fprintf(stderr, "lethe clip: --data %s: CLIP trains on (image, prompt) pairs; the only such dataset is fashion-canvas\n", data);
        return 2;
    }
    if (!o.out_dir) { fprintf(stderr, "lethe clip: --out DIR is required\n"); return 2; }
    if (o.stop_after < 0 || o.checkpoint_every < 0 || o.log_every < 0) {
        fprintf(stderr, "lethe clip: --stop-after, --checkpoint-every and --log-every must be >= 0\n");
        return 2;
    }
    cli_set_threads(threads);
    if (cli_set_device("clip", device)) return 1;
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 16;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe clip %s", cmd ? cmd : "");
    o.command_line = full;
    fprintf(stderr, "lethe clip: %d steps of %d pairs from fashion-canvas (%s)%s\n", o.steps, o.batch, o.source,
            resume ? ", resuming" : "");
    clip_train_result res;
    lethe_status st = clip_train_run(&o, resume, &res);
    free(cmd);
    free(full);
    if (st) return cli_fail("clip", st);
    if (res.stopped) {
        fprintf(stderr, "lethe clip: stopped after step %d of %d (--stop-after); continue with --resume\n", res.steps_done, o.steps);
        return 0;
    }
    printf("| steps | loss (first -> last tenth) | temperature | zero-shot style | zero-shot object | time |\n|---|---|---|---|---|---|\n");
    printf("| %d | %.4f -> %.4f | %.4f | ", res.steps_done, res.first_loss, res.final_loss, 1.0 / exp(res.logit_scale));
    if (res.style_acc >= 0) printf("%.2f%% (chance 1.79%%) | %.2f%% (chance 10%%) |", 100 * res.style_acc, 100 * res.object_acc);
    else printf("- | - |");
    printf(" %.0f s |\n", res.seconds);
    fprintf(stderr, "lethe clip: wrote %s (text encoder: %s/text_encoder)\n", o.out_dir, o.out_dir);
    return 0;
}
