/*
 * train.c: lethe_train, `lethe train` by option names (diffusion/train_new.h).
 */
#include <stddef.h>
#include <string.h>

#include "api/api.h"
#include "diffusion/train_new.h"
#include "lethe.h"

typedef struct {
    train_opts o;
    train_source s;
    int resume, no_ema;
    const char *lr_schedule;
} train_args;

#define O(name, type, field) {name, type, offsetof(train_args, field)}
static const api_opt table[] = {
    O("data", API_STRING, s.data),
    O("config", API_STRING, s.config),
    O("classes", API_STRING, s.classes),
    O("exclude", API_STRING, s.exclude),
    O("unconditional", API_FLAG, s.unconditional),
    O("steps", API_INT, o.steps),
    O("batch", API_INT, o.batch),
    O("lr", API_FLOAT, o.adam.lr),
    O("lr-schedule", API_STRING, lr_schedule),
    O("warmup", API_INT, o.warmup),
    O("adam-beta1", API_FLOAT, o.adam.beta1),
    O("adam-beta2", API_FLOAT, o.adam.beta2),
    O("adam-weight-decay", API_FLOAT, o.adam.weight_decay),
    O("adam-epsilon", API_FLOAT, o.adam.eps),
    O("max-grad-norm", API_FLOAT, o.adam.max_grad_norm),
    O("class-dropout", API_FLOAT, o.class_dropout),
    O("no-ema", API_FLAG, no_ema),
    O("ema-max-decay", API_FLOAT, o.ema_max_decay),
    O("ema-power", API_FLOAT, o.ema_power),
    O("seed", API_U64, o.seed),
    O("init-seed", API_U64, o.init_seed),
    O("checkpoint-every", API_INT, o.checkpoint_every),
    O("log-every", API_INT, o.log_every),
    O("resume", API_FLAG, resume),
    O("stop-after", API_INT, o.stop_after),
    O("snapshots", API_INT, o.snapshots),
};

lethe_status lethe_train(const char *out_dir, const lethe_options *opts) {
    if (!out_dir) return lethe_fail(LETHE_ERR_ARG, "lethe_train: NULL output folder");
    train_args a = {.lr_schedule = "cosine"};
    train_opts_default(&a.o);
    train_source_default(&a.s);
    lethe_status st = api_apply(table, (int)(sizeof table / sizeof table[0]), &a, opts, "lethe_train");
    if (st) return st;
    if (!strcmp(a.lr_schedule, "cosine")) a.o.lr_kind = LR_COSINE;
    else if (!strcmp(a.lr_schedule, "constant")) a.o.lr_kind = LR_CONSTANT;
    else return lethe_fail(LETHE_ERR_ARG, "lethe_train: lr-schedule must be cosine or constant (got '%s')", a.lr_schedule);
    if (a.o.class_dropout < 0 || a.o.class_dropout > 1) return lethe_fail(LETHE_ERR_ARG, "lethe_train: class-dropout must be in [0, 1]");
    if (a.o.log_every < 1) a.o.log_every = 1;
    a.o.use_ema = !a.no_ema;
    a.o.out_dir = out_dir;
    a.o.command_line = "lethe_train (C API)";
    return train_new(&a.s, &a.o, a.resume);
}
