/*
 * retrain.c: retrain from scratch on the retain set (methods spec 7.1): the gold standard
 * every other method is judged against, for UA and FID alike, and the cost they are
 * measured against.
 *
 * The recipe is the parent's, read from its lethe.json (steps, batch, learning rate and
 * schedule, warm-up, AdamW and clipping settings, class dropout, EMA, both seeds): the
 * same model config trained the same way on D_r. Models trained before lethe recorded the
 * whole recipe fall back to `lethe train`'s defaults for what is missing.
 * --steps overrides the step count (for quick runs); --batch and --lr are ignored, since
 * changing them would no longer be "the original recipe". The original code samples t
 * antithetically; lethe's trainer samples t uniformly, as the parent was trained.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "diffusion/train.h"
#include "core/fsutil.h"
#include "diffusion/train_new.h"
#include "unlearn/concepts.h"
#include "unlearn/unlearn_internal.h"

// the parent's training recipe, where its lethe.json records it
static void read_recipe(const char *dir, train_opts *t) {
    char path[4096];
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    char *text;
    if (!fs_exists(path) || fs_read_text(path, &text)) return;
    cJSON *r = cJSON_Parse(text);
    free(text);
    if (!r) return;
    const cJSON *v;
#define NUM(key) ((v = cJSON_GetObjectItemCaseSensitive(r, key)) && cJSON_IsNumber(v))
    if (NUM("steps_total")) t->steps = v->valueint;
    if (NUM("batch")) t->batch = v->valueint;
    if (NUM("learning_rate")) t->adam.lr = (float)v->valuedouble;
    if (NUM("warmup")) t->warmup = v->valueint;
    if (NUM("class_dropout")) t->class_dropout = (float)v->valuedouble;
    if (NUM("seed")) t->seed = (uint64_t)v->valuedouble;
    if (NUM("init_seed")) t->init_seed = (uint64_t)v->valuedouble;
    if (NUM("adam_beta1")) t->adam.beta1 = (float)v->valuedouble;
    if (NUM("adam_beta2")) t->adam.beta2 = (float)v->valuedouble;
    if (NUM("adam_epsilon")) t->adam.eps = (float)v->valuedouble;
    if (NUM("adam_weight_decay")) t->adam.weight_decay = (float)v->valuedouble;
    if (NUM("max_grad_norm")) t->adam.max_grad_norm = (float)v->valuedouble;
    if (NUM("ema_max_decay")) t->ema_max_decay = (float)v->valuedouble;
    if (NUM("ema_inv_gamma")) t->ema_inv_gamma = (float)v->valuedouble;
    if (NUM("ema_power")) t->ema_power = (float)v->valuedouble;
#undef NUM
    v = cJSON_GetObjectItemCaseSensitive(r, "lr_schedule");
    if (cJSON_IsString(v)) t->lr_kind = strcmp(v->valuestring, "constant") ? LR_COSINE : LR_CONSTANT;
    v = cJSON_GetObjectItemCaseSensitive(r, "weights");
    if (cJSON_IsString(v)) t->use_ema = strcmp(v->valuestring, "live") != 0;
    cJSON_Delete(r);
}

// The parent's recipe with this run's output, budget override (--steps) and cadence.
static void parent_recipe(const unlearn_opts *o, train_opts *t) {
    train_opts_default(t);
    read_recipe(o->model_dir, t);
    if (o->steps > 0) t->steps = o->steps;   // -1 (not given): the parent's
    t->out_dir = o->out_dir;
    t->command_line = o->command_line;
    t->checkpoint_every = o->checkpoint_every > 0 ? o->checkpoint_every : t->checkpoint_every;
    t->stop_after = o->stop_after;
}

// What the trainer recorded in dir/lethe.json: the steps done (0 when it has none) and the
// cost over every sitting (seconds kept as given when absent; cpu: this process's).
static int trained_record(const char *dir, double *seconds, double *cpu) {
    char path[4096], *text;
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    cJSON *r = fs_exists(path) && !fs_read_text(path, &text) ? cJSON_Parse(text) : NULL;
    if (r) free(text);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "steps_done"), *w = cJSON_GetObjectItemCaseSensitive(r, "seconds"),
                *c = cJSON_GetObjectItemCaseSensitive(r, "cpu_seconds");
    int done = cJSON_IsNumber(d) ? d->valueint : 0;
    if (cJSON_IsNumber(w)) *seconds = w->valuedouble;
    *cpu = cJSON_IsNumber(c) ? c->valuedouble : lethe_cpu_seconds();
    cJSON_Delete(r);
    return done;
}

static lethe_status retrain_run(const unlearn_opts *o, lethe_model *parent, const lethe_dataset *train) {
    char sha[65];
    int forget[LETHE_MAX_CLASSES], k = 0;
    lethe_status st = model_weights_sha256(parent, sha);
    if (st) return st;
    char *list = strdup(o->forget), *save = NULL;
    if (!list) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (char *tok = strtok_r(list, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (parent->n_classes) st = model_class_index(parent, tok, &forget[k]);
        else st = dataset_class_index(train, tok, &forget[k]);
        for (int j = 0; !st && j < k; j++)
            if (forget[j] == forget[k]) st = lethe_fail(LETHE_ERR_ARG, "forget class '%s' is listed twice", tok);
        k++;
    }
    free(list);
    if (st) return st;
    lethe_dataset retain;
    if ((st = dataset_subset(&retain, train, forget, k, 0))) return st;
    if (retain.n == 0) { dataset_free(&retain); return lethe_fail(LETHE_ERR_ARG, "nothing is left to retrain on"); }

    train_opts t;
    parent_recipe(o, &t);
    if (!o->quiet)
        fprintf(stderr, "lethe unlearn: retrain from scratch on %d retain images: %d steps, batch %d, lr %g (the parent's recipe)\n",
                retain.n, t.steps, t.batch, (double)t.adam.lr);
    lethe_model m;
    if ((st = model_create_like(&m, parent, t.init_seed))) { dataset_free(&retain); return st; }
    m.sched = parent->sched;
    m.n_classes = parent->n_classes;
    memcpy(m.class_names, parent->class_names, sizeof m.class_names);
    snprintf(m.dataset, sizeof m.dataset, "%s", train->name);
    m.data = parent->data;   // the retain set is the parent's data: the same record
    double t0 = lethe_now();
    st = train_run(&m, &retain, &t, o->resume);
    double seconds = lethe_now() - t0, cpu;
    const int done = st ? 0 : trained_record(o->out_dir, &seconds, &cpu);
    if (!st && done < t.steps) {   // --stop-after: a sitting, not a retrained model yet
        if (!o->quiet)
            fprintf(stderr, "lethe unlearn: retrain stopped after step %d of %d; continue with --resume\n", done, t.steps);
    } else if (!st) {   // the trainer wrote a "trained" lethe.json (with the cost); record what this model is
        char *prov = unlearn_provenance_json(o, &m, sha, forget, k, train->name, t.steps, seconds, cpu, NULL,
                                             t.use_ema ? "ema" : NULL);   // the trainer leaves its EMA in m.params
        st = prov ? model_save(&m, m.params, o->out_dir, prov) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        free(prov);
    }
    model_free(&m);
    dataset_free(&retain);
    return st;
}

// A text-to-image parent (its prompt classes set, concepts.h): its recipe on Fashion-Canvas's
// (image, prompt) pairs without those of the forgotten styles and objects (train_canvas).
lethe_status unlearn_retrain_text(const unlearn_opts *o, lethe_model *parent) {
    char sha[65], exclude[2048] = "";
    int forget[LETHE_MAX_CLASSES], in[LETHE_MAX_CLASSES] = {0}, k = 0;
    lethe_status st = model_weights_sha256(parent, sha);
    const char *lists[3] = {o->forget, o->forget_styles, o->forget_objects};
    const concept_kind kinds[3] = {CONCEPT_ANY, CONCEPT_STYLE, CONCEPT_OBJECT};
    if (!st && o->forget_file)
        st = lethe_fail(LETHE_ERR_ARG, "retrain: give the styles and objects to leave out with --forget-style and "
                        "--forget-object (--forget-file is for the other methods)");
    for (int l = 0; l < 3 && !st; l++) {
        if (!lists[l]) continue;
        char *list = strdup(lists[l]), *save = NULL;
        if (!list) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        for (char *tok = strtok_r(list, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            const int before = k;
            if ((st = concepts_add(parent, tok, kinds[l], forget, &k, LETHE_MAX_CLASSES, in))) break;
            if (k - before == 1 && kinds[l] == CONCEPT_ANY && strchr(tok, ' '))   // one prompt, not a concept
                st = lethe_fail(LETHE_ERR_ARG, "retrain leaves out whole styles or objects; '%s' is one prompt", tok);
            else
                snprintf(exclude + strlen(exclude), sizeof exclude - strlen(exclude), "%s%s", exclude[0] ? "," : "", tok);
        }
        free(list);
    }
    if (!st && k == 0) st = lethe_fail(LETHE_ERR_ARG, "retrain: give --forget-style or --forget-object");
    if (st) return st;
    train_opts t;
    parent_recipe(o, &t);
    if (!o->quiet)
        fprintf(stderr, "lethe unlearn: retrain from scratch without %s (%d prompts): %d steps, batch %d, lr %g (the "
                "parent's recipe)\n", exclude, k, t.steps, t.batch, (double)t.adam.lr);
    lethe_model m;
    if ((st = model_create_text(&m, &parent->ucond->cfg, o->model_dir, t.init_seed))) return st;
    m.sched = parent->sched;
    snprintf(m.dataset, sizeof m.dataset, "%s", parent->dataset);
    double t0 = lethe_now();
    st = train_canvas(&m, o->data ? o->data : parent->data.dir[0] ? parent->data.dir : NULL, exclude, &t, o->resume,
                      NULL, NULL);
    double seconds = lethe_now() - t0, cpu;
    const int done = st ? 0 : trained_record(o->out_dir, &seconds, &cpu);
    if (!st && done < t.steps) {
        if (!o->quiet)
            fprintf(stderr, "lethe unlearn: retrain stopped after step %d of %d; continue with --resume\n", done, t.steps);
    } else if (!st) {   // the forgotten prompts named as the parent's prompt classes name them
        char *prov = unlearn_provenance_json(o, parent, sha, forget, k, parent->dataset, t.steps, seconds, cpu, NULL,
                                             t.use_ema ? "ema" : NULL);   // the trainer leaves its EMA in m.params
        st = prov ? model_save(&m, m.params, o->out_dir, prov) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        free(prov);
    }
    model_free(&m);
    return st;
}

const unlearn_method unlearn_retrain = {
    .name = "retrain",
    .summary = "train from scratch on the retain set with the parent's recipe (the gold standard)",
    .needs_retain = 1,
    .run = retrain_run,   // takes the parent's recipe: no default_lr / default_steps
};
