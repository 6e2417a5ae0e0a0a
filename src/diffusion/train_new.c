/*
 * train_new.c: config, training set and a fresh model for train_run (see train_new.h).
 */
#include "diffusion/train_new.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fsutil.h"

void train_source_default(train_source *s) { *s = (train_source){.data = "fashion-mnist", .config = "tiny"}; }

#define ROW(name, alias, type, field, help) {name, alias, type, offsetof(train_job, field), {0}, help, NULL, NULL, 0}
static const opt_spec train_rows[] = {
    ROW("data", NULL, OPT_STRING, src.data, "dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files (lethe.json "
        "records the folder and a fingerprint of its files)"),
    ROW("config", NULL, OPT_STRING, src.config, "model config: tiny, small, or a UNet2DModel config.json"),
    {"out", "output-dir", OPT_STRING, offsetof(train_job, o.out_dir), {0}, "output folder (diffusers layout; required)",
     NULL, NULL, OPT_REQUIRED | OPT_NO_RECORD},
    {"steps", "max-train-steps", OPT_INT, offsetof(train_job, o.steps), {0}, "optimisation steps (--resume may raise it: "
     "a cosine schedule then follows the new total from the resumed step on)", NULL, NULL, OPT_RESUMABLE},
    ROW("batch", "train-batch-size", OPT_INT, o.batch, "images per step"),
    ROW("lr", "learning-rate", OPT_FLOAT, o.adam.lr, "peak learning rate (AdamW)"),
    {"lr-schedule", "lr-scheduler", OPT_CHOICE, offsetof(train_job, lr_schedule), {0}, "after warm-up: cosine or constant",
     NULL, "cosine|constant", 0},
    ROW("warmup", "lr-warmup-steps", OPT_INT, o.warmup, "learning-rate warm-up steps"),
    ROW("adam-beta1", NULL, OPT_FLOAT, o.adam.beta1, "AdamW beta1"),
    ROW("adam-beta2", NULL, OPT_FLOAT, o.adam.beta2, "AdamW beta2"),
    ROW("adam-weight-decay", NULL, OPT_FLOAT, o.adam.weight_decay, "AdamW decoupled weight decay"),
    ROW("adam-epsilon", NULL, OPT_FLOAT, o.adam.eps, "AdamW epsilon"),
    ROW("max-grad-norm", NULL, OPT_FLOAT, o.adam.max_grad_norm, "clip the global gradient norm (0: off)"),
    ROW("class-dropout", NULL, OPT_FLOAT, o.class_dropout, "probability of training a label as the null class (for guidance)"),
    ROW("classes", NULL, OPT_STRING, src.classes, "train only on these classes (names or indices, comma-separated)"),
    ROW("exclude", NULL, OPT_STRING, src.exclude, "train on every class but these (a retain set: e.g. --exclude trouser)"),
    ROW("unconditional", NULL, OPT_FLAG, src.unconditional, "no class conditioning (num_class_embeds = null)"),
    ROW("no-ema", NULL, OPT_FLAG, no_ema, "export the live weights instead of the EMA weights"),
    ROW("ema-max-decay", NULL, OPT_FLOAT, o.ema_max_decay, "EMA: maximum decay"),
    ROW("ema-power", NULL, OPT_FLOAT, o.ema_power, "EMA: warm-up power"),
    ROW("seed", NULL, OPT_U64, o.seed, "seed of every random choice (batches, t, noise, dropout)"),
    ROW("init-seed", NULL, OPT_U64, o.init_seed, "seed of the initial weights"),
    {"checkpoint-every", "checkpointing-steps", OPT_INT, offsetof(train_job, o.checkpoint_every), {0},
     "steps between checkpoints (0: only at the end)", NULL, NULL, OPT_RESUMABLE},
    {"log-every", NULL, OPT_INT, offsetof(train_job, o.log_every), {0}, "steps between train_log.jsonl records", NULL, NULL,
     OPT_RESUMABLE},
    {"resume", NULL, OPT_FLAG, offsetof(train_job, resume), {0}, "continue from OUT/train_state.safetensors with the run's "
     "recorded options (given again, they must keep their values, but for --steps, --stop-after, --checkpoint-every, "
     "--log-every and --snapshots)", NULL, NULL, OPT_NO_RECORD},
    {"stop-after", NULL, OPT_INT, offsetof(train_job, o.stop_after), {0}, "stop after N steps of this invocation "
     "(checkpointed; resume later)", NULL, NULL, OPT_NO_RECORD},
    {"snapshots", NULL, OPT_INT, offsetof(train_job, o.snapshots), {0}, "keep N snapshots of the exported weights (EMA "
     "unless --no-ema), evenly spaced over the second half, in OUT/snapshots/ (for unlearn --method vdu --snapshots OUT)",
     NULL, NULL, OPT_RESUMABLE},
};
const opt_table train_job_options = {train_rows, (int)(sizeof train_rows / sizeof train_rows[0])};

void train_job_default(train_job *j) {
    *j = (train_job){.lr_schedule = 0};
    train_opts_default(&j->o);
    train_source_default(&j->src);
}

void train_job_free(train_job *j) {
    cJSON_Delete(j->recorded);
    j->recorded = NULL;
}

lethe_status train_job_run(train_job *j) {
    lethe_status st = train_job_check(j);
    if (st) return st;
    char *args = train_job_arguments(j);
    if (!args) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    j->o.arguments = args;
    st = train_new(&j->src, &j->o, j->resume);
    j->o.arguments = NULL;
    free(args);
    return st;
}

lethe_status train_job_check(train_job *j) {
    if (j->o.class_dropout < 0 || j->o.class_dropout > 1) return lethe_fail(LETHE_ERR_ARG, "--class-dropout must be in [0, 1]");
    if (j->o.log_every < 1) j->o.log_every = 1;
    j->o.lr_kind = j->lr_schedule == 0 ? LR_COSINE : LR_CONSTANT;
    j->o.use_ema = !j->no_ema;
    return LETHE_OK;
}

lethe_status train_new(const train_source *s, const train_opts *o, int resume) {
    if (s->classes && s->exclude) return lethe_fail(LETHE_ERR_ARG, "give --classes or --exclude, not both");
    unet_config cfg;
    lethe_status st;
    if (fs_exists(s->config) && !fs_is_dir(s->config)) st = unet_config_load(&cfg, s->config);
    else st = unet_config_named(&cfg, s->config);
    if (st) return st;
    if (s->unconditional) cfg.num_class_embeds = 0;

    lethe_dataset ds, sub;
    if ((st = dataset_load(&ds, s->data, LETHE_SPLIT_TRAIN))) return st;
    // lethe.json "data": where the files are and their fingerprint, so unlearn and eval find them again
    if ((st = data_record_hash(&ds.source))) { dataset_free(&ds); return st; }
    if (s->classes || s->exclude) {
        int list[LETHE_MAX_CLASSES], k;
        if ((st = dataset_parse_classes(&ds, s->classes ? s->classes : s->exclude, list, LETHE_MAX_CLASSES, &k)) ||
            (st = dataset_subset(&sub, &ds, list, k, s->classes != NULL))) {
            dataset_free(&ds);
            return st;
        }
        dataset_free(&ds);
        ds = sub;
    }
    // a dataset with more classes than the config's embeddings widens them (the last is the null class)
    if (cfg.num_class_embeds > 0 && cfg.num_class_embeds - 1 < ds.n_classes) cfg.num_class_embeds = ds.n_classes + 1;

    lethe_model m;
    if ((st = model_create(&m, &cfg, o->init_seed))) { dataset_free(&ds); return st; }
    m.data = ds.source;
    if (s->on_ready) s->on_ready(s->user, &m, &ds);
    st = train_run(&m, &ds, o, resume);
    model_free(&m);
    dataset_free(&ds);
    return st;
}

int train_finished(const char *dir, int steps) {
    char p[4096];
    snprintf(p, sizeof p, "%s/lethe.json", dir);
    char *text;
    if (!fs_exists(p) || fs_read_text(p, &text)) return 0;
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *done = r ? cJSON_GetObjectItemCaseSensitive(r, "steps_done") : NULL;
    int ok = done && cJSON_IsNumber(done) && done->valueint >= steps;
    cJSON_Delete(r);
    return ok;
}
