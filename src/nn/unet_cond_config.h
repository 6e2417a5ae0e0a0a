/*
 * unet_cond_config.h: the diffusers UNet2DConditionModel constructor config (its key names),
 * config.json reading and writing.
 *
 * What lethe computes: DownBlock2D / CrossAttnDownBlock2D, UpBlock2D / CrossAttnUpBlock2D,
 * mid block UNetMidBlock2DCrossAttn or null, positional time embedding, "default" resnets,
 * 3x3 conv_in/conv_out, one int each for layers_per_block, transformer_layers_per_block and
 * cross_attention_dim, use_linear_projection either way. Other values of the keys diffusers
 * writes (class or addition embeddings, dual or only-cross attention, encoder_hid_proj, ...)
 * are refused with the key named.
 *
 * attention_head_dim: in UNet2DConditionModel it is the NUMBER OF HEADS per block (diffusers
 * keeps a historic naming bug: num_attention_heads = num_attention_heads or attention_head_dim,
 * and num_attention_heads itself must be null); head size = channels / heads. An int or one
 * entry per down block; up block i takes heads[n-1-i], the mid block heads[n-1].
 */
#ifndef LETHE_NN_UNET_COND_CONFIG_H
#define LETHE_NN_UNET_COND_CONFIG_H

#include "core/error.h"
#include "nn/unet_config.h"   // UNET_MAX_BLOCKS

typedef struct {
    int sample_size;                        // H = W
    int in_channels, out_channels;
    int n_blocks;
    int block_out_channels[UNET_MAX_BLOCKS];
    int down_cross[UNET_MAX_BLOCKS];        // 1: CrossAttnDownBlock2D, 0: DownBlock2D
    int up_cross[UNET_MAX_BLOCKS];          // 1: CrossAttnUpBlock2D, 0: UpBlock2D
    int layers_per_block;
    int heads[UNET_MAX_BLOCKS];             // attention_head_dim per down block (= number of heads)
    int heads_as_list;                      // config.json had a list (written back as one)
    int transformer_layers_per_block;
    int cross_attention_dim;
    int use_linear_projection;
    int norm_num_groups;
    float norm_eps;
    int has_mid_block;                      // "UNetMidBlock2DCrossAttn" (1) or null (0)
    float dropout;                          // resnets only (the transformers get none)
    int flip_sin_to_cos;
    float freq_shift;
    float mid_block_scale_factor;           // the mid block's resnets' output_scale_factor
    int time_embedding_dim;                 // 0 = null (4 * block_out_channels[0])
    int center_input_sample;
    int downsample_padding;
    int upcast_attention;                   // float32 q k^T: a no-op in a float32 model
} unet_cond_config;

// diffusers' defaults (SD 1.x shapes; sample_size unset).
void unet_cond_config_defaults(unet_cond_config *c);
// A named config: "canvas-tiny", the text-to-image UNet for Fashion-Canvas (3 x 32 x 32;
// block_out_channels (32, 64, 64), layers_per_block 1, DownBlock2D at 32x32 and
// CrossAttnDownBlock2D at 16x16 and 8x8 (attention memory grows with tokens^2), the cross-
// attention mid block at 8x8, 2 heads of 32, norm_num_groups 8), chosen by measurement
// (docs/text_to_image.md). cross_attention_dim is the text encoder's hidden_size, given here.
// LETHE_ERR_ARG naming the known names otherwise.
lethe_status unet_cond_config_named(unet_cond_config *c, const char *name, int cross_attention_dim);
// 1 if `name` is a named text-to-image config.
int unet_cond_config_is_named(const char *name);
// Parses a config.json text; missing keys take diffusers' defaults; values lethe cannot
// compute are errors naming the key.
lethe_status unet_cond_config_from_json(unet_cond_config *c, const char *json_text, const char *what);
lethe_status unet_cond_config_load(unet_cond_config *c, const char *path);
// config.json as diffusers writes it (sorted keys, every key of UNet2DConditionModel.__init__,
// _class_name "UNet2DConditionModel"). Caller frees.
char *unet_cond_config_to_json(const unet_cond_config *c);
// Buildable? (group and head divisibility, sample size, counts); the message names the key.
lethe_status unet_cond_config_validate(const unet_cond_config *c);
int unet_cond_config_time_dim(const unet_cond_config *c);
// heads of down block i, of up block i, of the mid block
int unet_cond_down_heads(const unet_cond_config *c, int i);
int unet_cond_up_heads(const unet_cond_config *c, int i);
int unet_cond_mid_heads(const unet_cond_config *c);

#endif
