/*
 * attention.cu: multi-head scaled dot-product self-attention core, as attention.c:
 *   q, k, v, o (n, l, heads*D); head h of token i is channels [h*D, (h+1)*D)
 *   S = scale q k^T, P = softmax over keys (row max subtracted), o = P v; probs (n, H, l, l)
 * Backward: dv += P^T dout, dP = dout v^T, dS = scale P (dP - <P, dP>_row),
 *   dq += dS k, dk += dS^T q.
 * The products are cuBLAS strided-batched GEMMs, one call per head over the samples
 * (a head's rows are C = H*D floats apart, its samples l*C apart); softmax and its
 * backward are one warp per row, row sums in double.
 * Causal: the GEMMs still compute the whole (l, l) square (simple; CLIP's l = 77 is small);
 * the softmax kernels treat keys j > i of row i as -inf: P = 0 and dS = 0 are written
 * there, so the masked scores reach neither o nor any gradient.
 */
#include "ops/cuda/common.cuh"

// rows (rows, l) in place: softmax of each row. Row r is query i = r % l of its (sample,
// head); causal: keys j > i are masked (P = 0), the others use lim = i + 1 keys.
static __global__ void softmax_rows(float *p, size_t rows, int l, int causal) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += (size_t)gridDim.x * warps) {
        float *row = p + r * l;
        const int lim = causal ? (int)(r % l) + 1 : l;
        float mx = -INFINITY;
        for (int j = lane; j < lim; j += 32) mx = fmaxf(mx, row[j]);
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        double sum = 0.0;
        for (int j = lane; j < lim; j += 32) {
            const float e = expf(row[j] - mx);
            row[j] = e;
            sum += (double)e;
        }
        sum = warp_sum(sum);
        const float inv = (float)(1.0 / __shfl_sync(0xffffffffu, sum, 0));
        for (int j = lane; j < lim; j += 32) row[j] *= inv;
        for (int j = lim + lane; j < l; j += 32) row[j] = 0.0f;   // masked: exactly 0, as exp(-inf)
    }
}

// ds (rows, l) = scale * P * (dP - <P, dP>), dP given in ds; causal: 0 at the masked keys
// (written, not computed as 0 * dP, so a non-finite dP there cannot leak)
static __global__ void softmax_rows_bwd(float *ds, const float *p, size_t rows, int l, float scale, int causal) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += (size_t)gridDim.x * warps) {
        float *d = ds + r * l;
        const float *pr = p + r * l;
        const int lim = causal ? (int)(r % l) + 1 : l;
        double dot = 0.0;
        for (int j = lane; j < lim; j += 32) dot += (double)pr[j] * (double)d[j];
        dot = warp_sum(dot);
        const float dotf = (float)__shfl_sync(0xffffffffu, dot, 0);
        for (int j = lane; j < lim; j += 32) d[j] = scale * pr[j] * (d[j] - dotf);
        for (int j = lim + lane; j < l; j += 32) d[j] = 0.0f;
    }
}

void lethe_cuda_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v, int n, int l,
                                  int heads, int head_dim, float scale, int causal) {
    if (n <= 0 || l <= 0 || heads <= 0) return;
    const int D = head_dim, C = heads * D;
    const long long sx = (long long)l * C, sp = (long long)heads * l * l;
    for (int h = 0; h < heads; h++)   // S_h = scale q_h k_h^T
        gemm_rm_batched("attention_forward", 0, 1, l, l, D, scale, q + (size_t)h * D, C, sx, k + (size_t)h * D, C, sx,
                        0.0f, probs + (size_t)h * l * l, l, sp, n);
    const size_t rows = (size_t)n * heads * l;
    softmax_rows<<<grid_for_warps(rows), LETHE_CUDA_THREADS>>>(probs, rows, l, causal);
    for (int h = 0; h < heads; h++)   // o_h = P_h v_h
        gemm_rm_batched("attention_forward", 0, 0, l, D, l, 1.0f, probs + (size_t)h * l * l, l, sp, v + (size_t)h * D, C,
                        sx, 0.0f, o + (size_t)h * D, C, sx, n);
    cuda_check_launch("attention_forward");
}

void lethe_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                   const float *v, const float *probs, int n, int l, int heads, int head_dim,
                                   float scale, int causal) {
    if ((!dq && !dk && !dv) || n <= 0 || l <= 0 || heads <= 0) return;
    const int D = head_dim, C = heads * D;
    const long long sx = (long long)l * C, sp = (long long)heads * l * l;
    if (dv)
        for (int h = 0; h < heads; h++)   // dv_h += P_h^T dout_h
            gemm_rm_batched("attention_backward", 1, 0, l, D, l, 1.0f, probs + (size_t)h * l * l, l, sp,
                            dout + (size_t)h * D, C, sx, 1.0f, dv + (size_t)h * D, C, sx, n);
    if (!dq && !dk) {
        cuda_check_launch("attention_backward");
        return;
    }
    const size_t rows = (size_t)n * heads * l, bytes = rows * l * sizeof(float);
    float *ds = (float *)cuda_scratch(bytes);
    if (!ds) {
        cuda_poison(dq, (size_t)n * l * C, "attention_backward", bytes);
        cuda_poison(dk, (size_t)n * l * C, "attention_backward", bytes);
        return;
    }
    for (int h = 0; h < heads; h++)   // dP_h = dout_h v_h^T, laid out like probs
        gemm_rm_batched("attention_backward", 0, 1, l, l, D, 1.0f, dout + (size_t)h * D, C, sx, v + (size_t)h * D, C,
                        sx, 0.0f, ds + (size_t)h * l * l, l, sp, n);
    softmax_rows_bwd<<<grid_for_warps(rows), LETHE_CUDA_THREADS>>>(ds, probs, rows, l, scale, causal);
    for (int h = 0; h < heads; h++) {
        if (dq)   // dq_h += dS_h k_h
            gemm_rm_batched("attention_backward", 0, 0, l, D, l, 1.0f, ds + (size_t)h * l * l, l, sp,
                            k + (size_t)h * D, C, sx, 1.0f, dq + (size_t)h * D, C, sx, n);
        if (dk)   // dk_h += dS_h^T q_h
            gemm_rm_batched("attention_backward", 1, 0, l, D, l, 1.0f, ds + (size_t)h * l * l, l, sp,
                            q + (size_t)h * D, C, sx, 1.0f, dk + (size_t)h * D, C, sx, n);
    }
    cuda_check_launch("attention_backward");
}
