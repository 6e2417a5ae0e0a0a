/* unet_config.c: UNet2DModel configs: named, from/to config.json (diffusers keys). */
#include "nn/unet_config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "core/fsutil.h"
#include "nn/config_json.h"

static void set_defaults(unet_config *c) {
    // diffusers UNet2DModel.__init__ defaults (spec 2.1).
    memset(c, 0, sizeof *c);
    c->sample_size = 0;
    c->in_channels = 3;
    c->out_channels = 3;
    c->n_blocks = 4;
    int boc[4] = {224, 448, 672, 896};
    for (int i = 0; i < 4; i++) c->block_out_channels[i] = boc[i];
    c->down_attn[0] = 0; c->down_attn[1] = c->down_attn[2] = c->down_attn[3] = 1;
    c->up_attn[0] = c->up_attn[1] = c->up_attn[2] = 1; c->up_attn[3] = 0;
    c->layers_per_block = 2;
    c->attention_head_dim = 8;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->add_attention = 1;
    c->has_mid_block = 1;
    c->flip_sin_to_cos = 1;
    c->freq_shift = 0;
    c->mid_block_scale_factor = 1;
    c->downsample_padding = 1;
}

lethe_status unet_config_named(unet_config *c, const char *name) {
    set_defaults(c);
    c->sample_size = 28;
    c->in_channels = c->out_channels = 1;
    c->num_class_embeds = 11;
    if (strcmp(name, "tiny") == 0) {
        c->n_blocks = 2;
        c->block_out_channels[0] = 32; c->block_out_channels[1] = 64;
        c->down_attn[0] = c->down_attn[1] = 0;
        c->up_attn[0] = c->up_attn[1] = 0;
        c->layers_per_block = 1;
        c->attention_head_dim = 0;
        c->norm_num_groups = 8;
        c->add_attention = 0;
        c->dropout = 0.0f;
    } else if (strcmp(name, "small") == 0) {
        c->n_blocks = 3;
        c->block_out_channels[0] = 64; c->block_out_channels[1] = 128; c->block_out_channels[2] = 128;
        c->down_attn[0] = 0; c->down_attn[1] = 0; c->down_attn[2] = 1;
        c->up_attn[0] = 1; c->up_attn[1] = 0; c->up_attn[2] = 0;
        c->layers_per_block = 2;
        c->attention_head_dim = 32;
        c->norm_num_groups = 32;
        c->add_attention = 1;
        c->dropout = 0.1f;
    } else {
        return lethe_fail(LETHE_ERR_ARG, "unknown config '%s' (known: tiny, small, or a path to a config.json)", name);
    }
    return LETHE_OK;
}

int unet_config_time_dim(const unet_config *c) {
    return c->time_embedding_dim > 0 ? c->time_embedding_dim : 4 * c->block_out_channels[0];
}

lethe_status unet_config_validate(const unet_config *c) {
    if (c->n_blocks < 1 || c->n_blocks > UNET_MAX_BLOCKS)
        return lethe_fail(LETHE_ERR_ARG, "block_out_channels must have 1..%d entries (found %d)", UNET_MAX_BLOCKS, c->n_blocks);
    if (c->in_channels < 1 || c->out_channels < 1)
        return lethe_fail(LETHE_ERR_ARG, "in_channels and out_channels must be positive");
    if (c->layers_per_block < 1) return lethe_fail(LETHE_ERR_ARG, "layers_per_block must be >= 1");
    if (c->sample_size < 1) return lethe_fail(LETHE_ERR_ARG, "sample_size must be set (a positive integer)");
    if (c->sample_size % (1 << (c->n_blocks - 1)) != 0)
        return lethe_fail(LETHE_ERR_ARG, "sample_size %d is not divisible by 2^%d (needed for %d down blocks)",
                          c->sample_size, c->n_blocks - 1, c->n_blocks);
    int g = c->norm_num_groups;
    if (g < 1) return lethe_fail(LETHE_ERR_ARG, "norm_num_groups must be positive");
    for (int i = 0; i < c->n_blocks; i++) {
        int ch = c->block_out_channels[i];
        if (ch < 1 || ch % g)
            return lethe_fail(LETHE_ERR_ARG, "block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d", i, ch, g);
        if ((c->down_attn[i] || c->up_attn[i] || (i == c->n_blocks - 1 && c->add_attention)) &&
            c->attention_head_dim > 0 && ch % c->attention_head_dim)
            return lethe_fail(LETHE_ERR_ARG, "attention on %d channels needs attention_head_dim dividing it (got %d)", ch, c->attention_head_dim);
    }
    if (c->attn_norm_num_groups > 0 && c->block_out_channels[c->n_blocks - 1] % c->attn_norm_num_groups)
        return lethe_fail(LETHE_ERR_ARG, "attn_norm_num_groups %d does not divide %d", c->attn_norm_num_groups,
                          c->block_out_channels[c->n_blocks - 1]);
    if (c->num_class_embeds == 1) return lethe_fail(LETHE_ERR_ARG, "num_class_embeds must be 0 (none) or >= 2");
    if (c->dropout < 0 || c->dropout >= 1) return lethe_fail(LETHE_ERR_ARG, "dropout must be in [0, 1)");
    if (unet_config_time_dim(c) < 2) return lethe_fail(LETHE_ERR_ARG, "time embedding too small");
    if (c->block_out_channels[0] < 2) return lethe_fail(LETHE_ERR_ARG, "block_out_channels[0] must be >= 2");
    return LETHE_OK;
}

// ---- JSON ----------------------------------------------------------------------------

static lethe_status get_int(const cJSON *root, const char *key, int *out, int allow_null, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    if (cJSON_IsNull(v)) {
        if (allow_null) { *out = 0; return LETHE_OK; }
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must not be null", what, key);
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && strcmp(key, "sample_size") == 0) {
        int a = cJSON_GetArrayItem(v, 0)->valueint, b = cJSON_GetArrayItem(v, 1)->valueint;
        if (a != b) return lethe_fail(LETHE_ERR_FORMAT, "%s: non-square sample_size [%d, %d] is not supported", what, a, b);
        *out = a;
        return LETHE_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be an integer", what, key);
    *out = (int)v->valuedouble;
    return LETHE_OK;
}

// The string must be one of `allowed` (NULL-terminated), else an error saying lethe supports only those.
static lethe_status check_string(const cJSON *root, const char *key, const char *const *allowed, int allow_null,
                                 const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || (allow_null && cJSON_IsNull(v))) return LETHE_OK;
    if (!cJSON_IsString(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be a string", what, key);
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v->valuestring, allowed[i]) == 0) return LETHE_OK;
    return lethe_fail(LETHE_ERR_FORMAT, "%s: %s = \"%s\" is not supported by lethe (supported: %s)", what, key,
                      v->valuestring, allowed[0]);
}

static lethe_status get_block_types(const cJSON *root, const char *key, int *attn, int *count,
                                    const char *plain, const char *with_attn, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    if (!cJSON_IsArray(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be a list", what, key);
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > UNET_MAX_BLOCKS) return lethe_fail(LETHE_ERR_FORMAT, "%s: '%s' must have 1..%d entries", what, key, UNET_MAX_BLOCKS);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s)) return lethe_fail(LETHE_ERR_FORMAT, "%s: '%s'[%d] must be a string", what, key, i);
        if (strcmp(s->valuestring, plain) == 0) attn[i] = 0;
        else if (strcmp(s->valuestring, with_attn) == 0) attn[i] = 1;
        else
            return lethe_fail(LETHE_ERR_FORMAT, "%s: block type '%s' in '%s' is not supported (supported: %s, %s)", what,
                              s->valuestring, key, plain, with_attn);
    }
    *count = n;
    return LETHE_OK;
}

lethe_status unet_config_from_json(unet_config *c, const char *json_text, const char *what) {
    set_defaults(c);
    cJSON *root = cJSON_Parse(json_text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", what);
    }
    lethe_status st = LETHE_OK;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (cls && cJSON_IsString(cls) && strcmp(cls->valuestring, "UNet2DModel") != 0) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: _class_name is '%s'; lethe reads UNet2DModel", what, cls->valuestring);
        goto done;
    }
    int nd = c->n_blocks, nu = c->n_blocks, nb = c->n_blocks;
    const cJSON *boc = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (boc) {
        if (!cJSON_IsArray(boc) || cJSON_GetArraySize(boc) < 1 || cJSON_GetArraySize(boc) > UNET_MAX_BLOCKS) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels must be a list of 1..%d integers", what, UNET_MAX_BLOCKS);
            goto done;
        }
        nb = cJSON_GetArraySize(boc);
        for (int i = 0; i < nb; i++) {
            const cJSON *e = cJSON_GetArrayItem(boc, i);
            if (!cJSON_IsNumber(e)) { st = lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels[%d] is not a number", what, i); goto done; }
            c->block_out_channels[i] = e->valueint;
        }
    }
    if ((st = get_block_types(root, "down_block_types", c->down_attn, &nd, "DownBlock2D", "AttnDownBlock2D", what))) goto done;
    if ((st = get_block_types(root, "up_block_types", c->up_attn, &nu, "UpBlock2D", "AttnUpBlock2D", what))) goto done;
    if (nd != nb || nu != nb) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: block_out_channels has %d entries but down_block_types %d and up_block_types %d",
                        what, nb, nd, nu);
        goto done;
    }
    c->n_blocks = nb;
    if ((st = get_int(root, "sample_size", &c->sample_size, 0, what))) goto done;
    if ((st = get_int(root, "in_channels", &c->in_channels, 0, what))) goto done;
    if ((st = get_int(root, "out_channels", &c->out_channels, 0, what))) goto done;
    if ((st = get_int(root, "layers_per_block", &c->layers_per_block, 0, what))) goto done;
    if ((st = get_int(root, "attention_head_dim", &c->attention_head_dim, 1, what))) goto done;
    if ((st = get_int(root, "norm_num_groups", &c->norm_num_groups, 0, what))) goto done;
    if ((st = get_int(root, "attn_norm_num_groups", &c->attn_norm_num_groups, 1, what))) goto done;
    if ((st = get_int(root, "num_class_embeds", &c->num_class_embeds, 1, what))) goto done;
    if ((st = get_int(root, "time_embedding_dim", &c->time_embedding_dim, 1, what))) goto done;
    if ((st = get_int(root, "downsample_padding", &c->downsample_padding, 0, what))) goto done;
    if ((st = config_json_float(root, "norm_eps", &c->norm_eps, what))) goto done;
    if ((st = config_json_float(root, "dropout", &c->dropout, what))) goto done;
    if ((st = config_json_float(root, "freq_shift", &c->freq_shift, what))) goto done;
    if ((st = config_json_float(root, "mid_block_scale_factor", &c->mid_block_scale_factor, what))) goto done;
    if ((st = config_json_bool(root, "add_attention", &c->add_attention, what))) goto done;
    if ((st = config_json_bool(root, "flip_sin_to_cos", &c->flip_sin_to_cos, what))) goto done;
    if ((st = config_json_bool(root, "center_input_sample", &c->center_input_sample, what))) goto done;
    {
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "mid_block_type");
        if (mid && cJSON_IsNull(mid)) c->has_mid_block = 0;
        else if ((st = check_string(root, "mid_block_type", (const char *const[]){"UNetMidBlock2D", NULL}, 0, what))) goto done;
    }
    if ((st = check_string(root, "time_embedding_type", (const char *const[]){"positional", NULL}, 0, what))) goto done;
    if ((st = check_string(root, "act_fn", (const char *const[]){"silu", "swish", NULL}, 0, what))) goto done;
    if ((st = check_string(root, "resnet_time_scale_shift", (const char *const[]){"default", NULL}, 0, what))) goto done;
    if ((st = check_string(root, "downsample_type", (const char *const[]){"conv", NULL}, 0, what))) goto done;
    if ((st = check_string(root, "upsample_type", (const char *const[]){"conv", NULL}, 0, what))) goto done;
    if ((st = check_string(root, "class_embed_type", (const char *const[]){"(none)", NULL}, 1, what))) goto done;
    if (c->downsample_padding != 1) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: downsample_padding %d is not supported (only 1)", what, c->downsample_padding);
        goto done;
    }
    st = unet_config_validate(c);
    if (st) st = lethe_fail_context(st, "%s", what);
done:
    cJSON_Delete(root);
    return st;
}

lethe_status unet_config_load(unet_config *c, const char *path) {
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    char *text = malloc(size + 1);
    if (!text) { free(bytes); return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); }
    memcpy(text, bytes, size);
    text[size] = 0;
    free(bytes);
    st = unet_config_from_json(c, text, path);
    free(text);
    return st;
}

char *unet_config_to_json(const unet_config *c) {
    // cJSON keeps insertion order: insert in sorted key order, as diffusers writes.
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "_class_name", "UNet2DModel");
    cJSON_AddStringToObject(r, "_diffusers_version", "0.30.0");
    cJSON_AddStringToObject(r, "act_fn", "silu");
    cJSON_AddBoolToObject(r, "add_attention", c->add_attention);
    if (c->attention_head_dim > 0) cJSON_AddNumberToObject(r, "attention_head_dim", c->attention_head_dim);
    else cJSON_AddNullToObject(r, "attention_head_dim");
    if (c->attn_norm_num_groups > 0) cJSON_AddNumberToObject(r, "attn_norm_num_groups", c->attn_norm_num_groups);
    else cJSON_AddNullToObject(r, "attn_norm_num_groups");
    cJSON *boc = cJSON_AddArrayToObject(r, "block_out_channels");
    for (int i = 0; i < c->n_blocks; i++) cJSON_AddItemToArray(boc, cJSON_CreateNumber(c->block_out_channels[i]));
    cJSON_AddBoolToObject(r, "center_input_sample", c->center_input_sample);
    cJSON_AddNullToObject(r, "class_embed_type");
    cJSON *down = cJSON_AddArrayToObject(r, "down_block_types");
    for (int i = 0; i < c->n_blocks; i++)
        cJSON_AddItemToArray(down, cJSON_CreateString(c->down_attn[i] ? "AttnDownBlock2D" : "DownBlock2D"));
    cJSON_AddNumberToObject(r, "downsample_padding", c->downsample_padding);
    cJSON_AddStringToObject(r, "downsample_type", "conv");
    cJSON_AddNumberToObject(r, "dropout", float_as_decimal(c->dropout));
    cJSON_AddBoolToObject(r, "flip_sin_to_cos", c->flip_sin_to_cos);
    cJSON_AddNumberToObject(r, "freq_shift", float_as_decimal(c->freq_shift));
    cJSON_AddNumberToObject(r, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(r, "layers_per_block", c->layers_per_block);
    cJSON_AddNumberToObject(r, "mid_block_scale_factor", float_as_decimal(c->mid_block_scale_factor));
    if (c->has_mid_block) cJSON_AddStringToObject(r, "mid_block_type", "UNetMidBlock2D");
    else cJSON_AddNullToObject(r, "mid_block_type");
    cJSON_AddNumberToObject(r, "norm_eps", float_as_decimal(c->norm_eps));
    cJSON_AddNumberToObject(r, "norm_num_groups", c->norm_num_groups);
    if (c->num_class_embeds > 0) cJSON_AddNumberToObject(r, "num_class_embeds", c->num_class_embeds);
    else cJSON_AddNullToObject(r, "num_class_embeds");
    cJSON_AddNullToObject(r, "num_train_timesteps");
    cJSON_AddNumberToObject(r, "out_channels", c->out_channels);
    cJSON_AddStringToObject(r, "resnet_time_scale_shift", "default");
    cJSON_AddNumberToObject(r, "sample_size", c->sample_size);
    if (c->time_embedding_dim > 0) cJSON_AddNumberToObject(r, "time_embedding_dim", c->time_embedding_dim);
    else cJSON_AddNullToObject(r, "time_embedding_dim");
    cJSON_AddStringToObject(r, "time_embedding_type", "positional");
    cJSON *up = cJSON_AddArrayToObject(r, "up_block_types");
    for (int i = 0; i < c->n_blocks; i++)
        cJSON_AddItemToArray(up, cJSON_CreateString(c->up_attn[i] ? "AttnUpBlock2D" : "UpBlock2D"));
    cJSON_AddStringToObject(r, "upsample_type", "conv");
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}
