/*
 * config_json.h: readers of optional keys of a network's config.json (diffusers / transformers
 * configs), shared by the config parsers of nn/: an absent key leaves *out unchanged; a key of
 * the wrong type is LETHE_ERR_FORMAT naming `what` (the file) and the key.
 */
#ifndef LETHE_NN_CONFIG_JSON_H
#define LETHE_NN_CONFIG_JSON_H

#include <cjson/cJSON.h>

#include "core/error.h"

lethe_status config_json_float(const cJSON *root, const char *key, float *out, const char *what);
lethe_status config_json_bool(const cJSON *root, const char *key, int *out, const char *what);

#endif
