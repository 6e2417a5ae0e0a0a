/*
 * attention.c: multi-head scaled dot-product attention core (no projections), as
 * F.scaled_dot_product_attention(q, k, v, scale=scale, is_causal=causal) on heads split
 * from channels; self-attention (lq = lk, the same tokens) or cross-attention (keys and
 * values from another sequence, e.g. a text encoder's hidden states).
 *
 *   q, o (n, lq, heads*head_dim), k, v (n, lk, heads*head_dim); head h of token i is
 *   channels [h*D, (h+1)*D). Per (sample, head): S = scale q k^T (lq, lk), P = softmax over
 *   keys (row max subtracted), o = P v; P saved in probs (n, heads, lq, lk)
 * Causal (CLIP's text encoder): query i sees keys j <= i only (SDPA's top-left alignment):
 * the softmax of row i runs over lim = min(i + 1, lk) keys and P_ij = 0 is stored beyond,
 * PyTorch's -inf mask. With causal = 0, lim = lk.
 * Backward, per (sample, head):
 *   dP = dout v^T,  dS = P * (dP - rowsum(P * dP)),
 *   dq += scale dS k,  dk += scale dS^T q,  dv += P^T dout
 *
 * Threads: OpenMP over (sample, head) pairs; each pair writes only its own channel slice,
 * so there are no races. Per pair the products are single-threaded sgemm calls on the
 * head's strided slices (lda = heads * head_dim; OpenBLAS runs one thread inside the
 * OpenMP region, lethe_cpu_gemm_threads): S = scale q k^T straight into probs, o = P v;
 * backward dP = dout v^T and dS in a per-thread (lq, lk) scratch, then dq += scale dS k,
 * dk += scale dS^T q, dv += P^T dout. Replaced plain loops (axpys over keys), which took a
 * fifth of canvas-tiny's forward time at 256 tokens (docs/text_to_image.md).
 * A causal row is computed in full by the sgemm and then masked: the scores j > i are
 * overwritten with P = 0, so neither o nor any gradient sees them.
 */
#include "ops/cpu/cpu.h"

// o (n, lq, H*D) = softmax(scale q k^T) v per (sample, head); probs (n, H, lq, lk) saved
void lethe_cpu_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                                 int n, int lq, int lk, int heads, int head_dim, float scale, int causal) {
    const int D = head_dim, pairs = n * heads, C = heads * D;
    lethe_cpu_gemm_threads();
    #pragma omp parallel for schedule(dynamic, 1) if ((size_t)pairs * lq * lk * D > LETHE_CPU_PAR_MIN)
    for (int pr = 0; pr < pairs; pr++) {
        const int s = pr / heads, h = pr % heads;
        const size_t qbase = (size_t)s * lq * C + (size_t)h * D;   // query token 0 of this head
        const size_t kbase = (size_t)s * lk * C + (size_t)h * D;   // key token 0
        float *ph = probs + (size_t)pr * lq * lk;
        lethe_cpu_sgemm(false, true, lq, lk, D, scale, q + qbase, C, k + kbase, C, 0.0f, ph, lk);
        for (int i = 0; i < lq; i++) {
            float *row = ph + (size_t)i * lk;
            const int lim = causal && i + 1 < lk ? i + 1 : lk;   // keys this query sees
            float mx = -INFINITY;
            for (int j = 0; j < lim; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j < lim; j++) row[j] = lethe_cpu_expf(row[j] - mx);
            const float inv = (float)(1.0 / lethe_cpu_sum_f64(row, (size_t)lim));
            for (int j = 0; j < lim; j++) row[j] *= inv;
            for (int j = lim; j < lk; j++) row[j] = 0.0f;   // masked: exactly 0, as exp(-inf)
        }
        lethe_cpu_sgemm(false, false, lq, D, lk, 1.0f, ph, lk, v + kbase, C, 0.0f, o + qbase, C);
    }
}

// dq (n, lq, H*D), dk, dv (n, lk, H*D) += gradients given dout (n, lq, H*D) and the saved
// probs; any may be NULL. Causal: the keys j > i of query i have P = 0, so dS = 0 there.
void lethe_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *k, const float *v, const float *probs,
                                  int n, int lq, int lk, int heads, int head_dim, float scale, int causal) {
    if (!dq && !dk && !dv) return;
    (void)causal;   // the saved probs carry the mask
    const int D = head_dim, pairs = n * heads, C = heads * D;
    const size_t per = ((size_t)lq * lk + 15) / 16 * 16;   // one (lq, lk) dS per thread
    const size_t bytes = per * (size_t)lethe_cpu_max_threads() * sizeof(float);
    float *scratch = dq || dk ? lethe_cpu_scratch(bytes) : NULL;
    if ((dq || dk) && !scratch) {
        lethe_cpu_poison(dq, (size_t)n * lq * C, "attention_backward", bytes);
        lethe_cpu_poison(dk, (size_t)n * lk * C, "attention_backward", bytes);
        lethe_cpu_poison(dv, (size_t)n * lk * C, "attention_backward", bytes);
        return;
    }
    lethe_cpu_gemm_threads();
    #pragma omp parallel for schedule(dynamic, 1) if ((size_t)pairs * lq * lk * D > LETHE_CPU_PAR_MIN)
    for (int pr = 0; pr < pairs; pr++) {
        const int s = pr / heads, h = pr % heads;
        const size_t qbase = (size_t)s * lq * C + (size_t)h * D, kbase = (size_t)s * lk * C + (size_t)h * D;
        const float *ph = probs + (size_t)pr * lq * lk, *doh = dout + qbase;
        if (dv)   // dv += P^T dout
            lethe_cpu_sgemm(true, false, lk, D, lq, 1.0f, ph, lk, doh, C, 1.0f, dv + kbase, C);
        if (!dq && !dk) continue;
        float *ds = scratch + per * (size_t)lethe_cpu_thread_id();
        lethe_cpu_sgemm(false, true, lq, lk, D, 1.0f, doh, C, v + kbase, C, 0.0f, ds, lk);   // dP
        for (int i = 0; i < lq; i++) {   // dS_i = P_i * (dP_i - <P_i, dP_i>)
            const float *pi = ph + (size_t)i * lk;
            float *di = ds + (size_t)i * lk;
            const float dot = (float)lethe_cpu_dot_f64(pi, di, (size_t)lk);
            for (int j = 0; j < lk; j++) di[j] = pi[j] * (di[j] - dot);
        }
        if (dq)
            lethe_cpu_sgemm(false, false, lq, D, lk, scale, ds, lk, k + kbase, C, 1.0f, dq + qbase, C);
        if (dk)
            lethe_cpu_sgemm(true, false, lk, D, lq, scale, ds, lk, q + qbase, C, 1.0f, dk + kbase, C);
    }
}
