/* loop.c: the shared unlearning loop (see unlearn.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "core/progress.h"
#include "diffusion/run.h"
#include "ops/ops.h"
#include "unlearn/concepts.h"
#include "unlearn/unlearn.h"
#include "unlearn/unlearn_internal.h"

// The loop's options, shared by every method (a method's own are in its file). Unset
// sentinels (-1, NaN) take the method's defaults (unlearn_method, unlearn_resolve_defaults).
#define L(field) offsetof(unlearn_opts, field)
const opt_spec unlearn_loop_options[] = {
    {"model", NULL, OPT_STRING, L(model_dir), {.s = NULL}, "the model to unlearn from (diffusers folder)", .flags = OPT_REQUIRED},
    {"method", NULL, OPT_STRING, L(method), {.s = NULL}, "the method (help shows the registered ones)", .flags = OPT_REQUIRED},
    {"forget", NULL, OPT_STRING, L(forget), {.s = NULL}, "class(es) to forget: names or indices, comma-separated (a "
     "text-to-image model: styles, objects or prompts such as 'zebra trouser')", "required, or --forget-style / --forget-object / --forget-file"},
    {"forget-style", "forget-styles", OPT_STRING, L(forget_styles), {.s = NULL},
     "text-to-image models: style(s) to forget, comma-separated (every prompt in that style)"},
    {"forget-object", "forget-objects", OPT_STRING, L(forget_objects), {.s = NULL},
     "text-to-image models: object(s) to forget, comma-separated (every prompt of that object)"},
    {"forget-file", NULL, OPT_STRING, L(forget_file), {.s = NULL},
     "text-to-image models: a file of concepts to forget (styles, objects or prompts), one per line"},
    {"out", NULL, OPT_STRING, L(out_dir), {.s = NULL}, "output folder", .flags = OPT_REQUIRED | OPT_NO_RECORD},
    {"data", NULL, OPT_STRING, L(data), {.s = NULL}, "training data (overrides the recorded folder and its check)",
     "the folder the model was trained on (lethe.json \"data\"), else its dataset name"},
    {"steps", NULL, OPT_INT, L(steps), {.i = -1}, "optimisation steps", "the method's"},
    {"batch", NULL, OPT_INT, L(batch), {.i = -1}, "images per batch of each stream", "the method's"},
    {"lr", NULL, OPT_FLOAT, L(lr), {.f = NAN}, "learning rate (AdamW)", "the method's"},
    {"lr-schedule", NULL, OPT_CHOICE, L(lr_kind), {.i = LR_CONSTANT}, "learning-rate schedule", .choices = "constant|cosine"},
    {"warmup", NULL, OPT_INT, L(warmup), {.i = 0}, "learning-rate warm-up steps"},
    {"weight-decay", NULL, OPT_FLOAT, L(weight_decay), {.f = NAN}, "AdamW decoupled weight decay", "the method's"},
    {"max-grad-norm", NULL, OPT_FLOAT, L(max_grad_norm), {.f = 1.0f}, "clip the global gradient norm (0: off)"},
    {"adam-beta1", NULL, OPT_FLOAT, L(adam_beta1), {.f = NAN}, "Adam beta1", "0.9; sfd: 0"},
    {"adam-beta2", NULL, OPT_FLOAT, L(adam_beta2), {.f = NAN}, "Adam beta2", "0.999"},
    {"seed", NULL, OPT_U64, L(seed), {.u = 0}, "seed of every random choice"},
    {"forget-images", NULL, OPT_INT, L(forget_images), {.i = 0}, "use only the first N forget images (data-constrained runs; 0: all)"},
    {"retain-images", NULL, OPT_INT, L(retain_images), {.i = 0}, "use only the first N retain images (0: all)"},
    {"checkpoint-every", NULL, OPT_INT, L(checkpoint_every), {.i = 100}, "steps between checkpoints of the state", .flags = OPT_NO_RECORD},
    {"log-every", NULL, OPT_INT, L(log_every), {.i = 10}, "steps between unlearn_log.jsonl records", .flags = OPT_NO_RECORD},
    {"resume", NULL, OPT_FLAG, L(resume), {.i = 0}, "continue from OUT/unlearn_state.safetensors", .flags = OPT_NO_RECORD},
    {"stop-after", NULL, OPT_INT, L(stop_after), {.i = 0}, "stop after N steps of this invocation (resume later)", .flags = OPT_NO_RECORD},
};
#undef L
const int unlearn_n_loop_options = (int)(sizeof unlearn_loop_options / sizeof unlearn_loop_options[0]);

void unlearn_opts_default(unlearn_opts *o) {
    memset(o, 0, sizeof *o);
    opt_defaults(unlearn_loop_options, unlearn_n_loop_options, o);
}

void unlearn_resolve_defaults(unlearn_opts *o, const unlearn_method *m, const void *mopt) {
    if (o->steps < 0) o->steps = m->default_steps;
    if (o->batch < 0) o->batch = m->default_batch > 0 ? m->default_batch : UNLEARN_DEFAULT_BATCH;
    if (!(o->lr == o->lr)) o->lr = m->lr_for ? m->lr_for(mopt) : m->default_lr;
    if (!(o->weight_decay == o->weight_decay)) o->weight_decay = m->default_weight_decay;
}

// ---- data ---------------------------------------------------------------------------------------

// The forget classes of a text-to-image model: every concept of --forget, --forget-style,
// --forget-object and --forget-file (concepts.h).
static lethe_status parse_concepts(unlearn_ctx *u) {
    const unlearn_opts *o = u->o;
    const char *lists[3] = {o->forget, o->forget_styles, o->forget_objects};
    const concept_kind kinds[3] = {CONCEPT_ANY, CONCEPT_STYLE, CONCEPT_OBJECT};
    lethe_status st = LETHE_OK;
    for (int l = 0; l < 3 && !st; l++) {
        if (!lists[l]) continue;
        char *list = strdup(lists[l]), *save = NULL;
        if (!list) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        for (char *tok = strtok_r(list, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            if (*tok) st = concepts_add(u->model, tok, kinds[l], u->forget, &u->n_forget, LETHE_MAX_CLASSES, u->is_forget);
        }
        free(list);
    }
    if (!st && o->forget_file) {
        FILE *f = fopen(o->forget_file, "r");
        if (!f) return lethe_fail(LETHE_ERR_IO, "--forget-file %s: cannot open it", o->forget_file);
        char line[256];
        for (int no = 1; !st && fgets(line, sizeof line, f); no++) {
            char *a = line, *e = line + strlen(line);
            while (*a == ' ' || *a == '\t') a++;
            while (e > a && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
            if (*a && *a != '#' && (st = concepts_add(u->model, a, CONCEPT_ANY, u->forget, &u->n_forget, LETHE_MAX_CLASSES,
                                                      u->is_forget)))
                st = lethe_fail_context(st, "--forget-file %s line %d", o->forget_file, no);
        }
        fclose(f);
    }
    if (!st && u->n_forget == 0)
        st = lethe_fail(LETHE_ERR_ARG, "nothing to forget: give --forget-style, --forget-object, --forget-file or --forget");
    return st;
}

static lethe_status parse_forget(unlearn_ctx *u, const lethe_dataset *ds) {
    const unlearn_opts *o = u->o;
    int k;
    lethe_status st;
    if (model_is_text(u->model)) {
        if ((st = parse_concepts(u))) return st;
    } else if (o->forget_styles || o->forget_objects || o->forget_file) {
        return lethe_fail(LETHE_ERR_ARG, "--forget-style, --forget-object and --forget-file name concepts of a "
                          "text-to-image model; %s is %s: give --forget CLASS", o->model_dir,
                          u->model->n_classes ? "class-conditional" : "unconditional");
    } else if (!o->forget || !o->forget[0]) {
        return lethe_fail(LETHE_ERR_ARG, "--forget CLASS is required (names or indices)");
    } else if (u->model->n_classes) {
        // the model's own class names decide (a model may have been trained on a subset)
        char *list = strdup(o->forget), *save = NULL;
        if (!list) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        st = LETHE_OK;
        for (char *tok = strtok_r(list, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            if ((st = model_class_index(u->model, tok, &k))) break;
            if (u->is_forget[k]) st = lethe_fail(LETHE_ERR_ARG, "forget class '%s' is listed twice", tok);
            else { u->is_forget[k] = 1; u->forget[u->n_forget++] = k; }
        }
        free(list);
        if (st) return st;
    } else {
        if (!ds)   // a data-free method: only a class-conditional model names its classes
            return lethe_fail(LETHE_ERR_ARG, "%s needs a class-conditional model (it reads no data to learn the classes "
                              "from)", o->method);
        int list[LETHE_MAX_CLASSES];
        if ((st = dataset_parse_classes(ds, o->forget, list, LETHE_MAX_CLASSES, &k))) return st;
        for (int i = 0; i < k; i++) {
            u->is_forget[list[i]] = 1;
            u->forget[u->n_forget++] = list[i];
        }
    }
    int classes = u->model->n_classes ? u->model->n_classes : ds->n_classes, n_kept = 0;
    for (int i = 0; i < u->n_forget; i++)
        if (!model_trained_on(u->model, u->forget[i])) {
            int k = u->forget[i];
            return lethe_fail(LETHE_ERR_ARG, "the model was never trained on class '%s' (its lethe.json "
                              "\"trained_classes\"): there is nothing to forget",
                              u->model->n_classes ? u->model->class_names[k] : ds->class_names[k]);
        }
    for (int k = 0; k < classes; k++) n_kept += u->is_kept[k] = !u->is_forget[k] && model_trained_on(u->model, k);
    if (n_kept == 0) return lethe_fail(LETHE_ERR_ARG, "every class is a forget class: nothing would be retained");
    return LETHE_OK;
}

static lethe_status make_sets(unlearn_ctx *u) {
    const unlearn_opts *o = u->o;
    if (!u->train) return LETHE_OK;   // a data-free method: labels only
    lethe_status st = dataset_subset(&u->forget_set, u->train, u->forget, u->n_forget, 1);
    if (st) return st;
    if ((st = dataset_subset(&u->retain_set, u->train, u->forget, u->n_forget, 0))) return st;
    if (u->forget_set.n == 0)
        return lethe_fail(LETHE_ERR_ARG, "the training data %s has no image of the forget class(es)", u->train->name);
    if (o->forget_images > 0 && o->forget_images < u->forget_set.n) u->forget_set.n = o->forget_images;
    if (o->retain_images > 0 && o->retain_images < u->retain_set.n) u->retain_set.n = o->retain_images;
    return LETHE_OK;
}

// ---- provenance -----------------------------------------------------------------------------------

char *unlearn_provenance_json(const unlearn_opts *o, const lethe_model *m, const char *parent_sha, const int *forget,
                              int n_forget, const char *dataset, int steps_done, double seconds, double cpu_seconds,
                              const char *reconstructed, const char *weights) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", "lethe-model-1");
    cJSON_AddStringToObject(r, "kind", "unlearned");
    cJSON_AddStringToObject(r, "method", o->method);
    cJSON_AddStringToObject(r, "dataset", dataset);
    cJSON *p = cJSON_AddObjectToObject(r, "parent");
    cJSON_AddStringToObject(p, "dir", o->model_dir);
    cJSON_AddStringToObject(p, "weights_sha256", parent_sha);
    cJSON *f = cJSON_AddArrayToObject(r, "forget_classes");
    for (int i = 0; i < n_forget; i++) {
        const char *name = m->n_classes && m->class_names[forget[i]][0] ? m->class_names[forget[i]] : NULL;
        char idx[16];
        snprintf(idx, sizeof idx, "%d", forget[i]);
        cJSON_AddItemToArray(f, cJSON_CreateString(name ? name : idx));
    }
    cJSON_AddItemToObject(r, "arguments", unlearn_arguments_json(o));
    cJSON_AddStringToObject(r, "gemm_precision", ops_precision());   // of the GEMMs, this sitting (--precision)
    cJSON_AddNumberToObject(r, "steps_done", steps_done);
    cJSON_AddNumberToObject(r, "seconds", round(seconds * 100) / 100);
    // CPU time (all threads, every sitting): the cost, which a busy machine stretches less than the wall time
    cJSON_AddNumberToObject(r, "cpu_seconds", round(cpu_seconds * 100) / 100);
    if (reconstructed) cJSON_AddStringToObject(r, "reconstructed", reconstructed);
    if (m->one_step_t > 0) {   // SFD: the output is a one-step generator, not a diffusion model
        cJSON *g = cJSON_AddObjectToObject(r, "generator");
        cJSON_AddStringToObject(g, "kind", "one-step");
        cJSON_AddNumberToObject(g, "t_init", m->one_step_t);
    }
    cJSON_AddStringToObject(r, "weights", weights ? weights : "live");
    if (o->command_line) cJSON_AddStringToObject(r, "command", o->command_line);
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

// ---- the loop ---------------------------------------------------------------------------------------

static void ctx_free(unlearn_ctx *u) {
    if (u->method && u->method->cleanup) u->method->cleanup(u);
    unlearn_batches_free(u);
    adamw_free(&u->adam);
    if (u->train_params != u->params) {
        ops()->release(u->train_params);
        ops()->release(u->train_grads);
    }
    ops()->release(u->grads);
    ops()->release(u->teacher);
    ops()->release(u->mask);
    arena_free(&u->arena);
    schedule_free(&u->sched);
    dataset_free(&u->forget_set);
    dataset_free(&u->retain_set);
}

// ---- the run's hooks (diffusion/run.h) -------------------------------------------------------------

typedef struct {
    unlearn_ctx *u;
    lethe_run run;   // state file, log, checkpoints
    double t0;       // when this invocation began (the log's "seconds")
} unlearn_harness;

static void log_record(const unlearn_ctx *u, float lr, double grad_norm, double seconds, char *out, size_t cap) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "step", u->step);
    cJSON_AddNumberToObject(r, "loss", u->loss);
    for (int i = 0; i < u->n_parts; i++) cJSON_AddNumberToObject(r, u->part_name[i], u->part[i]);
    cJSON_AddNumberToObject(r, "lr", float_as_decimal(lr));
    cJSON_AddNumberToObject(r, "grad_norm", grad_norm);
    cJSON_AddNumberToObject(r, "seconds", seconds);
    // CPU time of the whole process (all threads): shows when the wall time was stretched by a busy machine
    cJSON_AddNumberToObject(r, "cpu_seconds", round(lethe_cpu_seconds() * 100) / 100);
    char *line = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    snprintf(out, cap, "%s", line ? line : "");
    free(line);
}

// One step of the method, its finiteness check and the AdamW update.
static lethe_status run_one_step(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap) {
    unlearn_harness *ur = ctx;
    unlearn_ctx *u = ur->u;
    const unlearn_opts *o = u->o;
    const int s = u->step;
    ops()->fill(u->grads, 0.0f, u->n_params);
    if (u->train_grads != u->grads) ops()->fill(u->train_grads, 0.0f, u->n_train);
    u->loss = 0;
    u->n_parts = 0;
    arena_reset(&u->arena);
    lethe_status st = u->method->step(u, s);
    if (st) return st;
    if (!isfinite(u->loss) || !ops()->all_finite(u->train_grads, u->n_train))
        return lethe_fail(LETHE_ERR_NUMERIC, "%s: loss %g or its gradient is not finite at step %d: stopping; the last "
                          "checkpoint is kept (try a lower --lr)", o->method, u->loss, s + 1);
    float lr = lr_at(o->lr_kind, o->lr, s, o->warmup, o->steps);
    double gn = 0;
    adamw_update(&u->adam, u->train_params, u->train_grads, u->mask, lr, &gn);
    u->step++;
    if (record) log_record(u, lr, gn, lethe_now() - ur->t0, record, cap);
    snprintf(extra, extra_cap, "loss %.4f", u->loss);
    return LETHE_OK;
}

// The state for --resume (the model is written once, after the last step).
static lethe_status checkpoint(void *ctx) { return run_state_save(&((unlearn_harness *)ctx)->run); }

lethe_status unlearn_run_loop(const unlearn_opts *given, const unlearn_method *meth, lethe_model *m,
                              const lethe_dataset *train, int resume) {
    unlearn_opts resolved = *given, *o = &resolved;
    max_align_t mopt[UNLEARN_OPTIONS_BYTES / sizeof(max_align_t)];
    lethe_status st = unlearn_method_options(o, meth, mopt, sizeof mopt);
    if (st) return st;
    unlearn_resolve_defaults(o, meth, mopt);
    if (o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--batch must be at least 1");
    if (!(o->lr > 0)) return lethe_fail(LETHE_ERR_ARG, "--lr must be positive (got %g)", (double)o->lr);
    if (o->steps < 1) return lethe_fail(LETHE_ERR_ARG, "--steps must be at least 1");
    unlearn_ctx u;
    memset(&u, 0, sizeof u);
    unlearn_harness ur;
    memset(&ur, 0, sizeof ur);
    u.o = o;
    u.method = meth;
    u.mopt = mopt;
    u.model = m;
    u.train = train;
    u.class_conditional = m->n_classes > 0 && denoiser_has_null(&m->net);
    u.numel = denoiser_numel(&m->net);
    u.n_params = denoiser_num_params(&m->net);
    u.params = m->params;
    arena_init(&u.arena);
    double t0 = lethe_now();
    if ((st = model_weights_sha256(m, u.parent_sha256)) || (st = parse_forget(&u, train)) || (st = make_sets(&u)) ||
        (st = schedule_init(&u.sched, &m->sched)))
        goto done;
    u.grads = ops()->alloc(u.n_params * sizeof(float));
    if (!u.grads) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for gradients"); goto done; }
    if (meth->needs_teacher) {
        u.teacher = ops()->alloc(u.n_params * sizeof(float));
        if (!u.teacher) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for the teacher's weights"); goto done; }
        ops()->copy(u.teacher, u.params, u.n_params);
    }
    u.train_params = u.params;
    u.train_grads = u.grads;
    u.n_train = u.n_params;
    if (!o->quiet && train)
        fprintf(stderr, "lethe unlearn: %s, forgetting %d %s: %d forget and %d retain images%s\n", meth->name, u.n_forget,
                model_is_text(m) ? "prompt(s)" : "class(es)", u.forget_set.n, u.retain_set.n,
                meth->reconstructed ? " (method partly reconstructed)" : "");
    else if (!o->quiet)
        fprintf(stderr, "lethe unlearn: %s, forgetting %d class(es), data-free (no image is read)%s\n", meth->name,
                u.n_forget, meth->reconstructed ? " (method partly reconstructed)" : "");
    u.adam.cfg = (adamw_config){.lr = o->lr, .beta1 = knob_f(o->adam_beta1, 0.9f), .beta2 = knob_f(o->adam_beta2, 0.999f), .eps = 1e-8f,
                                .weight_decay = o->weight_decay, .max_grad_norm = o->max_grad_norm};
    if (meth->setup && (st = meth->setup(&u))) goto done;
    adamw_config ac = u.adam.cfg;   // setup may have changed it
    if ((st = adamw_init(&u.adam, &ac, u.n_train))) goto done;
    ur.u = &u;
    ur.t0 = t0;
    const run_buffer state[3] = {{"train", u.train_params, u.n_train}, {"adam_m", u.adam.m, u.n_train},
                                 {"adam_v", u.adam.v, u.n_train}};
    const run_meta state_meta[2] = {
        {"method", meth->name, "the run used --method %s; resume with the same method"},
        {"parent_sha256", u.parent_sha256, "the run started from another parent model (SHA-256 differs)"}};
    const run_config rc = {.out_dir = o->out_dir, .what = "unlearning", .state_file = "unlearn_state.safetensors",
                           .state_format = "lethe-unlearn-state-1", .log_file = "unlearn_log.jsonl", .steps = o->steps,
                           .checkpoint_every = o->checkpoint_every, .log_every = o->log_every, .stop_after = o->stop_after,
                           .seed = o->seed, .buffers = state, .n_buffers = 3, .meta = state_meta, .n_meta = 2,
                           .label = o->method, .unit = "step/s", .rate_scale = 1.0, .quiet = o->quiet, .t_start = t0};
    if ((st = run_begin(&ur.run, &rc, &u.step, resume))) goto done;
    u.adam.step = u.step;
    int stopped = 0;
    const run_hooks hooks = {.ctx = &ur, .step = run_one_step, .checkpoint = checkpoint};
    st = run_loop(&ur.run, &hooks, &stopped);
    lethe_status log_st = run_end(&ur.run);
    if (st || (st = log_st)) goto done;
    if (stopped) {
        if (!o->quiet) fprintf(stderr, "lethe unlearn: stopped after step %d of %d; continue with --resume\n", u.step, o->steps);
        goto done;
    }
    if (meth->finish && (st = meth->finish(&u))) goto done;
    char *prov = unlearn_provenance_json(o, m, u.parent_sha256, u.forget, u.n_forget, train ? train->name : m->dataset, u.step,
                                         run_seconds(&ur.run), run_cpu_seconds(&ur.run), meth->reconstructed, NULL);
    st = prov ? model_save(m, u.params, o->out_dir, prov) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(prov);
done:
    run_end(&ur.run);   // after an error: closes the log
    ctx_free(&u);
    return st;
}
