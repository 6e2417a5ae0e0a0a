/*
 * lora.h: masked LoRA adapters over a network's flat parameter buffer (SPARE, methods spec 5.1).
 * Which weights are adapted is the network's to say (lora_target in denoiser.h; NULL: lora_is_target).
 *
 * Each adapted weight W (out, in) gets factors B (out, r) and A (r, in):
 *
 *   W = W0 + s * M ⊙ (B A),    s = alpha / r,    M in {0, 1} (the saliency mask)
 *
 * A convolution weight (co, ci, kh, kw) is the matrix (co, ci*kh*kw): PEFT's conv LoRA (A a
 * conv with the layer's kernel into r channels, B a 1x1 conv) composes to exactly this
 * product kernel. Linear weights (attention to_q/to_k/to_v/to_out.0) are (out, in) already.
 *
 * Storage: all factors live in one flat buffer (the optimizer's trainable buffer). Layer l
 * holds B (out, r) row-major, then A TRANSPOSED, At (in, r) row-major. With that layout
 * ops' linear op, y (m, o) = x (m, i) w (o, i)^T, gives
 *   B A          = linear_forward(x = B, w = At)           (m = out, i = r, o = in)
 *   dB += D A^T,  dAt += D^T B = (B^T D)^T
 *                = linear_backward(dx = dB, dw = dAt, dy = D, x = B, w = At)
 * for the weight gradient G of the materialised W and D = s * M ⊙ G.
 * The scaled mask s*M is kept over the whole parameter buffer (same offsets as W).
 */
#ifndef LETHE_UNLEARN_LORA_H
#define LETHE_UNLEARN_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"

typedef struct {
    int entry;          // index of W in the parameter table
    size_t w_offset;    // W in the parameter buffer
    int out, in;        // W as a matrix (out, in)
    size_t b_offset;    // B (out, r) in the factor buffer
    size_t a_offset;    // At = A^T (in, r) in the factor buffer
} lora_layer;

typedef struct {
    lora_layer *layers;
    int n_layers;
    int rank;
    float scale;        // alpha / rank
    size_t n_factors;   // floats in the factor buffer
    size_t n_params;    // floats in the parameter buffer
    size_t max_numel;   // largest out*in (scratch size)
    float *smask;       // s * M over the parameter buffer (backend memory)
    float *scratch;     // max_numel floats (backend memory)
} lora_adapter;

// The default rule (the UNet's): every convolution weight (4-D) and the attention
// projections to_q, to_k, to_v, to_out.0 (Linear weights), by their diffusers names.
int lora_is_target(const param_entry *e);

// Adapters on every table entry that `target` accepts (NULL: lora_is_target); the mask
// starts as all ones (s*M = s). Error if no entry qualifies or rank < 1 or alpha <= 0.
lethe_status lora_init(lora_adapter *L, const param_table *t, int rank, float alpha,
                       int (*target)(const param_entry *e));
void lora_free(lora_adapter *L);

// PEFT's initial values (init_lora_weights=True): B = 0 and A = kaiming_uniform(a = sqrt(5)),
// i.e. U(-1/sqrt(in), 1/sqrt(in)), element (k, i) of A (r, in) drawn from Philox
// (seed, stream of layer l, k*in + i). `factors` is a backend buffer of n_factors floats.
lethe_status lora_init_factors(const lora_adapter *L, float *factors, uint64_t seed);

// s*M from a 0/1 mask over the parameter buffer (backend memory, n_params floats); NULL: all ones.
void lora_set_mask(lora_adapter *L, const float *mask);

// W = W0 + s*M ⊙ (B A) for every adapted layer (the rest of W is not touched).
void lora_materialise(const lora_adapter *L, float *W, const float *W0, const float *factors);

// Accumulates dB, dAt into dfactors from G, the gradient of the materialised W.
void lora_chain(const lora_adapter *L, float *dfactors, const float *G, const float *factors);

#endif
