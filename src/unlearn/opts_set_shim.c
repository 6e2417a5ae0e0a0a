/*
 * opts_set_shim.c: TEMPORARY unlearn_opts_set (see opts_set_shim.h); the lead replaces it
 * with unlearn.h's own at merge.
 */
#include "unlearn/opts_set_shim.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SHIM_INT, SHIM_FLOAT, SHIM_U64, SHIM_STRING, SHIM_FLAG } shim_type;

static const struct {
    const char *name;
    shim_type type;
    size_t offset;
} shim_opts[] = {
    {"data", SHIM_STRING, offsetof(unlearn_opts, data)},
    {"steps", SHIM_INT, offsetof(unlearn_opts, steps)},
    {"batch", SHIM_INT, offsetof(unlearn_opts, batch)},
    {"lr", SHIM_FLOAT, offsetof(unlearn_opts, lr)},
    {"warmup", SHIM_INT, offsetof(unlearn_opts, warmup)},
    {"weight-decay", SHIM_FLOAT, offsetof(unlearn_opts, weight_decay)},
    {"max-grad-norm", SHIM_FLOAT, offsetof(unlearn_opts, max_grad_norm)},
    {"seed", SHIM_U64, offsetof(unlearn_opts, seed)},
    {"forget-images", SHIM_INT, offsetof(unlearn_opts, forget_images)},
    {"retain-images", SHIM_INT, offsetof(unlearn_opts, retain_images)},
    {"alpha", SHIM_FLOAT, offsetof(unlearn_opts, alpha)},
    {"gamma", SHIM_FLOAT, offsetof(unlearn_opts, gamma)},
    {"lambda", SHIM_FLOAT, offsetof(unlearn_opts, lambda)},
    {"mask-fraction", SHIM_FLOAT, offsetof(unlearn_opts, mask_fraction)},
    {"fisher-samples", SHIM_INT, offsetof(unlearn_opts, fisher_samples)},
    {"replay-samples", SHIM_INT, offsetof(unlearn_opts, replay_samples)},
    {"checkpoints", SHIM_STRING, offsetof(unlearn_opts, checkpoints)},
    {"snapshots", SHIM_STRING, offsetof(unlearn_opts, snapshots)},
    {"surrogate", SHIM_STRING, offsetof(unlearn_opts, surrogate)},
    {"lora-rank", SHIM_INT, offsetof(unlearn_opts, lora_rank)},
    {"timesteps", SHIM_STRING, offsetof(unlearn_opts, timesteps)},
    {"override", SHIM_STRING, offsetof(unlearn_opts, override)},
    {"t-init", SHIM_INT, offsetof(unlearn_opts, t_init)},
    {"checkpoint-every", SHIM_INT, offsetof(unlearn_opts, checkpoint_every)},
    {"log-every", SHIM_INT, offsetof(unlearn_opts, log_every)},
    {"stop-after", SHIM_INT, offsetof(unlearn_opts, stop_after)},
    {"resume", SHIM_FLAG, offsetof(unlearn_opts, resume)},
    {"quiet", SHIM_FLAG, offsetof(unlearn_opts, quiet)},
};

lethe_status unlearn_opts_set(unlearn_opts *o, const char *name, const char *value) {
    int n = (int)(sizeof shim_opts / sizeof shim_opts[0]), i = 0;
    while (i < n && strcmp(shim_opts[i].name, name)) i++;
    if (i == n) return lethe_fail(LETHE_ERR_ARG, "unknown unlearning option '%s'", name);
    char *p = (char *)o + shim_opts[i].offset, *end;
    errno = 0;
    switch (shim_opts[i].type) {
    case SHIM_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v != (int)v) break;
        *(int *)p = (int)v;
        return LETHE_OK;
    }
    case SHIM_FLOAT: {
        float v = strtof(value, &end);
        if (end == value || *end || !isfinite(v)) break;
        *(float *)p = v;
        return LETHE_OK;
    }
    case SHIM_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (*value == '-' || end == value || *end || errno) break;
        *(uint64_t *)p = (uint64_t)v;
        return LETHE_OK;
    }
    case SHIM_STRING: *(const char **)p = value; return LETHE_OK;
    case SHIM_FLAG:
        if (strcmp(value, "0") && strcmp(value, "1")) break;
        *(int *)p = value[0] == '1';
        return LETHE_OK;
    }
    return lethe_fail(LETHE_ERR_ARG, "unlearning option '%s': bad value '%s'", name, value);
}
