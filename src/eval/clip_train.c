/* clip_train.c: the contrastive training loop of the two-tower CLIP (see clip_train.h). */
#include "eval/clip_train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/numfmt.h"
#include "core/progress.h"
#include "core/rng.h"
#include "diffusion/run.h"
#include "optim/adamw.h"
#include "ops/ops.h"

#define LOSS_WINDOW 50

void clip_train_defaults(clip_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->source = "fashion-mnist";
    o->steps = 2000;
    o->batch = 64;
    o->warmup = 100;
    o->lr = 1e-3f;
    o->weight_decay = 1e-4f;
    o->max_grad_norm = 1.0f;
    o->checkpoint_every = 500;
    o->log_every = 10;
    o->zeroshot_images = 2000;
}

typedef struct {
    const clip_train_opts *o;
    clip_model m;
    canvas_set data;
    adamw_state adam;
    float *grads, *x;                 // backend
    float *host_x;
    char *prompts;
    int *ids;
    size_t *items;
    lethe_arena arena;
    int step;
    lethe_run run;
    run_buffer state[3];
    run_meta meta[2];
    char *cfg_json;
    char recipe[256];                 // the flags a resume must repeat (the schedule and data depend on them)
    double window[LOSS_WINDOW], first_sum;
    int n_losses;
    clip_train_result *res;
} clip_trainer;

// Items of step k: distinct prompts (see clip_train.h).
static void draw_batch(clip_trainer *tr, int k) {
    const clip_train_opts *o = tr->o;
    const uint64_t stream = lethe_stream(LETHE_STREAM_BATCH, (uint64_t)k, 0);
    int got = 0;
    uint64_t draw = 0;
    int keys[4096];
    while (got < o->batch) {
        size_t it = lethe_rand_below(o->seed, stream, draw++, (uint32_t)tr->data.n);
        canvas_item ci = canvas_set_item(&tr->data, it);
        int key = (ci.style * tr->data.objects.n_classes + ci.object) * CANVAS_N_TEMPLATES + ci.template_index, dup = 0;
        for (int i = 0; i < got && !dup; i++) dup = keys[i] == key;
        if (dup) continue;
        keys[got] = key;
        tr->items[got++] = it;
    }
}

static lethe_status train_step(clip_trainer *tr, float *loss, double *gnorm, float *lr) {
    const clip_train_opts *o = tr->o;
    const int B = o->batch, k = tr->step;
    draw_batch(tr, k);
    canvas_set_batch(&tr->data, tr->items, B, tr->host_x, NULL, NULL, tr->prompts, CANVAS_PROMPT_MAX);
    lethe_status st = clip_tokenize(&tr->m, tr->prompts, CANVAS_PROMPT_MAX, B, tr->ids);
    if (st) return st;
    ops()->to_device(tr->x, tr->host_x, (size_t)B * CANVAS_NUMEL * sizeof(float));
    arena_reset(&tr->arena);
    nn_ctx ctx = {.arena = &tr->arena, .train = 1, .seed = o->seed, .step = (uint64_t)k};
    if ((st = clip_loss_forward(&tr->m, tr->m.params, &ctx, tr->x, tr->ids, B, loss))) return st;
    if (!isfinite(*loss))
        return lethe_fail(LETHE_ERR_NUMERIC, "CLIP loss is %g at step %d: stopping; the last checkpoint is kept (try a lower --lr)",
                          (double)*loss, k + 1);
    ops()->fill(tr->grads, 0.0f, tr->m.n_params);
    if ((st = clip_loss_backward(&tr->m, tr->m.params, tr->grads, &tr->arena))) return st;
    if (!ops()->all_finite(tr->grads, tr->m.n_params))
        return lethe_fail(LETHE_ERR_NUMERIC, "CLIP gradients are NaN/Inf at step %d: stopping; the last checkpoint is kept", k + 1);
    *lr = lr_at(LR_COSINE, o->lr, k, o->warmup, o->steps);
    adamw_update(&tr->adam, tr->m.params, tr->grads, NULL, *lr, gnorm);
    clip_clamp_logit_scale(&tr->m, tr->m.params);
    tr->step++;
    return LETHE_OK;
}

// the loss window: a tenth of the run, 1 to LOSS_WINDOW steps
static int window_len(const clip_trainer *tr) {
    int w = tr->o->steps / 10;
    return w < 1 ? 1 : w > LOSS_WINDOW ? LOSS_WINDOW : w;
}

static double window_mean(const clip_trainer *tr) {
    int n = tr->n_losses < window_len(tr) ? tr->n_losses : window_len(tr);
    double s = 0;
    for (int i = 0; i < n; i++) s += tr->window[i];
    return n ? s / n : NAN;
}

static lethe_status run_one_step(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap) {
    clip_trainer *tr = ctx;
    float loss = 0, lr = 0;
    double gnorm = 0;
    lethe_status st = train_step(tr, &loss, &gnorm, &lr);
    if (st) return st;
    tr->window[tr->n_losses % window_len(tr)] = loss;
    if (tr->n_losses < window_len(tr)) tr->first_sum += loss;
    tr->n_losses++;
    float t = clip_logit_scale(&tr->m, tr->m.params);
    if (record) {
        double el = lethe_now() - tr->run.t0;
        snprintf(record, cap, "{\"step\": %d, \"loss\": %.8g, \"logit_scale\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
                 "\"pairs_per_s\": %.2f, \"elapsed_s\": %.2f}", tr->step, (double)loss, (double)t, (double)lr, gnorm,
                 (tr->step - tr->run.start) * (double)tr->o->batch / (el > 0 ? el : 1), el);
    }
    snprintf(extra, extra_cap, "loss %.4f T %.1f", window_mean(tr), exp((double)t));
    return LETHE_OK;
}

static lethe_status write_report(clip_trainer *tr, int final) {
    const clip_train_opts *o = tr->o;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", "lethe-clip-1");
    cJSON_AddNumberToObject(r, "logit_scale", (double)clip_logit_scale(&tr->m, tr->m.params));
    cJSON_AddNumberToObject(r, "temperature", 1.0 / exp((double)clip_logit_scale(&tr->m, tr->m.params)));
    cJSON_AddNumberToObject(r, "embedding_dim", tr->m.dim);
    cJSON_AddStringToObject(r, "dataset", "fashion-canvas");
    cJSON_AddStringToObject(r, "source", tr->data.objects.name);
    cJSON_AddNumberToObject(r, "steps_done", tr->step);
    cJSON_AddNumberToObject(r, "steps_total", o->steps);
    cJSON *rec = cJSON_AddObjectToObject(r, "recipe");
    cJSON_AddStringToObject(rec, "loss", "InfoNCE: (CE(e^t u v^T, arange) + CE(e^t v u^T, arange)) / 2, t learned, e^t <= 100");
    cJSON_AddNumberToObject(rec, "batch", o->batch);
    cJSON_AddNumberToObject(rec, "learning_rate", float_as_decimal(o->lr));
    cJSON_AddNumberToObject(rec, "warmup", o->warmup);
    cJSON_AddStringToObject(rec, "lr_schedule", "cosine");
    cJSON_AddNumberToObject(rec, "weight_decay", float_as_decimal(o->weight_decay));
    cJSON_AddNumberToObject(rec, "max_grad_norm", float_as_decimal(o->max_grad_norm));
    cJSON_AddNumberToObject(rec, "seed", (double)o->seed);
    cJSON_AddStringToObject(rec, "batches", "distinct prompts per batch");
    if (tr->n_losses) cJSON_AddNumberToObject(r, "final_loss", window_mean(tr));
    if (final && tr->res && tr->res->style_acc >= 0) {
        cJSON *z = cJSON_AddObjectToObject(r, "zero_shot");
        cJSON_AddNumberToObject(z, "images", o->zeroshot_images);
        cJSON_AddStringToObject(z, "split", "test (fashion-canvas materialized: one style per image, seed 0)");
        cJSON_AddStringToObject(z, "candidates", "prompt ensembles: mean normalised embedding of every prompt of the "
                                                 "class (styles: all objects x templates; objects: all styles x templates)");
        cJSON_AddNumberToObject(z, "style_accuracy", tr->res->style_acc);
        cJSON_AddNumberToObject(z, "object_accuracy", tr->res->object_acc);
        cJSON_AddNumberToObject(z, "style_chance", 1.0 / CANVAS_N_STYLES);
        cJSON_AddNumberToObject(z, "object_chance", 1.0 / tr->data.objects.n_classes);
    }
    cJSON_AddNumberToObject(r, "seconds", round(run_seconds(&tr->run) * 100) / 100);
    if (o->command_line) cJSON_AddStringToObject(r, "command", o->command_line);
    char *s = cJSON_Print(r), path[4096];
    cJSON_Delete(r);
    if (!s) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/clip.json", o->out_dir);
    lethe_status st = fs_write_text_atomic(path, s);
    free(s);
    return st;
}

static lethe_status checkpoint(void *ctx) {
    clip_trainer *tr = ctx;
    lethe_status st = run_state_save(&tr->run);
    if (!st) st = clip_model_save(&tr->m, tr->o->out_dir);
    if (!st) st = write_report(tr, 0);
    return st;
}

static void trainer_free(clip_trainer *tr) {
    adamw_free(&tr->adam);
    if (tr->grads) ops()->release(tr->grads);
    if (tr->x) ops()->release(tr->x);
    free(tr->host_x); free(tr->prompts); free(tr->ids); free(tr->items); free(tr->cfg_json);
    arena_free(&tr->arena);
    clip_model_free(&tr->m);
    canvas_set_free(&tr->data);
}

lethe_status clip_train_run(const clip_train_opts *o, int resume, clip_train_result *res) {
    if (o->steps < 1 || o->batch < 2 || o->batch > 1024)
        return lethe_fail(LETHE_ERR_ARG, "CLIP training needs --steps >= 1 and --batch in [2, 1024] (got %d, %d)", o->steps, o->batch);
    if (!(o->lr > 0) || o->warmup < 0 || o->zeroshot_images < 0 || !o->out_dir)
        return lethe_fail(LETHE_ERR_ARG, "CLIP training needs --lr > 0, --warmup >= 0, --zeroshot-images >= 0 and --out");
    lethe_status st = fs_ensure_writable_dir(o->out_dir);
    if (st) return st;
    clip_trainer tr = {.o = o, .res = res};
    if (res) {
        memset(res, 0, sizeof *res);
        res->style_acc = res->object_acc = -1;
    }
    arena_init(&tr.arena);
    double t_start = lethe_now();
    if ((st = canvas_set_load(&tr.data, o->source, LETHE_SPLIT_TRAIN, o->seed))) { trainer_free(&tr); return st; }
    const char *names[LETHE_MAX_CLASSES];
    for (int i = 0; i < tr.data.objects.n_classes; i++) names[i] = tr.data.objects.class_names[i];
    if ((st = clip_model_create(&tr.m, names, tr.data.objects.n_classes, o->text_cfg, o->image_cfg, o->seed))) {
        trainer_free(&tr);
        return st;
    }
    if (o->batch > 4 * CANVAS_N_STYLES * tr.data.objects.n_classes) {
        trainer_free(&tr);
        return lethe_fail(LETHE_ERR_ARG, "--batch %d: batches have distinct prompts, and there are only %d", o->batch,
                          CANVAS_N_TEMPLATES * CANVAS_N_STYLES * tr.data.objects.n_classes);
    }
    const int B = o->batch;
    adamw_config ac = {.lr = o->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = o->weight_decay,
                       .max_grad_norm = o->max_grad_norm};
    if ((st = adamw_init(&tr.adam, &ac, tr.m.n_params))) { trainer_free(&tr); return st; }
    tr.grads = ops()->alloc(tr.m.n_params * sizeof(float));
    tr.x = ops()->alloc((size_t)B * CANVAS_NUMEL * sizeof(float));
    tr.host_x = malloc((size_t)B * CANVAS_NUMEL * sizeof(float));
    tr.prompts = malloc((size_t)B * CANVAS_PROMPT_MAX);
    tr.ids = malloc((size_t)B * tr.m.seq * sizeof(int));
    tr.items = malloc((size_t)B * sizeof(size_t));
    char *tj = clip_text_config_to_json(&tr.m.text.cfg), *ij = classifier_config_to_json(&tr.m.image.net.cfg);
    if (tj && ij && (tr.cfg_json = malloc(strlen(tj) + strlen(ij) + 4))) sprintf(tr.cfg_json, "%s\n%s", tj, ij);
    free(tj);
    free(ij);
    if (!tr.grads || !tr.x || !tr.host_x || !tr.prompts || !tr.ids || !tr.items || !tr.cfg_json) {
        trainer_free(&tr);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP training (batch %d)", B);
    }
    tr.state[0] = (run_buffer){"params", tr.m.params, tr.m.n_params};
    tr.state[1] = (run_buffer){"adam_m", tr.adam.m, tr.m.n_params};
    tr.state[2] = (run_buffer){"adam_v", tr.adam.v, tr.m.n_params};
    tr.meta[0] = (run_meta){"clip_config", tr.cfg_json, "the saved CLIP configs differ from this run's; resume with the same model"};
    snprintf(tr.recipe, sizeof tr.recipe, "--steps %d --batch %d --lr %g --warmup %d --weight-decay %g --source %s",
             o->steps, o->batch, (double)o->lr, o->warmup, (double)o->weight_decay, o->source);
    tr.meta[1] = (run_meta){"clip_recipe", tr.recipe,
                            "the saved run was started with %s; resume with the same flags (they set the schedule and the batches)"};
    const run_config rc = {.out_dir = o->out_dir, .what = "CLIP training", .state_file = "clip_state.safetensors",
                           .state_format = "lethe-clip-state-1", .log_file = "clip_log.jsonl", .steps = o->steps,
                           .checkpoint_every = o->checkpoint_every, .log_every = o->log_every, .stop_after = o->stop_after,
                           .seed = o->seed, .buffers = tr.state, .n_buffers = 3, .meta = tr.meta, .n_meta = 2,
                           .label = "clip", .unit = "pairs/s", .rate_scale = B, .quiet = o->quiet, .t_start = t_start};
    if ((st = run_begin(&tr.run, &rc, &tr.step, resume))) { run_end(&tr.run); trainer_free(&tr); return st; }
    tr.adam.step = tr.step;
    int stopped = 0;
    const run_hooks hooks = {.ctx = &tr, .step = run_one_step, .checkpoint = checkpoint};
    st = run_loop(&tr.run, &hooks, &stopped);
    lethe_status log_st = run_end(&tr.run);
    if (!st) st = log_st;
    if (res) {
        res->steps_done = tr.step;
        res->stopped = stopped;
        res->first_loss = tr.n_losses ? tr.first_sum / (tr.n_losses < window_len(&tr) ? tr.n_losses : window_len(&tr)) : NAN;
        res->final_loss = window_mean(&tr);
        res->logit_scale = clip_logit_scale(&tr.m, tr.m.params);
    }
    if (!st && !stopped && o->zeroshot_images > 0) {
        canvas_set test;
        if (!(st = canvas_set_load(&test, o->source, LETHE_SPLIT_TEST, 0))) {
            double sa = -1, oa = -1;
            st = clip_zero_shot_canvas(&tr.m, &test, o->zeroshot_images, &sa, &oa);
            canvas_set_free(&test);
            if (!st && res) {
                res->style_acc = sa;
                res->object_acc = oa;
            }
        }
        if (!st) st = write_report(&tr, 1);
    }
    if (res) res->seconds = run_seconds(&tr.run);
    trainer_free(&tr);
    return st;
}
