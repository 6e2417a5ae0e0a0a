/* unet_cond_config.c: UNet2DConditionModel configs from/to config.json (diffusers keys). */
#include "nn/unet_cond_config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/numfmt.h"
#include "nn/config_json.h"
#include "nn/transformer2d.h"

void unet_cond_config_defaults(unet_cond_config *c) {
    // UNet2DConditionModel.__init__ defaults (diffusers 0.40.0.dev0, unet_2d_condition.py)
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 4;
    c->n_blocks = 4;
    const int boc[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = boc[i];
        c->down_cross[i] = i < 3;
        c->up_cross[i] = i > 0;
        c->heads[i] = 8;
    }
    c->layers_per_block = 2;
    c->transformer_layers_per_block = 1;
    c->cross_attention_dim = 1280;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->has_mid_block = 1;
    c->flip_sin_to_cos = 1;
    c->mid_block_scale_factor = 1;
    c->downsample_padding = 1;
}

int unet_cond_config_is_named(const char *name) { return !strcmp(name, "canvas-tiny"); }

lethe_status unet_cond_config_named(unet_cond_config *c, const char *name, int cross_attention_dim) {
    unet_cond_config_defaults(c);
    if (!unet_cond_config_is_named(name))
        return lethe_fail(LETHE_ERR_ARG, "unknown text-to-image config '%s' (known: canvas-tiny, or a path to a "
                          "UNet2DConditionModel config.json)", name);
    c->sample_size = 32;
    c->in_channels = c->out_channels = 3;
    c->n_blocks = 3;
    const int boc[3] = {32, 64, 64}, heads[3] = {1, 2, 2};
    for (int i = 0; i < 3; i++) {
        c->block_out_channels[i] = boc[i];
        c->down_cross[i] = i > 0;       // 32x32: no attention (1024 tokens)
        c->up_cross[i] = i < 2;
        c->heads[i] = heads[i];
    }
    c->heads_as_list = 1;
    c->layers_per_block = 1;
    c->norm_num_groups = 8;
    c->cross_attention_dim = cross_attention_dim;
    return LETHE_OK;
}

int unet_cond_config_time_dim(const unet_cond_config *c) {
    return c->time_embedding_dim > 0 ? c->time_embedding_dim : 4 * c->block_out_channels[0];
}

int unet_cond_down_heads(const unet_cond_config *c, int i) { return c->heads[i]; }
int unet_cond_up_heads(const unet_cond_config *c, int i) { return c->heads[c->n_blocks - 1 - i]; }
int unet_cond_mid_heads(const unet_cond_config *c) { return c->heads[c->n_blocks - 1]; }

lethe_status unet_cond_config_validate(const unet_cond_config *c) {
    if (c->n_blocks < 1 || c->n_blocks > UNET_MAX_BLOCKS)
        return lethe_fail(LETHE_ERR_ARG, "block_out_channels must have 1..%d entries (found %d)", UNET_MAX_BLOCKS,
                          c->n_blocks);
    if (c->in_channels < 1 || c->out_channels < 1) return lethe_fail(LETHE_ERR_ARG, "in_channels and out_channels must be positive");
    if (c->layers_per_block < 1) return lethe_fail(LETHE_ERR_ARG, "layers_per_block must be >= 1");
    if (c->transformer_layers_per_block < 1 || c->transformer_layers_per_block > T2D_MAX_LAYERS)
        return lethe_fail(LETHE_ERR_ARG, "transformer_layers_per_block must be 1..%d (got %d)", T2D_MAX_LAYERS,
                          c->transformer_layers_per_block);
    if (c->cross_attention_dim < 1) return lethe_fail(LETHE_ERR_ARG, "cross_attention_dim must be positive");
    if (c->sample_size < 1) return lethe_fail(LETHE_ERR_ARG, "sample_size must be set (a positive integer)");
    if (c->sample_size % (1 << (c->n_blocks - 1)) != 0)
        return lethe_fail(LETHE_ERR_ARG, "sample_size %d is not divisible by 2^%d (needed for %d down blocks)",
                          c->sample_size, c->n_blocks - 1, c->n_blocks);
    int g = c->norm_num_groups;
    if (g < 1) return lethe_fail(LETHE_ERR_ARG, "norm_num_groups must be positive");
    for (int i = 0; i < c->n_blocks; i++) {
        int ch = c->block_out_channels[i];
        if (ch < 1 || ch % g)
            return lethe_fail(LETHE_ERR_ARG, "block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d",
                              i, ch, g);
        if (c->heads[i] < 1) return lethe_fail(LETHE_ERR_ARG, "attention_head_dim[%d] must be a positive number of heads", i);
    }
    // every transformer: its channels divide into its heads
    for (int i = 0; i < c->n_blocks; i++) {
        int ch = c->block_out_channels[i], hd = unet_cond_down_heads(c, i);
        if (c->down_cross[i] && ch % hd)
            return lethe_fail(LETHE_ERR_ARG, "down block %d: %d channels do not split into attention_head_dim = %d heads",
                              i, ch, hd);
        int co = c->block_out_channels[c->n_blocks - 1 - i], hu = unet_cond_up_heads(c, i);
        if (c->up_cross[i] && co % hu)
            return lethe_fail(LETHE_ERR_ARG, "up block %d: %d channels do not split into %d heads (attention_head_dim[%d])",
                              i, co, hu, c->n_blocks - 1 - i);
    }
    if (c->has_mid_block && c->block_out_channels[c->n_blocks - 1] % unet_cond_mid_heads(c))
        return lethe_fail(LETHE_ERR_ARG, "mid block: %d channels do not split into %d heads",
                          c->block_out_channels[c->n_blocks - 1], unet_cond_mid_heads(c));
    if (c->dropout < 0 || c->dropout >= 1) return lethe_fail(LETHE_ERR_ARG, "dropout must be in [0, 1)");
    if (unet_cond_config_time_dim(c) < 2 || c->block_out_channels[0] < 2)
        return lethe_fail(LETHE_ERR_ARG, "time embedding too small");
    return LETHE_OK;
}

// ---- JSON ----------------------------------------------------------------------------

static lethe_status get_int(const cJSON *root, const char *key, int *out, int allow_null, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    if (cJSON_IsNull(v) && allow_null) {
        *out = 0;
        return LETHE_OK;
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && strcmp(key, "sample_size") == 0) {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valueint != b->valueint)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: only a square sample_size is supported", what);
        *out = a->valueint;
        return LETHE_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be an integer%s", what, key,
                          cJSON_IsArray(v) ? " (lethe takes one value for every block)" : "");
    *out = (int)v->valuedouble;
    return LETHE_OK;
}

// keys whose only value lethe computes is the default: absent, or equal to `want` (JSON text)
static lethe_status require_value(const cJSON *root, const char *key, const char *want, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    char *got = cJSON_PrintUnformatted(v);
    int ok = got && strcmp(got, want) == 0;
    // one bool for every block may come as a list of them
    if (!ok && cJSON_IsArray(v) && strcmp(want, "false") == 0) {
        ok = 1;
        for (int i = 0; i < cJSON_GetArraySize(v); i++) ok &= cJSON_IsFalse(cJSON_GetArrayItem(v, i));
    }
    lethe_status st = ok ? LETHE_OK
                         : lethe_fail(LETHE_ERR_FORMAT, "%s: %s = %s is not supported by lethe (only %s)", what, key,
                                      got ? got : "?", want);
    free(got);
    return st;
}

static lethe_status get_block_types(const cJSON *root, const char *key, int *cross, int *count, const char *plain,
                                    const char *with_cross, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n < 1 || n > UNET_MAX_BLOCKS)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: '%s' must be a list of 1..%d block types", what, key, UNET_MAX_BLOCKS);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(v, i);
        if (cJSON_IsString(s) && strcmp(s->valuestring, plain) == 0) cross[i] = 0;
        else if (cJSON_IsString(s) && strcmp(s->valuestring, with_cross) == 0) cross[i] = 1;
        else
            return lethe_fail(LETHE_ERR_FORMAT, "%s: block type %s in '%s' is not supported (supported: %s, %s)", what,
                              cJSON_IsString(s) ? s->valuestring : "(not a string)", key, plain, with_cross);
    }
    *count = n;
    return LETHE_OK;
}

static lethe_status parse(unet_cond_config *c, const cJSON *root, const char *what) {
    lethe_status st;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (cls && cJSON_IsString(cls) && strcmp(cls->valuestring, "UNet2DConditionModel") != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: _class_name is '%s'; expected UNet2DConditionModel", what, cls->valuestring);
    int nb = c->n_blocks, nd = nb, nu = nb;
    const cJSON *boc = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (boc) {
        nb = cJSON_IsArray(boc) ? cJSON_GetArraySize(boc) : 0;
        if (nb < 1 || nb > UNET_MAX_BLOCKS)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels must be a list of 1..%d integers", what, UNET_MAX_BLOCKS);
        for (int i = 0; i < nb; i++) {
            const cJSON *e = cJSON_GetArrayItem(boc, i);
            if (!cJSON_IsNumber(e)) return lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels[%d] is not a number", what, i);
            c->block_out_channels[i] = e->valueint;
        }
    }
    if ((st = get_block_types(root, "down_block_types", c->down_cross, &nd, "DownBlock2D", "CrossAttnDownBlock2D", what)))
        return st;
    if ((st = get_block_types(root, "up_block_types", c->up_cross, &nu, "UpBlock2D", "CrossAttnUpBlock2D", what))) return st;
    if (nd != nb || nu != nb)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels has %d entries but down_block_types %d and up_block_types %d",
                          what, nb, nd, nu);
    c->n_blocks = nb;

    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "attention_head_dim");
    if (h && cJSON_IsArray(h)) {
        if (cJSON_GetArraySize(h) != nb)
            return lethe_fail(LETHE_ERR_FORMAT, "%s: attention_head_dim has %d entries for %d blocks", what,
                              cJSON_GetArraySize(h), nb);
        for (int i = 0; i < nb; i++) {
            const cJSON *e = cJSON_GetArrayItem(h, i);
            if (!cJSON_IsNumber(e)) return lethe_fail(LETHE_ERR_FORMAT, "%s: attention_head_dim[%d] is not a number", what, i);
            c->heads[i] = e->valueint;
        }
        c->heads_as_list = 1;
    } else if (h) {
        int v = 0;
        if ((st = get_int(root, "attention_head_dim", &v, 0, what))) return st;
        for (int i = 0; i < UNET_MAX_BLOCKS; i++) c->heads[i] = v;
        c->heads_as_list = 0;
    } else {
        for (int i = 0; i < UNET_MAX_BLOCKS; i++) c->heads[i] = 8;
    }

    if ((st = get_int(root, "sample_size", &c->sample_size, 1, what))) return st;
    if ((st = get_int(root, "in_channels", &c->in_channels, 0, what))) return st;
    if ((st = get_int(root, "out_channels", &c->out_channels, 0, what))) return st;
    if ((st = get_int(root, "layers_per_block", &c->layers_per_block, 0, what))) return st;
    if ((st = get_int(root, "transformer_layers_per_block", &c->transformer_layers_per_block, 0, what))) return st;
    if ((st = get_int(root, "cross_attention_dim", &c->cross_attention_dim, 0, what))) return st;
    if ((st = get_int(root, "norm_num_groups", &c->norm_num_groups, 0, what))) return st;
    if ((st = get_int(root, "time_embedding_dim", &c->time_embedding_dim, 1, what))) return st;
    if ((st = get_int(root, "downsample_padding", &c->downsample_padding, 0, what))) return st;
    if ((st = config_json_float(root, "norm_eps", &c->norm_eps, what))) return st;
    if ((st = config_json_float(root, "dropout", &c->dropout, what))) return st;
    if ((st = config_json_float(root, "freq_shift", &c->freq_shift, what))) return st;
    if ((st = config_json_float(root, "mid_block_scale_factor", &c->mid_block_scale_factor, what))) return st;
    if ((st = config_json_bool(root, "flip_sin_to_cos", &c->flip_sin_to_cos, what))) return st;
    if ((st = config_json_bool(root, "center_input_sample", &c->center_input_sample, what))) return st;
    if ((st = config_json_bool(root, "use_linear_projection", &c->use_linear_projection, what))) return st;
    if ((st = config_json_bool(root, "upcast_attention", &c->upcast_attention, what))) return st;
    if (c->downsample_padding != 1)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: downsample_padding = %d is not supported (only 1)", what, c->downsample_padding);

    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "mid_block_type");
    if (mid && cJSON_IsNull(mid)) c->has_mid_block = 0;
    else if (mid && !(cJSON_IsString(mid) && strcmp(mid->valuestring, "UNetMidBlock2DCrossAttn") == 0))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: mid_block_type %s is not supported (UNetMidBlock2DCrossAttn or null)", what,
                          cJSON_IsString(mid) ? mid->valuestring : "(not a string)");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "act_fn");
    if (act && !(cJSON_IsString(act) && (strcmp(act->valuestring, "silu") == 0 || strcmp(act->valuestring, "swish") == 0)))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: act_fn must be \"silu\"", what);

    // keys lethe computes only at diffusers' default (those that change the network)
    static const char *const fixed[][2] = {
        {"addition_embed_type", "null"}, {"addition_time_embed_dim", "null"}, {"attention_type", "\"default\""},
        {"class_embed_type", "null"}, {"class_embeddings_concat", "false"}, {"conv_in_kernel", "3"},
        {"conv_out_kernel", "3"}, {"cross_attention_norm", "null"}, {"dual_cross_attention", "false"},
        {"encoder_hid_dim", "null"}, {"encoder_hid_dim_type", "null"}, {"num_attention_heads", "null"},
        {"num_class_embeds", "null"}, {"only_cross_attention", "false"}, {"projection_class_embeddings_input_dim", "null"},
        {"resnet_time_scale_shift", "\"default\""}, {"reverse_transformer_layers_per_block", "null"},
        {"time_cond_proj_dim", "null"}, {"time_embedding_act_fn", "null"}, {"time_embedding_type", "\"positional\""},
        {"timestep_post_act", "null"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if ((st = require_value(root, fixed[i][0], fixed[i][1], what))) return st;
    return LETHE_OK;
}

lethe_status unet_cond_config_from_json(unet_cond_config *c, const char *json_text, const char *what) {
    unet_cond_config_defaults(c);
    cJSON *root = cJSON_Parse(json_text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", what);
    }
    lethe_status st = parse(c, root, what);
    cJSON_Delete(root);
    if (st) return st;
    if ((st = unet_cond_config_validate(c))) return lethe_fail_context(st, "%s", what);
    return LETHE_OK;
}

lethe_status unet_cond_config_load(unet_cond_config *c, const char *path) {
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    char *text = malloc(size + 1);
    if (!text) {
        free(bytes);
        return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(text, bytes, size);
    text[size] = 0;
    free(bytes);
    st = unet_cond_config_from_json(c, text, path);
    free(text);
    return st;
}

static void add_null(cJSON *r, const char *key) { cJSON_AddNullToObject(r, key); }

char *unet_cond_config_to_json(const unet_cond_config *c) {
    // cJSON keeps insertion order: keys in sorted order, as diffusers writes them
    const int nb = c->n_blocks;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "_class_name", "UNet2DConditionModel");
    cJSON_AddStringToObject(r, "_diffusers_version", "0.30.0");
    cJSON_AddStringToObject(r, "act_fn", "silu");
    add_null(r, "addition_embed_type");
    cJSON_AddNumberToObject(r, "addition_embed_type_num_heads", 64);
    add_null(r, "addition_time_embed_dim");
    if (c->heads_as_list) {
        cJSON *h = cJSON_AddArrayToObject(r, "attention_head_dim");
        for (int i = 0; i < nb; i++) cJSON_AddItemToArray(h, cJSON_CreateNumber(c->heads[i]));
    } else {
        cJSON_AddNumberToObject(r, "attention_head_dim", c->heads[0]);
    }
    cJSON_AddStringToObject(r, "attention_type", "default");
    cJSON *boc = cJSON_AddArrayToObject(r, "block_out_channels");
    for (int i = 0; i < nb; i++) cJSON_AddItemToArray(boc, cJSON_CreateNumber(c->block_out_channels[i]));
    cJSON_AddBoolToObject(r, "center_input_sample", c->center_input_sample);
    add_null(r, "class_embed_type");
    cJSON_AddBoolToObject(r, "class_embeddings_concat", 0);
    cJSON_AddNumberToObject(r, "conv_in_kernel", 3);
    cJSON_AddNumberToObject(r, "conv_out_kernel", 3);
    cJSON_AddNumberToObject(r, "cross_attention_dim", c->cross_attention_dim);
    add_null(r, "cross_attention_norm");
    cJSON *down = cJSON_AddArrayToObject(r, "down_block_types");
    for (int i = 0; i < nb; i++)
        cJSON_AddItemToArray(down, cJSON_CreateString(c->down_cross[i] ? "CrossAttnDownBlock2D" : "DownBlock2D"));
    cJSON_AddNumberToObject(r, "downsample_padding", c->downsample_padding);
    cJSON_AddNumberToObject(r, "dropout", float_as_decimal(c->dropout));
    cJSON_AddBoolToObject(r, "dual_cross_attention", 0);
    add_null(r, "encoder_hid_dim");
    add_null(r, "encoder_hid_dim_type");
    cJSON_AddBoolToObject(r, "flip_sin_to_cos", c->flip_sin_to_cos);
    cJSON_AddNumberToObject(r, "freq_shift", float_as_decimal(c->freq_shift));
    cJSON_AddNumberToObject(r, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(r, "layers_per_block", c->layers_per_block);
    add_null(r, "mid_block_only_cross_attention");
    cJSON_AddNumberToObject(r, "mid_block_scale_factor", float_as_decimal(c->mid_block_scale_factor));
    if (c->has_mid_block) cJSON_AddStringToObject(r, "mid_block_type", "UNetMidBlock2DCrossAttn");
    else add_null(r, "mid_block_type");
    cJSON_AddNumberToObject(r, "norm_eps", float_as_decimal(c->norm_eps));
    cJSON_AddNumberToObject(r, "norm_num_groups", c->norm_num_groups);
    add_null(r, "num_attention_heads");
    add_null(r, "num_class_embeds");
    cJSON_AddBoolToObject(r, "only_cross_attention", 0);
    cJSON_AddNumberToObject(r, "out_channels", c->out_channels);
    add_null(r, "projection_class_embeddings_input_dim");
    cJSON_AddNumberToObject(r, "resnet_out_scale_factor", 1.0);
    cJSON_AddBoolToObject(r, "resnet_skip_time_act", 0);
    cJSON_AddStringToObject(r, "resnet_time_scale_shift", "default");
    add_null(r, "reverse_transformer_layers_per_block");
    cJSON_AddNumberToObject(r, "sample_size", c->sample_size);
    add_null(r, "time_cond_proj_dim");
    add_null(r, "time_embedding_act_fn");
    if (c->time_embedding_dim > 0) cJSON_AddNumberToObject(r, "time_embedding_dim", c->time_embedding_dim);
    else add_null(r, "time_embedding_dim");
    cJSON_AddStringToObject(r, "time_embedding_type", "positional");
    add_null(r, "timestep_post_act");
    cJSON_AddNumberToObject(r, "transformer_layers_per_block", c->transformer_layers_per_block);
    cJSON *up = cJSON_AddArrayToObject(r, "up_block_types");
    for (int i = 0; i < nb; i++)
        cJSON_AddItemToArray(up, cJSON_CreateString(c->up_cross[i] ? "CrossAttnUpBlock2D" : "UpBlock2D"));
    cJSON_AddBoolToObject(r, "upcast_attention", c->upcast_attention);
    cJSON_AddBoolToObject(r, "use_linear_projection", c->use_linear_projection);
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}
