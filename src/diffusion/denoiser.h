/*
 * denoiser.h: a loaded UNet as the sampler's denoiser (inference mode, no activations kept).
 */
#ifndef LETHE_DIFFUSION_DENOISER_H
#define LETHE_DIFFUSION_DENOISER_H

#include "diffusion/sampler.h"
#include "nn/unet.h"

typedef struct {
    lethe_unet *unet;
    const float *params;
    lethe_arena arena;
    long evaluations;       // images passed through the network (for throughput reports)
} unet_denoiser;

void unet_denoiser_init(unet_denoiser *u, lethe_unet *unet, const float *params, lethe_denoiser *out);
void unet_denoiser_free(unet_denoiser *u);

#endif
