/*
 * train_new.c: config, training set and a fresh model for train_run (see train_new.h).
 */
#include "diffusion/train_new.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fsutil.h"

void train_source_default(train_source *s) { *s = (train_source){.data = "fashion-mnist", .config = "tiny"}; }

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
