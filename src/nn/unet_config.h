/*
 * unet_config.h: the UNet2DModel constructor config (diffusers key names), the named
 * configs `tiny` and `small` (../shared/targets.md), and config.json reading/writing.
 */
#ifndef LETHE_NN_UNET_CONFIG_H
#define LETHE_NN_UNET_CONFIG_H

#include "core/error.h"

#define UNET_MAX_BLOCKS 8

typedef struct {
    int sample_size;                        // H = W
    int in_channels, out_channels;
    int n_blocks;
    int block_out_channels[UNET_MAX_BLOCKS];
    int down_attn[UNET_MAX_BLOCKS];         // 1: AttnDownBlock2D, 0: DownBlock2D
    int up_attn[UNET_MAX_BLOCKS];           // 1: AttnUpBlock2D, 0: UpBlock2D
    int layers_per_block;
    int attention_head_dim;                 // head size; 0 = null (one head of all channels)
    int norm_num_groups;
    int attn_norm_num_groups;               // mid-block attention groups; 0 = null (norm_num_groups)
    float norm_eps;
    int add_attention;                      // mid-block attention
    int has_mid_block;                      // mid_block_type "UNetMidBlock2D" (1) or null (0)
    int num_class_embeds;                   // 0 = unconditional; else classes + 1 (last row = null class)
    float dropout;
    int flip_sin_to_cos;
    float freq_shift;
    float mid_block_scale_factor;
    int time_embedding_dim;                 // 0 = null (4 * block_out_channels[0])
    int center_input_sample;
    int downsample_padding;
} unet_config;

// "tiny" or "small"; LETHE_ERR_ARG naming the valid names otherwise.
lethe_status unet_config_named(unet_config *c, const char *name);
// Parses a diffusers config.json text; missing keys take diffusers' defaults; values lethe
// cannot compute (fourier embeddings, scale_shift, resnet resamplers, ...) are errors.
lethe_status unet_config_from_json(unet_config *c, const char *json_text, const char *what);
// Reads a file: a bare config.json.
lethe_status unet_config_load(unet_config *c, const char *path);
// config.json text as diffusers writes it (sorted keys, indent 2). Caller frees.
char *unet_config_to_json(const unet_config *c);
// Checks the config is buildable (group divisibility, sample size, head size); message names the key.
lethe_status unet_config_validate(const unet_config *c);
int unet_config_time_dim(const unet_config *c);

#endif
