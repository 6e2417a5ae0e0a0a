/*
 * gemm_bf16.c: the bf16 mixed-precision GEMM behind `--precision bf16`.
 *
 * C = alpha op(A) op(B) + beta C with A and B rounded to bfloat16 (round to nearest even)
 * and every product summed in fp32 into the fp32 C: oneDNN's matmul primitive, whose
 * kernels use AVX512-BF16 or AMX where the CPU has them. The caller's fp32 arrays are
 * never changed: the master weights, the optimizer, GroupNorm, softmax and every
 * elementwise op stay fp32; only the GEMMs' inputs lose precision (8 bits of mantissa).
 * bf16 keeps fp32's exponent range, so gradients need no loss scaling.
 *
 * Each thread keeps its own stream, bf16 copies and a small cache of primitives keyed by
 * the product's shape (creating one costs a few microseconds even with oneDNN's own
 * primitive cache). Called, like every GEMM of the CPU ops, single-threaded from inside
 * lethe's OpenMP regions, or from serial code where oneDNN may use every thread.
 */
#include "ops/cpu/cpu.h"

#ifdef LETHE_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

const char *lethe_cpu_bf16_unavailable(void) {
    // oneDNN would run bf16 on any AVX-512 CPU, but by emulation, slower than fp32
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx) return NULL;
    return "this CPU has neither AVX512-BF16 nor AMX";
}

typedef struct {
    bool trans_a, trans_b;
    int m, n, k, ldc;
    float alpha, beta;
    int threads;   // oneDNN sizes a primitive's work split for the threads it sees when created
} product_key;

typedef struct {
    product_key key;
    bool used;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;   // memory objects whose data handles are set per call
} product_entry;

#define CACHE_SLOTS 64

typedef struct {
    dnnl_stream_t stream;
    product_entry cache[CACHE_SLOTS];
    uint16_t *a16, *b16;   // bf16 copies of A and B, grown as needed
    size_t a16_cap, b16_cap;
} thread_state;

// One per thread for the life of the process: OpenMP's threads are never destroyed.
static _Thread_local thread_state *state;

static bool key_equal(const product_key *x, const product_key *y) {
    return x->trans_a == y->trans_a && x->trans_b == y->trans_b && x->m == y->m && x->n == y->n && x->k == y->k &&
           x->ldc == y->ldc && x->alpha == y->alpha && x->beta == y->beta && x->threads == y->threads;
}

static unsigned key_slot(const product_key *p) {
    unsigned h = (unsigned)p->m * 73856093u ^ (unsigned)p->n * 19349663u ^ (unsigned)p->k * 83492791u ^
                 (unsigned)p->ldc * 2654435761u ^ (unsigned)p->trans_a * 7u ^ (unsigned)p->trans_b * 13u;
    return h % CACHE_SLOTS;
}

static void entry_clear(product_entry *e) {
    if (!e->used) return;
    dnnl_memory_destroy(e->a);
    dnnl_memory_destroy(e->b);
    dnnl_memory_destroy(e->c);
    dnnl_primitive_destroy(e->prim);
    e->used = false;
}

// The bf16 copies are dense: op(A) is m x k, stored k-major when transposed, so the
// primitive reads it through strides, as it reads op(B).
static bool entry_build(product_entry *e, const product_key *p) {
    dnnl_memory_desc_t ad, bd, cd;
    dnnl_dims_t adims = {p->m, p->k}, bdims = {p->k, p->n}, cdims = {p->m, p->n};
    dnnl_dims_t astr = {p->trans_a ? 1 : p->k, p->trans_a ? p->m : 1};
    dnnl_dims_t bstr = {p->trans_b ? 1 : p->n, p->trans_b ? p->k : 1};
    dnnl_dims_t cstr = {p->ldc, 1};
    if (dnnl_memory_desc_init_by_strides(&ad, 2, adims, dnnl_bf16, astr) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&bd, 2, bdims, dnnl_bf16, bstr) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&cd, 2, cdims, dnnl_f32, cstr) != dnnl_success)
        return false;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd) != dnnl_success) return false;
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return false;
    bool ok = true;
    if (p->alpha != 1.0f) ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &p->alpha) == dnnl_success;
    if (ok && p->beta != 0.0f) {   // C = alpha AB + beta C: oneDNN's sum post-op
        dnnl_post_ops_t po;
        ok = dnnl_post_ops_create(&po) == dnnl_success;
        if (ok) {
            ok = dnnl_post_ops_append_sum(po, p->beta) == dnnl_success &&
                 dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
            dnnl_post_ops_destroy(po);
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success;
    dnnl_primitive_attr_destroy(attr);
    if (!ok) return false;
    ok = dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (!ok) return false;
    if (dnnl_memory_create(&e->a, &ad, engine, DNNL_MEMORY_NONE) != dnnl_success) goto fail_prim;
    if (dnnl_memory_create(&e->b, &bd, engine, DNNL_MEMORY_NONE) != dnnl_success) goto fail_a;
    if (dnnl_memory_create(&e->c, &cd, engine, DNNL_MEMORY_NONE) != dnnl_success) goto fail_b;
    e->key = *p;
    e->used = true;
    return true;
fail_b:
    dnnl_memory_destroy(e->b);
fail_a:
    dnnl_memory_destroy(e->a);
fail_prim:
    dnnl_primitive_destroy(e->prim);
    return false;
}

static thread_state *this_thread(void) {
    if (state) return state;
    pthread_once(&engine_once, engine_init);
    if (!engine) return NULL;
    thread_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (dnnl_stream_create(&s->stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        free(s);
        return NULL;
    }
    return state = s;
}

static uint16_t *grow(uint16_t **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        uint16_t *p = realloc(*buf, n * sizeof **buf);
        if (!p) return NULL;
        *buf = p;
        *cap = n;
    }
    return *buf;
}

// fp32 -> bf16, round to nearest even; a NaN stays a (quiet) NaN
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// rows x cols of src (leading dimension ld) into a dense rows x cols bf16 block
static void round_block(uint16_t *dst, const float *src, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * ld;
        uint16_t *d = dst + (size_t)r * cols;
        for (int c = 0; c < cols; c++) d[c] = to_bf16(s[c]);
    }
}

bool lethe_cpu_sgemm_bf16(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc) {
    thread_state *s = this_thread();
    if (!s) return false;
    const product_key key = {trans_a, trans_b, m, n, k, ldc, alpha, beta, lethe_cpu_max_threads()};
    product_entry *e = &s->cache[key_slot(&key)];
    if (!e->used || !key_equal(&e->key, &key)) {
        entry_clear(e);
        if (!entry_build(e, &key)) return false;
    }
    uint16_t *a16 = grow(&s->a16, &s->a16_cap, (size_t)m * k);
    uint16_t *b16 = grow(&s->b16, &s->b16_cap, (size_t)k * n);
    if (!a16 || !b16) return false;
    // stored A is m x k, or k x m when transposed; likewise B
    round_block(a16, a, trans_a ? k : m, trans_a ? m : k, lda);
    round_block(b16, b, trans_b ? n : k, trans_b ? k : n, ldb);
    if (dnnl_memory_set_data_handle(e->a, a16) != dnnl_success || dnnl_memory_set_data_handle(e->b, b16) != dnnl_success ||
        dnnl_memory_set_data_handle(e->c, c) != dnnl_success)
        return false;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    return dnnl_primitive_execute(e->prim, s->stream, 3, args) == dnnl_success &&
           dnnl_stream_wait(s->stream) == dnnl_success;
}

#else

const char *lethe_cpu_bf16_unavailable(void) {
    return "this lethe was built without oneDNN (apt-get install libdnnl-dev, then rebuild)";
}

bool lethe_cpu_sgemm_bf16(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc) {
    return false;
}

#endif
