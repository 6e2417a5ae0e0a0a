/* table.c: the CUDA backend's op table, lethe_backend_cuda (every member of lethe_backend). */
#include "ops/cuda/cuda.h"

const lethe_backend lethe_backend_cuda = {
    .name = "cuda",

    .alloc = lethe_cuda_alloc,
    .release = lethe_cuda_release,
    .to_device = lethe_cuda_to_device,
    .to_host = lethe_cuda_to_host,
    .copy = lethe_cuda_copy,
    .fill = lethe_cuda_fill,

    .conv2d_forward = lethe_cuda_conv2d_forward,
    .conv2d_backward = lethe_cuda_conv2d_backward,

    .group_norm_forward = lethe_cuda_group_norm_forward,
    .group_norm_backward = lethe_cuda_group_norm_backward,

    .silu_forward = lethe_cuda_silu_forward,
    .silu_backward = lethe_cuda_silu_backward,

    .layer_norm_forward = lethe_cuda_layer_norm_forward,
    .layer_norm_backward = lethe_cuda_layer_norm_backward,

    .quick_gelu_forward = lethe_cuda_quick_gelu_forward,
    .quick_gelu_backward = lethe_cuda_quick_gelu_backward,
    .geglu_forward = lethe_cuda_geglu_forward,
    .geglu_backward = lethe_cuda_geglu_backward,

    .linear_forward = lethe_cuda_linear_forward,
    .linear_backward = lethe_cuda_linear_backward,

    .embedding_forward = lethe_cuda_embedding_forward,
    .embedding_backward = lethe_cuda_embedding_backward,

    .timestep_embedding_forward = lethe_cuda_timestep_embedding_forward,
    .timestep_embedding_backward = lethe_cuda_timestep_embedding_backward,

    .upsample2x_forward = lethe_cuda_upsample2x_forward,
    .upsample2x_backward = lethe_cuda_upsample2x_backward,

    .concat_forward = lethe_cuda_concat_forward,
    .concat_backward = lethe_cuda_concat_backward,

    .add_channel_bias_forward = lethe_cuda_add_channel_bias_forward,
    .add_channel_bias_backward = lethe_cuda_add_channel_bias_backward,

    .spatial_mean_forward = lethe_cuda_spatial_mean_forward,
    .spatial_mean_backward = lethe_cuda_spatial_mean_backward,

    .transpose_forward = lethe_cuda_transpose_forward,
    .transpose_backward = lethe_cuda_transpose_backward,

    .attention_forward = lethe_cuda_attention_forward,
    .attention_backward = lethe_cuda_attention_backward,

    .l2_normalize_forward = lethe_cuda_l2_normalize_forward,
    .l2_normalize_backward = lethe_cuda_l2_normalize_backward,

    .dropout_forward = lethe_cuda_dropout_forward,
    .dropout_backward = lethe_cuda_dropout_backward,

    .mse_forward = lethe_cuda_mse_forward,
    .mse_backward = lethe_cuda_mse_backward,
    .cross_entropy_forward = lethe_cuda_cross_entropy_forward,
    .cross_entropy_backward = lethe_cuda_cross_entropy_backward,

    .axpbz = lethe_cuda_axpbz,
    .axpbz_rows = lethe_cuda_axpbz_rows,
    .clamp = lethe_cuda_clamp,
    .randn = lethe_cuda_randn,
    .mul = lethe_cuda_mul,
    .sum_squares = lethe_cuda_sum_squares,
    .weighted_sum_squares = lethe_cuda_weighted_sum_squares,
    .abs_accumulate = lethe_cuda_abs_accumulate,
    .all_finite = lethe_cuda_all_finite,

    .adamw_step = lethe_cuda_adamw_step,
    .ema_update = lethe_cuda_ema_update,

    .group_norm_silu_forward = lethe_cuda_group_norm_silu_forward,
    .synchronize = lethe_cuda_synchronize,
};
