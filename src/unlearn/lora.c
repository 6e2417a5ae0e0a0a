/* lora.c: masked LoRA adapters over a network's flat parameter buffer (see lora.h). */
#include "unlearn/lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"

// low 24 bits of the Philox stream of layer l's A (lethe_stream(LETHE_STREAM_INIT, l, tag)):
// distinct from the model's own initialisation (tag 0)
#define LORA_STREAM_TAG 0x4c4f52u   // "LOR"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int lora_is_target(const param_entry *e) {
    if (e->ndim == 4) return 1;
    if (e->ndim != 2) return 0;
    return ends_with(e->name, ".to_q.weight") || ends_with(e->name, ".to_k.weight") ||
           ends_with(e->name, ".to_v.weight") || ends_with(e->name, ".to_out.0.weight");
}

lethe_status lora_init(lora_adapter *L, const param_table *t, int rank, float alpha,
                       int (*target)(const param_entry *e)) {
    memset(L, 0, sizeof *L);
    if (rank < 1) return lethe_fail(LETHE_ERR_ARG, "LoRA rank must be at least 1 (got %d)", rank);
    if (!(alpha > 0) || !isfinite(alpha)) return lethe_fail(LETHE_ERR_ARG, "LoRA alpha must be positive (got %g)", (double)alpha);
    if (!target) target = lora_is_target;
    int n = 0;
    for (int i = 0; i < t->n; i++) n += target(&t->entries[i]) ? 1 : 0;
    if (n == 0) return lethe_fail(LETHE_ERR_ARG, "no layer of this model can carry a LoRA adapter");
    L->layers = calloc((size_t)n, sizeof *L->layers);
    if (!L->layers) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    L->rank = rank;
    L->scale = alpha / (float)rank;
    L->n_params = t->total;
    size_t off = 0;
    for (int i = 0; i < t->n; i++) {
        const param_entry *e = &t->entries[i];
        if (!target(e)) continue;
        lora_layer *l = &L->layers[L->n_layers++];
        l->entry = i;
        l->w_offset = e->offset;
        l->out = (int)e->shape[0];
        l->in = (int)(e->numel / (size_t)e->shape[0]);
        l->b_offset = off;
        off += (size_t)l->out * (size_t)rank;
        l->a_offset = off;
        off += (size_t)l->in * (size_t)rank;
        if (e->numel > L->max_numel) L->max_numel = e->numel;
    }
    L->n_factors = off;
    L->smask = ops()->alloc(L->n_params * sizeof(float));
    L->scratch = ops()->alloc(L->max_numel * sizeof(float));
    if (!L->smask || !L->scratch) {
        lora_free(L);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the LoRA mask");
    }
    lora_set_mask(L, NULL);
    return LETHE_OK;
}

void lora_free(lora_adapter *L) {
    free(L->layers);
    ops()->release(L->smask);
    ops()->release(L->scratch);
    memset(L, 0, sizeof *L);
}

lethe_status lora_init_factors(const lora_adapter *L, float *factors, uint64_t seed) {
    float *h = calloc(L->n_factors, sizeof(float));   // B = 0
    if (!h) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the LoRA factors");
    const int r = L->rank;
    for (int li = 0; li < L->n_layers; li++) {
        const lora_layer *l = &L->layers[li];
        const uint64_t stream = lethe_stream(LETHE_STREAM_INIT, (uint64_t)li, LORA_STREAM_TAG);
        const float bound = 1.0f / sqrtf((float)l->in);
        float *at = h + l->a_offset;
        for (int k = 0; k < r; k++)
            for (int i = 0; i < l->in; i++)   // A[k][i], stored at At[i][k]
                at[(size_t)i * r + k] = bound * (2.0f * lethe_rand_uniform(seed, stream, (uint64_t)k * l->in + i) - 1.0f);
    }
    ops()->to_device(factors, h, L->n_factors * sizeof(float));
    free(h);
    return LETHE_OK;
}

void lora_set_mask(lora_adapter *L, const float *mask) {
    if (mask) ops()->axpbz(L->smask, L->scale, mask, 0.0f, NULL, L->n_params);
    else ops()->fill(L->smask, L->scale, L->n_params);
}

void lora_materialise(const lora_adapter *L, float *W, const float *W0, const float *factors) {
    for (int li = 0; li < L->n_layers; li++) {
        const lora_layer *l = &L->layers[li];
        const size_t n = (size_t)l->out * l->in;
        // scratch (out, in) = B (out, r) At (in, r)^T = B A
        ops()->linear_forward(L->scratch, factors + l->b_offset, factors + l->a_offset, NULL, l->out, L->rank, l->in);
        ops()->mul(L->scratch, L->scratch, L->smask + l->w_offset, n);
        ops()->axpbz(W + l->w_offset, 1.0f, W0 + l->w_offset, 1.0f, L->scratch, n);
    }
}

void lora_chain(const lora_adapter *L, float *dfactors, const float *G, const float *factors) {
    for (int li = 0; li < L->n_layers; li++) {
        const lora_layer *l = &L->layers[li];
        const size_t n = (size_t)l->out * l->in;
        ops()->mul(L->scratch, G + l->w_offset, L->smask + l->w_offset, n);   // D = s M ⊙ G
        // dB (out, r) += D At; dAt (in, r) += D^T B
        ops()->linear_backward(dfactors + l->b_offset, dfactors + l->a_offset, NULL, L->scratch,
                               factors + l->b_offset, factors + l->a_offset, l->out, L->rank, l->in);
    }
}
