/*
 * finetune.c: fine-tune on the retain set (methods spec 7.2, SalUn lineage): minimise
 * L_simple(theta; D_r) from the parent for a short budget. Forgetting happens only through
 * catastrophic forgetting, which is why it is the weakest baseline.
 * Defaults: lr 1e-4 (as SalUn), 1000 steps.
 */
#include "unlearn/unlearn_internal.h"

static lethe_status ft_step(unlearn_ctx *u, int step) {
    double l;
    lethe_status st = unlearn_dsm(u, &u->retain_set, step, STREAM_RETAIN, u->o->batch, UNLEARN_CLASS_DROPOUT, 1.0f, &l);
    u->loss = l;
    return st;
}

const unlearn_method unlearn_finetune = {
    .name = "finetune",
    .summary = "fine-tune on the retain set (forgetting by catastrophic forgetting only)",
    .needs_retain = 1,
    .default_lr = 1e-4f,
    .default_steps = 1000,
    .step = ft_step,
};
