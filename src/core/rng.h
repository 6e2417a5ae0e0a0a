/*
 * rng.h: counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * A value is a pure function of (seed, stream, counter), so the same seed gives the
 * same noise regardless of batch order, thread count or backend (CPU and GPU
 * compute the same function). Streams separate independent uses (noise for
 * training step k, dropout of layer j, ...); counters index elements.
 */
#ifndef LETHE_CORE_RNG_H
#define LETHE_CORE_RNG_H

#include <stdint.h>

// Four 32-bit random words for block `counter` of (seed, stream).
void lethe_philox(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t counter);

// Uniform in (0, 1): never 0, so log() is safe. Element i of (seed, stream).
float lethe_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i);

// Standard normal via Box-Muller; element i of (seed, stream).
float lethe_rand_normal(uint64_t seed, uint64_t stream, uint64_t i);

// The same values four at a time: out[k] = element 4*block + k. One Philox call serves all
// four (the per-element functions above compute a whole block for each element), so bulk
// fills (dropout masks, noise) should use these.
void lethe_rand_uniform4(float out[4], uint64_t seed, uint64_t stream, uint64_t block);
void lethe_rand_normal4(float out[4], uint64_t seed, uint64_t stream, uint64_t block);

// Uniform integer in [0, n). Element i of (seed, stream).
uint32_t lethe_rand_below(uint64_t seed, uint64_t stream, uint64_t i, uint32_t n);

// Derive a stream id from a purpose tag and indices, so callers never collide:
// lethe_stream(LETHE_STREAM_NOISE, step, 0).
enum {
    LETHE_STREAM_INIT = 1,     // parameter initialisation (index = tensor index)
    LETHE_STREAM_BATCH,        // which examples form a batch
    LETHE_STREAM_TIMESTEP,     // training timesteps
    LETHE_STREAM_NOISE,        // training epsilon
    LETHE_STREAM_LABEL_DROP,   // classifier-free guidance label dropout
    LETHE_STREAM_DROPOUT,      // dropout masks
    LETHE_STREAM_SAMPLE,       // sampler noise
    LETHE_STREAM_NLL,          // likelihood bound: timesteps and noise per (image, term)
    LETHE_STREAM_MIA,          // membership inference: the fixed (t, noise) pairs
    LETHE_STREAM_AUGMENT,      // classifier training: flips and shuffles
    LETHE_STREAM_CANVAS,       // Fashion-Canvas: a rendering's pattern phase, grain, colours
    LETHE_STREAM_PROBE,        // closed-form editors (ScaPre): noisy probes of a matrix's responses
};
uint64_t lethe_stream(uint32_t purpose, uint64_t a, uint64_t b);

#endif
