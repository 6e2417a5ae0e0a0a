/*
 * model.c: lethe_model handles: the library's own lethe_model (diffusion/model.h), behind
 * the public header's opaque typedef of the same struct tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "diffusion/model.h"
#include "lethe.h"

lethe_status lethe_model_load(lethe_model **out, const char *dir) {
    if (!out || !dir) return lethe_fail(LETHE_ERR_ARG, "lethe_model_load: NULL argument");
    *out = NULL;
    lethe_model *m = malloc(sizeof *m);
    if (!m) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = model_load(m, dir);
    if (st) { free(m); return st; }
    *out = m;
    return LETHE_OK;
}

// The lethe.json beside the weights model_load read: DIR/unet/weights -> DIR/lethe.json,
// a bare folder DIR/weights -> DIR/lethe.json. NULL (no provenance to keep) if there is none.
static char *source_provenance(const lethe_model *m) {
    char dir[sizeof m->weights_path], path[sizeof m->weights_path + 32];
    snprintf(dir, sizeof dir, "%s", m->weights_path);
    char *slash = strrchr(dir, '/');
    if (!slash) return NULL;
    *slash = 0;
    const char *last = strrchr(dir, '/');
    if (!strcmp(last ? last + 1 : dir, "unet")) {
        if (last) dir[last - dir] = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(path, sizeof path, "%s/lethe.json", dir);
    char *text = NULL;
    if (!fs_exists(path) || fs_read_text(path, &text)) return NULL;
    return text;
}

lethe_status lethe_model_save(const lethe_model *m, const char *dir) {
    if (!m || !dir) return lethe_fail(LETHE_ERR_ARG, "lethe_model_save: NULL argument");
    char *prov = source_provenance(m);
    lethe_status st = model_save(m, m->params, dir, prov);
    free(prov);
    return st;
}

void lethe_model_free(lethe_model *m) {
    if (!m) return;
    model_free(m);
    free(m);
}

int lethe_model_num_classes(const lethe_model *m) { return m->n_classes; }

const char *lethe_model_class_name(const lethe_model *m, int k) {
    return k >= 0 && k < m->n_classes ? m->class_names[k] : NULL;
}

lethe_status lethe_model_class_index(const lethe_model *m, const char *name_or_index, int *out) {
    if (!m || !name_or_index || !out) return lethe_fail(LETHE_ERR_ARG, "lethe_model_class_index: NULL argument");
    return model_class_index(m, name_or_index, out);
}

const char *lethe_model_method(const lethe_model *m) { return m->method; }
int lethe_model_channels(const lethe_model *m) { return m->net.channels; }
int lethe_model_image_size(const lethe_model *m) { return m->net.size; }
size_t lethe_model_num_params(const lethe_model *m) { return denoiser_num_params(&m->net); }
