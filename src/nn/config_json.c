/* config_json.c: optional config.json keys (see config_json.h). */
#include "nn/config_json.h"

lethe_status config_json_float(const cJSON *root, const char *key, float *out, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    if (!cJSON_IsNumber(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be a number", what, key);
    *out = (float)v->valuedouble;
    return LETHE_OK;
}

lethe_status config_json_bool(const cJSON *root, const char *key, int *out, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LETHE_OK;
    if (!cJSON_IsBool(v)) return lethe_fail(LETHE_ERR_FORMAT, "%s: key '%s' must be true or false", what, key);
    *out = cJSON_IsTrue(v);
    return LETHE_OK;
}
