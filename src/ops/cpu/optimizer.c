/*
 * optimizer.c: AdamW and EMA on flat parameter buffers.
 *
 * AdamW follows PyTorch's torch.optim.AdamW single-tensor path (_single_tensor_adam,
 * non-capturable), in the same float operations and order:
 *   p *= 1 - lr wd                                  (decoupled weight decay, first)
 *   m = lerp(m, g, 1 - b1)                          (= b1 m + (1 - b1) g)
 *   v = b2 v + (1 - b2) g^2
 *   p -= (lr / (1 - b1^step)) m / (sqrt(v) / sqrt(1 - b2^step) + eps)
 * with bias corrections computed in double as Python does. g = grad * grad_scale.
 * Elements with mask[i] == 0 are left untouched (p, m and v).
 */
#include "ops/cpu/cpu.h"

#include <math.h>

// p, m, v (n) updated in place from g (n); step counts from 1
void lethe_cpu_adamw_step(float *p, const float *g, float *m, float *v, const float *mask, size_t n,
                          float lr, float beta1, float beta2, float eps, float weight_decay,
                          int step, float grad_scale) {
    const double bc1 = 1.0 - pow((double)beta1, step), bc2 = 1.0 - pow((double)beta2, step);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    const float w1 = 1.0f - beta1, w2 = 1.0f - beta2;
    const int lerp_low = fabsf(w1) < 0.5f;   // torch.lerp's two formulas (weight < 0.5 or not)
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) continue;
        const float gi = g[i] * grad_scale;
        const float pi = p[i] * decay;
        const float mi = lerp_low ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * (1.0f - w1);
        const float vi = v[i] * beta2 + w2 * gi * gi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (-step_size * mi) / denom;   // addcdiv_: self + (value * t1) / t2
    }
}

// ema (n) = decay ema + (1 - decay) p
void lethe_cpu_ema_update(float *ema, const float *p, size_t n, float decay) {
    const float w = 1.0f - decay;
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) ema[i] = decay * ema[i] + w * p[i];
}
