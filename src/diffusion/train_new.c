/*
 * train_new.c: config, training set and a fresh model for train_run (see train_new.h).
 */
#include "diffusion/train_new.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/canvas_set.h"
#include "nn/clip_text_config.h"

void train_source_default(train_source *s) { *s = (train_source){.data = "fashion-mnist", .config = "tiny"}; }

#define ROW(name, alias, type, field, help) {name, alias, type, offsetof(train_job, field), {0}, help, NULL, NULL, 0}
static const opt_spec train_rows[] = {
    ROW("data", NULL, OPT_STRING, src.data, "dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files (lethe.json "
        "records the folder and a fingerprint of its files)"),
    ROW("config", NULL, OPT_STRING, src.config, "model config: tiny, small, or a UNet2DModel config.json; with "
        "--text-encoder: canvas-tiny or a UNet2DConditionModel config.json"),
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
    ROW("class-dropout", NULL, OPT_FLOAT, o.class_dropout, "probability of training a label as the null class (with --text-encoder: a prompt as the empty prompt), for guidance"),
    ROW("classes", NULL, OPT_STRING, src.classes, "train only on these classes (names or indices, comma-separated)"),
    ROW("exclude", NULL, OPT_STRING, src.exclude, "train on every class but these (a retain set: e.g. --exclude trouser); "
        "with --text-encoder, every (image, prompt) pair but those of these styles or objects (--exclude zebra,trouser)"),
    ROW("unconditional", NULL, OPT_FLAG, src.unconditional, "no class conditioning (num_class_embeds = null)"),
    ROW("text-encoder", NULL, OPT_STRING, src.text_encoder, "a folder with text_encoder/ and tokenizer/ (e.g. "
        "models/fashion-canvas-clip, or `lethe clip`'s output): train a text-to-image UNet2DConditionModel on "
        "--data fashion-canvas's (image, prompt) pairs, the encoder frozen; prompts become the empty prompt with p = "
        "--class-dropout"),
    ROW("init-from", NULL, OPT_STRING, src.init_from, "a trained model's folder: start from its weights (its "
        "architecture; a text-to-image model's text encoder) instead of fresh ones, with a new optimiser and EMA "
        "(fine-tuning; lethe.json records the folder and its weights' SHA-256); not with --config or --text-encoder"),
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

// ---- text-to-image: Fashion-Canvas's (image, prompt) pairs ----------------------------------

typedef struct {
    const canvas_set *set;
    text_cond *text;
    const size_t *keep;             // the items trained on (NULL: all), indexed by the loop's draws
    size_t *items;                  // o->batch
    char *prompts;                  // o->batch rows of CANVAS_PROMPT_MAX
} canvas_batches;

// Items idx -> rendered images and their prompts' hidden states (the frozen encoder, no gradient).
static lethe_status canvas_batch_rows(void *ctx, const int *idx, int m, float *images, lethe_cond *cond) {
    canvas_batches *b = ctx;
    for (int i = 0; i < m; i++) b->items[i] = b->keep ? b->keep[idx[i]] : (size_t)idx[i];
    canvas_set_batch(b->set, b->items, m, images, NULL, NULL, b->prompts, CANVAS_PROMPT_MAX);
    cond->n = m;
    return text_cond_encode(b->text, b->prompts, CANVAS_PROMPT_MAX, m, cond->tokens);
}

// "zebra,trouser" -> the styles and objects to leave out (names as canvas.h and the split name them).
static lethe_status parse_exclusions(const canvas_set *cs, const char *list, int *no_style, int *no_object) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        int s, k;
        if (canvas_style_index(tok, &s) == LETHE_OK) no_style[s] = 1;
        else if (dataset_class_index(&cs->objects, tok, &k) == LETHE_OK) no_object[k] = 1;
        else {
            char objects[400] = "";
            for (int o = 0; o < cs->objects.n_classes; o++)
                snprintf(objects + strlen(objects), sizeof objects - strlen(objects), "%s%s", o ? ", " : "",
                         cs->objects.class_names[o]);
            st = lethe_fail(LETHE_ERR_ARG, "--exclude %s: neither a Fashion-Canvas style (zebra, candy, ...) nor an "
                            "object (%s)", tok, objects);
        }
    }
    free(copy);
    return st;
}

lethe_status train_canvas(lethe_model *m, const char *data, const char *exclude, const train_opts *o, int resume,
                          void (*on_ready)(void *user, const lethe_model *m, const lethe_dataset *objects), void *user) {
    canvas_set cs;
    lethe_status st = canvas_set_load(&cs, data ? data : "fashion-mnist", LETHE_SPLIT_TRAIN, 0);
    if (st) return st;
    size_t *keep = NULL, n = cs.n;
    canvas_batches cb = {.set = &cs, .text = m->text};
    // lethe.json "data": the Fashion-MNIST files the images are rendered from, and their fingerprint
    if ((st = data_record_hash(&cs.objects.source))) goto done;
    m->data = cs.objects.source;
    if (exclude && exclude[0]) {
        int no_style[CANVAS_N_STYLES] = {0}, no_object[LETHE_MAX_CLASSES] = {0};
        if ((st = parse_exclusions(&cs, exclude, no_style, no_object))) goto done;
        if (!(keep = malloc(cs.n * sizeof(size_t)))) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto done; }
        n = 0;
        for (size_t i = 0; i < cs.n; i++) {
            const canvas_item it = canvas_set_item(&cs, i);
            if (!no_style[it.style] && !no_object[it.object]) keep[n++] = i;
        }
        if (n == 0) { st = lethe_fail(LETHE_ERR_ARG, "--exclude %s leaves nothing to train on", exclude); goto done; }
    }
    cb.keep = keep;
    cb.items = malloc((size_t)o->batch * sizeof(size_t));
    cb.prompts = malloc((size_t)o->batch * CANVAS_PROMPT_MAX);
    if (!cb.items || !cb.prompts) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for training buffers (batch %d)", o->batch); goto done; }
    const train_batches b = {.name = "fashion-canvas", .n = (int)n, .channels = CANVAS_CHANNELS, .size = CANVAS_SIZE,
                             .ctx = &cb, .batch = canvas_batch_rows};
    if (on_ready) on_ready(user, m, &cs.objects);
    st = train_run_batches(m, &b, o, resume);
done:
    free(cb.items);
    free(cb.prompts);
    free(keep);
    canvas_set_free(&cs);
    return st;
}

// The UNet2DConditionModel config: a named one (its cross_attention_dim the encoder's
// hidden_size, read from DIR/text_encoder/config.json) or a config.json.
static lethe_status text_unet_config(unet_cond_config *cfg, const char *config, const char *text_dir) {
    if (fs_exists(config) && !fs_is_dir(config)) return unet_cond_config_load(cfg, config);
    if (!unet_cond_config_is_named(config))
        return lethe_fail(LETHE_ERR_ARG, "--config %s: a text-to-image model (--text-encoder) needs canvas-tiny or a "
                          "UNet2DConditionModel config.json", config);
    char path[4096], *text;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", text_dir);
    lethe_status st = fs_read_text(path, &text);
    if (st) return lethe_fail_context(st, "--text-encoder %s", text_dir);
    clip_text_config tc;
    st = clip_text_config_from_json(&tc, text, path);
    free(text);
    return st ? st : unet_cond_config_named(cfg, config, tc.hidden_size);
}

// --init-from DIR: the model to start from, checked against what the run asks of it; o's
// copy records the folder and the SHA-256 of its weights (hex: 65 chars).
static lethe_status load_init_model(lethe_model *m, const train_source *s, train_opts *o, char *hex) {
    if (strcmp(s->config, "tiny") != 0 || s->text_encoder)   // "tiny": train_source_default's
        return lethe_fail(LETHE_ERR_ARG, "--init-from %s: the network and its text encoder are that folder's; drop "
                          "--config and --text-encoder", s->init_from);
    lethe_status st = model_load(m, s->init_from);
    if (st) return lethe_fail_context(st, "--init-from %s", s->init_from);
    if (m->one_step_t > 0)
        st = lethe_fail(LETHE_ERR_ARG, "--init-from %s is a one-step generator (SFD), not a diffusion model", s->init_from);
    else if (!model_is_text(m) && s->unconditional && m->n_classes > 0)
        st = lethe_fail(LETHE_ERR_ARG, "--init-from %s is class-conditional (%d classes): drop --unconditional",
                        s->init_from, m->n_classes);
    else if (!(st = model_weights_sha256(m, hex))) {
        o->init_from = s->init_from;
        o->init_from_sha256 = hex;
    }
    if (st) model_free(m);
    return st;
}

static lethe_status train_new_text(const train_source *s, const train_opts *o, int resume) {
    if (strcmp(s->data, "fashion-canvas") != 0)
        return lethe_fail(LETHE_ERR_ARG, "--text-encoder trains on --data fashion-canvas's (image, prompt) pairs (got "
                          "--data %s)", s->data);
    if (s->classes || s->unconditional)
        return lethe_fail(LETHE_ERR_ARG, "--classes and --unconditional are for class-conditional models, not with "
                          "--text-encoder (--exclude leaves out styles or objects)");
    if (o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--steps and --batch must be positive");
    lethe_model m;
    lethe_status st;
    train_opts oi = *o;
    char hex[65];
    if (s->init_from) {
        if ((st = load_init_model(&m, s, &oi, hex))) return st;
        o = &oi;
    } else {
        unet_cond_config cfg;
        if ((st = text_unet_config(&cfg, s->config, s->text_encoder))) return st;
        if ((st = model_create_text(&m, &cfg, s->text_encoder, o->init_seed))) return st;
    }
    st = train_canvas(&m, NULL, s->exclude, o, resume, s->on_ready, s->user);
    model_free(&m);
    return st;
}

lethe_status train_new(const train_source *s, const train_opts *o, int resume) {
    if (s->text_encoder || (s->init_from && model_dir_is_text(s->init_from))) return train_new_text(s, o, resume);
    if (unet_cond_config_is_named(s->config))
        return lethe_fail(LETHE_ERR_ARG, "--config %s is a text-to-image model: give --text-encoder DIR (a folder with "
                          "text_encoder/ and tokenizer/) and --data fashion-canvas", s->config);
    if (s->classes && s->exclude) return lethe_fail(LETHE_ERR_ARG, "give --classes or --exclude, not both");
    unet_config cfg;
    lethe_status st = LETHE_OK;
    if (!s->init_from) {   // else the init model's network, checked once it is loaded
        if (fs_exists(s->config) && !fs_is_dir(s->config)) st = unet_config_load(&cfg, s->config);
        else st = unet_config_named(&cfg, s->config);
        if (st) return st;
        if (s->unconditional) cfg.num_class_embeds = 0;
    }

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
    lethe_model m;
    train_opts oi = *o;
    char hex[65];
    if (s->init_from) {
        if ((st = load_init_model(&m, s, &oi, hex))) { dataset_free(&ds); return st; }
        o = &oi;
        // its class embeddings must cover the dataset's labels (the last row is the null class)
        if (m.n_classes > 0 && m.n_classes < ds.n_classes) {
            st = lethe_fail(LETHE_ERR_SHAPE, "--init-from %s has %d classes; %s has %d", s->init_from, m.n_classes,
                            ds.name, ds.n_classes);
            model_free(&m);
            dataset_free(&ds);
            return st;
        }
    } else {
        // a dataset with more classes than the config's embeddings widens them (the last is the null class)
        if (cfg.num_class_embeds > 0 && cfg.num_class_embeds - 1 < ds.n_classes) cfg.num_class_embeds = ds.n_classes + 1;
        if ((st = model_create(&m, &cfg, o->init_seed))) { dataset_free(&ds); return st; }
    }
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
