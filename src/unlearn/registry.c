/* registry.c: the method table and unlearn_run, the entry point (see unlearn.h). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/fsutil.h"
#include "unlearn/concepts.h"
#include "unlearn/unlearn_internal.h"

// one line per method, in the order of --help
static const unlearn_method *const methods[] = {
    &unlearn_retrain,
    &unlearn_finetune,
    &unlearn_ga,
    &unlearn_esd,
    &unlearn_salun,
    &unlearn_sa,
    &unlearn_vdu,
    &unlearn_spare,
    &unlearn_sfd,
};
#define N_METHODS (int)(sizeof methods / sizeof methods[0])

const unlearn_method *unlearn_find(const char *name) {
    for (int i = 0; name && i < N_METHODS; i++)
        if (!strcmp(methods[i]->name, name)) return methods[i];
    return NULL;
}

int unlearn_method_count(void) { return N_METHODS; }
const unlearn_method *unlearn_method_at(int i) { return i >= 0 && i < N_METHODS ? methods[i] : NULL; }

const char *unlearn_method_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < N_METHODS; i++) {
            strncat(names, methods[i]->name, sizeof names - strlen(names) - 1);
            if (i + 1 < N_METHODS) strncat(names, ", ", sizeof names - strlen(names) - 1);
        }
    return names;
}

lethe_status unlearn_run(const unlearn_opts *given) {
    unlearn_opts opts = *given, *o = &opts;
    const unlearn_method *meth = unlearn_find(o->method);
    if (!meth) return lethe_fail(LETHE_ERR_ARG, "unknown method '%s' (methods: %s)", o->method ? o->method : "", unlearn_method_names());
    if (!o->model_dir) return lethe_fail(LETHE_ERR_ARG, "--model DIR (the model to unlearn from) is required");
    if (!o->out_dir) return lethe_fail(LETHE_ERR_ARG, "--out DIR is required");
    max_align_t mopt[UNLEARN_OPTIONS_BYTES / sizeof(max_align_t)];   // before anything is read: every option given is the method's
    lethe_status st = unlearn_method_options(o, meth, mopt, sizeof mopt);
    if (st) return st;
    if (!meth->run) {   // a whole-run method (retrain) takes its own recipe
        unlearn_resolve_defaults(o, meth, mopt);
        if (o->steps < 1) return lethe_fail(LETHE_ERR_ARG, "--steps must be at least 1");
        if (o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--batch must be at least 1");
    }
    if ((st = fs_ensure_writable_dir(o->out_dir))) return st;
    lethe_model m;
    if ((st = model_load(&m, o->model_dir))) return st;
    if (model_is_text(&m)) {   // concepts as classes: the prompt-labelled split (concepts.h)
        char whose[1100];
        snprintf(whose, sizeof whose, "model %s", o->model_dir);
        lethe_dataset train;
        if (!(st = concepts_load(&m, o->data, whose, &train)))
            st = meth == &unlearn_retrain ? unlearn_retrain_text(o, &m)
                                          : unlearn_run_loop(o, meth, &m, meth->data_free ? NULL : &train, o->resume);
        dataset_free(&train);
        model_free(&m);
        return st;
    }
    if (meth->data_free) {   // labels only: the classes come from the model, no image is read
        if (!m.n_classes) st = lethe_fail(LETHE_ERR_ARG, "%s needs a class-conditional model; %s is unconditional", meth->name, o->model_dir);
        else if (o->data) st = lethe_fail(LETHE_ERR_ARG, "%s is data-free: it reads no dataset, so --data does not apply", meth->name);
        else st = unlearn_run_loop(o, meth, &m, NULL, o->resume);
        model_free(&m);
        return st;
    }
    // the data: --data as given; else the folder the model recorded (its files checked against
    // the fingerprint); else, for models without a record, its dataset name
    lethe_dataset train;
    if (!o->data && m.data.dir[0]) {
        char whose[1100];
        snprintf(whose, sizeof whose, "model %s", o->model_dir);
        st = dataset_load_recorded(&train, &m.data, m.dataset, LETHE_SPLIT_TRAIN, whose);
    } else {
        st = dataset_load(&train, o->data ? o->data : m.dataset[0] ? m.dataset : "fashion-mnist", LETHE_SPLIT_TRAIN);
        // the recorded files found elsewhere (moved): the output records where they are now
        if (!st && o->data && m.data.dir[0] && !data_record_hash(&train.source) && !strcmp(train.source.sha256, m.data.sha256))
            snprintf(m.data.dir, sizeof m.data.dir, "%s", train.source.dir);
    }
    if (st) { model_free(&m); return st; }
    const lethe_denoiser *c = &m.net;
    if (train.c != c->channels || train.h != c->size || train.w != c->size)
        st = lethe_fail(LETHE_ERR_ARG, "dataset %s has %dx%dx%d images but the model %s takes %dx%dx%d", train.name, train.c,
                        train.h, train.w, o->model_dir, c->channels, c->size, c->size);
    else if (m.n_trained_classes > 0) {
        // a parent trained on some classes only: its training data is those classes, so the
        // retain set (and retrain's data) holds no class it never learnt
        lethe_dataset sub;
        if (!(st = dataset_subset(&sub, &train, m.trained_classes, m.n_trained_classes, 1))) {
            dataset_free(&train);
            train = sub;
        }
    }
    if (!st && meth->run) st = meth->run(o, &m, &train);
    else if (!st) st = unlearn_run_loop(o, meth, &m, &train, o->resume);
    dataset_free(&train);
    model_free(&m);
    return st;
}
