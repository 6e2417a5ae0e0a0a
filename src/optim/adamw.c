/* adamw.c: AdamW state, clipping, LR schedules and the EMA decay rule (see adamw.h). */
#include "optim/adamw.h"

#include <math.h>
#include <string.h>

#include "ops/ops.h"

lethe_status adamw_init(adamw_state *o, const adamw_config *cfg, size_t n) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = n;
    o->m = ops()->alloc(n * sizeof(float));
    o->v = ops()->alloc(n * sizeof(float));
    if (!o->m || !o->v) {
        adamw_free(o);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for AdamW moments (%zu parameters)", n);
    }
    return LETHE_OK;
}

void adamw_free(adamw_state *o) {
    ops()->release(o->m);
    ops()->release(o->v);
    o->m = o->v = NULL;
}

void adamw_update(adamw_state *o, float *P, const float *G, const float *mask, float lr, double *grad_norm) {
    double norm = sqrt(ops()->sum_squares(G, o->n));
    float scale = 1.0f;
    // clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when < 1
    if (o->cfg.max_grad_norm > 0) {
        double coef = o->cfg.max_grad_norm / (norm + 1e-6);
        if (coef < 1.0) scale = (float)coef;
    }
    o->step++;
    if (o->cfg.kind == OPTIM_SGD) {
        const lethe_backend *k = ops();
        k->axpbz(o->m, o->cfg.beta1, o->m, scale, G, o->n);                            // buf = b1 buf + g
        if (o->cfg.weight_decay != 0) k->axpbz(o->m, 1.0f, o->m, o->cfg.weight_decay, P, o->n);   // + wd p
        if (mask) k->mul(o->m, o->m, mask, o->n);                                      // frozen: no buffer, no step
        k->axpbz(P, 1.0f, P, -lr, o->m, o->n);
        if (grad_norm) *grad_norm = norm;
        return;
    }
    ops()->adamw_step(P, G, o->m, o->v, mask, o->n, lr, o->cfg.beta1, o->cfg.beta2, o->cfg.eps,
                      o->cfg.weight_decay, o->step, scale);
    if (grad_norm) *grad_norm = norm;
}

float lr_at(lr_schedule kind, float base_lr, int step, int warmup, int total) {
    if (step < warmup) return base_lr * (float)(step + 1) / (float)warmup;
    if (kind == LR_CONSTANT || total <= warmup) return base_lr;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    return (float)(base_lr * 0.5 * (1.0 + cos(M_PI * progress)));
}

float ema_decay_at(int step, float inv_gamma, float power, float max_decay) {
    int s = step - 1;
    if (s <= 0) return 0.0f;
    double d = 1.0 - pow(1.0 + s / inv_gamma, -power);
    return (float)(d < max_decay ? d : max_decay);
}
