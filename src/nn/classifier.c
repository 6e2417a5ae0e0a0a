/* classifier.c: the evaluation classifier's config, forward and backward (see classifier.h). */
#include "nn/classifier.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

void classifier_config_default(classifier_config *c, int in_channels, int sample_size, int num_classes) {
    memset(c, 0, sizeof *c);
    c->in_channels = in_channels;
    c->sample_size = sample_size;
    c->n_stages = 3;
    c->block_out_channels[0] = 16;
    c->block_out_channels[1] = 32;
    c->block_out_channels[2] = 64;
    c->feature_dim = 128;
    c->layers_per_block = 1;
    c->norm_num_groups = 8;
    c->num_classes = num_classes;
}

lethe_status classifier_config_validate(const classifier_config *c) {
    if (c->in_channels < 1 || c->in_channels > 16)
        return lethe_fail(LETHE_ERR_ARG, "classifier: in_channels %d is not in [1, 16]", c->in_channels);
    if (c->n_stages < 1 || c->n_stages > CLASSIFIER_MAX_STAGES)
        return lethe_fail(LETHE_ERR_ARG, "classifier: %d stages (1 to %d allowed)", c->n_stages, CLASSIFIER_MAX_STAGES);
    if (c->layers_per_block < 1 || c->layers_per_block > CLASSIFIER_MAX_BLOCKS)
        return lethe_fail(LETHE_ERR_ARG, "classifier: layers_per_block %d (1 to %d allowed)", c->layers_per_block,
                          CLASSIFIER_MAX_BLOCKS);
    if (c->num_classes < 2 || c->num_classes > LETHE_MAX_CLASSES)
        return lethe_fail(LETHE_ERR_ARG, "classifier: num_classes %d (2 to %d allowed)", c->num_classes, LETHE_MAX_CLASSES);
    if (c->sample_size < 4 || c->sample_size > 1024)
        return lethe_fail(LETHE_ERR_ARG, "classifier: sample_size %d is not in [4, 1024]", c->sample_size);
    for (int s = 0; s < c->n_stages; s++) {
        int ch = c->block_out_channels[s];
        if (ch < 1 || c->norm_num_groups < 1 || ch % c->norm_num_groups)
            return lethe_fail(LETHE_ERR_ARG, "classifier: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d",
                              s, ch, c->norm_num_groups);
    }
    if (c->feature_dim < 1 || c->feature_dim > CLASSIFIER_MAX_FEATURES)
        return lethe_fail(LETHE_ERR_ARG, "classifier: feature width %d is not in [1, %d] (wider FID features are unstable at 100 samples per class)",
                          c->feature_dim, CLASSIFIER_MAX_FEATURES);
    return LETHE_OK;
}

// ---- config.json ---------------------------------------------------------------------------------

char *classifier_config_to_json(const classifier_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "_class_name", "LetheClassifier");
    cJSON_AddNumberToObject(root, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(root, "sample_size", c->sample_size);
    cJSON_AddItemToObject(root, "block_out_channels", cJSON_CreateIntArray(c->block_out_channels, c->n_stages));
    cJSON_AddNumberToObject(root, "layers_per_block", c->layers_per_block);
    cJSON_AddNumberToObject(root, "norm_num_groups", c->norm_num_groups);
    cJSON_AddNumberToObject(root, "num_classes", c->num_classes);
    cJSON_AddNumberToObject(root, "feature_dim", c->feature_dim);
    cJSON *names = cJSON_AddArrayToObject(root, "class_names");
    for (int i = 0; i < c->num_classes; i++) cJSON_AddItemToArray(names, cJSON_CreateString(c->class_names[i]));
    cJSON_AddStringToObject(root, "dataset", c->dataset);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static lethe_status json_int(const cJSON *root, const char *key, int *out, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' is missing or not an integer", what, key);
    *out = v->valueint;
    return LETHE_OK;
}

lethe_status classifier_config_from_json(classifier_config *c, const char *text, const char *what) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_Parse(text);
    lethe_status st = LETHE_OK;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", what);
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (!cJSON_IsString(cls) || strcmp(cls->valuestring, "LetheClassifier") != 0) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: not a lethe classifier config (_class_name is not \"LetheClassifier\")", what);
        goto done;
    }
    if ((st = json_int(root, "in_channels", &c->in_channels, what)) ||
        (st = json_int(root, "sample_size", &c->sample_size, what)) ||
        (st = json_int(root, "layers_per_block", &c->layers_per_block, what)) ||
        (st = json_int(root, "norm_num_groups", &c->norm_num_groups, what)) ||
        (st = json_int(root, "num_classes", &c->num_classes, what)) ||
        (st = json_int(root, "feature_dim", &c->feature_dim, what)))
        goto done;
    const cJSON *boc = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (!cJSON_IsArray(boc) || cJSON_GetArraySize(boc) < 1 || cJSON_GetArraySize(boc) > CLASSIFIER_MAX_STAGES) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels must be a list of 1 to %d integers", what,
                        CLASSIFIER_MAX_STAGES);
        goto done;
    }
    c->n_stages = cJSON_GetArraySize(boc);
    for (int i = 0; i < c->n_stages; i++) c->block_out_channels[i] = cJSON_GetArrayItem(boc, i)->valueint;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "class_names");
    if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) != c->num_classes) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: class_names must list num_classes (%d) names", what, c->num_classes);
        goto done;
    }
    for (int i = 0; i < c->num_classes; i++) {
        const cJSON *s = cJSON_GetArrayItem(names, i);
        if (!cJSON_IsString(s)) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: class_names[%d] is not a string", what, i);
            goto done;
        }
        snprintf(c->class_names[i], sizeof c->class_names[i], "%s", s->valuestring);
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "dataset");
    if (cJSON_IsString(ds)) snprintf(c->dataset, sizeof c->dataset, "%s", ds->valuestring);
    st = classifier_config_validate(c);
done:
    cJSON_Delete(root);
    return st;
}

// ---- build -----------------------------------------------------------------------------------------

lethe_status classifier_build(lethe_classifier *m, const classifier_config *cfg) {
    lethe_status st = classifier_config_validate(cfg);
    if (st) return st;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    param_table_init(&m->table);
    param_table *t = &m->table;
    const int G = cfg->norm_num_groups;
    char name[PARAM_NAME_MAX];
    m->conv_in = conv2d_make(t, "conv_in", cfg->in_channels, cfg->block_out_channels[0], 3, 1, 1);
    for (int s = 0; s < cfg->n_stages; s++) {
        int ch = cfg->block_out_channels[s];
        if (s > 0) {
            snprintf(name, sizeof name, "stages.%d.downsample", s);
            m->downsample[s] = conv2d_make(t, name, cfg->block_out_channels[s - 1], ch, 3, 2, 1);
        }
        for (int b = 0; b < cfg->layers_per_block; b++) {
            classifier_block *blk = &m->blocks[s][b];
            snprintf(name, sizeof name, "stages.%d.blocks.%d.norm1", s, b);
            blk->norm1 = group_norm_make(t, name, ch, G, 1e-5f);
            snprintf(name, sizeof name, "stages.%d.blocks.%d.conv1", s, b);
            blk->conv1 = conv2d_make(t, name, ch, ch, 3, 1, 1);
            snprintf(name, sizeof name, "stages.%d.blocks.%d.norm2", s, b);
            blk->norm2 = group_norm_make(t, name, ch, G, 1e-5f);
            snprintf(name, sizeof name, "stages.%d.blocks.%d.conv2", s, b);
            blk->conv2 = conv2d_make(t, name, ch, ch, 3, 1, 1);
        }
    }
    int ch = cfg->block_out_channels[cfg->n_stages - 1], side = cfg->sample_size;
    for (int s = 1; s < cfg->n_stages; s++) side = conv2d_layer_out(&m->downsample[s], side);
    m->norm_out = group_norm_make(t, "norm_out", ch, G, 1e-5f);
    m->fc = linear_make(t, "fc", ch * side * side, cfg->feature_dim);
    m->head = linear_make(t, "head", cfg->feature_dim, cfg->num_classes);
    return LETHE_OK;
}

void classifier_free(lethe_classifier *m) { param_table_free(&m->table); }

int classifier_feature_dim(const lethe_classifier *m) { return m->cfg.feature_dim; }

// ---- forward ---------------------------------------------------------------------------------------

// h (n, ch, side, side) -> new tensor h + conv2(silu(norm2(conv1(silu(norm1(h))))))
static float *block_forward(classifier_block *b, const float *P, const nn_ctx *ctx, const float *x, int n, int ch,
                            int side) {
    lethe_arena *A = ctx->arena;
    const int hw = side * side, G = b->norm1.groups;
    const size_t sz = (size_t)n * ch * hw;
    float *out = arena_floats(A, sz);
    arena_mark_t mark = arena_mark(A);
    float *n1 = arena_floats(A, sz), *a1 = arena_floats(A, sz), *h1 = arena_floats(A, sz);
    float *n2 = arena_floats(A, sz), *a2 = arena_floats(A, sz);
    float *mean1 = arena_floats(A, (size_t)n * G), *rstd1 = arena_floats(A, (size_t)n * G);
    float *mean2 = arena_floats(A, (size_t)n * G), *rstd2 = arena_floats(A, (size_t)n * G);
    if (A->failed) return NULL;
    group_norm_silu_fwd(&b->norm1, P, n1, a1, mean1, rstd1, x, n, hw);
    conv2d_fwd(&b->conv1, P, h1, a1, n, side, side);
    group_norm_silu_fwd(&b->norm2, P, n2, a2, mean2, rstd2, h1, n, hw);
    conv2d_fwd(&b->conv2, P, out, a2, n, side, side);
    ops()->axpbz(out, 1.0f, out, 1.0f, x, sz);
    if (!ctx->train) {
        arena_release(A, mark);
        return out;
    }
    b->x = x;
    b->n1 = n1; b->a1 = a1; b->h1 = h1; b->n2 = n2; b->a2 = a2;
    b->mean1 = mean1; b->rstd1 = rstd1; b->mean2 = mean2; b->rstd2 = rstd2;
    return out;
}

lethe_status classifier_forward(lethe_classifier *m, const float *P, const nn_ctx *ctx, float *logits,
                                float *features, const float *x, int n) {
    const classifier_config *c = &m->cfg;
    lethe_arena *A = ctx->arena;
    arena_mark_t mark = arena_mark(A);
    int side = c->sample_size, ch = c->block_out_channels[0];
    float *h = arena_floats(A, (size_t)n * ch * side * side);
    if (!h) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier activations");
    conv2d_fwd(&m->conv_in, P, h, x, n, side, side);
    for (int s = 0; s < c->n_stages; s++) {
        m->s.stage_in[s] = h;
        if (s > 0) {
            int nside = conv2d_layer_out(&m->downsample[s], side);
            ch = c->block_out_channels[s];
            float *d = arena_floats(A, (size_t)n * ch * nside * nside);
            if (!d) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier activations");
            conv2d_fwd(&m->downsample[s], P, d, h, n, side, side);
            h = d;
            side = nside;
        }
        m->s.stage_hw[s] = side;
        for (int b = 0; b < c->layers_per_block; b++) {
            h = block_forward(&m->blocks[s][b], P, ctx, h, n, ch, side);
            if (!h) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier activations");
        }
    }
    const int hw = side * side, G = m->norm_out.groups, F = c->feature_dim;
    const size_t sz = (size_t)n * ch * hw;
    float *no = arena_floats(A, sz), *ao = arena_floats(A, sz);
    float *fc = arena_floats(A, (size_t)n * F), *f = arena_floats(A, (size_t)n * F);
    float *mean_o = arena_floats(A, (size_t)n * G), *rstd_o = arena_floats(A, (size_t)n * G);
    if (A->failed) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier activations");
    group_norm_silu_fwd(&m->norm_out, P, no, ao, mean_o, rstd_o, h, n, hw);
    linear_fwd(&m->fc, P, fc, ao, n);   // (n, ch, hw) is (n, ch * hw): flattening is free
    ops()->silu_forward(f, fc, (size_t)n * F);
    linear_fwd(&m->head, P, logits, f, n);
    if (features) ops()->copy(features, f, (size_t)n * F);
    m->s.n = n;
    m->s.train = ctx->train;
    if (!ctx->train) {
        arena_release(A, mark);
        return LETHE_OK;
    }
    m->s.x = x;
    m->s.h_last = h; m->s.no = no; m->s.ao = ao; m->s.fc_out = fc; m->s.features = f;
    m->s.mean_o = mean_o; m->s.rstd_o = rstd_o;
    return LETHE_OK;
}

// ---- backward --------------------------------------------------------------------------------------

// dout (n, ch, side, side) -> accumulates into dx and G
static lethe_status block_backward(classifier_block *b, const float *P, float *G, lethe_arena *A, float *dx,
                                   const float *dout, int n, int ch, int side) {
    const int hw = side * side;
    const size_t sz = (size_t)n * ch * hw;
    arena_mark_t mark = arena_mark(A);
    float *d_a2 = arena_zeros(A, sz), *d_n2 = arena_zeros(A, sz), *d_h1 = arena_zeros(A, sz);
    float *d_a1 = arena_zeros(A, sz), *d_n1 = arena_zeros(A, sz);
    if (A->failed) {
        arena_release(A, mark);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier gradients");
    }
    ops()->axpbz(dx, 1.0f, dx, 1.0f, dout, sz);   // the residual path
    conv2d_bwd(&b->conv2, P, G, d_a2, dout, b->a2, n, side, side);
    ops()->silu_backward(d_n2, d_a2, b->n2, sz);
    group_norm_bwd(&b->norm2, P, G, d_h1, d_n2, b->h1, b->mean2, b->rstd2, n, hw);
    conv2d_bwd(&b->conv1, P, G, d_a1, d_h1, b->a1, n, side, side);
    ops()->silu_backward(d_n1, d_a1, b->n1, sz);
    group_norm_bwd(&b->norm1, P, G, dx, d_n1, b->x, b->mean1, b->rstd1, n, hw);
    arena_release(A, mark);
    return LETHE_OK;
}

lethe_status classifier_backward(lethe_classifier *m, const float *P, float *G, lethe_arena *A,
                                 const float *dlogits, float *dx) {
    const classifier_config *c = &m->cfg;
    if (!m->s.train) return lethe_fail(LETHE_ERR_ARG, "classifier_backward needs a training-mode forward first");
    const int n = m->s.n, last = c->n_stages - 1;
    int ch = c->block_out_channels[last], side = m->s.stage_hw[last];
    const int hw = side * side;
    size_t sz = (size_t)n * ch * hw;
    arena_mark_t mark = arena_mark(A);
    const int F = c->feature_dim;
    float *df = arena_zeros(A, (size_t)n * F), *dfc = arena_zeros(A, (size_t)n * F);
    float *d_ao = arena_zeros(A, sz), *d_no = arena_zeros(A, sz), *dh = arena_zeros(A, sz);
    if (A->failed) goto nomem;
    linear_bwd(&m->head, P, G, df, dlogits, m->s.features, n);
    ops()->silu_backward(dfc, df, m->s.fc_out, (size_t)n * F);
    linear_bwd(&m->fc, P, G, d_ao, dfc, m->s.ao, n);
    ops()->silu_backward(d_no, d_ao, m->s.no, sz);
    group_norm_bwd(&m->norm_out, P, G, dh, d_no, m->s.h_last, m->s.mean_o, m->s.rstd_o, n, hw);

    for (int s = last; s >= 0; s--) {
        side = m->s.stage_hw[s];
        ch = c->block_out_channels[s];
        sz = (size_t)n * ch * side * side;
        for (int b = c->layers_per_block - 1; b >= 0; b--) {
            float *dprev = arena_zeros(A, sz);
            if (!dprev) goto nomem;
            lethe_status st = block_backward(&m->blocks[s][b], P, G, A, dprev, dh, n, ch, side);
            if (st) return st;
            dh = dprev;
        }
        // dh is now the gradient of the stage's (downsampled) input
        int in_side = s > 0 ? m->s.stage_hw[s - 1] : c->sample_size;
        int in_ch = s > 0 ? c->block_out_channels[s - 1] : c->block_out_channels[0];
        if (s > 0) {
            float *dprev = arena_zeros(A, (size_t)n * in_ch * in_side * in_side);
            if (!dprev) goto nomem;
            conv2d_bwd(&m->downsample[s], P, G, dprev, dh, m->s.stage_in[s], n, in_side, in_side);
            dh = dprev;
        }
    }
    conv2d_bwd(&m->conv_in, P, G, dx, dh, m->s.x, n, c->sample_size, c->sample_size);
    arena_release(A, mark);
    return LETHE_OK;
nomem:
    arena_release(A, mark);
    return lethe_fail(LETHE_ERR_NOMEM, "out of memory for classifier gradients");
}
