/*
 * arena.h: bump allocator for activations.
 *
 * A forward pass takes what it saves for backward from an arena; `arena_reset` at the
 * start of the next step hands the same memory out again. Memory comes from the active
 * backend in chunks; after the first step at a given (batch, resolution) no allocation
 * happens. `arena_consolidate` (called by reset) merges chunks into one block sized to
 * the high-water mark, so steady state is a single allocation.
 */
#ifndef LETHE_OPS_ARENA_H
#define LETHE_OPS_ARENA_H

#include <stddef.h>

#define ARENA_MAX_CHUNKS 64

typedef struct {
    float *chunks[ARENA_MAX_CHUNKS];
    size_t caps[ARENA_MAX_CHUNKS];   // in floats
    int n_chunks;
    int cur;                         // chunk being filled
    size_t used;                     // floats used in chunk `cur`
    size_t total_used, high_water;   // floats, across chunks
    int failed;                      // set when an allocation failed (callers check once per step)
} lethe_arena;

void arena_init(lethe_arena *a);
void arena_free(lethe_arena *a);
// Starts a new step: everything handed out before is invalid afterwards.
void arena_reset(lethe_arena *a);
// n floats, 64-byte aligned, uninitialised. NULL (and a->failed) if memory runs out.
float *arena_floats(lethe_arena *a, size_t n);
// n floats set to zero (gradient buffers: backward accumulates).
float *arena_zeros(lethe_arena *a, size_t n);
size_t arena_bytes(const lethe_arena *a);

// Stack discipline for inference: temporaries taken after a mark are handed back by
// arena_release, so a forward without backward keeps only what later layers read.
typedef struct { int cur; size_t used, total_used; } arena_mark_t;
arena_mark_t arena_mark(const lethe_arena *a);
void arena_release(lethe_arena *a, arena_mark_t m);

#endif
