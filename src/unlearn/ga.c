/*
 * ga.c: gradient ascent (methods spec 7.3, saliency_unlearn --method ga):
 *   L = -L_simple(theta; D_f) + alpha * L_simple(theta; D_r)
 * Forget images keep their class label. The pure form (alpha = 0) diverges quickly; the
 * code default alpha = 1 (--retain-weight, was --alpha) is ours too (SalUn's README uses
 * 1e-3). Defaults: lr 1e-5, 200 steps.
 */
#include <stddef.h>

#include "unlearn/unlearn_internal.h"

typedef struct {
    float retain_weight;   // alpha
} ga_opts;

static const opt_spec ga_options[] = {
    {"retain-weight", "alpha", OPT_FLOAT, offsetof(ga_opts, retain_weight), {.f = 1.0f},
     "weight alpha of the retain denoising term (0: pure ascent, which diverges quickly)"},
};

static lethe_status ga_step(unlearn_ctx *u, int step) {
    const float alpha = ((const ga_opts *)u->mopt)->retain_weight;
    double lf = 0, lr = 0;
    lethe_status st = unlearn_dsm(u, &u->forget_set, step, STREAM_FORGET, u->o->batch, 0.0f, -1.0f, &lf);
    if (!st && alpha > 0)
        st = unlearn_dsm(u, &u->retain_set, step, STREAM_RETAIN, u->o->batch, UNLEARN_CLASS_DROPOUT, alpha, &lr);
    u->loss = -lf + alpha * lr;
    unlearn_log_part(u, "forget_dsm", lf);
    unlearn_log_part(u, "retain_dsm", lr);
    return st;
}

const unlearn_method unlearn_ga = {
    .name = "ga",
    .summary = "gradient ascent on the forget set plus alpha x the retain denoising loss",
    .needs_retain = 1,
    .needs_forget_data = 1,
    .default_lr = 1e-5f,
    .default_steps = 200,
    .step = ga_step,
    UNLEARN_OPTIONS(ga_options, ga_opts),
};
