/*
 * cpu.h: internal declarations of the CPU reference backend (the .c files in ops/cpu/).
 *
 * Every function here implements the lethe_backend member of the same name with the
 * semantics written in ops/ops.h; table.c collects them into lethe_backend_cpu.
 * Also declares the shared scratch buffer and small inline helpers (blocked double
 * sums, a vectorisable expf) used by several op files.
 *
 * Threading (threads.c): OpenMP owns the cores. Elementwise, norm and reduction loops use
 * it when a tensor is large enough (LETHE_CPU_PAR_MIN elements); GEMM work (conv tiles,
 * linear row blocks) is split over OpenMP threads that each call a single-threaded
 * OpenBLAS sgemm, so two thread pools never compete for the cores.
 * Reductions have a fixed order: results do not depend on the number of threads, except
 * conv2d's dw (per-thread partial sums, added in thread order: deterministic for a given
 * thread count).
 *
 * Not reentrant: the ops share one scratch buffer, so one thread calls ops at a time.
 */
#ifndef LETHE_OPS_CPU_H
#define LETHE_OPS_CPU_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/ops.h"

// Built without -fopenmp the `#pragma omp` lines are meant to be ignored; say so to -Wall.
#ifndef _OPENMP
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#endif

// Loops over fewer elements than this stay on one thread (fork/join costs ~ a few us).
#define LETHE_CPU_PAR_MIN 32768

// ---- scratch (scratch.c) ---------------------------------------------------------------
// One grow-only buffer shared by all ops (im2col columns, attention rows, per-channel sums).
// Returns NULL if it cannot grow to `bytes` (the caller then poisons its outputs with NaN
// and records LETHE_ERR_NOMEM, since ops return void). 64-byte aligned.
void *lethe_cpu_scratch(size_t bytes);
// Frees the scratch buffer (end of program, or to give memory back after a big job).
void lethe_cpu_release_scratch(void);
// Soft budget for tiled ops (conv2d im2col); default 32 MiB. Tests lower it to force tiling.
void lethe_cpu_set_scratch_limit(size_t bytes);
size_t lethe_cpu_scratch_limit(void);
// x[0..n) = NaN, and lethe_fail(LETHE_ERR_NOMEM, "<op>: ..."): the void-op failure path.
void lethe_cpu_poison(float *x, size_t n, const char *op, size_t bytes);

// ---- threads.c ---------------------------------------------------------------------------------
int lethe_cpu_max_threads(void);   // OpenMP threads a parallel region will get (1 without OpenMP)
int lethe_cpu_thread_id(void);     // 0 .. max_threads-1 inside a region, 0 outside
// Call before GEMM work: returns the OpenMP thread count to split it over; when that is
// more than 1, OpenBLAS is made single-threaded so sgemm may be called inside the region.
int lethe_cpu_gemm_threads(void);

// ---- gemm.c: the GEMM of every op (oneDNN or OpenBLAS; LETHE_GEMM picks) --------------------
// Row-major C = alpha op(A) op(B) + beta C, as cblas_sgemm with CblasRowMajor.
void lethe_cpu_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc);
const char *lethe_cpu_gemm_name(void);   // "onednn" or "openblas": the one that runs
// --precision bf16 (ops_set_precision): every product of at least BF16_MIN_MACS then goes
// through lethe_cpu_sgemm_bf16.
void lethe_cpu_set_bf16(bool on);
bool lethe_cpu_bf16(void);

// ---- gemm_bf16.c: the same product with A and B rounded to bf16, summed in fp32 ----------------
// NULL where bf16 GEMMs can run here, else why not (no oneDNN in this build, no AVX512-BF16/AMX).
const char *lethe_cpu_bf16_unavailable(void);
// false (C untouched) if oneDNN could not run it: the caller then does the product in fp32.
bool lethe_cpu_sgemm_bf16(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc);

// ---- memory.c ----------------------------------------------------------------------------
void *lethe_cpu_alloc(size_t bytes);
void lethe_cpu_release(void *p);
void lethe_cpu_to_device(void *dst, const void *src_host, size_t bytes);
void lethe_cpu_to_host(void *dst_host, const void *src, size_t bytes);
void lethe_cpu_copy(float *dst, const float *src, size_t n);
void lethe_cpu_fill(float *x, float value, size_t n);

// ---- conv2d.c ----------------------------------------------------------------------------
void lethe_cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s);
void lethe_cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, const conv2d_shape *s);

// ---- conv2d_winograd.c: 3x3 stride-1 pad-1 convs as Winograd F(2x2, 3x3) -------------------
// Whether the Winograd path serves this shape (3x3, stride 1, pad 1, at least 8 channels each way).
int lethe_cpu_winograd_applies(const conv2d_shape *s);
// y = conv(x, w) + b (b may be NULL), or y += conv(x, w) when accumulate. 0 if the scratch
// could not grow (nothing written), 1 on success.
int lethe_cpu_winograd_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                               int accumulate);
// dw (co, ci, 3, 3) += the weight gradient given dy; 0 if the scratch could not grow.
int lethe_cpu_winograd_weight_grad(float *dw, const float *dy, const float *x, const conv2d_shape *s);

// ---- group_norm.c --------------------------------------------------------------------------
void lethe_cpu_group_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta,
                                  int n, int c, int hw, int groups, float eps);
void lethe_cpu_group_norm_silu_forward(float *y, float *act, float *mean, float *rstd, const float *x,
                                       const float *gamma, const float *beta,
                                       int n, int c, int hw, int groups, float eps);
void lethe_cpu_group_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw, int groups);

// ---- activation.c ----------------------------------------------------------------------------
void lethe_cpu_silu_forward(float *y, const float *x, size_t n);
void lethe_cpu_silu_backward(float *dx, const float *dy, const float *x, size_t n);
void lethe_cpu_quick_gelu_forward(float *y, const float *x, size_t n);
void lethe_cpu_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
// geglu.c
void lethe_cpu_geglu_forward(float *y, const float *x, int rows, int w);
void lethe_cpu_geglu_backward(float *dx, const float *dy, const float *x, int rows, int w);

// ---- layer_norm.c ----------------------------------------------------------------------------
void lethe_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int rows, int width, float eps);
void lethe_cpu_layer_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int rows, int width);

// ---- l2_normalize.c --------------------------------------------------------------------------
void lethe_cpu_l2_normalize_forward(float *y, float *norm, const float *x, int rows, int width, float eps);
void lethe_cpu_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm,
                                     int rows, int width, float eps);

// ---- linear.c --------------------------------------------------------------------------------
void lethe_cpu_linear_forward(float *y, const float *x, const float *w, const float *b, int m, int in, int out);
void lethe_cpu_linear_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int m, int in, int out);

// ---- embedding.c -----------------------------------------------------------------------------
void lethe_cpu_embedding_forward(float *y, const int *idx, const float *table, int n, int dim);
void lethe_cpu_embedding_backward(float *dtable, const float *dy, const int *idx, int n, int dim);

// ---- timestep_embedding.c ----------------------------------------------------------------------
void lethe_cpu_timestep_embedding_forward(float *y, const float *t, int n, int dim,
                                          int flip_sin_to_cos, float freq_shift);
void lethe_cpu_timestep_embedding_backward(float *dt, const float *dy, const float *t, int n, int dim,
                                           int flip_sin_to_cos, float freq_shift);

// ---- upsample.c --------------------------------------------------------------------------------
void lethe_cpu_upsample2x_forward(float *y, const float *x, int n, int c, int h, int w);
void lethe_cpu_upsample2x_backward(float *dx, const float *dy, int n, int c, int h, int w);

// ---- tensor_ops.c --------------------------------------------------------------------------------
void lethe_cpu_concat_forward(float *y, const float *a, const float *b, int n, int ca, int cb, int hw);
void lethe_cpu_concat_backward(float *da, float *db, const float *dy, int n, int ca, int cb, int hw);
void lethe_cpu_add_channel_bias_forward(float *y, const float *bias, int n, int c, int hw);
void lethe_cpu_add_channel_bias_backward(float *dbias, const float *dy, int n, int c, int hw);
void lethe_cpu_spatial_mean_forward(float *y, const float *x, int n, int c, int hw);
void lethe_cpu_spatial_mean_backward(float *dx, const float *dy, int n, int c, int hw);
void lethe_cpu_transpose_forward(float *y, const float *x, int n, int rows, int cols);
void lethe_cpu_transpose_backward(float *dx, const float *dy, int n, int rows, int cols);
void lethe_cpu_axpbz(float *y, float a, const float *x, float b, const float *z, size_t n);
void lethe_cpu_axpbz_rows(float *y, const float *a, const float *x, const float *b, const float *z,
                          int rows, size_t per_row);
void lethe_cpu_clamp(float *x, float lo, float hi, size_t n);
void lethe_cpu_randn(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
double lethe_cpu_sum_squares(const float *x, size_t n);
void lethe_cpu_mul(float *y, const float *x, const float *z, size_t n);
double lethe_cpu_weighted_sum_squares(const float *x, const float *w, size_t n);
void lethe_cpu_abs_accumulate(float *acc, const float *x, size_t n);
int lethe_cpu_all_finite(const float *x, size_t n);

// ---- attention.c ------------------------------------------------------------------------------------
void lethe_cpu_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                                 int n, int lq, int lk, int heads, int head_dim, float scale, int causal);
void lethe_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *k, const float *v, const float *probs,
                                  int n, int lq, int lk, int heads, int head_dim, float scale, int causal);

// ---- dropout.c ------------------------------------------------------------------------------------
void lethe_cpu_dropout_forward(float *y, float *mask, const float *x, size_t n, float p,
                               uint64_t seed, uint64_t stream);
void lethe_cpu_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

// ---- loss.c ------------------------------------------------------------------------------------------
float lethe_cpu_mse_forward(const float *pred, const float *target, size_t n);
void lethe_cpu_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);
float lethe_cpu_cross_entropy_forward(float *probs, const float *logits, const int *labels, int n, int classes);
void lethe_cpu_cross_entropy_backward(float *dlogits, const float *probs, const int *labels,
                                      int n, int classes, float dloss);

// ---- optimizer.c ---------------------------------------------------------------------------------------
void lethe_cpu_adamw_step(float *p, const float *g, float *m, float *v, const float *mask, size_t n,
                          float lr, float beta1, float beta2, float eps, float weight_decay,
                          int step, float grad_scale);
void lethe_cpu_ema_update(float *ema, const float *p, size_t n, float decay);

// ---- inline helpers ---------------------------------------------------------------------------------

// Sum of x[0..n) in double with 8 interleaved accumulators: a fixed order (so results do
// not depend on threads), vectorisable without -ffast-math, and 2^29 times more headroom
// than a float sum.
static inline double lethe_cpu_sum_f64(const float *x, size_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)x[i + k];
    for (; i < n; i++) acc[i & 7] += (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// sum_i (x[i] - mu)^2 in double, same scheme.
static inline double lethe_cpu_sqdev_f64(const float *x, size_t n, double mu) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double d = (double)x[i + k] - mu;
            acc[k] += d * d;
        }
    for (; i < n; i++) {
        double d = (double)x[i] - mu;
        acc[i & 7] += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// sum_i a[i] * b[i] in double, same scheme.
static inline double lethe_cpu_dot_f64(const float *a, const float *b, size_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)a[i + k] * (double)b[i + k];
    for (; i < n; i++) acc[i & 7] += (double)a[i] * (double)b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// expf that GCC can inline and vectorise (glibc's expf is a scalar call without
// -ffast-math). Cephes expf: x = k ln2 + r, |r| <= ln2/2, degree-6 polynomial, times 2^k
// built in the exponent bits. Max relative error ~2 ulp against exp() in double (checked
// in test_ops.c); exact limits: exp(+inf or x > log(FLT_MAX)) = inf, exp(x < -86.6) = 0
// (true value < 3e-38), NaN in, NaN out.
static inline float lethe_cpu_expf(float x) {
    const float hi = 88.72283935546875f, lo = -86.6f;
    float xc = x > hi ? hi : (x < lo ? lo : (x == x ? x : 0.0f));   // NaN: computed on 0, returned as NaN
    float kf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   // round to nearest
    float r = xc - kf * 0.693359375f;                                       // Cody-Waite ln2 split
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)kf + 126) << 23;   // 2^(k-1): k in [-125, 128] keeps it normal
    float s;
    memcpy(&s, &bits, sizeof s);
    float y = (p * s) * 2.0f;
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

// The standard normal CDF Phi(x) = 0.5 erfc(-x / sqrt 2), inlined and vectorisable (GEGLU's
// exact GELU; glibc's erff is a scalar call). Two forms, both computed and one selected:
// - |x| < sqrt 2: 0.5 + 0.5 erf(x / sqrt 2), erf(z) = z P(z^2) (Cephes erff's polynomial);
// - else: erfc(z) = t exp(-z^2 + Q(t)), t = 1 / (1 + z/2) (Numerical Recipes' erfcc,
//   fractional error < 1.2e-7 in exact arithmetic), so the lower tail keeps its relative
//   accuracy where 0.5 (1 + erff(x)) cancels. z^2 = x^2 / 2 is carried as x*x plus its
//   rounding error (fmaf) in a second exp, else exp's argument loses ~x^2/2 ulp.
// Checked against erfc() in double in test_ops.c. Phi(-inf) = 0, Phi(+inf) = 1, NaN -> NaN.
static inline float lethe_cpu_normal_cdf(float x) {
    const float xc = x < -14.0f ? -14.0f : (x > 14.0f ? 14.0f : x);   // Phi(-14) ~ 8e-45: 0 in float
    const float ax = fabsf(xc), z = ax * 0.70710678118654752f;
    // near 0
    const float zs = z * z;
    float e = 7.853861353153693e-5f;
    e = e * zs - 8.010193625184903e-4f;
    e = e * zs + 5.188327685732524e-3f;
    e = e * zs - 2.685381193529856e-2f;
    e = e * zs + 1.128358514861418e-1f;
    e = e * zs - 3.761262582423300e-1f;
    e = e * zs + 1.128379165726710f;
    const float half_erf = 0.5f * z * e;
    const float near = 0.5f + copysignf(half_erf, x);
    // the tails
    const float t = 1.0f / (1.0f + 0.5f * z);
    float q = 0.17087277f;
    q = q * t - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    const float xx = ax * ax, xx_err = fmaf(ax, ax, -xx);   // x^2 = xx + xx_err exactly
    const float half_erfc = 0.5f * t * (lethe_cpu_expf(-0.5f * xx) * lethe_cpu_expf(q - 0.5f * xx_err));
    const float tail = x >= 0.0f ? 1.0f - half_erfc : half_erfc;
    const float y = ax < 1.41421356f ? near : tail;
    return x != x ? x : y;
}

#endif
