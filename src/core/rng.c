/* rng.c: Philox4x32-10 and the distributions built on it (see rng.h). */
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void lethe_philox(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t counter) {
    // counter words: (counter lo, counter hi, stream lo, stream hi); key: seed.
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0; k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline float u32_to_open01(uint32_t x) {
    // (x + 0.5) / 2^32 in double, rounded to float: strictly inside (0, 1) after clamping.
    float u = (float)(((double)x + 0.5) * (1.0 / 4294967296.0));
    return u >= 1.0f ? 0x1.fffffep-1f : u;
}

float lethe_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t r[4];
    lethe_philox(r, seed, stream, i >> 2);
    return u32_to_open01(r[i & 3]);
}

void lethe_rand_uniform4(float out[4], uint64_t seed, uint64_t stream, uint64_t block) {
    uint32_t r[4];
    lethe_philox(r, seed, stream, block);
    for (int k = 0; k < 4; k++) out[k] = u32_to_open01(r[k]);
}

// One Box-Muller pair (cos, sin) from two Philox words: elements 2p, 2p+1 of a block.
static inline void box_muller(uint32_t a, uint32_t b, float out[2]) {
    double u1 = ((double)a + 0.5) * (1.0 / 4294967296.0);
    double u2 = ((double)b + 0.5) * (1.0 / 4294967296.0);
    double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
    out[0] = (float)(rad * cos(ang));
    out[1] = (float)(rad * sin(ang));
}

void lethe_rand_normal4(float out[4], uint64_t seed, uint64_t stream, uint64_t block) {
    uint32_t r[4];
    lethe_philox(r, seed, stream, block);
    box_muller(r[0], r[1], out);
    box_muller(r[2], r[3], out + 2);
}

float lethe_rand_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    // One Philox block gives two Box-Muller pairs: elements 4b..4b+3.
    uint32_t r[4];
    lethe_philox(r, seed, stream, i >> 2);
    const int pair = (int)((i >> 1) & 1);
    float z[2];
    box_muller(r[2 * pair], r[2 * pair + 1], z);
    return z[i & 1];
}

uint32_t lethe_rand_below(uint64_t seed, uint64_t stream, uint64_t i, uint32_t n) {
    uint32_t r[4];
    lethe_philox(r, seed, stream, i >> 2);
    return (uint32_t)(((uint64_t)r[i & 3] * n) >> 32);
}

uint64_t lethe_stream(uint32_t purpose, uint64_t a, uint64_t b) {
    // purpose in the top byte, a in the middle 32 bits, b in the low 24 bits.
    return ((uint64_t)purpose << 56) ^ ((a & 0xffffffffu) << 24) ^ (b & 0xffffffu);
}
