/* arena.c: chunked bump allocator over backend memory (see arena.h). */
#include "ops/arena.h"

#include <string.h>

#include "ops/ops.h"

#define ARENA_MIN_CHUNK ((size_t)4 << 20)   // floats (16 MiB)
#define ALIGN_FLOATS 16                     // 64 bytes

void arena_init(lethe_arena *a) { memset(a, 0, sizeof *a); }

void arena_free(lethe_arena *a) {
    for (int i = 0; i < a->n_chunks; i++) ops()->release(a->chunks[i]);
    memset(a, 0, sizeof *a);
}

void arena_reset(lethe_arena *a) {
    if (a->total_used > a->high_water) a->high_water = a->total_used;
    // Several chunks were needed: replace them with one block of the high-water size.
    if (a->n_chunks > 1 && !a->failed) {
        size_t want = a->high_water + (size_t)ALIGN_FLOATS * 256;
        float *one = ops()->alloc(want * sizeof(float));
        if (one) {
            for (int i = 0; i < a->n_chunks; i++) ops()->release(a->chunks[i]);
            a->chunks[0] = one;
            a->caps[0] = want;
            a->n_chunks = 1;
        }
    }
    a->cur = 0;
    a->used = 0;
    a->total_used = 0;
    a->failed = 0;
}

float *arena_floats(lethe_arena *a, size_t n) {
    size_t need = (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    while (a->cur < a->n_chunks && a->used + need > a->caps[a->cur]) {
        a->cur++;
        a->used = 0;
    }
    if (a->cur == a->n_chunks) {
        if (a->n_chunks == ARENA_MAX_CHUNKS) { a->failed = 1; return NULL; }
        // Geometric growth: each new chunk is at least as large as all before it, so a
        // first step needs few chunks and reset merges them into one.
        size_t have = 0;
        for (int i = 0; i < a->n_chunks; i++) have += a->caps[i];
        size_t cap = need > ARENA_MIN_CHUNK ? need : ARENA_MIN_CHUNK;
        if (cap < have) cap = have;
        float *p = ops()->alloc(cap * sizeof(float));
        if (!p) { a->failed = 1; return NULL; }
        a->chunks[a->n_chunks] = p;
        a->caps[a->n_chunks] = cap;
        a->n_chunks++;
        a->used = 0;
    }
    float *p = a->chunks[a->cur] + a->used;
    a->used += need;
    a->total_used += need;
    return p;
}

float *arena_zeros(lethe_arena *a, size_t n) {
    float *p = arena_floats(a, n);
    if (p) ops()->fill(p, 0.0f, n);
    return p;
}

size_t arena_bytes(const lethe_arena *a) {
    size_t s = 0;
    for (int i = 0; i < a->n_chunks; i++) s += a->caps[i] * sizeof(float);
    return s;
}

arena_mark_t arena_mark(const lethe_arena *a) { return (arena_mark_t){a->cur, a->used, a->total_used}; }

void arena_release(lethe_arena *a, arena_mark_t m) {
    if (a->total_used > a->high_water) a->high_water = a->total_used;
    a->cur = m.cur;
    a->used = m.used;
    a->total_used = m.total_used;
}
