/* model.c: the model aggregate; diffusers folder save/load with strict key and shape checks (see model.h). */
#include "diffusion/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "diffusion/unet_cond_denoiser.h"
#include "io/hash.h"
#include "io/safetensors.h"
#include "nn/param_file.h"
#include "ops/ops.h"

#define WEIGHTS_FILE "diffusion_pytorch_model.safetensors"

static void set_default_class_names(lethe_model *m) {
    const lethe_cond_spec *c = &m->net.cond;
    m->n_classes = c->kind == LETHE_COND_CLASS && c->null_class > 0 ? c->null_class : 0;
    for (int i = 0; i < m->n_classes && i < LETHE_MAX_CLASSES; i++) snprintf(m->class_names[i], 32, "%d", i);
}

// The default schedule and class names and a zeroed parameter buffer for m->net.
static lethe_status model_alloc_params(lethe_model *m) {
    schedule_config_default(&m->sched);
    set_default_class_names(m);
    m->params = ops()->alloc(denoiser_num_params(&m->net) * sizeof(float));
    if (!m->params) {
        size_t total = denoiser_num_params(&m->net);
        model_free(m);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %zu parameters", total);
    }
    return LETHE_OK;
}

// Builds the model and its (zeroed) parameter buffer; the caller fills the values.
static lethe_status model_alloc(lethe_model *m, const unet_config *cfg) {
    memset(m, 0, sizeof *m);
    lethe_status st = unet_build(&m->unet, cfg);
    if (st) return st;
    unet_denoiser_bind(&m->net, &m->unet);
    return model_alloc_params(m);
}

// A text-to-image model's network: the text side from text_dir, the UNet2DConditionModel of
// cfg behind the seam with the empty prompt as its null row, and a zeroed parameter buffer.
static lethe_status model_alloc_text(lethe_model *m, const unet_cond_config *cfg, const char *text_dir) {
    memset(m, 0, sizeof *m);
    m->text = calloc(1, sizeof *m->text);
    m->ucond = calloc(1, sizeof *m->ucond);
    lethe_status st = m->text && m->ucond ? LETHE_OK : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if (!st) st = text_cond_load(m->text, text_dir);
    if (!st && cfg->cross_attention_dim != m->text->width)
        st = lethe_fail(LETHE_ERR_SHAPE, "%s: the text encoder's hidden_size is %d but the UNet's cross_attention_dim is %d",
                        text_dir, m->text->width, cfg->cross_attention_dim);
    if (!st && (st = unet_cond_build(m->ucond, cfg))) {
        free(m->ucond);   // nothing built: model_free must not free its layers
        m->ucond = NULL;
    }
    if (st) {
        model_free(m);
        return st;
    }
    unet_cond_denoiser_bind(&m->net, m->ucond, m->text->seq, m->text->null_tokens);
    return model_alloc_params(m);
}

lethe_status model_init_net(lethe_model *m, const lethe_denoiser *net) {
    memset(m, 0, sizeof *m);
    m->net = *net;
    return model_alloc_params(m);
}

// PyTorch-default initial weights from `seed` into m->params (frees m on failure).
static lethe_status model_init_weights(lethe_model *m, uint64_t seed) {
    size_t total = denoiser_num_params(&m->net);
    float *host = malloc(total * sizeof(float));
    if (!host) {
        model_free(m);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %zu parameters", total);
    }
    param_table_init_values(m->net.table, host, seed);
    ops()->to_device(m->params, host, total * sizeof(float));
    free(host);
    return LETHE_OK;
}

lethe_status model_create(lethe_model *m, const unet_config *cfg, uint64_t seed) {
    lethe_status st = model_alloc(m, cfg);
    return st ? st : model_init_weights(m, seed);
}

lethe_status model_create_text(lethe_model *m, const unet_cond_config *cfg, const char *text_dir, uint64_t seed) {
    lethe_status st = model_alloc_text(m, cfg, text_dir);
    return st ? st : model_init_weights(m, seed);
}

lethe_status model_create_like(lethe_model *m, const lethe_model *parent, uint64_t seed) {
    memset(m, 0, sizeof *m);
    if (parent->text)   // its clone would borrow the parent's text encoder and could not save it
        return lethe_fail(LETHE_ERR_ARG, "a text-to-image model cannot be recreated from scratch yet (retrain needs "
                          "lethe train --text-encoder)");
    lethe_denoiser net;
    lethe_status st = denoiser_clone(&parent->net, &net);
    if (st) return st;
    if ((st = model_init_net(m, &net))) return st;   // m released the clone
    return model_init_weights(m, seed);
}

lethe_status model_set_prompt_classes(lethe_model *m, const char names[][32], const char *prompts, size_t prompt_cap,
                                      int n) {
    if (!m->text) return lethe_fail(LETHE_ERR_ARG, "prompt classes: the model is not text-to-image");
    if (n < 1 || n > LETHE_MAX_CLASSES) return lethe_fail(LETHE_ERR_ARG, "prompt classes: %d (1 to %d)", n, LETHE_MAX_CLASSES);
    float *enc = ops()->alloc((size_t)n * m->text->seq * m->text->width * sizeof(float));
    if (!enc) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d prompt encodings", n);
    lethe_status st = text_cond_encode(m->text, prompts, prompt_cap, n, enc);
    if (st) { ops()->release(enc); return st; }
    ops()->release(m->prompt_tokens);
    m->prompt_tokens = enc;
    m->net.cond.class_tokens = enc;
    m->net.cond.n_classes = n;
    m->n_classes = n;
    for (int k = 0; k < n; k++) snprintf(m->class_names[k], 32, "%s", names[k]);
    return LETHE_OK;
}

void model_free(lethe_model *m) {
    if (m->params) ops()->release(m->params);
    m->params = NULL;
    ops()->release(m->prompt_tokens);
    m->prompt_tokens = NULL;
    denoiser_free(&m->net);
    unet_free(&m->unet);
    if (m->ucond) unet_cond_free(m->ucond);
    free(m->ucond);
    m->ucond = NULL;
    if (m->text) text_cond_free(m->text);
    free(m->text);
    m->text = NULL;
}

lethe_status model_class_index(const lethe_model *m, const char *name_or_index, int *out) {
    if (m->n_classes == 0)
        return lethe_fail(LETHE_ERR_ARG, "this model is unconditional: it has no classes (asked for '%s')", name_or_index);
    return class_index_from_names(m->class_names, m->n_classes, name_or_index, out);
}

// ---- weights -----------------------------------------------------------------------------

// Old diffusers attention names -> current ones (from_pretrained renames them the same way).
static const char *legacy_name(const char *name, char *buf, size_t cap) {
    static const char *pairs[][2] = {{".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *at = strstr(name, pairs[i][0]);
        if (at) {
            snprintf(buf, cap, "%.*s%s%s", (int)(at - name), name, pairs[i][1], at + strlen(pairs[i][0]));
            return buf;
        }
    }
    return NULL;
}

lethe_status model_read_weights(const param_table *t, float *params, const st_file *f, const char *prefix, int strict_keys) {
    size_t plen = strlen(prefix);
    char name[PARAM_NAME_MAX + 32], legacy[PARAM_NAME_MAX + 32];
    int *used = calloc((size_t)f->n_tensors + 1, sizeof *used);
    if (!used) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    int missing = 0;
    char first_missing[PARAM_NAME_MAX] = "";
    for (int i = 0; i < t->n; i++) {
        const param_entry *e = &t->entries[i];
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        const st_tensor *x = st_find(f, name);
        if (!x) {
            const char *alt = legacy_name(e->name, legacy + plen, sizeof legacy - plen);
            if (alt) {
                memcpy(legacy, prefix, plen);
                x = st_find(f, legacy);
            }
        }
        if (!x) {
            if (!missing++) snprintf(first_missing, sizeof first_missing, "%s", e->name);
            continue;
        }
        used[x - f->tensors] = 1;
        int same = x->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = x->shape[d] == e->shape[d];
        if (!same) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < e->ndim; d++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? ", " : "", (long long)e->shape[d]);
            for (int d = 0; d < x->ndim; d++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)x->shape[d]);
            st = lethe_fail(LETHE_ERR_SHAPE, "%s: tensor '%s' has shape [%s], the config needs [%s]", f->path, x->name, got, want);
            goto done;
        }
        if ((st = st_read_f32(f, x->name, params + e->offset, e->numel))) goto done;
    }
    if (missing) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: %d tensor(s) the config needs are missing, first '%s'", f->path, missing, first_missing);
        goto done;
    }
    if (strict_keys) {
        int unexpected = 0;
        const char *first = NULL;
        for (int i = 0; i < f->n_tensors; i++)
            if (!used[i] && strncmp(f->tensors[i].name, prefix, plen) == 0) {
                if (!unexpected++) first = f->tensors[i].name;
            }
        if (unexpected) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: %d unexpected tensor(s) the config does not have, first '%s'", f->path, unexpected, first);
            goto done;
        }
    }
done:
    free(used);
    return st;
}

#define DATA_RECORD_SHAPE "\"data\" must be {\"dir\": ..., \"sha256\": ..., \"files\": [{\"name\", \"bytes\", \"sha256\"}, ...]}"

// lethe.json "data": {"dir", "sha256", "files": [{"name", "bytes", "sha256"}, ...]}. Returns 0 if
// absent, 1 if read, -1 if malformed.
static int read_data_record(const cJSON *r, lethe_data_record *rec) {
    memset(rec, 0, sizeof *rec);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "data");
    if (!d) return 0;
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(d, "dir"), *sha = cJSON_GetObjectItemCaseSensitive(d, "sha256");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(d, "files"), *f;
    if (!cJSON_IsString(dir) || !dir->valuestring[0] || strlen(dir->valuestring) >= sizeof rec->dir ||
        !cJSON_IsString(sha) || strlen(sha->valuestring) != 64 || !cJSON_IsArray(files) ||
        cJSON_GetArraySize(files) > LETHE_DATA_MAX_FILES)
        return -1;
    snprintf(rec->dir, sizeof rec->dir, "%s", dir->valuestring);
    snprintf(rec->sha256, sizeof rec->sha256, "%s", sha->valuestring);
    cJSON_ArrayForEach(f, files) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name"), *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes"),
                    *fsha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        if (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof rec->files[0].name || !cJSON_IsNumber(bytes) ||
            !cJSON_IsString(fsha) || strlen(fsha->valuestring) != 64)
            return -1;
        lethe_data_file *out = &rec->files[rec->n_files++];
        snprintf(out->name, sizeof out->name, "%s", name->valuestring);
        out->bytes = (long long)bytes->valuedouble;
        snprintf(out->sha256, sizeof out->sha256, "%s", fsha->valuestring);
    }
    return 1;
}

static cJSON *data_record_json(const lethe_data_record *rec) {
    cJSON *d = cJSON_CreateObject(), *files = NULL;
    cJSON_AddStringToObject(d, "dir", rec->dir);
    cJSON_AddStringToObject(d, "sha256", rec->sha256);
    files = cJSON_AddArrayToObject(d, "files");
    for (int i = 0; i < rec->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", rec->files[i].name);
        cJSON_AddNumberToObject(f, "bytes", (double)rec->files[i].bytes);
        cJSON_AddStringToObject(f, "sha256", rec->files[i].sha256);
        cJSON_AddItemToArray(files, f);
    }
    return d;
}

lethe_status model_data_source(const char *dir, char name[64], lethe_data_record *rec) {
    char path[4096], *text;
    name[0] = '\0';
    memset(rec, 0, sizeof *rec);
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    if (!fs_exists(path) || fs_read_text(path, &text)) return LETHE_OK;   // as model_load: lethe.json is optional
    cJSON *r = cJSON_Parse(text);
    free(text);
    if (!r) return LETHE_OK;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(r, "dataset");
    if (cJSON_IsString(ds)) snprintf(name, 64, "%s", ds->valuestring);
    int got = read_data_record(r, rec);
    cJSON_Delete(r);
    if (got < 0) return lethe_fail(LETHE_ERR_FORMAT, "%s: " DATA_RECORD_SHAPE, path);
    return LETHE_OK;
}

static void read_lethe_json(lethe_model *m, const char *path) {
    char *text;
    if (!fs_exists(path) || fs_read_text(path, &text)) return;   // optional: diffusers folders made elsewhere have none
    cJSON *r = cJSON_Parse(text);
    free(text);
    if (!r) return;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(r, "class_names");
    if (cJSON_IsArray(names) && cJSON_GetArraySize(names) == m->n_classes) {
        for (int i = 0; i < m->n_classes; i++) {
            const cJSON *s = cJSON_GetArrayItem(names, i);
            if (cJSON_IsString(s)) snprintf(m->class_names[i], 32, "%s", s->valuestring);
        }
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(r, "dataset");
    if (cJSON_IsString(ds)) snprintf(m->dataset, sizeof m->dataset, "%s", ds->valuestring);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(r, "method");
    if (cJSON_IsString(method)) snprintf(m->method, sizeof m->method, "%s", method->valuestring);
    const cJSON *trained = cJSON_GetObjectItemCaseSensitive(r, "trained_classes"), *k;
    if (cJSON_IsArray(trained)) {   // out-of-range entries make it -1: model_load reports the file as broken
        cJSON_ArrayForEach(k, trained) {
            int ok = cJSON_IsNumber(k) && k->valueint >= 0 && k->valueint < LETHE_MAX_CLASSES &&
                     (m->n_classes == 0 || k->valueint < m->n_classes) && m->n_trained_classes < LETHE_MAX_CLASSES;
            if (!ok) { m->n_trained_classes = -1; break; }
            m->trained_classes[m->n_trained_classes++] = k->valueint;
        }
    }
    if (read_data_record(r, &m->data) < 0) m->data.n_files = -1;   // model_load reports it
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(r, "generator");
    if (gen) {   // a one-step generator: checked by model_load against the schedule
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(gen, "kind"), *t = cJSON_GetObjectItemCaseSensitive(gen, "t_init");
        m->one_step_t = cJSON_IsString(kind) && !strcmp(kind->valuestring, "one-step") && cJSON_IsNumber(t) ? t->valueint : -1;
    }
    cJSON_Delete(r);
}

// *yes = 1 if the config.json at path names `class_name` as its _class_name.
static lethe_status config_class_is(const char *path, const char *class_name, int *yes) {
    char *text;
    *yes = 0;
    lethe_status st = fs_read_text(path, &text);
    if (st) return st;
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *c = r ? cJSON_GetObjectItemCaseSensitive(r, "_class_name") : NULL;
    *yes = cJSON_IsString(c) && !strcmp(c->valuestring, class_name);
    cJSON_Delete(r);
    return LETHE_OK;   // a broken file is reported by the config reader
}

int model_dir_is_text(const char *dir) {
    char path[4096];
    int yes = 0;
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    return fs_exists(path) && !config_class_is(path, "UNet2DConditionModel", &yes) && yes;
}

lethe_status model_load(lethe_model *m, const char *dir) {
    memset(m, 0, sizeof *m);
    char path[4096], wpath[4096];
    if (!fs_is_dir(dir)) return lethe_fail(LETHE_ERR_IO, "%s: no such model folder", dir);
    // pipeline folder (unet/ subfolder) or bare model folder
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/unet/" WEIGHTS_FILE, dir);
    if (!fs_exists(path)) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        snprintf(wpath, sizeof wpath, "%s/" WEIGHTS_FILE, dir);
        if (!fs_exists(path))
            return lethe_fail(LETHE_ERR_IO, "%s: not a model folder (no unet/config.json or config.json)", dir);
    }
    int is_cond = 0;
    lethe_status st = config_class_is(path, "UNet2DConditionModel", &is_cond);
    if (st) return st;
    if (is_cond) {   // text-to-image: the text side lives beside unet/ in the pipeline folder
        char unet_dir[4096];
        snprintf(unet_dir, sizeof unet_dir, "%s/unet/config.json", dir);
        if (!fs_exists(unet_dir))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: a UNet2DConditionModel loads from its pipeline folder (unet/, "
                              "text_encoder/, tokenizer/), not from a bare model folder", dir);
        unet_cond_config ccfg;
        if ((st = unet_cond_config_load(&ccfg, path))) return st;
        if ((st = model_alloc_text(m, &ccfg, dir))) return st;
    } else {
        unet_config cfg;
        if ((st = unet_config_load(&cfg, path))) return st;
        if ((st = model_alloc(m, &cfg))) return st;   // every value is read from the file below
    }

    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    if (fs_exists(path)) {
        char *text;
        if ((st = fs_read_text(path, &text))) goto fail;
        st = schedule_config_from_json(&m->sched, text, path);
        free(text);
        if (st) goto fail;
    }

    st_file f;
    if ((st = st_open(&f, wpath))) goto fail;
    size_t total = denoiser_num_params(&m->net);
    float *host = calloc(total, sizeof(float));
    if (!host) { st_close(&f); st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail; }
    st = model_read_weights(m->net.table, host, &f, "", 1);
    st_close(&f);
    if (!st) ops()->to_device(m->params, host, total * sizeof(float));
    free(host);
    if (st) goto fail;

    snprintf(m->weights_path, sizeof m->weights_path, "%s", wpath);
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    read_lethe_json(m, path);
    if (m->n_trained_classes < 0) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s/lethe.json: \"trained_classes\" must list class indices of the model", dir);
        goto fail;
    }
    if (m->data.n_files < 0) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s/lethe.json: " DATA_RECORD_SHAPE, dir);
        goto fail;
    }
    if (m->one_step_t < 0 || m->one_step_t >= m->sched.num_train_timesteps) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: \"generator\" must be {\"kind\": \"one-step\", \"t_init\": t} with t in "
                        "[1, %d]", path, m->sched.num_train_timesteps - 1);
        goto fail;
    }
    return LETHE_OK;
fail:
    model_free(m);
    return st;
}

// The text-to-image pipeline's model_index.json _class_name: diffusers has no pixel-space
// CLIP-conditioned pipeline (IFPipeline is pixel space but reads T5), so the name is lethe's.
#define TEXT_PIPELINE_CLASS "LetheTextToImagePipeline"

static const char *text_encoder_class(const lethe_model *m) {
    return m->text->enc.cfg.with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel";
}

lethe_status model_save(const lethe_model *m, const float *weights, const char *dir, const char *lethe_json) {
    char path[4096];
    lethe_status st;
    snprintf(path, sizeof path, "%s/unet", dir);
    if ((st = fs_mkdir_p(path))) return st;
    snprintf(path, sizeof path, "%s/scheduler", dir);
    if ((st = fs_mkdir_p(path))) return st;

    snprintf(path, sizeof path, "%s/unet/" WEIGHTS_FILE, dir);
    const char *meta[] = {"format", "pt"};
    if ((st = param_table_write(path, m->net.table, weights, meta, 1))) return st;

    char *cfg = model_net_config(m);
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    st = cfg ? fs_write_text_atomic(path, cfg) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(cfg);
    if (st) return st;

    char *sched = schedule_config_to_json(&m->sched, "DDPMScheduler");
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    st = fs_write_text_atomic(path, sched);
    free(sched);
    if (st) return st;

    snprintf(path, sizeof path, "%s/model_index.json", dir);
    char index[1024];
    if (m->text) {   // the text side, and a pipeline class of lethe's own (docs/text_to_image.md)
        if ((st = text_cond_save(m->text, dir))) return st;
        snprintf(index, sizeof index,
                 "{\n  \"_class_name\": \"" TEXT_PIPELINE_CLASS "\",\n  \"_diffusers_version\": \"0.30.0\",\n"
                 "  \"_lethe_note\": \"pixel space, no VAE: the UNet denoises the %dx%dx%d images themselves; load the "
                 "components one by one (UNet2DConditionModel, subfolder unet; %s, subfolder text_encoder)\",\n"
                 "  \"scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n"
                 "  \"text_encoder\": [\"transformers\", \"%s\"],\n"
                 "  \"tokenizer\": [\"lethe\", \"" TOKENIZER_CLASS "\"],\n"
                 "  \"unet\": [\"diffusers\", \"%s\"]\n}\n",
                 m->net.channels, m->net.size, m->net.size, text_encoder_class(m), text_encoder_class(m), m->net.vt->name);
    } else {
        snprintf(index, sizeof index,
                 "{\n  \"_class_name\": \"DDPMPipeline\",\n  \"_diffusers_version\": \"0.30.0\",\n"
                 "  \"scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n  \"unet\": [\"diffusers\", \"%s\"]\n}\n",
                 m->net.vt->name);
    }
    st = fs_write_text_atomic(path, index);
    if (st) return st;

    // lethe.json: the caller's provenance, with class names and dataset filled in.
    cJSON *r = lethe_json ? cJSON_Parse(lethe_json) : NULL;
    if (!r) r = cJSON_CreateObject();
    if (!cJSON_GetObjectItemCaseSensitive(r, "format")) cJSON_AddStringToObject(r, "format", "lethe-model-1");
    if (!cJSON_GetObjectItemCaseSensitive(r, "dataset")) cJSON_AddStringToObject(r, "dataset", m->dataset);
    cJSON_DeleteItemFromObjectCaseSensitive(r, "class_names");
    cJSON *names = cJSON_AddArrayToObject(r, "class_names");
    // a text-to-image model's prompt classes are a view for one job, not part of the model
    for (int i = 0; m->net.cond.kind == LETHE_COND_CLASS && i < m->n_classes; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(m->class_names[i]));
    cJSON_DeleteItemFromObjectCaseSensitive(r, "trained_classes");
    if (m->n_trained_classes > 0)
        cJSON_AddItemToObject(r, "trained_classes", cJSON_CreateIntArray(m->trained_classes, m->n_trained_classes));
    cJSON_DeleteItemFromObjectCaseSensitive(r, "data");
    if (m->data.dir[0]) cJSON_AddItemToObject(r, "data", data_record_json(&m->data));
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    st = fs_write_text_atomic(path, text);
    free(text);
    return st;
}

char *model_net_config(const lethe_model *m) {
    char *cfg = m->net.vt->config_json ? m->net.vt->config_json(&m->net) : NULL;
    return cfg ? cfg : strdup("{}");
}

int model_null_class(const lethe_model *m) { return m->net.cond.kind == LETHE_COND_CLASS ? m->net.cond.null_class : -1; }

int model_trained_on(const lethe_model *m, int k) {
    if (m->n_trained_classes <= 0) return 1;
    for (int i = 0; i < m->n_trained_classes; i++)
        if (m->trained_classes[i] == k) return 1;
    return 0;
}

void model_set_trained_classes(lethe_model *m, const int *labels, int n) {
    int seen[LETHE_MAX_CLASSES] = {0};
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < LETHE_MAX_CLASSES) seen[labels[i]] = 1;
    m->n_trained_classes = 0;
    for (int k = 0; k < LETHE_MAX_CLASSES; k++)
        if (seen[k]) m->trained_classes[m->n_trained_classes++] = k;
}

lethe_status model_weights_sha256(const lethe_model *m, char hex[65]) {
    if (!m->weights_path[0]) return lethe_fail(LETHE_ERR_ARG, "model has no weights file (it was not loaded from a folder)");
    return sha256_file(m->weights_path, hex);
}
