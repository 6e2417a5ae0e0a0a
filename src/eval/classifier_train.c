/* classifier_train.c: the classifier's training loop (see classifier_train.h). */
#include "eval/classifier_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "core/rng.h"
#include "diffusion/run.h"
#include "optim/adamw.h"
#include "ops/ops.h"

void classifier_train_defaults(classifier_train_opts *o, const lethe_dataset *ds) {
    memset(o, 0, sizeof *o);
    o->epochs = 4;
    o->batch = 128;
    o->warmup = 200;
    o->lr = 3e-3f;
    o->weight_decay = 0.05f;
    o->seed = 0;
    // Mirror images of clothing are clothing of the same class; of digits they are not digits.
    o->augment.flip = ds && strstr(ds->name, "mnist") && !strstr(ds->name, "fashion") ? 0 : 1;
    o->augment.max_shift = 0;   // shifts cost 0.6 points at 4 epochs (91.8% vs 92.4%): the budget is short
    o->augment.fill = -1.0f;
}

typedef struct {
    float *x_host, *x, *logits, *probs, *dlogits, *grads;
    int *idx, *labels, *labels_dev;
    int *perm;
} train_buffers;

static void free_buffers(train_buffers *b) {
    free(b->x_host);
    free(b->idx);
    free(b->labels);
    free(b->perm);
    ops()->release(b->x);
    ops()->release(b->logits);
    ops()->release(b->probs);
    ops()->release(b->dlogits);
    ops()->release(b->grads);
    ops()->release(b->labels_dev);
}

typedef struct {
    eval_classifier *c;
    lethe_dataset *ds;
    const classifier_train_opts *o;
    train_buffers b;
    adamw_state opt;
    lethe_arena arena;
    lethe_run run;
    run_buffer state[3];
    run_meta meta[2];
    char *cfg_json;
    char recipe[512];
    int step, per_epoch, total, epoch_ready;   // epoch_ready: the epoch whose data and order are set up
    double epoch_loss;
    int epoch_steps;                            // steps of the current epoch done in this invocation
    classifier_train_result *res;
} trainer;

// The data and order of `epoch`: a generated dataset is redrawn (round = epoch) unless its
// first rendering is kept, and the batches follow a permutation of the epoch. Everything is a
// function of the epoch, so a resumed run sees what an uninterrupted one saw.
static lethe_status begin_epoch(trainer *tr, int epoch) {
    const classifier_train_opts *o = tr->o;
    lethe_dataset *ds = tr->ds;
    if (ds->redraw && !o->fixed_renders && epoch > 0) {
        lethe_status st = ds->redraw(ds, (uint64_t)epoch);
        if (st) return st;
    }
    random_permutation(tr->b.perm, ds->n, o->seed, lethe_stream(LETHE_STREAM_AUGMENT, (uint64_t)epoch, 1));
    tr->epoch_ready = epoch;
    tr->epoch_loss = 0;
    tr->epoch_steps = 0;
    return LETHE_OK;
}

static lethe_status train_step(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap) {
    trainer *tr = ctx;
    const classifier_train_opts *o = tr->o;
    const lethe_dataset *ds = tr->ds;
    eval_classifier *c = tr->c;
    const int B = o->batch, K = c->net.cfg.num_classes, step = tr->step;
    const int epoch = step / tr->per_epoch, in_epoch = step % tr->per_epoch;
    const size_t numel = (size_t)ds->c * ds->h * ds->w, P = c->net.table.total;
    lethe_status st;
    if (epoch != tr->epoch_ready && (st = begin_epoch(tr, epoch))) return st;
    train_buffers *b = &tr->b;
    dataset_batch(ds, b->perm + (size_t)in_epoch * B, B, b->x_host, b->labels);
    augment_batch(b->x_host, B, ds->c, ds->h, ds->w, &o->augment, o->seed, (uint64_t)step);
    ops()->to_device(b->x, b->x_host, (size_t)B * numel * sizeof(float));
    ops()->to_device(b->labels_dev, b->labels, (size_t)B * sizeof(int));

    arena_reset(&tr->arena);
    nn_ctx nctx = {.arena = &tr->arena, .train = 1, .seed = o->seed, .step = (uint64_t)step};
    if ((st = classifier_forward(&c->net, c->params, &nctx, b->logits, NULL, b->x, B))) return st;
    float loss = ops()->cross_entropy_forward(b->probs, b->logits, b->labels_dev, B, K);
    if (!isfinite(loss))
        return lethe_fail(LETHE_ERR_NUMERIC, "classifier training: loss is %g at step %d (try a lower --lr)", loss, step);
    ops()->fill(b->dlogits, 0.0f, (size_t)B * K);
    ops()->cross_entropy_backward(b->dlogits, b->probs, b->labels_dev, B, K, 1.0f);
    ops()->fill(b->grads, 0.0f, P);
    if ((st = classifier_backward(&c->net, c->params, b->grads, &tr->arena, b->dlogits, NULL))) return st;
    const float lr = lr_at(LR_COSINE, o->lr, step, o->warmup, tr->total);
    adamw_update(&tr->opt, c->params, b->grads, NULL, lr, NULL);
    tr->step++;

    tr->epoch_loss += loss;
    tr->epoch_steps++;
    const double mean = tr->epoch_loss / tr->epoch_steps;
    snprintf(extra, extra_cap, "epoch %d/%d loss %.4f", epoch + 1, o->epochs, mean);
    if (record)
        snprintf(record, cap, "{\"step\": %d, \"epoch\": %d, \"loss\": %.8g, \"epoch_mean_loss\": %.8g, \"lr\": %.6g}",
                 tr->step, epoch + 1, loss, mean, lr);
    if (tr->res) tr->res->final_loss = mean;
    return LETHE_OK;
}

static lethe_status checkpoint(void *ctx) { return run_state_save(&((trainer *)ctx)->run); }

lethe_status classifier_train(eval_classifier *c, lethe_dataset *ds, const classifier_train_opts *o,
                              classifier_train_result *res) {
    const classifier_config *cfg = &c->net.cfg;
    lethe_status st = eval_classifier_check_compatible(c, ds->c, ds->h, "", ds->name);
    if (st) return st;
    if (ds->n_classes > cfg->num_classes)
        return lethe_fail(LETHE_ERR_ARG, "dataset %s has %d classes, the classifier %d", ds->name, ds->n_classes,
                          cfg->num_classes);
    if (o->batch < 1 || o->epochs < 1 || ds->n < o->batch)
        return lethe_fail(LETHE_ERR_ARG, "classifier training needs epochs >= 1 and 1 <= batch <= %d images", ds->n);
    if (!o->state_dir)
        return lethe_fail(LETHE_ERR_ARG, "classifier training needs a folder for its state and log");
    if (o->checkpoint_every < 0 || o->stop_after < 0)
        return lethe_fail(LETHE_ERR_ARG, "--checkpoint-every and --stop-after must be >= 0");
    const int B = o->batch, K = cfg->num_classes;
    const size_t numel = (size_t)ds->c * ds->h * ds->w, P = c->net.table.total;
    trainer tr = {.c = c, .ds = ds, .o = o, .res = res, .epoch_ready = -1};
    tr.per_epoch = ds->n / B;
    tr.total = tr.per_epoch * o->epochs;
    if (res) memset(res, 0, sizeof *res);

    train_buffers *b = &tr.b;
    b->x_host = malloc((size_t)B * numel * sizeof(float));
    b->idx = malloc((size_t)B * sizeof(int));
    b->labels = malloc((size_t)B * sizeof(int));
    b->perm = malloc((size_t)ds->n * sizeof(int));
    b->x = ops()->alloc((size_t)B * numel * sizeof(float));
    b->logits = ops()->alloc((size_t)B * K * sizeof(float));
    b->probs = ops()->alloc((size_t)B * K * sizeof(float));
    b->dlogits = ops()->alloc((size_t)B * K * sizeof(float));
    b->grads = ops()->alloc(P * sizeof(float));
    b->labels_dev = ops()->alloc((size_t)B * sizeof(int));
    tr.cfg_json = classifier_config_to_json(cfg);
    adamw_config ac = {.lr = o->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = o->weight_decay,
                       .max_grad_norm = 5.0f};
    if (!b->x_host || !b->idx || !b->labels || !b->perm || !b->x || !b->logits || !b->probs || !b->dlogits ||
        !b->grads || !b->labels_dev || !tr.cfg_json) {
        free_buffers(b);
        free(tr.cfg_json);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier training");
    }
    if ((st = adamw_init(&tr.opt, &ac, P))) {
        free_buffers(b);
        free(tr.cfg_json);
        return st;
    }
    arena_init(&tr.arena);
    // what a resume must repeat: the data, the schedule and the batches depend on it
    snprintf(tr.recipe, sizeof tr.recipe,
             "--data %s (%d images) --epochs %d --batch %d --lr %g --warmup %d --weight-decay %g --seed %llu "
             "flip %d shift %d%s", ds->name, ds->n, o->epochs, B, (double)o->lr, o->warmup, (double)o->weight_decay,
             (unsigned long long)o->seed, o->augment.flip, o->augment.max_shift,
             ds->redraw && !o->fixed_renders ? " redrawn" : "");
    tr.state[0] = (run_buffer){"params", c->params, P};
    tr.state[1] = (run_buffer){"adam_m", tr.opt.m, P};
    tr.state[2] = (run_buffer){"adam_v", tr.opt.v, P};
    tr.meta[0] = (run_meta){"classifier_config", tr.cfg_json,
                            "the saved classifier's config differs from this run's; resume with the same --channels, --features and --layers-per-block"};
    tr.meta[1] = (run_meta){"classifier_recipe", tr.recipe,
                            "the saved run was started with %s; resume with the same flags"};
    const run_config rc = {.out_dir = o->state_dir, .what = "classifier training",
                           .state_file = "classifier_state.safetensors", .state_format = "lethe-classifier-state-1",
                           .log_file = "classifier_log.jsonl", .steps = tr.total,
                           .checkpoint_every = o->checkpoint_every, .log_every = 10, .stop_after = o->stop_after,
                           .seed = o->seed, .buffers = tr.state, .n_buffers = 3, .meta = tr.meta, .n_meta = 2,
                           .label = "classifier", .unit = "img/s", .rate_scale = B, .quiet = o->quiet};
    int stopped = 0;
    if (!(st = run_begin(&tr.run, &rc, &tr.step, o->resume))) {
        tr.opt.step = tr.step;
        const run_hooks hooks = {.ctx = &tr, .step = train_step, .checkpoint = checkpoint};
        st = run_loop(&tr.run, &hooks, &stopped);
    }
    lethe_status log_st = run_end(&tr.run);
    if (!st) st = log_st;
    if (res) {
        res->steps = tr.step;
        res->stopped = stopped;
        res->train_seconds = run_seconds(&tr.run);
    }
    arena_free(&tr.arena);
    adamw_free(&tr.opt);
    free_buffers(b);
    free(tr.cfg_json);
    return st;
}
