/* clip_text_config.c: CLIPTextConfig defaults, validation and config.json (see clip_text_config.h). */
#include "nn/clip_text_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "core/numfmt.h"

#define ARCH_PLAIN "CLIPTextModel"
#define ARCH_PROJ "CLIPTextModelWithProjection"

void clip_text_config_default(clip_text_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 49408;
    c->hidden_size = 512;
    c->intermediate_size = 2048;
    c->projection_dim = 512;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 8;
    c->max_position_embeddings = 77;
    c->layer_norm_eps = 1e-5f;
    c->attention_dropout = 0.0f;
    c->initializer_range = 0.02f;
    c->initializer_factor = 1.0f;
    c->pad_token_id = 1;
    c->bos_token_id = 49406;
    c->eos_token_id = 49407;
    c->with_projection = 0;
}

void clip_text_config_default_small(clip_text_config *c, int vocab_size, int bos_token_id, int eos_token_id,
                                    int pad_token_id) {
    clip_text_config_default(c);
    c->vocab_size = vocab_size;
    c->hidden_size = 64;
    c->intermediate_size = 256;
    c->projection_dim = 64;
    c->num_hidden_layers = 4;
    c->num_attention_heads = 4;
    c->max_position_embeddings = 16;
    c->bos_token_id = bos_token_id;
    c->eos_token_id = eos_token_id;
    c->pad_token_id = pad_token_id;
    c->with_projection = 1;   // the contrastive training needs text_projection
}

lethe_status clip_text_config_validate(const clip_text_config *c) {
#define POSITIVE(field, max)                                                                                      \
    if (c->field < 1 || c->field > (max))                                                                        \
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: " #field " = %d is not in [1, %d]", c->field, (max));
    POSITIVE(vocab_size, 1 << 24)
    POSITIVE(hidden_size, 1 << 16)
    POSITIVE(intermediate_size, 1 << 18)
    POSITIVE(num_hidden_layers, CLIP_TEXT_MAX_LAYERS)
    POSITIVE(num_attention_heads, 1 << 10)
    POSITIVE(max_position_embeddings, 1 << 16)
    if (c->with_projection) { POSITIVE(projection_dim, 1 << 16) }
#undef POSITIVE
    if (c->hidden_size % c->num_attention_heads)
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: hidden_size %d is not a multiple of num_attention_heads %d",
                          c->hidden_size, c->num_attention_heads);
    if (!(c->layer_norm_eps > 0.0f) || !isfinite(c->layer_norm_eps))
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: layer_norm_eps %g must be positive", (double)c->layer_norm_eps);
    if (c->attention_dropout != 0.0f)
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: attention_dropout %g is not supported (lethe's text encoder has "
                          "no dropout; use 0.0)", (double)c->attention_dropout);
    if (!(c->initializer_factor > 0.0f) || !isfinite(c->initializer_factor))
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: initializer_factor %g must be positive",
                          (double)c->initializer_factor);
    if (c->eos_token_id < 0 || c->eos_token_id >= c->vocab_size)
        return lethe_fail(LETHE_ERR_ARG, "CLIP text config: eos_token_id %d is not an id of the vocabulary [0, %d) "
                          "(the pooled output is read at the EOS)", c->eos_token_id, c->vocab_size);
    // bos and pad ids are recorded, not used: the network reads only eos_token_id
    return LETHE_OK;
}

// ---- writing ---------------------------------------------------------------------------------

static void add_id(cJSON *r, const char *key, int id) {
    if (id >= 0) cJSON_AddNumberToObject(r, key, id);
    else cJSON_AddNullToObject(r, key);
}

char *clip_text_config_to_json(const clip_text_config *c) {
    // cJSON keeps insertion order: keys go in sorted order, as transformers' sort_keys=True
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->with_projection ? ARCH_PROJ : ARCH_PLAIN));
    cJSON_AddNumberToObject(r, "attention_dropout", float_as_decimal(c->attention_dropout));
    add_id(r, "bos_token_id", c->bos_token_id);
    add_id(r, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(r, "hidden_act", "quick_gelu");
    cJSON_AddNumberToObject(r, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(r, "initializer_factor", float_as_decimal(c->initializer_factor));
    cJSON_AddNumberToObject(r, "initializer_range", float_as_decimal(c->initializer_range));
    cJSON_AddNumberToObject(r, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(r, "layer_norm_eps", float_as_decimal(c->layer_norm_eps));
    cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddStringToObject(r, "model_type", "clip_text_model");
    cJSON_AddNumberToObject(r, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->num_hidden_layers);
    add_id(r, "pad_token_id", c->pad_token_id);
    cJSON_AddNumberToObject(r, "projection_dim", c->projection_dim);
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

// ---- reading ---------------------------------------------------------------------------------

// An integer key. Absent: an error when required, else *out keeps its default. null: -1 when
// allow_null (the token ids transformers writes as null when unset).
static lethe_status get_int(const cJSON *root, const char *key, int *out, int required, int allow_null,
                            const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (required) return lethe_fail(LETHE_ERR_FORMAT, "%s: required key '%s' is missing", what, key);
        return LETHE_OK;
    }
    if (cJSON_IsNull(v) && allow_null) {
        *out = -1;
        return LETHE_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2147483647.0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be an integer%s", what, key, allow_null ? " or null" : "");
    *out = (int)v->valuedouble;
    return LETHE_OK;
}

static lethe_status get_float(const cJSON *root, const char *key, float *out, int required, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (required) return lethe_fail(LETHE_ERR_FORMAT, "%s: required key '%s' is missing", what, key);
        return LETHE_OK;
    }
    if (!cJSON_IsNumber(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be a number", what, key);
    *out = (float)v->valuedouble;
    return LETHE_OK;
}

// A string key that must equal `want` when present (or always, when required).
static lethe_status check_string(const cJSON *root, const char *key, const char *want, int required, const char *why,
                                 const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (required) return lethe_fail(LETHE_ERR_FORMAT, "%s: required key '%s' is missing", what, key);
        return LETHE_OK;
    }
    if (!cJSON_IsString(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be a string", what, key);
    if (strcmp(v->valuestring, want) != 0)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: %s \"%s\" is not supported (%s)", what, key, v->valuestring, why);
    return LETHE_OK;
}

// architectures: a list whose one entry names the class, which says whether there is a projection
static lethe_status get_architecture(const cJSON *root, int *with_projection, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (!v) return lethe_fail(LETHE_ERR_FORMAT, "%s: required key 'architectures' is missing", what);
    const cJSON *s = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 ? cJSON_GetArrayItem(v, 0) : NULL;
    if (!cJSON_IsString(s))
        return lethe_fail(LETHE_ERR_FORMAT, "%s: key 'architectures' must be a list of one class name "
                          "([\"" ARCH_PLAIN "\"] or [\"" ARCH_PROJ "\"])", what);
    if (strcmp(s->valuestring, ARCH_PLAIN) == 0) *with_projection = 0;
    else if (strcmp(s->valuestring, ARCH_PROJ) == 0) *with_projection = 1;
    else
        return lethe_fail(LETHE_ERR_FORMAT, "%s: architectures [\"%s\"] is not supported (lethe reads " ARCH_PLAIN
                          " and " ARCH_PROJ ")", what, s->valuestring);
    return LETHE_OK;
}

lethe_status clip_text_config_from_json(clip_text_config *c, const char *json_text, const char *what) {
    clip_text_config_default(c);
    cJSON *root = json_text ? cJSON_Parse(json_text) : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", what);
    }
    lethe_status st;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if ((st = get_architecture(root, &c->with_projection, what)) ||
        (st = check_string(root, "model_type", "clip_text_model", 0,
                           "lethe reads a CLIPTextConfig, model_type \"clip_text_model\"", what)) ||
        (st = check_string(root, "hidden_act", "quick_gelu", 1, "lethe implements \"quick_gelu\"", what)) ||
        (st = get_int(root, "vocab_size", &c->vocab_size, 1, 0, what)) ||
        (st = get_int(root, "hidden_size", &c->hidden_size, 1, 0, what)) ||
        (st = get_int(root, "intermediate_size", &c->intermediate_size, 1, 0, what)) ||
        (st = get_int(root, "projection_dim", &c->projection_dim, c->with_projection, 0, what)) ||
        (st = get_int(root, "num_hidden_layers", &c->num_hidden_layers, 1, 0, what)) ||
        (st = get_int(root, "num_attention_heads", &c->num_attention_heads, 1, 0, what)) ||
        (st = get_int(root, "max_position_embeddings", &c->max_position_embeddings, 1, 0, what)) ||
        (st = get_float(root, "layer_norm_eps", &c->layer_norm_eps, 1, what)) ||
        (st = get_float(root, "attention_dropout", &c->attention_dropout, 0, what)) ||
        (st = get_float(root, "initializer_range", &c->initializer_range, 0, what)) ||
        (st = get_float(root, "initializer_factor", &c->initializer_factor, 0, what)) ||
        (st = get_int(root, "eos_token_id", &c->eos_token_id, 1, 0, what)) ||
        (st = get_int(root, "bos_token_id", &c->bos_token_id, 0, 1, what)) ||
        (st = get_int(root, "pad_token_id", &c->pad_token_id, 0, 1, what)))
        goto done;
    if (dtype && !cJSON_IsString(dtype) && !cJSON_IsNull(dtype)) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: key 'torch_dtype' must be a string", what);
        goto done;
    }
    if ((st = clip_text_config_validate(c))) st = lethe_fail_context(st, "%s", what);
done:
    cJSON_Delete(root);
    return st;
}
