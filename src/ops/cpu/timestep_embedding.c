/*
 * timestep_embedding.c: sinusoidal timestep embedding, as diffusers'
 * get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift)
 * with max_period 10000 and scale 1.
 *
 *   half = dim/2, f_j = exp(-ln(10000) j / (half - freq_shift)), a_j = t f_j
 *   y = [sin a, cos a], or [cos a, sin a] if flip_sin_to_cos; a zero last column if dim is odd
 * Computed in float in the same order as diffusers (which runs in float32).
 * Backward treats t as continuous: dt += sum_j f_j (dy_sin_j cos a_j - dy_cos_j sin a_j).
 */
#include "ops/cpu/cpu.h"

#include <math.h>

static float freq(int j, int half, float freq_shift) {
    const float exponent = -9.210340371976184f * (float)j / ((float)half - freq_shift);   // -ln(10000) j / (...)
    return expf(exponent);
}

// y (n, dim) from t (n)
void lethe_cpu_timestep_embedding_forward(float *y, const float *t, int n, int dim,
                                          int flip_sin_to_cos, float freq_shift) {
    const int half = dim / 2;
    const int sin_off = flip_sin_to_cos ? half : 0, cos_off = flip_sin_to_cos ? 0 : half;
    for (int i = 0; i < n; i++) {
        float *yr = y + (size_t)i * dim;
        for (int j = 0; j < half; j++) {
            const float a = t[i] * freq(j, half, freq_shift);
            yr[sin_off + j] = sinf(a);
            yr[cos_off + j] = cosf(a);
        }
        if (dim % 2) yr[dim - 1] = 0.0f;
    }
}

// dt (n) += d/dt of sum(dy * y)
void lethe_cpu_timestep_embedding_backward(float *dt, const float *dy, const float *t, int n, int dim,
                                           int flip_sin_to_cos, float freq_shift) {
    if (!dt) return;
    const int half = dim / 2;
    const int sin_off = flip_sin_to_cos ? half : 0, cos_off = flip_sin_to_cos ? 0 : half;
    for (int i = 0; i < n; i++) {
        const float *g = dy + (size_t)i * dim;
        double acc = 0.0;
        for (int j = 0; j < half; j++) {
            const float f = freq(j, half, freq_shift), a = t[i] * f;
            acc += (double)f * ((double)g[sin_off + j] * cos((double)a) - (double)g[cos_off + j] * sin((double)a));
        }
        dt[i] += (float)acc;
    }
}
