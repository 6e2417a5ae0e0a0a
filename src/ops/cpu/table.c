/* table.c: the CPU backend's op table, lethe_backend_cpu (every member of lethe_backend). */
#include "ops/cpu/cpu.h"

const lethe_backend lethe_backend_cpu = {
    .name = "cpu",

    .alloc = lethe_cpu_alloc,
    .release = lethe_cpu_release,
    .to_device = lethe_cpu_to_device,
    .to_host = lethe_cpu_to_host,
    .copy = lethe_cpu_copy,
    .fill = lethe_cpu_fill,

    .conv2d_forward = lethe_cpu_conv2d_forward,
    .conv2d_backward = lethe_cpu_conv2d_backward,

    .group_norm_forward = lethe_cpu_group_norm_forward,
    .group_norm_backward = lethe_cpu_group_norm_backward,

    .silu_forward = lethe_cpu_silu_forward,
    .silu_backward = lethe_cpu_silu_backward,

    .layer_norm_forward = lethe_cpu_layer_norm_forward,
    .layer_norm_backward = lethe_cpu_layer_norm_backward,

    .quick_gelu_forward = lethe_cpu_quick_gelu_forward,
    .quick_gelu_backward = lethe_cpu_quick_gelu_backward,
    .geglu_forward = lethe_cpu_geglu_forward,
    .geglu_backward = lethe_cpu_geglu_backward,

    .linear_forward = lethe_cpu_linear_forward,
    .linear_backward = lethe_cpu_linear_backward,

    .embedding_forward = lethe_cpu_embedding_forward,
    .embedding_backward = lethe_cpu_embedding_backward,

    .timestep_embedding_forward = lethe_cpu_timestep_embedding_forward,
    .timestep_embedding_backward = lethe_cpu_timestep_embedding_backward,

    .upsample2x_forward = lethe_cpu_upsample2x_forward,
    .upsample2x_backward = lethe_cpu_upsample2x_backward,

    .concat_forward = lethe_cpu_concat_forward,
    .concat_backward = lethe_cpu_concat_backward,

    .add_channel_bias_forward = lethe_cpu_add_channel_bias_forward,
    .add_channel_bias_backward = lethe_cpu_add_channel_bias_backward,

    .spatial_mean_forward = lethe_cpu_spatial_mean_forward,
    .spatial_mean_backward = lethe_cpu_spatial_mean_backward,

    .transpose_forward = lethe_cpu_transpose_forward,
    .transpose_backward = lethe_cpu_transpose_backward,

    .attention_forward = lethe_cpu_attention_forward,
    .attention_backward = lethe_cpu_attention_backward,

    .l2_normalize_forward = lethe_cpu_l2_normalize_forward,
    .l2_normalize_backward = lethe_cpu_l2_normalize_backward,

    .dropout_forward = lethe_cpu_dropout_forward,
    .dropout_backward = lethe_cpu_dropout_backward,

    .mse_forward = lethe_cpu_mse_forward,
    .mse_backward = lethe_cpu_mse_backward,
    .cross_entropy_forward = lethe_cpu_cross_entropy_forward,
    .cross_entropy_backward = lethe_cpu_cross_entropy_backward,

    .axpbz = lethe_cpu_axpbz,
    .axpbz_rows = lethe_cpu_axpbz_rows,
    .clamp = lethe_cpu_clamp,
    .randn = lethe_cpu_randn,
    .mul = lethe_cpu_mul,
    .sum_squares = lethe_cpu_sum_squares,
    .weighted_sum_squares = lethe_cpu_weighted_sum_squares,
    .abs_accumulate = lethe_cpu_abs_accumulate,
    .all_finite = lethe_cpu_all_finite,

    .adamw_step = lethe_cpu_adamw_step,
    .ema_update = lethe_cpu_ema_update,

    // optional: GroupNorm + SiLU is composed by nn/layers.c; ops run synchronously
    .group_norm_silu_forward = lethe_cpu_group_norm_silu_forward,
    .synchronize = NULL,
};
