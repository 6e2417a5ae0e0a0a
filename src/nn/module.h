/*
 * module.h: what every module's forward/backward receives besides tensors.
 */
#ifndef LETHE_NN_MODULE_H
#define LETHE_NN_MODULE_H

#include <stdint.h>

#include "ops/arena.h"

typedef struct {
    lethe_arena *arena;      // activations saved for backward (train) or scratch (inference)
    int train;               // 1: save what backward needs and apply dropout; 0: keep nothing
    int no_dropout;          // with train: save for backward but no dropout (a frozen network's input gradient)
    uint64_t seed;           // dropout masks: Philox (seed, stream(dropout, step, layer))
    uint64_t step;
} nn_ctx;

#endif
