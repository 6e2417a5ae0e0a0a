/*
 * ops.h: every numeric op lethe uses, as forward + backward, behind one backend table.
 *
 * Model, sampler, optimizer and method code call ops through `ops()` and never loop
 * over tensor data themselves, so a new backend (CUDA) is a new table and nothing else.
 * The CPU table (ops/cpu/) is the reference implementation.
 *
 * Conventions (llm.c style):
 *   - output pointers first, then inputs, then parameters, then sizes;
 *   - tensors are float32, contiguous, NCHW (or (rows, cols) row-major for linear ops);
 *   - forward ops OVERWRITE their outputs;
 *   - backward ops ACCUMULATE (+=) into every gradient buffer they are given, and any
 *     gradient pointer may be NULL to skip that gradient (e.g. dx of the first conv);
 *   - sizes are int (each dimension < 2^31); products of sizes are size_t.
 *   - ops return nothing: an op that cannot get scratch memory fills its outputs with NaN
 *     and records LETHE_ERR_NOMEM (core/error.h), so the NaN checks of the caller stop the run.
 */
#ifndef LETHE_OPS_H
#define LETHE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

// Shape of one conv2d call. Output is (n, co, oh, ow) with
// oh = (h + 2*pad - kh) / stride + 1, ow likewise (PyTorch's formula, dilation 1).
typedef struct {
    int n, ci, h, w;   // input  (n, ci, h, w)
    int co, kh, kw;    // weight (co, ci, kh, kw), bias (co) or NULL
    int stride, pad;   // same in both directions; zero padding
} conv2d_shape;

static inline int conv2d_out_h(const conv2d_shape *s) { return (s->h + 2 * s->pad - s->kh) / s->stride + 1; }
static inline int conv2d_out_w(const conv2d_shape *s) { return (s->w + 2 * s->pad - s->kw) / s->stride + 1; }

typedef struct lethe_backend {
    const char *name;

    // ---- memory (host pointers for the CPU backend; device pointers for CUDA) ----
    void *(*alloc)(size_t bytes);                 // zero-filled, 64-byte aligned; NULL on failure
    void (*release)(void *p);
    void (*to_device)(void *dst, const void *src_host, size_t bytes);
    void (*to_host)(void *dst_host, const void *src, size_t bytes);
    void (*copy)(float *dst, const float *src, size_t n);
    void (*fill)(float *x, float value, size_t n);

    // ---- convolution: y (n, co, oh, ow) = conv(x, w) + b ----
    void (*conv2d_forward)(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s);
    void (*conv2d_backward)(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, const conv2d_shape *s);

    // ---- group norm (PyTorch nn.GroupNorm): x, y (n, c, hw); mean, rstd (n, groups) saved ----
    // gamma/beta may be NULL (no affine transform).
    void (*group_norm_forward)(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta,
                               int n, int c, int hw, int groups, float eps);
    void (*group_norm_backward)(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw, int groups);

    // ---- SiLU: y = x * sigmoid(x); y may alias x in forward only if backward gets the input elsewhere ----
    void (*silu_forward)(float *y, const float *x, size_t n);
    void (*silu_backward)(float *dx, const float *dy, const float *x, size_t n);

    // ---- layer norm (PyTorch nn.LayerNorm over the last dim): x, y (rows, width); mean, rstd (rows) saved ----
    // Biased variance, eps inside the sqrt; gamma, beta (width) may be NULL (no affine transform).
    void (*layer_norm_forward)(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int rows, int width, float eps);
    void (*layer_norm_backward)(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int rows, int width);

    // ---- QuickGELU (transformers' QuickGELUActivation, CLIP's "quick_gelu"): y = x * sigmoid(1.702 x) ----
    // y may alias x in forward only if backward gets the input elsewhere (as SiLU)
    void (*quick_gelu_forward)(float *y, const float *x, size_t n);
    void (*quick_gelu_backward)(float *dx, const float *dy, const float *x, size_t n);

    // ---- GEGLU (diffusers' feed-forward activation): x (rows, 2w) = [a | b] per row (torch's
    // chunk(2, dim=-1)), y (rows, w) = a * gelu(b) with the exact erf GELU. y must not alias x;
    // backward reads the saved x and accumulates into both halves of dx ----
    void (*geglu_forward)(float *y, const float *x, int rows, int w);
    void (*geglu_backward)(float *dx, const float *dy, const float *x, int rows, int w);

    // ---- linear (nn.Linear): x (m, in), w (out, in), b (out) or NULL, y (m, out) = x w^T + b ----
    void (*linear_forward)(float *y, const float *x, const float *w, const float *b, int m, int in, int out);
    void (*linear_backward)(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int m, int in, int out);

    // ---- embedding (nn.Embedding): y (n, dim) = table[idx[i]]; idx must be in range ----
    void (*embedding_forward)(float *y, const int *idx, const float *table, int n, int dim);
    void (*embedding_backward)(float *dtable, const float *dy, const int *idx, int n, int dim);

    // ---- sinusoidal timestep embedding (diffusers get_timestep_embedding) ----
    // half = dim/2, f_j = exp(-ln(10000) j / (half - freq_shift)), a_j = t f_j,
    // y = [sin a, cos a] or [cos a, sin a] if flip_sin_to_cos; a zero column if dim is odd.
    // Backward gives dt (t treated as continuous).
    void (*timestep_embedding_forward)(float *y, const float *t, int n, int dim,
                                       int flip_sin_to_cos, float freq_shift);
    void (*timestep_embedding_backward)(float *dt, const float *dy, const float *t, int n, int dim,
                                        int flip_sin_to_cos, float freq_shift);

    // ---- nearest 2x upsample: x (n, c, h, w) -> y (n, c, 2h, 2w) ----
    void (*upsample2x_forward)(float *y, const float *x, int n, int c, int h, int w);
    void (*upsample2x_backward)(float *dx, const float *dy, int n, int c, int h, int w);

    // ---- channel concat: y (n, ca + cb, hw) = [a (n, ca, hw), b (n, cb, hw)] ----
    void (*concat_forward)(float *y, const float *a, const float *b, int n, int ca, int cb, int hw);
    void (*concat_backward)(float *da, float *db, const float *dy, int n, int ca, int cb, int hw);

    // ---- per-(sample, channel) bias broadcast over space: y (n, c, hw) += bias (n, c) ----
    void (*add_channel_bias_forward)(float *y, const float *bias, int n, int c, int hw);
    void (*add_channel_bias_backward)(float *dbias, const float *dy, int n, int c, int hw);

    // ---- mean over space (global average pooling): y (n, c) = mean over hw of x (n, c, hw) ----
    // backward: dx += dy / hw broadcast over space
    void (*spatial_mean_forward)(float *y, const float *x, int n, int c, int hw);
    void (*spatial_mean_backward)(float *dx, const float *dy, int n, int c, int hw);

    // ---- transpose of the last two dims: x (n, rows, cols) -> y (n, cols, rows) ----
    // (NCHW <-> tokens (n, hw, c) for attention). Backward: dx += transpose(dy).
    void (*transpose_forward)(float *y, const float *x, int n, int rows, int cols);
    void (*transpose_backward)(float *dx, const float *dy, int n, int rows, int cols);

    // ---- multi-head attention core: q, o (n, lq, heads*head_dim), k, v (n, lk, heads*head_dim) ----
    // P = softmax(q k^T * scale) per (sample, head) over keys, o = P v. Self-attention has
    // lq = lk; cross-attention takes keys and values of another sequence (lk != lq).
    // probs (n, heads, lq, lk) is saved for backward.
    // causal != 0 masks key j > query i (SDPA's is_causal=True): those P are exactly 0 and
    // pass no gradient. Backward must get the causal flag its forward got.
    void (*attention_forward)(float *o, float *probs, const float *q, const float *k, const float *v,
                              int n, int lq, int lk, int heads, int head_dim, float scale, int causal);
    void (*attention_backward)(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const float *probs,
                               int n, int lq, int lk, int heads, int head_dim, float scale, int causal);

    // ---- L2 normalisation of rows (F.normalize(x, p=2, dim=-1, eps)): x, y (rows, width) ----
    // y = x / max(||x||_2, eps); norm (rows) = ||x||_2 saved (unclamped). Backward:
    // dx += (dy - y (y . dy)) / norm where norm >= eps (torch's clamp_min passes the gradient
    // at equality), dx += dy / eps where it was clamped: backward takes eps again, since a
    // clamped row's denominator is not in the saved norm.
    void (*l2_normalize_forward)(float *y, float *norm, const float *x, int rows, int width, float eps);
    void (*l2_normalize_backward)(float *dx, const float *dy, const float *y, const float *norm,
                                  int rows, int width, float eps);

    // ---- dropout (inverted): mask = (u >= p) / (1 - p), y = x * mask; u from (seed, stream) ----
    void (*dropout_forward)(float *y, float *mask, const float *x, size_t n, float p,
                            uint64_t seed, uint64_t stream);
    void (*dropout_backward)(float *dx, const float *dy, const float *mask, size_t n);

    // ---- losses (mean reduction). Forward returns the loss on the host. ----
    // MSE: mean((pred - target)^2); backward: dpred += dloss * 2 (pred - target) / n.
    float (*mse_forward)(const float *pred, const float *target, size_t n);
    void (*mse_backward)(float *dpred, const float *pred, const float *target, size_t n, float dloss);
    // Softmax cross entropy: logits (n, classes), labels in [0, classes); probs (n, classes) saved.
    float (*cross_entropy_forward)(float *probs, const float *logits, const int *labels, int n, int classes);
    void (*cross_entropy_backward)(float *dlogits, const float *probs, const int *labels,
                                   int n, int classes, float dloss);

    // ---- elementwise arithmetic on flat buffers (samplers, residuals, CFG) ----
    // y = a*x + b*z (y may alias x or z; z may be NULL when b == 0, and is not read then,
    // so NaN in z does not reach y as it would in PyTorch's 0 * NaN)
    void (*axpbz)(float *y, float a, const float *x, float b, const float *z, size_t n);
    // per-row coefficients: y[r,:] = a[r]*x[r,:] + b[r]*z[r,:] for r < rows (a, b host arrays)
    void (*axpbz_rows)(float *y, const float *a, const float *x, const float *b, const float *z,
                       int rows, size_t per_row);
    void (*clamp)(float *x, float lo, float hi, size_t n);
    // x[i] = N(0,1) element (offset + i) of (seed, stream)
    void (*randn)(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
    // y = x * z elementwise (y may alias x or z): masks, per-parameter weights
    void (*mul)(float *y, const float *x, const float *z, size_t n);
    double (*sum_squares)(const float *x, size_t n);   // for gradient norms
    // sum w_i x_i^2 in double (precision-weighted penalties: EWC, VDU's anchor)
    double (*weighted_sum_squares)(const float *x, const float *w, size_t n);
    // acc += |x| elementwise (saliency: accumulated absolute gradients)
    void (*abs_accumulate)(float *acc, const float *x, size_t n);
    int (*all_finite)(const float *x, size_t n);       // 1 if no NaN/Inf

    // ---- optimizer on flat buffers ----
    // AdamW (PyTorch semantics): p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps). g is pre-scaled by grad_scale.
    // mask (may be NULL): only elements with mask != 0 change (m, v included).
    void (*adamw_step)(float *p, const float *g, float *m, float *v, const float *mask, size_t n,
                       float lr, float beta1, float beta2, float eps, float weight_decay,
                       int step, float grad_scale);
    // ema = decay * ema + (1 - decay) * p
    void (*ema_update)(float *ema, const float *p, size_t n, float decay);

    // ---- optional: NULL in a table without them (callers go through the helpers below) ----
    // y = groupnorm(x) exactly as group_norm_forward, and act = silu(y), in one pass
    void (*group_norm_silu_forward)(float *y, float *act, float *mean, float *rstd, const float *x,
                                    const float *gamma, const float *beta,
                                    int n, int c, int hw, int groups, float eps);
    // waits until every op enqueued so far has finished (asynchronous backends; for timing)
    void (*synchronize)(void);
} lethe_backend;

extern const lethe_backend lethe_backend_cpu;

// The active backend (CPU unless lethe_set_backend chose another). Choose it before
// allocating anything: memory of one backend is not valid in another.
const lethe_backend *ops(void);
void lethe_set_backend(const lethe_backend *be);

// The CUDA table, initialised (device 0, cuBLAS), or NULL with a message (lethe_last_error)
// when this build has no CUDA backend (make CUDA=1) or no usable NVIDIA GPU is present.
const lethe_backend *ops_cuda_backend(void);
// 1 if this build has the CUDA backend compiled in (a device may still be missing).
int ops_cuda_built(void);
// Makes the CUDA table active; LETHE_ERR_ARG (and the CPU table stays) when it cannot.
lethe_status ops_use_cuda(void);
// "cpu" or "cuda" (the CLI's --device).
lethe_status ops_select_device(const char *name);
// Active backend's synchronize, if it has one.
void ops_synchronize(void);
// The active backend in words: "cpu", or "cuda (NVIDIA H100 80GB HBM3, TF32 off)".
const char *ops_device_description(void);

// The GEMMs' precision (the CLI's --precision): "fp32", or "bf16" (mixed precision: every
// GEMM's inputs rounded to bfloat16, products summed in fp32; weights, optimizer, norms and
// softmax stay fp32). Choose it after the device. bf16 runs on the CPU backend built with
// oneDNN, on a CPU with AVX512-BF16 or AMX; elsewhere the run stays fp32: LETHE_OK, and
// *fallback (if not NULL) says why. An unknown name is LETHE_ERR_ARG. *fallback is NULL
// when the precision asked for is the one that runs.
lethe_status ops_set_precision(const char *name, const char **fallback);
const char *ops_precision(void);   // "fp32" or "bf16": the one that runs

#endif
