/*
 * unet_cond_denoiser.h: UNet2DConditionModel (nn/unet_cond.h) behind the network seam
 * (denoiser.h), conditioned on token rows (LETHE_COND_TOKENS: seq x cross_attention_dim, an
 * encoder's hidden states); the null row is the caller's null_tokens (the empty prompt's
 * encoding), so classifier-free guidance and prompt dropout work through cond_*.
 */
#ifndef LETHE_DIFFUSION_UNET_COND_DENOISER_H
#define LETHE_DIFFUSION_UNET_COND_DENOISER_H

#include "diffusion/denoiser.h"
#include "nn/unet_cond.h"

// d runs `unet` (built; not owned: the caller frees it after d) on rows of seq tokens.
// null_tokens (seq, cross_attention_dim), backend memory, may be NULL (no guidance or dropout);
// it must outlive d and its clones.
void unet_cond_denoiser_bind(lethe_denoiser *d, lethe_unet_cond *unet, int seq, const float *null_tokens);

#endif
