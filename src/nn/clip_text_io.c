/* clip_text_io.c: the CLIP text encoder's folder, config.json + model.safetensors (see clip_text.h). */
#include "nn/clip_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/safetensors.h"
#include "nn/param_file.h"
#include "ops/ops.h"

// Old transformers (before 4.31) saved this buffer (int64 0..max_positions-1) in the state
// dict; newer ones do not. It carries nothing lethe needs, so a file may hold it.
#define POSITION_IDS "text_model.embeddings.position_ids"

lethe_status clip_text_save(const lethe_clip_text *m, const char *dir) {
    char path[4096];
    lethe_status st;
    if (!m->params) return lethe_fail(LETHE_ERR_ARG, "clip_text_save: the encoder has no weights (create or load it first)");
    if ((st = fs_mkdir_p(dir))) return st;
    // weights first, config last: a folder with a config has its weights
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "pt"};   // what transformers' save_pretrained writes (and checks on load)
    if ((st = param_table_write(path, &m->table, m->params, meta, 1))) return st;
    char *cfg = clip_text_config_to_json(&m->cfg);
    if (!cfg) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = fs_write_text_atomic(path, cfg);
    free(cfg);
    return st;
}

static void shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    buf[0] = 0;
    for (int d = 0; d < ndim; d++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", d ? ", " : "", (long long)shape[d]);
}

// Every tensor of the table from f into host (exact shapes), and no tensor f has beyond them.
static lethe_status read_weights(const param_table *t, float *host, const st_file *f) {
    char want[96], got[96];
    for (int i = 0; i < t->n; i++) {
        const param_entry *e = &t->entries[i];
        const st_tensor *x = st_find(f, e->name);
        if (!x) return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' the config needs is missing", f->path, e->name);
        int same = x->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = x->shape[d] == e->shape[d];
        if (!same) {
            shape_text(want, sizeof want, e->shape, e->ndim);
            shape_text(got, sizeof got, x->shape, x->ndim);
            return lethe_fail(LETHE_ERR_SHAPE, "%s: tensor '%s' has shape [%s], the config needs [%s]", f->path, e->name,
                              got, want);
        }
        lethe_status st = st_read_f32(f, e->name, host + e->offset, e->numel);
        if (st) return st;
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (strcmp(name, POSITION_IDS) != 0 && !param_table_find(t, name))
            return lethe_fail(LETHE_ERR_FORMAT, "%s: tensor '%s' is not part of the model config.json describes", f->path,
                              name);
    }
    return LETHE_OK;
}

lethe_status clip_text_load(lethe_clip_text *m, const char *dir) {
    char path[4096], *text = NULL;
    lethe_status st;
    memset(m, 0, sizeof *m);
    if (!fs_is_dir(dir)) return lethe_fail(LETHE_ERR_IO, "CLIP text encoder %s: not a directory", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((st = fs_read_text(path, &text))) return st;
    clip_text_config cfg;
    st = clip_text_config_from_json(&cfg, text, path);
    free(text);
    if (st) return st;
    if ((st = clip_text_build(m, &cfg))) return st;
    m->params = ops()->alloc(m->table.total * sizeof(float));
    float *host = calloc(m->table.total, sizeof(float));
    if (!m->params || !host) {
        free(host);
        clip_text_free(m);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for CLIP text encoder weights");
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    if (!(st = st_open(&f, path))) {
        st = read_weights(&m->table, host, &f);
        st_close(&f);
    }
    if (!st) ops()->to_device(m->params, host, m->table.total * sizeof(float));
    free(host);
    if (st) clip_text_free(m);
    return st;
}
