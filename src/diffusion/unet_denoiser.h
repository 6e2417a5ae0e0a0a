/*
 * unet_denoiser.h: the UNet (nn/unet.h) behind the network seam (denoiser.h): class labels
 * (num_class_embeds, the last one the null class) or no conditioning. The only code outside
 * nn/ that calls unet_forward / unet_backward.
 */
#ifndef LETHE_DIFFUSION_UNET_DENOISER_H
#define LETHE_DIFFUSION_UNET_DENOISER_H

#include "diffusion/denoiser.h"
#include "nn/unet.h"

// d runs `unet` (built; not owned: the caller frees it after d).
void unet_denoiser_bind(lethe_denoiser *d, lethe_unet *unet);

#endif
