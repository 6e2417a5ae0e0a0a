/*
 * attention.c: multi-head scaled dot-product attention core (no projections), as
 * F.scaled_dot_product_attention(q, k, v, scale=scale, is_causal=causal) on heads split
 * from channels; self-attention (lq = lk, the same tokens) or cross-attention (keys and
 * values from another sequence, e.g. a text encoder's hidden states).
 *
 *   q, o (n, lq, heads*head_dim), k, v (n, lk, heads*head_dim); head h of token i is
 *   channels [h*D, (h+1)*D). Per (sample, head): S = scale q k^T (lq, lk), P = softmax over
 *   keys (row max subtracted), o = P v; P saved in probs (n, heads, lq, lk)
 * Causal (CLIP's text encoder): query i sees keys j <= i only (SDPA's top-left alignment).
 * Every loop over keys stops at lim = min(i + 1, lk), and P_ij = 0 is stored beyond: the
 * -inf mask of PyTorch without computing the masked scores, and no gradient reaches them
 * since backward stops at lim too. With causal = 0, lim = lk.
 * Backward, row i of P at a time (so no (l, l) temporary):
 *   dP_i = dout_i v^T,  dS_i = P_i * (dP_i - <P_i, dP_i>),
 *   dq_i += scale dS_i k,  dk_j += scale dS_ij q_i,  dv_j += P_ij dout_i
 *
 * Threads: OpenMP over (sample, head) pairs; each pair writes only its own channel slice,
 * so there are no races. The per-head matrices are small (lq, lk <= a few hundred, D <= 64 in
 * the models lethe trains), too small for sgemm calls to pay off, so the products are
 * plain loops written as axpys over a contiguous dimension (they vectorise without
 * -ffast-math).
 * K (forward) and V (backward) of the pair are first transposed to (D, lk) in scratch so
 * the score row is an axpy over keys.
 */
#include "ops/cpu/cpu.h"

// floats of scratch per thread: a (D, lk) transpose and one row of lk, rounded to 64 bytes
static size_t per_thread_floats(int l, int d) { return ((size_t)d * l + (size_t)l + 15) / 16 * 16; }

// dst (D, l) = src rows j < l of D floats with row stride ld, transposed
static void transpose_head(float *dst, const float *src, int l, int d, size_t ld) {
    for (int j = 0; j < l; j++)
        for (int c = 0; c < d; c++) dst[(size_t)c * l + j] = src[(size_t)j * ld + c];
}

// row (lim) = sum_c a[c] * bt[c, :lim] with bt (D, l)
static void row_times_t(float *row, const float *a, const float *bt, int lim, int l, int d) {
    for (int j = 0; j < lim; j++) row[j] = 0.0f;
    for (int c = 0; c < d; c++) {
        const float ac = a[c];
        const float *b = bt + (size_t)c * l;
        for (int j = 0; j < lim; j++) row[j] += ac * b[j];
    }
}

// o (n, lq, H*D) = softmax(scale q k^T) v per (sample, head); probs (n, H, lq, lk) saved
void lethe_cpu_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                                 int n, int lq, int lk, int heads, int head_dim, float scale, int causal) {
    const int D = head_dim, pairs = n * heads;
    const size_t C = (size_t)heads * D, per = per_thread_floats(lk, D);
    const size_t bytes = per * (size_t)lethe_cpu_max_threads() * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) {
        lethe_cpu_poison(o, (size_t)n * lq * C, "attention_forward", bytes);
        return;
    }
    #pragma omp parallel for schedule(dynamic, 1) if ((size_t)pairs * lq * lk * D > LETHE_CPU_PAR_MIN)
    for (int pr = 0; pr < pairs; pr++) {
        const int s = pr / heads, h = pr % heads;
        float *kt = scratch + per * (size_t)lethe_cpu_thread_id();
        const size_t qbase = (size_t)s * lq * C + (size_t)h * D;   // query token 0 of this head
        const size_t kbase = (size_t)s * lk * C + (size_t)h * D;   // key token 0
        const float *qh = q + qbase, *kh = k + kbase, *vh = v + kbase;
        float *oh = o + qbase, *ph = probs + (size_t)pr * lq * lk;
        transpose_head(kt, kh, lk, D, C);
        for (int i = 0; i < lq; i++) {
            float *row = ph + (size_t)i * lk;
            const int lim = causal && i + 1 < lk ? i + 1 : lk;   // keys this query sees
            row_times_t(row, qh + (size_t)i * C, kt, lim, lk, D);
            float mx = -INFINITY;
            for (int j = 0; j < lim; j++) {
                row[j] *= scale;
                mx = row[j] > mx ? row[j] : mx;
            }
            for (int j = 0; j < lim; j++) row[j] = lethe_cpu_expf(row[j] - mx);
            const float inv = (float)(1.0 / lethe_cpu_sum_f64(row, (size_t)lim));
            for (int j = 0; j < lim; j++) row[j] *= inv;
            for (int j = lim; j < lk; j++) row[j] = 0.0f;   // masked: exactly 0, as exp(-inf)
            float *oi = oh + (size_t)i * C;
            for (int c = 0; c < D; c++) oi[c] = 0.0f;
            for (int j = 0; j < lim; j++) {
                const float pj = row[j];
                const float *vj = vh + (size_t)j * C;
                for (int c = 0; c < D; c++) oi[c] += pj * vj[c];
            }
        }
    }
}

// dq (n, lq, H*D), dk, dv (n, lk, H*D) += gradients given dout (n, lq, H*D) and the saved
// probs; any may be NULL. Causal: the keys j > i of query i are skipped (their P is 0).
void lethe_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *k, const float *v, const float *probs,
                                  int n, int lq, int lk, int heads, int head_dim, float scale, int causal) {
    if (!dq && !dk && !dv) return;
    const int D = head_dim, pairs = n * heads;
    const size_t C = (size_t)heads * D, per = per_thread_floats(lk, D);
    const size_t bytes = per * (size_t)lethe_cpu_max_threads() * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) {
        lethe_cpu_poison(dq, (size_t)n * lq * C, "attention_backward", bytes);
        lethe_cpu_poison(dk, (size_t)n * lk * C, "attention_backward", bytes);
        lethe_cpu_poison(dv, (size_t)n * lk * C, "attention_backward", bytes);
        return;
    }
    #pragma omp parallel for schedule(dynamic, 1) if ((size_t)pairs * lq * lk * D > LETHE_CPU_PAR_MIN)
    for (int pr = 0; pr < pairs; pr++) {
        const int s = pr / heads, h = pr % heads;
        float *vt = scratch + per * (size_t)lethe_cpu_thread_id();
        float *drow = vt + (size_t)D * lk;
        const size_t qbase = (size_t)s * lq * C + (size_t)h * D, kbase = (size_t)s * lk * C + (size_t)h * D;
        const float *qh = q + qbase, *kh = k + kbase, *vh = v + kbase, *doh = dout + qbase;
        const float *ph = probs + (size_t)pr * lq * lk;
        if (dq || dk) transpose_head(vt, vh, lk, D, C);
        for (int i = 0; i < lq; i++) {
            const float *pi = ph + (size_t)i * lk, *doi = doh + (size_t)i * C;
            const int lim = causal && i + 1 < lk ? i + 1 : lk;
            if (dv)
                for (int j = 0; j < lim; j++) {
                    const float pj = pi[j];
                    float *dvj = dv + kbase + (size_t)j * C;
                    for (int c = 0; c < D; c++) dvj[c] += pj * doi[c];
                }
            if (!dq && !dk) continue;
            row_times_t(drow, doi, vt, lim, lk, D);   // dP_i
            const float dot = (float)lethe_cpu_dot_f64(pi, drow, (size_t)lim);
            for (int j = 0; j < lim; j++) drow[j] = scale * pi[j] * (drow[j] - dot);   // scale dS_i
            if (dq) {
                float *dqi = dq + qbase + (size_t)i * C;
                for (int j = 0; j < lim; j++) {
                    const float g = drow[j];
                    const float *kj = kh + (size_t)j * C;
                    for (int c = 0; c < D; c++) dqi[c] += g * kj[c];
                }
            }
            if (dk) {
                const float *qi = qh + (size_t)i * C;
                for (int j = 0; j < lim; j++) {
                    const float g = drow[j];
                    float *dkj = dk + kbase + (size_t)j * C;
                    for (int c = 0; c < D; c++) dkj[c] += g * qi[c];
                }
            }
        }
    }
}
