/* train.c: the DDPM training loop (see train.h). */
#include "diffusion/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/fsutil.h"
#include "diffusion/run.h"
#include "diffusion/snapshots.h"
#include "ops/ops.h"

void train_opts_default(train_opts *o) {
    memset(o, 0, sizeof *o);
    o->steps = 3000;
    o->batch = 64;
    o->adam = (adamw_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-4f,
                             .max_grad_norm = 1.0f};
    o->warmup = 200;
    o->lr_kind = LR_COSINE;
    o->class_dropout = 0.1f;
    o->use_ema = 1;
    o->ema_max_decay = 0.999f;
    o->ema_inv_gamma = 1.0f;
    o->ema_power = 0.75f;
    o->seed = 0;
    o->checkpoint_every = 500;
    o->log_every = 10;
}

typedef struct {
    lethe_model *m;
    const train_batches *src;
    const train_opts *o;
    lethe_schedule sched;
    adamw_state adam;
    float *grads, *ema;                 // backend, table.total floats
    float *x0, *noise, *xt, *pred, *dpred;
    float *host_x0;                     // host staging for a batch
    int *idx;
    lethe_cond cond;                    // the batch's rows (room for o->batch)
    float *t;
    lethe_arena arena;
    size_t numel;
    int step;                           // optimisation steps done
    snapshot_plan snaps;
    int next_snap;                      // index of the next snapshot to take (o->snapshots: none left)
    lethe_run run;                      // state file, log, checkpoints (diffusion/run.h)
    run_buffer state[4];
    run_meta state_meta[2];
    char *cfg_json;                     // the UNet config, recorded in the state
    double loss_avg;                    // smoothed loss for the progress bar (this invocation)
    int avg_n;
} trainer;

static char *provenance_json(trainer *tr) {
    const train_opts *o = tr->o;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", "lethe-model-1");
    cJSON_AddStringToObject(r, "kind", "trained");
    cJSON_AddStringToObject(r, "dataset", tr->src->name);
    cJSON_AddStringToObject(r, "weights", o->use_ema ? "ema" : "live");
    cJSON_AddNumberToObject(r, "steps_done", tr->step);
    cJSON_AddNumberToObject(r, "steps_total", o->steps);
    cJSON_AddNumberToObject(r, "batch", o->batch);
    cJSON_AddNumberToObject(r, "learning_rate", float_as_decimal(o->adam.lr));
    cJSON_AddNumberToObject(r, "seed", (double)o->seed);
    cJSON_AddNumberToObject(r, "class_dropout", float_as_decimal(o->class_dropout));
    // the rest of the recipe, so `unlearn --method retrain` can repeat it exactly
    cJSON_AddNumberToObject(r, "init_seed", (double)o->init_seed);
    if (o->init_from) {
        cJSON *from = cJSON_AddObjectToObject(r, "init_from");
        cJSON_AddStringToObject(from, "dir", o->init_from);
        if (o->init_from_sha256) cJSON_AddStringToObject(from, "weights_sha256", o->init_from_sha256);
    }
    cJSON_AddNumberToObject(r, "warmup", o->warmup);
    cJSON_AddStringToObject(r, "lr_schedule", o->lr_kind == LR_COSINE ? "cosine" : "constant");
    cJSON_AddNumberToObject(r, "adam_beta1", float_as_decimal(o->adam.beta1));
    cJSON_AddNumberToObject(r, "adam_beta2", float_as_decimal(o->adam.beta2));
    cJSON_AddNumberToObject(r, "adam_epsilon", float_as_decimal(o->adam.eps));
    cJSON_AddNumberToObject(r, "adam_weight_decay", float_as_decimal(o->adam.weight_decay));
    cJSON_AddNumberToObject(r, "max_grad_norm", float_as_decimal(o->adam.max_grad_norm));
    cJSON_AddNumberToObject(r, "ema_max_decay", float_as_decimal(o->ema_max_decay));
    cJSON_AddNumberToObject(r, "ema_inv_gamma", float_as_decimal(o->ema_inv_gamma));
    cJSON_AddNumberToObject(r, "ema_power", float_as_decimal(o->ema_power));
    cJSON_AddNumberToObject(r, "null_class", model_null_class(tr->m));
    cJSON_AddStringToObject(r, "gemm_precision", ops_precision());   // of the GEMMs, this sitting (--precision)
    if (o->snapshots > 0) cJSON_AddNumberToObject(r, "snapshots", o->snapshots);
    // the cost so far, over every sitting (the state file carries it): what retrain costs
    cJSON_AddNumberToObject(r, "seconds", round(run_seconds(&tr->run) * 100) / 100);
    cJSON_AddNumberToObject(r, "cpu_seconds", round(run_cpu_seconds(&tr->run) * 100) / 100);
    cJSON *args = o->arguments ? cJSON_Parse(o->arguments) : NULL;
    if (args) cJSON_AddItemToObject(r, "arguments", args);
    if (o->command_line) cJSON_AddStringToObject(r, "command", o->command_line);
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

// ---- the run's hooks (diffusion/run.h) --------------------------------------------------------

// A checkpoint: the state for --resume and the model folder as it stands.
static lethe_status checkpoint(void *ctx) {
    trainer *tr = ctx;
    lethe_status st = run_state_save(&tr->run);
    if (st) return st;
    char *prov = provenance_json(tr);
    st = model_save(tr->m, tr->o->use_ema ? tr->ema : tr->m->params, tr->o->out_dir, prov);
    free(prov);
    return st;
}

// ---- one step -----------------------------------------------------------------------------

static lethe_status train_step(trainer *tr, float *loss_out, double *grad_norm, float *lr_out) {
    lethe_model *m = tr->m;
    const train_opts *o = tr->o;
    int B = o->batch, k = tr->step, T = tr->sched.cfg.num_train_timesteps;
    uint64_t seed = o->seed;
    size_t sz = (size_t)B * tr->numel;

    for (int i = 0; i < B; i++)
        tr->idx[i] = (int)lethe_rand_below(seed, lethe_stream(LETHE_STREAM_BATCH, (uint64_t)k, 0), (uint64_t)i,
                                           (uint32_t)tr->src->n);
    // the images and their cond rows (classes, prompts' hidden states), each row made null with p = class_dropout
    lethe_cond *cond = &tr->cond;
    lethe_status st = tr->src->batch(tr->src->ctx, tr->idx, B, tr->host_x0, cond);
    if (st) return st;
    cond_drop(cond, o->class_dropout, seed, lethe_stream(LETHE_STREAM_LABEL_DROP, (uint64_t)k, 0));
    ops()->to_device(tr->x0, tr->host_x0, sz * sizeof(float));
    // t uniform in [0, T), eps ~ N(0, I), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    schedule_add_noise(&tr->sched, tr->xt, tr->t, tr->noise, tr->x0, B, tr->numel, 0, T, seed,
                       lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)k, 0), lethe_stream(LETHE_STREAM_NOISE, (uint64_t)k, 0));

    arena_reset(&tr->arena);
    nn_ctx ctx = {.arena = &tr->arena, .train = 1, .seed = seed, .step = (uint64_t)k};
    st = denoiser_forward(&m->net, m->params, &ctx, tr->pred, tr->xt, tr->t, cond, B);
    if (st) return st;
    float loss = ops()->mse_forward(tr->pred, tr->noise, sz);
    *loss_out = loss;
    if (!isfinite(loss)) return lethe_fail(LETHE_ERR_NUMERIC, "loss is %g at step %d: stopping; the last checkpoint is kept", (double)loss, k + 1);

    size_t total = denoiser_num_params(&m->net);
    ops()->fill(tr->grads, 0.0f, total);
    ops()->fill(tr->dpred, 0.0f, sz);
    ops()->mse_backward(tr->dpred, tr->pred, tr->noise, sz, 1.0f);
    if ((st = denoiser_backward(&m->net, m->params, tr->grads, &tr->arena, tr->dpred, NULL))) return st;
    if (!ops()->all_finite(tr->grads, total))
        return lethe_fail(LETHE_ERR_NUMERIC, "gradients are NaN/Inf at step %d: stopping; the last checkpoint is kept", k + 1);

    float lr = lr_at(o->lr_kind, o->adam.lr, k, o->warmup, o->steps);
    adamw_update(&tr->adam, m->params, tr->grads, NULL, lr, grad_norm);
    tr->step++;
    if (o->use_ema) ops()->ema_update(tr->ema, m->params, total, ema_decay_at(tr->step, o->ema_inv_gamma, o->ema_power, o->ema_max_decay));
    *lr_out = lr;
    return LETHE_OK;
}

// One step, then the snapshot due after it, the log record and the progress text.
static lethe_status run_one_step(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap) {
    trainer *tr = ctx;
    const train_opts *o = tr->o;
    float loss = 0, lr = 0;
    double gnorm = 0;
    lethe_status st = train_step(tr, &loss, &gnorm, &lr);
    if (st) return st;
    if (tr->next_snap < o->snapshots && tr->step == train_snapshot_step(o->steps, tr->next_snap, o->snapshots)) {
        if ((st = snapshot_save(&tr->snaps, tr->m, o->use_ema ? tr->ema : tr->m->params, tr->step))) return st;
        tr->next_snap++;
    }
    tr->loss_avg = tr->avg_n ? 0.9 * tr->loss_avg + 0.1 * loss : loss;
    tr->avg_n++;
    if (record) {
        double el = lethe_now() - tr->run.t0;
        snprintf(record, cap, "{\"step\": %d, \"loss\": %.8g, \"lr\": %.6g, \"grad_norm\": %.6g, \"images_per_s\": %.2f, "
                 "\"elapsed_s\": %.2f}", tr->step, (double)loss, (double)lr, gnorm,
                 (tr->step - tr->run.start) * (double)o->batch / (el > 0 ? el : 1), el);
    }
    snprintf(extra, extra_cap, "loss %.4f", tr->loss_avg);
    return LETHE_OK;
}

// ---- loop ------------------------------------------------------------------------------------

static void trainer_free(trainer *tr) {
    adamw_free(&tr->adam);
    ops()->release(tr->grads); ops()->release(tr->ema);
    ops()->release(tr->x0); ops()->release(tr->noise); ops()->release(tr->xt);
    ops()->release(tr->pred); ops()->release(tr->dpred);
    free(tr->host_x0); free(tr->idx); free(tr->t);
    cond_free(&tr->cond);
    arena_free(&tr->arena);
    schedule_free(&tr->sched);
    free(tr->cfg_json);
}

// A dataset's batch: its images and their classes (train_run).
typedef struct {
    const lethe_dataset *data;
    int *labels;                        // o->batch
} dataset_batches;

static lethe_status dataset_batch_rows(void *ctx, const int *idx, int m, float *images, lethe_cond *cond) {
    dataset_batches *b = ctx;
    dataset_batch(b->data, idx, m, images, b->labels);
    cond_set_classes(cond, b->labels, m);
    return LETHE_OK;
}

lethe_status train_run(lethe_model *m, const lethe_dataset *data, const train_opts *o, int resume) {
    const lethe_denoiser *c = &m->net;
    if (data->c != c->channels || data->h != c->size || data->w != c->size)
        return lethe_fail(LETHE_ERR_SHAPE, "dataset %s has images %dx%dx%d but the model takes %dx%dx%d", data->name,
                          data->c, data->h, data->w, c->channels, c->size, c->size);
    if (c->cond.kind == LETHE_COND_TOKENS)
        return lethe_fail(LETHE_ERR_ARG, "a text-to-image model trains on (image, prompt) pairs, not on the classes of %s",
                          data->name);
    if (c->cond.kind == LETHE_COND_CLASS && data->n_classes > c->cond.null_class)   // classes 0 .. null_class - 1
        return lethe_fail(LETHE_ERR_SHAPE, "dataset %s has %d classes but the model has %d (+ null)", data->name,
                          data->n_classes, c->cond.null_class);
    if (o->steps < 1 || o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--steps and --batch must be positive");
    dataset_batches db = {.data = data, .labels = malloc((size_t)o->batch * sizeof(int))};
    if (!db.labels) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for training buffers (batch %d)", o->batch);
    const train_batches b = {.name = data->name, .n = data->n, .channels = data->c, .size = data->h, .ctx = &db,
                             .batch = dataset_batch_rows};
    for (int i = 0; i < data->n_classes && i < m->n_classes; i++) snprintf(m->class_names[i], 32, "%s", data->class_names[i]);
    model_set_trained_classes(m, data->labels, data->n);   // lethe.json "trained_classes": what unlearning may keep
    lethe_status st = train_run_batches(m, &b, o, resume);
    free(db.labels);
    return st;
}

lethe_status train_run_batches(lethe_model *m, const train_batches *b, const train_opts *o, int resume) {
    const lethe_denoiser *c = &m->net;
    if (b->channels != c->channels || b->size != c->size)
        return lethe_fail(LETHE_ERR_SHAPE, "dataset %s has images %dx%dx%d but the model takes %dx%dx%d", b->name,
                          b->channels, b->size, b->size, c->channels, c->size, c->size);
    if (o->steps < 1 || o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--steps and --batch must be positive");
    if (o->snapshots < 0 || o->snapshots > o->steps - o->steps / 2)
        return lethe_fail(LETHE_ERR_ARG, "--snapshots %d: the second half of a %d-step run has %d steps, so 0..%d "
                          "snapshots can be kept (at most one per step)", o->snapshots, o->steps, o->steps - o->steps / 2,
                          o->steps - o->steps / 2);
    if (b->n < 1) return lethe_fail(LETHE_ERR_ARG, "dataset %s is empty", b->name);
    lethe_status st = fs_ensure_writable_dir(o->out_dir);
    if (st) return st;

    trainer tr = {.m = m, .src = b, .o = o};
    tr.numel = denoiser_numel(c);
    size_t total = denoiser_num_params(&m->net), sz = (size_t)o->batch * tr.numel;
    arena_init(&tr.arena);
    if ((st = schedule_init(&tr.sched, &m->sched))) return st;
    if ((st = adamw_init(&tr.adam, &o->adam, total))) { schedule_free(&tr.sched); return st; }
    tr.grads = ops()->alloc(total * sizeof(float));
    tr.ema = ops()->alloc(total * sizeof(float));
    tr.x0 = ops()->alloc(sz * sizeof(float)); tr.noise = ops()->alloc(sz * sizeof(float));
    tr.xt = ops()->alloc(sz * sizeof(float)); tr.pred = ops()->alloc(sz * sizeof(float));
    tr.dpred = ops()->alloc(sz * sizeof(float));
    tr.host_x0 = malloc(sz * sizeof(float));
    tr.idx = malloc((size_t)o->batch * sizeof(int));
    tr.t = malloc((size_t)o->batch * sizeof(float));
    int cond_ok = denoiser_cond_alloc(&m->net, &tr.cond, o->batch) == LETHE_OK;
    if (!tr.grads || !tr.ema || !tr.x0 || !tr.noise || !tr.xt || !tr.pred || !tr.dpred || !tr.host_x0 || !cond_ok ||
        !tr.idx || !tr.t) {
        trainer_free(&tr);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for training buffers (batch %d)", o->batch);
    }
    ops()->copy(tr.ema, m->params, total);
    snprintf(m->dataset, sizeof m->dataset, "%s", b->name);

    if (!(tr.cfg_json = model_net_config(m))) { trainer_free(&tr); return lethe_fail(LETHE_ERR_NOMEM, "out of memory"); }
    tr.state[0] = (run_buffer){"params", m->params, total};
    tr.state[1] = (run_buffer){"ema", tr.ema, total};
    tr.state[2] = (run_buffer){"adam_m", tr.adam.m, total};
    tr.state[3] = (run_buffer){"adam_v", tr.adam.v, total};
    tr.state_meta[0] = (run_meta){"unet_config", tr.cfg_json,
                                  "the saved model config differs from this run's config; resume with the same --config"};
    // the options, read back and judged by train_job_resume before the run (so not checked here)
    tr.state_meta[1] = (run_meta){"options", o->arguments, NULL};
    const run_config rc = {.out_dir = o->out_dir, .what = "training", .state_file = "train_state.safetensors",
                           .state_format = "lethe-train-state-1", .log_file = "train_log.jsonl", .steps = o->steps,
                           .checkpoint_every = o->checkpoint_every, .log_every = o->log_every, .stop_after = o->stop_after,
                           .seed = o->seed, .buffers = tr.state, .n_buffers = 4, .meta = tr.state_meta, .n_meta = o->arguments ? 2 : 1,
                           .label = "train", .unit = "img/s", .rate_scale = o->batch};
    if ((st = run_begin(&tr.run, &rc, &tr.step, resume))) { run_end(&tr.run); trainer_free(&tr); return st; }
    tr.adam.step = tr.step;
    tr.snaps = (snapshot_plan){.out_dir = o->out_dir, .steps = o->steps, .count = o->snapshots, .seed = o->seed,
                               .use_ema = o->use_ema};
    st = snapshots_prepare(&tr.snaps, m, resume, tr.step, &tr.next_snap);
    int stopped = 0;
    const run_hooks hooks = {.ctx = &tr, .step = run_one_step, .checkpoint = checkpoint};
    if (!st) st = run_loop(&tr.run, &hooks, &stopped);
    lethe_status log_st = run_end(&tr.run);
    if (!st) st = log_st;
    // Leave the weights the run exports (EMA) in the model for the caller (e.g. demo sampling).
    if (!st && o->use_ema) ops()->copy(m->params, tr.ema, total);
    trainer_free(&tr);
    return st;
}
