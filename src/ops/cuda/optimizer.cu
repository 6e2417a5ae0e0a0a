/*
 * optimizer.cu: AdamW and EMA on flat parameter buffers, as optimizer.c (PyTorch's
 * _single_tensor_adam order of float operations; bias corrections in double on the host).
 * Elements with mask[i] == 0 are left untouched.
 */
#include "ops/cuda/common.cuh"

static __global__ void adamw_kernel(float *p, const float *g, float *m, float *v, const float *mask, size_t n,
                                    float decay, float w1, float beta2, float w2, float step_size, float bc2_sqrt,
                                    float eps, float grad_scale, int lerp_low) {
    CUDA_LOOP(i, n) {
        if (mask && mask[i] == 0.0f) continue;
        const float gi = g[i] * grad_scale;
        const float pi = p[i] * decay;
        const float mi = lerp_low ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * (1.0f - w1);
        const float vi = v[i] * beta2 + w2 * gi * gi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (-step_size * mi) / denom;
    }
}

// p, m, v (n) updated in place from g (n); step counts from 1
void lethe_cuda_adamw_step(float *p, const float *g, float *m, float *v, const float *mask, size_t n, float lr,
                           float beta1, float beta2, float eps, float weight_decay, int step, float grad_scale) {
    if (!n) return;
    const double bc1 = 1.0 - pow((double)beta1, step), bc2 = 1.0 - pow((double)beta2, step);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    const float w1 = 1.0f - beta1, w2 = 1.0f - beta2;
    const int lerp_low = fabsf(w1) < 0.5f;
    adamw_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(p, g, m, v, mask, n, decay, w1, beta2, w2, step_size, bc2_sqrt,
                                                      eps, grad_scale, lerp_low);
    cuda_check_launch("adamw_step");
}

static __global__ void ema_kernel(float *ema, const float *p, size_t n, float decay, float w) {
    CUDA_LOOP(i, n) ema[i] = decay * ema[i] + w * p[i];
}

// ema (n) = decay ema + (1 - decay) p
void lethe_cuda_ema_update(float *ema, const float *p, size_t n, float decay) {
    if (!n) return;
    ema_kernel<<<grid_for(n), LETHE_CUDA_THREADS>>>(ema, p, n, decay, 1.0f - decay);
    cuda_check_launch("ema_update");
}
