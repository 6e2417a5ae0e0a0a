/*
 * generate.h: the samples an evaluation judges, with noise fixed per (class, index).
 *
 * Sample i of class c has global index c * EVAL_CLASS_STRIDE + i (unconditional models:
 * index i), and both its x_T and its sampler noise are keyed by that index (sampler.h).
 * So every model compared sees the same noise for the same (class, i), whatever the
 * batch size and however many samples are asked for.
 */
#ifndef LETHE_DIFFUSION_GENERATE_H
#define LETHE_DIFFUSION_GENERATE_H

#include <stdint.h>

#include "diffusion/sampler.h"

#define EVAL_CLASS_STRIDE (1 << 20)

// n samples of class `label` (-1: unconditional; the class is made a cond of d's network) as uint8 images (n * numel bytes, the
// values a saved PNG would hold). so->seed is the noise seed; batch: samples per chain
// (guidance doubles the network batch). progress (may be NULL) gets (steps done, all steps).
lethe_status eval_generate(const lethe_schedule *s, const sampler_opts *so, denoiser_infer *d, int label, int n,
                           int batch, uint8_t *u8_out, sampler_progress_fn progress, void *user);

// uint8 images back to [-1, 1] floats (k / 127.5 - 1), as a dataset batch is scaled.
void u8_to_unit_range(float *x, const uint8_t *u8, size_t count);

#endif
