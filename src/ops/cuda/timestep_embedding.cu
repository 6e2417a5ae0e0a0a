/*
 * timestep_embedding.cu: diffusers' get_timestep_embedding (max_period 10000), as
 * timestep_embedding.c: half = dim/2, f_j = exp(-ln(10000) j / (half - freq_shift)),
 * a_j = t f_j, y = [sin a, cos a] (or [cos a, sin a]); zero last column for odd dim.
 * Float as diffusers; CUDA's expf/sinf/cosf are within 2 ulp of glibc's (full-range
 * argument reduction: no fast-math intrinsics).
 * Backward treats t as continuous: dt += sum_j f_j (dy_sin_j cos a_j - dy_cos_j sin a_j).
 */
#include "ops/cuda/common.cuh"

static __device__ __forceinline__ float freq_dev(int j, int half, float freq_shift) {
    const float exponent = -9.210340371976184f * (float)j / ((float)half - freq_shift);
    return expf(exponent);
}

static __global__ void temb_fwd(float *y, const float *t, int n, int dim, int flip, float freq_shift) {
    const int half = dim / 2, sin_off = flip ? half : 0, cos_off = flip ? 0 : half;
    const size_t total = (size_t)n * dim;
    CUDA_LOOP(k, total) {
        const size_t i = k / dim;
        const int col = (int)(k - i * dim);
        float v = 0.0f;   // odd dim: the last column
        if (col < 2 * half) {
            const int is_sin = (col >= sin_off && col < sin_off + half);
            const int j = is_sin ? col - sin_off : col - cos_off;
            const float a = t[i] * freq_dev(j, half, freq_shift);
            v = is_sin ? sinf(a) : cosf(a);
        }
        y[k] = v;
    }
}

void lethe_cuda_timestep_embedding_forward(float *y, const float *t, int n, int dim, int flip_sin_to_cos,
                                           float freq_shift) {
    const size_t total = (size_t)n * dim;
    if (!total) return;
    temb_fwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, t, n, dim, flip_sin_to_cos, freq_shift);
    cuda_check_launch("timestep_embedding_forward");
}

static __global__ void temb_bwd(float *dt, const float *dy, const float *t, int n, int dim, int flip,
                                float freq_shift) {
    const int half = dim / 2, sin_off = flip ? half : 0, cos_off = flip ? 0 : half;
    CUDA_LOOP(i, (size_t)n) {
        const float *g = dy + i * dim;
        double acc = 0.0;
        for (int j = 0; j < half; j++) {
            const float f = freq_dev(j, half, freq_shift), a = t[i] * f;
            acc += (double)f * ((double)g[sin_off + j] * cos((double)a) - (double)g[cos_off + j] * sin((double)a));
        }
        dt[i] += (float)acc;
    }
}

void lethe_cuda_timestep_embedding_backward(float *dt, const float *dy, const float *t, int n, int dim,
                                            int flip_sin_to_cos, float freq_shift) {
    if (!dt || n <= 0) return;
    temb_bwd<<<grid_for((size_t)n), LETHE_CUDA_THREADS>>>(dt, dy, t, n, dim, flip_sin_to_cos, freq_shift);
    cuda_check_launch("timestep_embedding_backward");
}
