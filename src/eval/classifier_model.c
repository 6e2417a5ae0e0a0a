/* classifier_model.c: loading, saving and running the evaluation classifier (see classifier_model.h). */
#include "eval/classifier_model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/hash.h"
#include "diffusion/model.h"
#include "io/safetensors.h"
#include "nn/param_file.h"
#include "ops/ops.h"

#define PREDICT_BATCH 256

static lethe_status alloc_params(eval_classifier *c, const classifier_config *cfg) {
    memset(c, 0, sizeof *c);
    c->test_accuracy = -1;
    lethe_status st = classifier_build(&c->net, cfg);
    if (st) return st;
    c->params = ops()->alloc(c->net.table.total * sizeof(float));
    if (!c->params) {
        classifier_free(&c->net);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier weights");
    }
    arena_init(&c->arena);
    return LETHE_OK;
}

lethe_status eval_classifier_create(eval_classifier *c, const classifier_config *cfg, uint64_t seed) {
    lethe_status st = alloc_params(c, cfg);
    if (st) return st;
    size_t total = c->net.table.total;
    float *host = calloc(total, sizeof(float));
    if (!host) {
        eval_classifier_free(c);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    param_table_init_values(&c->net.table, host, seed);
    ops()->to_device(c->params, host, total * sizeof(float));
    free(host);
    return LETHE_OK;
}

void eval_classifier_free(eval_classifier *c) {
    if (c->params) ops()->release(c->params);
    arena_free(&c->arena);
    classifier_free(&c->net);
    memset(c, 0, sizeof *c);
}

double eval_classifier_recorded(const char *dir, const char *key) {
    char path[4096], *text = NULL;
    snprintf(path, sizeof path, "%s/classifier.json", dir);
    if (!fs_exists(path) || fs_read_text(path, &text)) return -1;
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *v = r ? cJSON_GetObjectItemCaseSensitive(r, key) : NULL;
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(r);
    return x;
}

lethe_status eval_classifier_load(eval_classifier *c, const char *dir) {
    char path[4096], *text = NULL;
    lethe_status st;
    memset(c, 0, sizeof *c);
    if (!fs_is_dir(dir)) return lethe_fail(LETHE_ERR_IO, "classifier %s: not a directory (make one with `lethe classifier`)", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((st = fs_read_text(path, &text))) return st;
    classifier_config cfg;
    st = classifier_config_from_json(&cfg, text, path);
    free(text);
    if (st) return st;
    if ((st = alloc_params(c, &cfg))) return st;

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    if ((st = st_open(&f, path))) goto fail;
    size_t total = c->net.table.total;
    float *host = calloc(total, sizeof(float));
    if (!host) {
        st_close(&f);
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    st = model_read_weights(&c->net.table, host, &f, "", 1);
    st_close(&f);
    if (!st) ops()->to_device(c->params, host, total * sizeof(float));
    free(host);
    if (st) goto fail;
    if ((st = sha256_file(path, c->hash))) goto fail;
    c->test_accuracy = eval_classifier_recorded(dir, "test_accuracy");
    return LETHE_OK;
fail:
    eval_classifier_free(c);
    return st;
}

lethe_status eval_classifier_save(eval_classifier *c, const char *dir, const char *report_json) {
    char path[4096];
    lethe_status st;
    if ((st = fs_mkdir_p(dir))) return st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "lethe-classifier-1"};
    if ((st = param_table_write(path, &c->net.table, c->params, meta, 1))) return st;
    if ((st = sha256_file(path, c->hash))) return st;

    char *cfg = classifier_config_to_json(&c->net.cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = cfg ? fs_write_text_atomic(path, cfg) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(cfg);
    if (st || !report_json) return st;
    snprintf(path, sizeof path, "%s/classifier.json", dir);
    return fs_write_text_atomic(path, report_json);
}

// ---- prediction ----------------------------------------------------------------------------------

int argmax_row(const float *p, int k) {
    int best = 0;
    for (int j = 1; j < k; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

// softmax of logit rows, in double for the exponentials' range (host post-processing)
static void softmax_rows(float *p, const float *logits, int n, int k) {
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * k;
        double mx = l[0], sum = 0;
        for (int j = 1; j < k; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < k; j++) sum += exp((double)l[j] - mx);
        for (int j = 0; j < k; j++) p[(size_t)i * k + j] = (float)(exp((double)l[j] - mx) / sum);
    }
}

lethe_status eval_classifier_predict(eval_classifier *c, const float *x, int n, float *probs, float *features,
                                     int batch) {
    const int k = c->net.cfg.num_classes, fd = classifier_feature_dim(&c->net);
    const size_t numel = (size_t)c->net.cfg.in_channels * c->net.cfg.sample_size * c->net.cfg.sample_size;
    if (batch < 1) batch = PREDICT_BATCH;
    int mb = n < batch ? n : batch;
    float *logits_d = ops()->alloc((size_t)mb * k * sizeof(float));
    float *feat_d = ops()->alloc((size_t)mb * fd * sizeof(float));
    float *logits_h = malloc((size_t)mb * k * sizeof(float));
    lethe_status st = LETHE_OK;
    if (!logits_d || !feat_d || !logits_h) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier outputs");
        goto done;
    }
    for (int i0 = 0; i0 < n; i0 += mb) {
        int m = n - i0 < mb ? n - i0 : mb;
        arena_reset(&c->arena);
        nn_ctx ctx = {.arena = &c->arena, .train = 0};
        st = classifier_forward(&c->net, c->params, &ctx, logits_d, features ? feat_d : NULL, x + (size_t)i0 * numel, m);
        if (st) goto done;
        if (probs) {
            ops()->to_host(logits_h, logits_d, (size_t)m * k * sizeof(float));
            softmax_rows(probs + (size_t)i0 * k, logits_h, m, k);
        }
        if (features) ops()->to_host(features + (size_t)i0 * fd, feat_d, (size_t)m * fd * sizeof(float));
    }
done:
    ops()->release(logits_d);
    ops()->release(feat_d);
    free(logits_h);
    return st;
}

lethe_status eval_classifier_predict_dataset(eval_classifier *c, const lethe_dataset *ds, const int *idx, int n,
                                             float *probs, float *features) {
    lethe_status st = eval_classifier_check_compatible(c, ds->c, ds->h, "", ds->name);
    if (st) return st;
    const int k = c->net.cfg.num_classes, fd = classifier_feature_dim(&c->net);
    const size_t numel = (size_t)ds->c * ds->h * ds->w;
    int mb = n < PREDICT_BATCH ? n : PREDICT_BATCH;
    float *xh = malloc((size_t)mb * numel * sizeof(float));
    int *ids = malloc((size_t)mb * sizeof(int)), *labels = malloc((size_t)mb * sizeof(int));
    float *xd = ops()->alloc((size_t)mb * numel * sizeof(float));
    if (!xh || !ids || !labels || !xd) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier inputs");
        goto done;
    }
    for (int i0 = 0; i0 < n; i0 += mb) {
        int m = n - i0 < mb ? n - i0 : mb;
        for (int j = 0; j < m; j++) ids[j] = idx ? idx[i0 + j] : i0 + j;
        dataset_batch(ds, ids, m, xh, labels);
        ops()->to_device(xd, xh, (size_t)m * numel * sizeof(float));
        st = eval_classifier_predict(c, xd, m, probs ? probs + (size_t)i0 * k : NULL,
                                     features ? features + (size_t)i0 * fd : NULL, m);
        if (st) goto done;
    }
done:
    free(xh);
    free(ids);
    free(labels);
    ops()->release(xd);
    return st;
}

lethe_status eval_classifier_accuracy(eval_classifier *c, const lethe_dataset *ds, double *accuracy,
                                      double *per_class) {
    const int k = c->net.cfg.num_classes;
    if (ds->n_classes > k)
        return lethe_fail(LETHE_ERR_ARG, "dataset %s has %d classes, the classifier knows %d", ds->name, ds->n_classes, k);
    float *probs = malloc((size_t)ds->n * k * sizeof(float));
    if (!probs) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = eval_classifier_predict_dataset(c, ds, NULL, ds->n, probs, NULL);
    if (!st) {
        long hit = 0, *cls_hit = calloc((size_t)k, sizeof(long)), *cls_n = calloc((size_t)k, sizeof(long));
        if (!cls_hit || !cls_n) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        for (int i = 0; !st && i < ds->n; i++) {
            int ok = argmax_row(probs + (size_t)i * k, k) == ds->labels[i];
            hit += ok;
            cls_hit[ds->labels[i]] += ok;
            cls_n[ds->labels[i]]++;
        }
        if (!st) {
            *accuracy = ds->n ? (double)hit / ds->n : 0;
            if (per_class)
                for (int j = 0; j < ds->n_classes; j++) per_class[j] = cls_n[j] ? (double)cls_hit[j] / cls_n[j] : NAN;
        }
        free(cls_hit);
        free(cls_n);
    }
    free(probs);
    return st;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    while (s && s[1] == 0) {   // trailing slash: look before it
        if (s == p) return p;
        const char *t = s - 1;
        while (t > p && *t != '/') t--;
        if (*t != '/') return p;
        s = t;
    }
    return s ? s + 1 : p;
}

lethe_status eval_classifier_check_compatible(const eval_classifier *c, int channels, int size, const char *dataset,
                                              const char *what) {
    const classifier_config *cfg = &c->net.cfg;
    if (channels != cfg->in_channels || size != cfg->sample_size)
        return lethe_fail(LETHE_ERR_ARG, "the classifier was trained on %dx%dx%d images (%s) but %s has %dx%dx%d images",
                          cfg->in_channels, cfg->sample_size, cfg->sample_size, cfg->dataset[0] ? cfg->dataset : "unknown data",
                          what, channels, size, size);
    if (dataset && dataset[0] && cfg->dataset[0]) {
        const char *a = base_name(dataset), *b = base_name(cfg->dataset);
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        if (la != lb || strncmp(a, b, la) != 0)
            return lethe_fail(LETHE_ERR_ARG, "the classifier was trained on %s but %s comes from %s: train a classifier on %s "
                              "(`lethe classifier --data %s`)", cfg->dataset, what, dataset, dataset, dataset);
    }
    return LETHE_OK;
}
