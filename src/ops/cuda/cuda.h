/*
 * cuda.h: internal declarations of the CUDA backend (the .cu files in ops/cuda/), built
 * only with `make CUDA=1`.
 *
 * Every lethe_cuda_<op> implements the lethe_backend member of the same name with the
 * semantics written in ops/ops.h; table.c (plain C) collects them into the CUDA table.
 * Included from C (table.c, ops/backend.c) and from CUDA C++ (the .cu files), hence the
 * extern "C" block.
 *
 * Execution model: one device, the legacy default stream, one cuBLAS handle. Every op is
 * enqueued on that stream, so ops are ordered without events; to_host, the losses and
 * the reductions that return a value wait for the device. Pointers given to ops are device
 * pointers, except the ones ops.h calls host arrays (axpbz_rows' coefficients).
 * Reductions are deterministic: fixed partitions that depend only on the sizes, partial
 * sums in double added in a fixed tree order; no floating-point atomics anywhere.
 */
#ifndef LETHE_OPS_CUDA_H
#define LETHE_OPS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/error.h"
#include "ops/ops.h"

extern const lethe_backend lethe_backend_cuda;

// ---- context.cu -------------------------------------------------------------------------------
// Picks device 0 and creates the cuBLAS handle (once). LETHE_ERR_ARG with a message when
// the driver or a device is missing.
lethe_status lethe_cuda_init(void);
int lethe_cuda_device_count(void);            // 0 when there is no usable driver/device
const char *lethe_cuda_device_name(void);     // after init: e.g. "NVIDIA H100 80GB HBM3"
// TF32 tensor-core GEMMs (cuBLAS math mode); off by default, so results stay float32
// (LETHE_CUDA_TF32=1 in the environment turns it on at init, e.g. for the CLI).
void lethe_cuda_set_tf32(int on);
int lethe_cuda_tf32(void);
// Soft limit of the im2col scratch buffer (default 512 MiB): conv2d tiles samples to fit.
void lethe_cuda_set_scratch_limit(size_t bytes);
size_t lethe_cuda_scratch_limit(void);
void lethe_cuda_release_scratch(void);
void lethe_cuda_synchronize(void);

// ---- memory.cu ----------------------------------------------------------------------------------
void *lethe_cuda_alloc(size_t bytes);
void lethe_cuda_release(void *p);
void lethe_cuda_to_device(void *dst, const void *src_host, size_t bytes);
void lethe_cuda_to_host(void *dst_host, const void *src, size_t bytes);
void lethe_cuda_copy(float *dst, const float *src, size_t n);
void lethe_cuda_fill(float *x, float value, size_t n);

// ---- conv2d.cu ------------------------------------------------------------------------------------
void lethe_cuda_conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s);
void lethe_cuda_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                                const float *x, const float *w, const conv2d_shape *s);

// ---- group_norm.cu --------------------------------------------------------------------------------
void lethe_cuda_group_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                   const float *gamma, const float *beta,
                                   int n, int c, int hw, int groups, float eps);
void lethe_cuda_group_norm_silu_forward(float *y, float *act, float *mean, float *rstd, const float *x,
                                        const float *gamma, const float *beta,
                                        int n, int c, int hw, int groups, float eps);
void lethe_cuda_group_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                    const float *x, const float *mean, const float *rstd,
                                    const float *gamma, int n, int c, int hw, int groups);

// ---- activation.cu ----------------------------------------------------------------------------------
void lethe_cuda_silu_forward(float *y, const float *x, size_t n);
void lethe_cuda_silu_backward(float *dx, const float *dy, const float *x, size_t n);
void lethe_cuda_quick_gelu_forward(float *y, const float *x, size_t n);
void lethe_cuda_quick_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
// geglu (activation.cu)
void lethe_cuda_geglu_forward(float *y, const float *x, int rows, int w);
void lethe_cuda_geglu_backward(float *dx, const float *dy, const float *x, int rows, int w);

// ---- layer_norm.cu ----------------------------------------------------------------------------------
void lethe_cuda_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                                   const float *gamma, const float *beta, int rows, int width, float eps);
void lethe_cuda_layer_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                    const float *x, const float *mean, const float *rstd,
                                    const float *gamma, int rows, int width);

// ---- l2_normalize.cu --------------------------------------------------------------------------------
void lethe_cuda_l2_normalize_forward(float *y, float *norm, const float *x, int rows, int width, float eps);
void lethe_cuda_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm,
                                      int rows, int width, float eps);

// ---- linear.cu --------------------------------------------------------------------------------------
void lethe_cuda_linear_forward(float *y, const float *x, const float *w, const float *b, int m, int in, int out);
void lethe_cuda_linear_backward(float *dx, float *dw, float *db, const float *dy,
                                const float *x, const float *w, int m, int in, int out);

// ---- embedding.cu -----------------------------------------------------------------------------------
void lethe_cuda_embedding_forward(float *y, const int *idx, const float *table, int n, int dim);
void lethe_cuda_embedding_backward(float *dtable, const float *dy, const int *idx, int n, int dim);

// ---- timestep_embedding.cu --------------------------------------------------------------------------
void lethe_cuda_timestep_embedding_forward(float *y, const float *t, int n, int dim,
                                           int flip_sin_to_cos, float freq_shift);
void lethe_cuda_timestep_embedding_backward(float *dt, const float *dy, const float *t, int n, int dim,
                                            int flip_sin_to_cos, float freq_shift);

// ---- upsample.cu --------------------------------------------------------------------------------------
void lethe_cuda_upsample2x_forward(float *y, const float *x, int n, int c, int h, int w);
void lethe_cuda_upsample2x_backward(float *dx, const float *dy, int n, int c, int h, int w);

// ---- tensor_ops.cu --------------------------------------------------------------------------------------
void lethe_cuda_concat_forward(float *y, const float *a, const float *b, int n, int ca, int cb, int hw);
void lethe_cuda_concat_backward(float *da, float *db, const float *dy, int n, int ca, int cb, int hw);
void lethe_cuda_add_channel_bias_forward(float *y, const float *bias, int n, int c, int hw);
void lethe_cuda_add_channel_bias_backward(float *dbias, const float *dy, int n, int c, int hw);
void lethe_cuda_spatial_mean_forward(float *y, const float *x, int n, int c, int hw);
void lethe_cuda_spatial_mean_backward(float *dx, const float *dy, int n, int c, int hw);
void lethe_cuda_transpose_forward(float *y, const float *x, int n, int rows, int cols);
void lethe_cuda_transpose_backward(float *dx, const float *dy, int n, int rows, int cols);
void lethe_cuda_axpbz(float *y, float a, const float *x, float b, const float *z, size_t n);
void lethe_cuda_axpbz_rows(float *y, const float *a, const float *x, const float *b, const float *z,
                           int rows, size_t per_row);
void lethe_cuda_clamp(float *x, float lo, float hi, size_t n);
void lethe_cuda_randn(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
void lethe_cuda_mul(float *y, const float *x, const float *z, size_t n);
double lethe_cuda_sum_squares(const float *x, size_t n);
double lethe_cuda_weighted_sum_squares(const float *x, const float *w, size_t n);
void lethe_cuda_abs_accumulate(float *acc, const float *x, size_t n);
int lethe_cuda_all_finite(const float *x, size_t n);

// ---- attention.cu ---------------------------------------------------------------------------------------
void lethe_cuda_attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                                  int n, int lq, int lk, int heads, int head_dim, float scale, int causal);
void lethe_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                   const float *q, const float *k, const float *v, const float *probs,
                                   int n, int lq, int lk, int heads, int head_dim, float scale, int causal);

// ---- dropout.cu ------------------------------------------------------------------------------------------
void lethe_cuda_dropout_forward(float *y, float *mask, const float *x, size_t n, float p,
                                uint64_t seed, uint64_t stream);
void lethe_cuda_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

// ---- loss.cu ----------------------------------------------------------------------------------------------
float lethe_cuda_mse_forward(const float *pred, const float *target, size_t n);
void lethe_cuda_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);
float lethe_cuda_cross_entropy_forward(float *probs, const float *logits, const int *labels, int n, int classes);
void lethe_cuda_cross_entropy_backward(float *dlogits, const float *probs, const int *labels,
                                       int n, int classes, float dloss);

// ---- optimizer.cu -------------------------------------------------------------------------------------------
void lethe_cuda_adamw_step(float *p, const float *g, float *m, float *v, const float *mask, size_t n,
                           float lr, float beta1, float beta2, float eps, float weight_decay,
                           int step, float grad_scale);
void lethe_cuda_ema_update(float *ema, const float *p, size_t n, float decay);

#ifdef __cplusplus
}
#endif

#endif
