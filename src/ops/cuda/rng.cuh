/*
 * rng.cuh: core/rng.c's Philox4x32-10 and its distributions as __device__ functions, so
 * dropout masks and noise on the GPU are the CPU's values (design decision 6).
 *
 * Uniform values are bit-identical (integer rounds, then exact double arithmetic). Normal
 * values use CUDA's double log/sin/cos (1-2 ulp in double), so after rounding to float they
 * equal the CPU's except, rarely, by one float ulp. The arithmetic is written with explicit
 * _rn intrinsics where nvcc could otherwise contract a multiply and an add into an FMA.
 */
#ifndef LETHE_OPS_CUDA_RNG_CUH
#define LETHE_OPS_CUDA_RNG_CUH

#include <stdint.h>

__device__ __forceinline__ void philox_dev(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t counter) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const uint32_t lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
        const uint32_t lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
        const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// (x + 0.5) / 2^32 in double, rounded to float, kept below 1 (rng.c's u32_to_open01)
__device__ __forceinline__ float u32_open01_dev(uint32_t x) {
    const float u = (float)__dmul_rn(__dadd_rn((double)x, 0.5), 1.0 / 4294967296.0);
    return u >= 1.0f ? 0x1.fffffep-1f : u;
}

__device__ __forceinline__ float rand_uniform_dev(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t r[4];
    philox_dev(r, seed, stream, i >> 2);
    return u32_open01_dev(r[i & 3]);
}

__device__ __forceinline__ float rand_normal_dev(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t r[4];
    philox_dev(r, seed, stream, i >> 2);
    const int pair = (int)((i >> 1) & 1), second = (int)(i & 1);
    const double u1 = __dmul_rn(__dadd_rn((double)r[2 * pair], 0.5), 1.0 / 4294967296.0);
    const double u2 = __dmul_rn(__dadd_rn((double)r[2 * pair + 1], 0.5), 1.0 / 4294967296.0);
    const double rad = sqrt(__dmul_rn(-2.0, log(u1))), ang = __dmul_rn(6.283185307179586, u2);
    return (float)(second ? __dmul_rn(rad, sin(ang)) : __dmul_rn(rad, cos(ang)));
}

#endif
