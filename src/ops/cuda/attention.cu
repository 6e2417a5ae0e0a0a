/*
 * attention.cu: multi-head scaled dot-product attention core, as attention.c:
 *   q, o (n, lq, heads*D), k, v (n, lk, heads*D); head h of token i is channels [h*D, (h+1)*D)
 *   S = scale q k^T (lq, lk), P = softmax over keys (row max subtracted), o = P v;
 *   probs (n, H, lq, lk)
 * Backward: dv += P^T dout, dP = dout v^T, dS = scale P (dP - <P, dP>_row),
 *   dq += dS k, dk += dS^T q.
 * The products are cuBLAS strided-batched GEMMs, one call per head over the samples
 * (a head's rows are C = H*D floats apart, its samples lq*C or lk*C apart); softmax and its
 * backward are one warp per row, row sums in double.
 * Causal: the GEMMs still compute the whole (lq, lk) block (simple; CLIP's 77 tokens are
 * few); the softmax kernels treat keys j > i of row i as -inf: P = 0 and dS = 0 are written
 * there, so the masked scores reach neither o nor any gradient.
 */
#include "ops/cuda/common.cuh"

// keys query row r sees: row r is query i = r % lq of its (sample, head)
static __device__ int keys_seen(size_t r, int lq, int lk, int causal) {
    const int i = (int)(r % (size_t)lq);
    return causal && i + 1 < lk ? i + 1 : lk;
}

// rows (rows, lk) in place: softmax of each row; causal: keys j > i masked (P = 0)
static __global__ void softmax_rows(float *p, size_t rows, int lq, int lk, int causal) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += (size_t)gridDim.x * warps) {
        float *row = p + r * lk;
        const int lim = keys_seen(r, lq, lk, causal);
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
        for (int j = lim + lane; j < lk; j += 32) row[j] = 0.0f;   // masked: exactly 0, as exp(-inf)
    }
}

// ds (rows, lk) = scale * P * (dP - <P, dP>), dP given in ds; causal: 0 at the masked keys
// (written, not computed as 0 * dP, so a non-finite dP there cannot leak)
static __global__ void softmax_rows_bwd(float *ds, const float *p, size_t rows, int lq, int lk, float scale,
                                        int causal) {
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (size_t r = (size_t)blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += (size_t)gridDim.x * warps) {
        float *d = ds + r * lk;
        const float *pr = p + r * lk;
        const int lim = keys_seen(r, lq, lk, causal);
        double dot = 0.0;
        for (int j = lane; j < lim; j += 32) dot += (double)pr[j] * (double)d[j];
        dot = warp_sum(dot);
        const float dotf = (float)__shfl_sync(0xffffffffu, dot, 0);
        for (int j = lane; j < lim; j += 32) d[j] = scale * pr[j] * (d[j] - dotf);
        for (int j = lim + lane; j < lk; j += 32) d[j] = 0.0f;
    }
}

void lethe_cuda_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v, int n, int lq,
                                  int lk, int heads, int head_dim, float scale, int causal) {
    if (n <= 0 || lq <= 0 || lk <= 0 || heads <= 0) return;
    const int D = head_dim, C = heads * D;
    const long long sq = (long long)lq * C, sk = (long long)lk * C, sp = (long long)heads * lq * lk;
    const size_t ph = (size_t)lq * lk;   // one head's block of probs
    for (int h = 0; h < heads; h++)   // S_h = scale q_h k_h^T
        gemm_rm_batched("attention_forward", 0, 1, lq, lk, D, scale, q + (size_t)h * D, C, sq, k + (size_t)h * D, C, sk,
                        0.0f, probs + h * ph, lk, sp, n);
    const size_t rows = (size_t)n * heads * lq;
    softmax_rows<<<grid_for_warps(rows), LETHE_CUDA_THREADS>>>(probs, rows, lq, lk, causal);
    for (int h = 0; h < heads; h++)   // o_h = P_h v_h
        gemm_rm_batched("attention_forward", 0, 0, lq, D, lk, 1.0f, probs + h * ph, lk, sp, v + (size_t)h * D, C,
                        sk, 0.0f, o + (size_t)h * D, C, sq, n);
    cuda_check_launch("attention_forward");
}

void lethe_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                   const float *v, const float *probs, int n, int lq, int lk, int heads, int head_dim,
                                   float scale, int causal) {
    if ((!dq && !dk && !dv) || n <= 0 || lq <= 0 || lk <= 0 || heads <= 0) return;
    const int D = head_dim, C = heads * D;
    const long long sq = (long long)lq * C, sk = (long long)lk * C, sp = (long long)heads * lq * lk;
    const size_t ph = (size_t)lq * lk;
    if (dv)
        for (int h = 0; h < heads; h++)   // dv_h += P_h^T dout_h
            gemm_rm_batched("attention_backward", 1, 0, lk, D, lq, 1.0f, probs + h * ph, lk, sp,
                            dout + (size_t)h * D, C, sq, 1.0f, dv + (size_t)h * D, C, sk, n);
    if (!dq && !dk) {
        cuda_check_launch("attention_backward");
        return;
    }
    const size_t rows = (size_t)n * heads * lq, bytes = rows * lk * sizeof(float);
    float *ds = (float *)cuda_scratch(bytes);
    if (!ds) {
        cuda_poison(dq, (size_t)n * lq * C, "attention_backward", bytes);
        cuda_poison(dk, (size_t)n * lk * C, "attention_backward", bytes);
        return;
    }
    for (int h = 0; h < heads; h++)   // dP_h = dout_h v_h^T, laid out like probs
        gemm_rm_batched("attention_backward", 0, 1, lq, lk, D, 1.0f, dout + (size_t)h * D, C, sq, v + (size_t)h * D, C,
                        sk, 0.0f, ds + h * ph, lk, sp, n);
    softmax_rows_bwd<<<grid_for_warps(rows), LETHE_CUDA_THREADS>>>(ds, probs, rows, lq, lk, scale, causal);
    for (int h = 0; h < heads; h++) {
        if (dq)   // dq_h += dS_h k_h
            gemm_rm_batched("attention_backward", 0, 0, lq, D, lk, 1.0f, ds + h * ph, lk, sp,
                            k + (size_t)h * D, C, sk, 1.0f, dq + (size_t)h * D, C, sq, n);
        if (dk)   // dk_h += dS_h^T q_h
            gemm_rm_batched("attention_backward", 1, 0, lk, D, lq, 1.0f, ds + h * ph, lk, sp,
                            q + (size_t)h * D, C, sq, 1.0f, dk + (size_t)h * D, C, sk, n);
    }
    cuda_check_launch("attention_backward");
}
