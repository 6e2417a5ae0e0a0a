/*
 * test_backend_consistency.c: the CUDA backend against the CPU reference, op by op, in the
 * spirit of ggml's test-backend-ops.
 *
 * For every op of the table: seeded random inputs, the same values on both backends, the
 * op run on each, and every output (forward) or gradient (backward, accumulating onto
 * random starting values) compared by the normalised error ||gpu - cpu||_2 / ||cpu||_2
 * against a per-op limit. Layout and RNG ops must match exactly (limit 0). Then the whole
 * UNet (tiny, and small with attention and dropout): eps, every parameter gradient and the
 * input gradient; five training steps (loss per step, final weights); and run-to-run
 * determinism of the GPU (bit-identical gradients twice).
 * GEMMs run in FP32 here (TF32 off), so the limits are float32 rounding with headroom.
 *
 * Without a CUDA build or a GPU every test is skipped with "skipped: no CUDA device".
 * LETHE_TEST_DEVICE=cpu runs the whole harness with the CPU table in the GPU's place
 * (every error must be 0): a check of the test itself on machines without a GPU.
 *
 * Run from the repository root: ./build-cuda/tests/test_backend_consistency
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "core/rng.h"
#include "nn/unet.h"
#include "ops/ops.h"
#include "optim/adamw.h"

#ifdef LETHE_CUDA
#include "ops/cuda/cuda.h"
#endif

static const lethe_backend *cpu = &lethe_backend_cpu, *gpu;
static const char *skip_reason;
static int n_checks;
static double worst_ratio;   // max over checks of err / limit
static char worst_name[160];

#define NEED_GPU() \
    do {           \
        if (!gpu) skip(); \
    } while (0)

// ---- paired tensors -------------------------------------------------------------------------------

// The same tensor on the CPU (h, host memory) and the GPU (d, device memory).
typedef struct {
    float *h, *d;
    size_t n;
} tpair;

static tpair tp_alloc(size_t n) {
    tpair t = {calloc(n ? n : 1, sizeof(float)), gpu->alloc((n ? n : 1) * sizeof(float)), n};
    assert_non_null(t.h);
    assert_non_null(t.d);
    return t;
}

static void tp_upload(tpair *t) { gpu->to_device(t->d, t->h, t->n * sizeof(float)); }

// uniform in [lo, hi), a pure function of seed
static tpair tp_rand(size_t n, float lo, float hi, uint64_t seed) {
    tpair t = tp_alloc(n);
    for (size_t i = 0; i < n; i++) t.h[i] = lo + (hi - lo) * lethe_rand_uniform(seed, 4242, i);
    tp_upload(&t);
    return t;
}

static void tp_free(tpair *t) {
    free(t->h);
    gpu->release(t->d);
    t->h = t->d = NULL;
}

// int array on both sides
typedef struct {
    int *h, *d;
} ipair;

static ipair ip_make(const int *v, int n) {
    ipair p = {malloc((size_t)n * sizeof(int)), gpu->alloc((size_t)n * sizeof(int))};
    assert_non_null(p.h);
    assert_non_null(p.d);
    memcpy(p.h, v, (size_t)n * sizeof(int));
    gpu->to_device(p.d, v, (size_t)n * sizeof(int));
    return p;
}

static void ip_free(ipair *p) {
    free(p->h);
    gpu->release(p->d);
}

// ||a - b|| / ||b|| in double (0 when both are 0; inf on NaN)
static double norm_err(const float *a, const float *b, size_t n) {
    double d2 = 0, b2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        if (d != d) return INFINITY;
        d2 += d * d;
        b2 += (double)b[i] * (double)b[i];
    }
    if (d2 == 0) return 0;
    return sqrt(d2) / (b2 > 0 ? sqrt(b2) : 1e-30);
}

static void report(const char *op, const char *what, double err, double limit) {
    n_checks++;
    const double ratio = limit > 0 ? err / limit : (err > 0 ? INFINITY : 0);
    if (ratio > worst_ratio || worst_name[0] == 0) {
        worst_ratio = ratio;
        snprintf(worst_name, sizeof worst_name, "%s %s", op, what);
    }
    printf("    %-34s %-10s err %.2e (limit %.0e)%s\n", op, what, err, limit, err <= limit ? "" : "  <-- FAIL");
    if (!(err <= limit)) fail_msg("%s %s: normalised error %.3g over the limit %.3g", op, what, err, limit);
}

// compares the GPU copy of t with its CPU copy
static void expect_close(const char *op, const char *what, const tpair *t, double limit) {
    float *g = malloc((t->n ? t->n : 1) * sizeof(float));
    assert_non_null(g);
    gpu->to_host(g, t->d, t->n * sizeof(float));
    const double err = norm_err(g, t->h, t->n);
    free(g);
    report(op, what, err, limit);
}

static void expect_scalar(const char *op, const char *what, double g, double c, double limit) {
    const double err = g == c ? 0 : fabs(g - c) / (fabs(c) > 0 ? fabs(c) : 1e-30);
    report(op, what, g != g ? INFINITY : err, limit);
}

// Limits (normalised errors). GEMM ops sum K products in another order: ~sqrt(K) ulp.
#define EXACT 0.0
#define ELEMENTWISE 1e-6   // different expf / FMA contraction: a few ulp
#define REDUCTION 1e-6     // double sums in another order, rounded to float
#define GEMM 1e-5
#define GEMM_BWD 2e-5

// ---- setup ------------------------------------------------------------------------------------------

static int group_setup(void **state) {
    (void)state;
    const char *dev = getenv("LETHE_TEST_DEVICE");
    if (dev && !strcmp(dev, "cpu")) {
        gpu = &lethe_backend_cpu;
        printf("LETHE_TEST_DEVICE=cpu: the CPU table stands in for the GPU (a check of this harness)\n");
        return 0;
    }
    gpu = ops_cuda_backend();
    if (!gpu) {
        skip_reason = lethe_last_error();
        printf("skipped: no CUDA device (%s)\n", skip_reason);
        return 0;
    }
#ifdef LETHE_CUDA
    lethe_cuda_set_tf32(0);
    printf("CUDA device: %s\n", lethe_cuda_device_name());
#endif
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (gpu && n_checks)
        printf("backend consistency: %d checks, worst %s at %.2g of its limit\n", n_checks, worst_name, worst_ratio);
    return 0;
}

// ---- memory -------------------------------------------------------------------------------------------

static void test_memory(void **state) {
    (void)state;
    NEED_GPU();
    tpair a = tp_rand(1000, -1, 1, 1);
    float *back = malloc(1000 * sizeof(float));
    gpu->to_host(back, a.d, 1000 * sizeof(float));
    report("to_device/to_host", "round trip", norm_err(back, a.h, 1000), EXACT);
    // zero-filled alloc
    float *z = gpu->alloc(777 * sizeof(float));
    gpu->to_host(back, z, 777 * sizeof(float));
    double s = 0;
    for (int i = 0; i < 777; i++) s += fabs(back[i]);
    report("alloc", "zeroed", s, EXACT);
    gpu->release(z);
    // copy, overlapping both ways (memmove semantics)
    cpu->copy(a.h + 10, a.h, 500);
    gpu->copy(a.d + 10, a.d, 500);
    expect_close("copy", "overlap up", &a, EXACT);
    cpu->copy(a.h, a.h + 7, 600);
    gpu->copy(a.d, a.d + 7, 600);
    expect_close("copy", "overlap down", &a, EXACT);
    cpu->fill(a.h + 3, -2.5f, 900);
    gpu->fill(a.d + 3, -2.5f, 900);
    expect_close("fill", "value", &a, EXACT);
    cpu->fill(a.h, 0.0f, 100);
    gpu->fill(a.d, 0.0f, 100);
    expect_close("fill", "zero", &a, EXACT);
    free(back);
    tp_free(&a);
}

// ---- conv2d -------------------------------------------------------------------------------------------

static void conv_case(const char *name, conv2d_shape s, int with_bias) {
    const int oh = conv2d_out_h(&s), ow = conv2d_out_w(&s);
    const size_t nx = (size_t)s.n * s.ci * s.h * s.w, nw = (size_t)s.co * s.ci * s.kh * s.kw,
                 ny = (size_t)s.n * s.co * oh * ow;
    tpair x = tp_rand(nx, -1, 1, 11), w = tp_rand(nw, -0.5f, 0.5f, 12), b = tp_rand((size_t)s.co, -1, 1, 13);
    tpair y = tp_alloc(ny), dy = tp_rand(ny, -1, 1, 14);
    tpair dx = tp_rand(nx, -1, 1, 15), dw = tp_rand(nw, -1, 1, 16), db = tp_rand((size_t)s.co, -1, 1, 17);
    cpu->conv2d_forward(y.h, x.h, w.h, with_bias ? b.h : NULL, &s);
    gpu->conv2d_forward(y.d, x.d, w.d, with_bias ? b.d : NULL, &s);
    expect_close(name, "fwd y", &y, GEMM);
    cpu->conv2d_backward(dx.h, dw.h, with_bias ? db.h : NULL, dy.h, x.h, w.h, &s);
    gpu->conv2d_backward(dx.d, dw.d, with_bias ? db.d : NULL, dy.d, x.d, w.d, &s);
    expect_close(name, "bwd dx", &dx, GEMM_BWD);
    expect_close(name, "bwd dw", &dw, GEMM_BWD);
    if (with_bias) expect_close(name, "bwd db", &db, REDUCTION);
    // one gradient at a time (the others NULL)
    cpu->conv2d_backward(NULL, dw.h, NULL, dy.h, x.h, w.h, &s);
    gpu->conv2d_backward(NULL, dw.d, NULL, dy.d, x.d, w.d, &s);
    expect_close(name, "bwd dw only", &dw, GEMM_BWD);
    cpu->conv2d_backward(dx.h, NULL, NULL, dy.h, x.h, w.h, &s);
    gpu->conv2d_backward(dx.d, NULL, NULL, dy.d, x.d, w.d, &s);
    expect_close(name, "bwd dx only", &dx, GEMM_BWD);
    tp_free(&x); tp_free(&w); tp_free(&b); tp_free(&y); tp_free(&dy); tp_free(&dx); tp_free(&dw); tp_free(&db);
}

static void test_conv2d(void **state) {
    (void)state;
    NEED_GPU();
    conv_case("conv2d 3x3 s1 p1", (conv2d_shape){.n = 3, .ci = 8, .h = 10, .w = 10, .co = 16, .kh = 3, .kw = 3, .stride = 1, .pad = 1}, 1);
    conv_case("conv2d 3x3 s2 p1 odd", (conv2d_shape){.n = 2, .ci = 6, .h = 9, .w = 11, .co = 5, .kh = 3, .kw = 3, .stride = 2, .pad = 1}, 1);
    conv_case("conv2d 1x1 shortcut", (conv2d_shape){.n = 4, .ci = 12, .h = 7, .w = 7, .co = 8, .kh = 1, .kw = 1, .stride = 1, .pad = 0}, 1);
    conv_case("conv2d 1x1 no bias", (conv2d_shape){.n = 2, .ci = 3, .h = 5, .w = 6, .co = 4, .kh = 1, .kw = 1, .stride = 1, .pad = 0}, 0);
    conv_case("conv2d conv_in ci=1", (conv2d_shape){.n = 5, .ci = 1, .h = 28, .w = 28, .co = 32, .kh = 3, .kw = 3, .stride = 1, .pad = 1}, 1);
    conv_case("conv2d 5x3 p0", (conv2d_shape){.n = 2, .ci = 3, .h = 8, .w = 9, .co = 4, .kh = 5, .kw = 3, .stride = 1, .pad = 0}, 1);
#ifdef LETHE_CUDA
    if (gpu != &lethe_backend_cpu) {   // small scratch: samples in several groups
        const size_t saved = lethe_cuda_scratch_limit();
        lethe_cuda_set_scratch_limit(40000);
        conv_case("conv2d grouped (scratch 40 kB)", (conv2d_shape){.n = 5, .ci = 8, .h = 12, .w = 12, .co = 8, .kh = 3, .kw = 3, .stride = 1, .pad = 1}, 1);
        lethe_cuda_set_scratch_limit(saved);
    }
#endif
}

// ---- group norm, silu ------------------------------------------------------------------------------------

static void gn_case(const char *name, int n, int c, int hw, int groups, int affine) {
    const size_t nx = (size_t)n * c * hw, ng = (size_t)n * groups;
    tpair x = tp_rand(nx, -2, 3, 21), g = tp_rand((size_t)c, 0.5f, 1.5f, 22), b = tp_rand((size_t)c, -1, 1, 23);
    tpair y = tp_alloc(nx), a = tp_alloc(nx), mean = tp_alloc(ng), rstd = tp_alloc(ng);
    const float *gh = affine ? g.h : NULL, *gd = affine ? g.d : NULL, *bh = affine ? b.h : NULL, *bd = affine ? b.d : NULL;
    cpu->group_norm_forward(y.h, mean.h, rstd.h, x.h, gh, bh, n, c, hw, groups, 1e-5f);
    gpu->group_norm_forward(y.d, mean.d, rstd.d, x.d, gd, bd, n, c, hw, groups, 1e-5f);
    expect_close(name, "fwd y", &y, ELEMENTWISE);
    expect_close(name, "fwd mean", &mean, REDUCTION);
    expect_close(name, "fwd rstd", &rstd, REDUCTION);
    // fused GroupNorm + SiLU against the two CPU ops
    if (gpu->group_norm_silu_forward) {
        cpu->silu_forward(a.h, y.h, nx);
        gpu->fill(y.d, 0.0f, nx);
        gpu->group_norm_silu_forward(y.d, a.d, mean.d, rstd.d, x.d, gd, bd, n, c, hw, groups, 1e-5f);
        expect_close(name, "fused y", &y, ELEMENTWISE);
        expect_close(name, "fused silu", &a, ELEMENTWISE);
    }
    tpair dy = tp_rand(nx, -1, 1, 24), dx = tp_rand(nx, -1, 1, 25), dg = tp_rand((size_t)c, -1, 1, 26),
          db = tp_rand((size_t)c, -1, 1, 27);
    cpu->group_norm_backward(dx.h, affine ? dg.h : NULL, affine ? db.h : NULL, dy.h, x.h, mean.h, rstd.h, gh, n, c, hw, groups);
    gpu->group_norm_backward(dx.d, affine ? dg.d : NULL, affine ? db.d : NULL, dy.d, x.d, mean.d, rstd.d, gd, n, c, hw, groups);
    expect_close(name, "bwd dx", &dx, ELEMENTWISE * 10);
    if (affine) {
        expect_close(name, "bwd dgamma", &dg, REDUCTION * 10);
        expect_close(name, "bwd dbeta", &db, REDUCTION);
    }
    tp_free(&x); tp_free(&g); tp_free(&b); tp_free(&y); tp_free(&a); tp_free(&mean); tp_free(&rstd);
    tp_free(&dy); tp_free(&dx); tp_free(&dg); tp_free(&db);
}

static void test_group_norm(void **state) {
    (void)state;
    NEED_GPU();
    gn_case("group_norm 8 groups", 3, 32, 49, 8, 1);
    gn_case("group_norm 32 groups 28x28", 2, 64, 784, 32, 1);
    gn_case("group_norm no affine", 2, 6, 25, 3, 0);
    gn_case("group_norm 1 group", 2, 4, 9, 1, 1);
}

static void test_silu(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 100003;
    tpair x = tp_rand(n, -12, 12, 31), y = tp_alloc(n), dy = tp_rand(n, -1, 1, 32), dx = tp_rand(n, -1, 1, 33);
    cpu->silu_forward(y.h, x.h, n);
    gpu->silu_forward(y.d, x.d, n);
    expect_close("silu", "fwd y", &y, ELEMENTWISE);
    cpu->silu_backward(dx.h, dy.h, x.h, n);
    gpu->silu_backward(dx.d, dy.d, x.d, n);
    expect_close("silu", "bwd dx", &dx, ELEMENTWISE);
    tp_free(&x); tp_free(&y); tp_free(&dy); tp_free(&dx);
}

static void test_quick_gelu(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 100003;
    tpair x = tp_rand(n, -12, 12, 34), y = tp_alloc(n), dy = tp_rand(n, -1, 1, 35), dx = tp_rand(n, -1, 1, 36);
    cpu->quick_gelu_forward(y.h, x.h, n);
    gpu->quick_gelu_forward(y.d, x.d, n);
    expect_close("quick_gelu", "fwd y", &y, ELEMENTWISE);
    cpu->quick_gelu_backward(dx.h, dy.h, x.h, n);
    gpu->quick_gelu_backward(dx.d, dy.d, x.d, n);
    expect_close("quick_gelu", "bwd dx", &dx, ELEMENTWISE);
    tp_free(&x); tp_free(&y); tp_free(&dy); tp_free(&dx);
}

static void test_geglu(void **state) {
    (void)state;
    NEED_GPU();
    const int rows = 517, w = 96;   // a feed-forward's (tokens, inner) shape
    const size_t nx = (size_t)rows * 2 * w, ny = (size_t)rows * w;
    tpair x = tp_rand(nx, -6, 6, 40), y = tp_alloc(ny), dy = tp_rand(ny, -1, 1, 41), dx = tp_rand(nx, -1, 1, 42);
    cpu->geglu_forward(y.h, x.h, rows, w);
    gpu->geglu_forward(y.d, x.d, rows, w);
    expect_close("geglu", "fwd y", &y, ELEMENTWISE);
    cpu->geglu_backward(dx.h, dy.h, x.h, rows, w);
    gpu->geglu_backward(dx.d, dy.d, x.d, rows, w);
    expect_close("geglu", "bwd dx", &dx, ELEMENTWISE);
    tp_free(&x); tp_free(&y); tp_free(&dy); tp_free(&dx);
}

// ---- layer norm, l2 normalize --------------------------------------------------------------------------

static void ln_case(const char *name, int rows, int width, int affine, float offset) {
    const size_t nx = (size_t)rows * width;
    tpair x = tp_rand(nx, offset - 2, offset + 3, 37), g = tp_rand((size_t)width, 0.5f, 1.5f, 38),
          b = tp_rand((size_t)width, -1, 1, 39), y = tp_alloc(nx), mean = tp_alloc((size_t)rows),
          rstd = tp_alloc((size_t)rows);
    const float *gh = affine ? g.h : NULL, *gd = affine ? g.d : NULL, *bh = affine ? b.h : NULL, *bd = affine ? b.d : NULL;
    cpu->layer_norm_forward(y.h, mean.h, rstd.h, x.h, gh, bh, rows, width, 1e-5f);
    gpu->layer_norm_forward(y.d, mean.d, rstd.d, x.d, gd, bd, rows, width, 1e-5f);
    expect_close(name, "fwd y", &y, ELEMENTWISE);
    expect_close(name, "fwd mean", &mean, REDUCTION);
    expect_close(name, "fwd rstd", &rstd, REDUCTION);
    tpair dy = tp_rand(nx, -1, 1, 40), dx = tp_rand(nx, -1, 1, 41), dg = tp_rand((size_t)width, -1, 1, 42),
          db = tp_rand((size_t)width, -1, 1, 43);
    cpu->layer_norm_backward(dx.h, affine ? dg.h : NULL, affine ? db.h : NULL, dy.h, x.h, mean.h, rstd.h, gh, rows, width);
    gpu->layer_norm_backward(dx.d, affine ? dg.d : NULL, affine ? db.d : NULL, dy.d, x.d, mean.d, rstd.d, gd, rows, width);
    expect_close(name, "bwd dx", &dx, ELEMENTWISE * 10);
    if (affine) {
        expect_close(name, "bwd dgamma", &dg, REDUCTION * 10);
        expect_close(name, "bwd dbeta", &db, REDUCTION);
        // parameter gradients alone (dx NULL)
        cpu->layer_norm_backward(NULL, dg.h, db.h, dy.h, x.h, mean.h, rstd.h, gh, rows, width);
        gpu->layer_norm_backward(NULL, dg.d, db.d, dy.d, x.d, mean.d, rstd.d, gd, rows, width);
        expect_close(name, "bwd dgamma only", &dg, REDUCTION * 10);
        expect_close(name, "bwd dbeta only", &db, REDUCTION);
    }
    tp_free(&x); tp_free(&g); tp_free(&b); tp_free(&y); tp_free(&mean); tp_free(&rstd);
    tp_free(&dy); tp_free(&dx); tp_free(&dg); tp_free(&db);
}

static void test_layer_norm(void **state) {
    (void)state;
    NEED_GPU();
    ln_case("layer_norm CLIP 2x77 tokens x 512", 154, 512, 1, 0.0f);
    ln_case("layer_norm mean 100", 33, 64, 1, 100.0f);   // statistics must not cancel
    ln_case("layer_norm no affine", 7, 45, 0, 0.0f);
    ln_case("layer_norm width 20 (< a warp)", 9, 20, 1, 0.0f);
}

static void l2n_case(const char *name, int rows, int width, float eps) {
    const size_t nx = (size_t)rows * width;
    tpair x = tp_rand(nx, -1, 1, 44), y = tp_alloc(nx), norm = tp_alloc((size_t)rows), dy = tp_rand(nx, -1, 1, 45),
          dx = tp_rand(nx, -1, 1, 46);
    // row 0 zero and row 1 of norm ~1e-4: clamped to eps unless eps is tiny
    for (int j = 0; j < width; j++) {
        x.h[j] = 0.0f;
        if (rows > 1) x.h[width + j] *= 1e-4f;
    }
    tp_upload(&x);
    cpu->l2_normalize_forward(y.h, norm.h, x.h, rows, width, eps);
    gpu->l2_normalize_forward(y.d, norm.d, x.d, rows, width, eps);
    expect_close(name, "fwd y", &y, ELEMENTWISE);
    expect_close(name, "fwd norm", &norm, REDUCTION);
    cpu->l2_normalize_backward(dx.h, dy.h, y.h, norm.h, rows, width, eps);
    gpu->l2_normalize_backward(dx.d, dy.d, y.d, norm.d, rows, width, eps);
    expect_close(name, "bwd dx", &dx, ELEMENTWISE * 10);
    tp_free(&x); tp_free(&y); tp_free(&norm); tp_free(&dy); tp_free(&dx);
}

static void test_l2_normalize(void **state) {
    (void)state;
    NEED_GPU();
    l2n_case("l2_normalize 64 embeddings x 512", 64, 512, 1e-12f);
    l2n_case("l2_normalize eps 1e-3 clamps 2 rows", 9, 40, 1e-3f);
}

// ---- linear, embedding, timestep embedding -------------------------------------------------------------

static void linear_case(const char *name, int m, int in, int out, int with_bias) {
    tpair x = tp_rand((size_t)m * in, -1, 1, 41), w = tp_rand((size_t)out * in, -0.3f, 0.3f, 42),
          b = tp_rand((size_t)out, -1, 1, 43), y = tp_alloc((size_t)m * out), dy = tp_rand((size_t)m * out, -1, 1, 44),
          dx = tp_rand((size_t)m * in, -1, 1, 45), dw = tp_rand((size_t)out * in, -1, 1, 46), db = tp_rand((size_t)out, -1, 1, 47);
    cpu->linear_forward(y.h, x.h, w.h, with_bias ? b.h : NULL, m, in, out);
    gpu->linear_forward(y.d, x.d, w.d, with_bias ? b.d : NULL, m, in, out);
    expect_close(name, "fwd y", &y, GEMM);
    cpu->linear_backward(dx.h, dw.h, with_bias ? db.h : NULL, dy.h, x.h, w.h, m, in, out);
    gpu->linear_backward(dx.d, dw.d, with_bias ? db.d : NULL, dy.d, x.d, w.d, m, in, out);
    expect_close(name, "bwd dx", &dx, GEMM_BWD);
    expect_close(name, "bwd dw", &dw, GEMM_BWD);
    if (with_bias) expect_close(name, "bwd db", &db, REDUCTION);
    tp_free(&x); tp_free(&w); tp_free(&b); tp_free(&y); tp_free(&dy); tp_free(&dx); tp_free(&dw); tp_free(&db);
}

static void test_linear(void **state) {
    (void)state;
    NEED_GPU();
    linear_case("linear 7x33->17", 7, 33, 17, 1);
    linear_case("linear tokens 2500x64->64", 2500, 64, 64, 1);   // db over more than one row chunk
    linear_case("linear no bias", 5, 8, 3, 0);
}

static void test_embedding(void **state) {
    (void)state;
    NEED_GPU();
    const int n = 37, rows = 11, dim = 24;
    int idx[37];
    for (int i = 0; i < n; i++) idx[i] = (i * 7 + i / 3) % rows;   // repeats
    ipair ix = ip_make(idx, n);
    tpair table = tp_rand((size_t)rows * dim, -1, 1, 51), y = tp_alloc((size_t)n * dim),
          dy = tp_rand((size_t)n * dim, -1, 1, 52), dt = tp_rand((size_t)rows * dim, -1, 1, 53);
    cpu->embedding_forward(y.h, ix.h, table.h, n, dim);
    gpu->embedding_forward(y.d, ix.d, table.d, n, dim);
    expect_close("embedding", "fwd y", &y, EXACT);
    cpu->embedding_backward(dt.h, dy.h, ix.h, n, dim);
    gpu->embedding_backward(dt.d, dy.d, ix.d, n, dim);
    expect_close("embedding", "bwd dtable", &dt, EXACT);   // same order of additions
    tp_free(&table); tp_free(&y); tp_free(&dy); tp_free(&dt);
    ip_free(&ix);
}

static void temb_case(const char *name, int n, int dim, int flip, float shift) {
    tpair t = tp_rand((size_t)n, 0, 999, 61), y = tp_alloc((size_t)n * dim), dy = tp_rand((size_t)n * dim, -1, 1, 62),
          dt = tp_rand((size_t)n, -1, 1, 63);
    for (int i = 0; i < n; i++) t.h[i] = floorf(t.h[i]);   // integer timesteps, as in training
    tp_upload(&t);
    // The frequencies f_j = expf(...) may differ by an ulp or two between CUDA's expf and
    // glibc's, and the argument t f_j multiplies that by t (up to 999): sin/cos then differ
    // by up to ~2.4e-4 f_j, the same as PyTorch on a GPU against its CPU. A wrong column or
    // frequency would be off by O(1).
    cpu->timestep_embedding_forward(y.h, t.h, n, dim, flip, shift);
    gpu->timestep_embedding_forward(y.d, t.d, n, dim, flip, shift);
    expect_close(name, "fwd y", &y, 1e-3);
    cpu->timestep_embedding_backward(dt.h, dy.h, t.h, n, dim, flip, shift);
    gpu->timestep_embedding_backward(dt.d, dy.d, t.d, n, dim, flip, shift);
    expect_close(name, "bwd dt", &dt, 1e-3);
    tp_free(&t); tp_free(&y); tp_free(&dy); tp_free(&dt);
}

static void test_timestep_embedding(void **state) {
    (void)state;
    NEED_GPU();
    temb_case("timestep_embedding flip", 9, 32, 1, 0.0f);
    temb_case("timestep_embedding sin-cos shift 1", 5, 64, 0, 1.0f);
    temb_case("timestep_embedding odd dim", 4, 33, 1, 0.0f);
}

// ---- layout ops --------------------------------------------------------------------------------------------

static void test_layout(void **state) {
    (void)state;
    NEED_GPU();
    {   // upsample
        const int n = 2, c = 3, h = 5, w = 7;
        const size_t nx = (size_t)n * c * h * w;
        tpair x = tp_rand(nx, -1, 1, 71), y = tp_alloc(4 * nx), dy = tp_rand(4 * nx, -1, 1, 72), dx = tp_rand(nx, -1, 1, 73);
        cpu->upsample2x_forward(y.h, x.h, n, c, h, w);
        gpu->upsample2x_forward(y.d, x.d, n, c, h, w);
        expect_close("upsample2x", "fwd y", &y, EXACT);
        cpu->upsample2x_backward(dx.h, dy.h, n, c, h, w);
        gpu->upsample2x_backward(dx.d, dy.d, n, c, h, w);
        expect_close("upsample2x", "bwd dx", &dx, EXACT);
        tp_free(&x); tp_free(&y); tp_free(&dy); tp_free(&dx);
    }
    {   // concat
        const int n = 3, ca = 4, cb = 6, hw = 10;
        tpair a = tp_rand((size_t)n * ca * hw, -1, 1, 74), b = tp_rand((size_t)n * cb * hw, -1, 1, 75),
              y = tp_alloc((size_t)n * (ca + cb) * hw), dy = tp_rand((size_t)n * (ca + cb) * hw, -1, 1, 76),
              da = tp_rand((size_t)n * ca * hw, -1, 1, 77), db = tp_rand((size_t)n * cb * hw, -1, 1, 78);
        cpu->concat_forward(y.h, a.h, b.h, n, ca, cb, hw);
        gpu->concat_forward(y.d, a.d, b.d, n, ca, cb, hw);
        expect_close("concat", "fwd y", &y, EXACT);
        cpu->concat_backward(da.h, db.h, dy.h, n, ca, cb, hw);
        gpu->concat_backward(da.d, db.d, dy.d, n, ca, cb, hw);
        expect_close("concat", "bwd da", &da, EXACT);
        expect_close("concat", "bwd db", &db, EXACT);
        cpu->concat_backward(NULL, db.h, dy.h, n, ca, cb, hw);
        gpu->concat_backward(NULL, db.d, dy.d, n, ca, cb, hw);
        expect_close("concat", "bwd db only", &db, EXACT);
        tp_free(&a); tp_free(&b); tp_free(&y); tp_free(&dy); tp_free(&da); tp_free(&db);
    }
    {   // transpose, sizes that are not multiples of the 32x32 tile
        const int n = 3, rows = 45, cols = 70;
        const size_t sz = (size_t)n * rows * cols;
        tpair x = tp_rand(sz, -1, 1, 79), y = tp_alloc(sz), dy = tp_rand(sz, -1, 1, 80), dx = tp_rand(sz, -1, 1, 81);
        cpu->transpose_forward(y.h, x.h, n, rows, cols);
        gpu->transpose_forward(y.d, x.d, n, rows, cols);
        expect_close("transpose", "fwd y", &y, EXACT);
        cpu->transpose_backward(dx.h, dy.h, n, rows, cols);
        gpu->transpose_backward(dx.d, dy.d, n, rows, cols);
        expect_close("transpose", "bwd dx", &dx, EXACT);
        tp_free(&x); tp_free(&y); tp_free(&dy); tp_free(&dx);
    }
}

static void bias_mean_case(const char *name, int n, int c, int hw) {
    const size_t sz = (size_t)n * c * hw, nc = (size_t)n * c;
    tpair y = tp_rand(sz, -1, 1, 91), bias = tp_rand(nc, -1, 1, 92), dbias = tp_rand(nc, -1, 1, 93),
          m = tp_alloc(nc), dx = tp_rand(sz, -1, 1, 94);
    cpu->add_channel_bias_forward(y.h, bias.h, n, c, hw);
    gpu->add_channel_bias_forward(y.d, bias.d, n, c, hw);
    expect_close(name, "bias fwd", &y, EXACT);
    cpu->add_channel_bias_backward(dbias.h, y.h, n, c, hw);
    gpu->add_channel_bias_backward(dbias.d, y.d, n, c, hw);
    expect_close(name, "bias bwd", &dbias, REDUCTION);
    cpu->spatial_mean_forward(m.h, y.h, n, c, hw);
    gpu->spatial_mean_forward(m.d, y.d, n, c, hw);
    expect_close(name, "mean fwd", &m, REDUCTION);
    cpu->spatial_mean_backward(dx.h, m.h, n, c, hw);
    gpu->spatial_mean_backward(dx.d, m.d, n, c, hw);
    expect_close(name, "mean bwd", &dx, ELEMENTWISE);
    tp_free(&y); tp_free(&bias); tp_free(&dbias); tp_free(&m); tp_free(&dx);
}

static void test_channel_bias_and_mean(void **state) {
    (void)state;
    NEED_GPU();
    bias_mean_case("channel bias/mean hw=49", 4, 16, 49);
    bias_mean_case("channel bias/mean hw=5000", 2, 3, 5000);   // long segments: two stages
}

// ---- attention -----------------------------------------------------------------------------------------------

// lq queries against lk keys (lk == lq: self-attention; else cross-attention)
static void attn_case(const char *name, int n, int lq, int lk, int heads, int d, int causal) {
    const size_t sq = (size_t)n * lq * heads * d, sk = (size_t)n * lk * heads * d, np = (size_t)n * heads * lq * lk;
    const float scale = 1.0f / sqrtf((float)d);
    tpair q = tp_rand(sq, -1, 1, 101), k = tp_rand(sk, -1, 1, 102), v = tp_rand(sk, -1, 1, 103), o = tp_alloc(sq),
          p = tp_alloc(np), dout = tp_rand(sq, -1, 1, 104), dq = tp_rand(sq, -1, 1, 105), dk = tp_rand(sk, -1, 1, 106),
          dv = tp_rand(sk, -1, 1, 107);
    cpu->fill(p.h, NAN, np);   // as reused memory: masked zeros must be written, not left over
    gpu->fill(p.d, NAN, np);
    cpu->attention_forward(o.h, p.h, q.h, k.h, v.h, n, lq, lk, heads, d, scale, causal);
    gpu->attention_forward(o.d, p.d, q.d, k.d, v.d, n, lq, lk, heads, d, scale, causal);
    expect_close(name, "fwd o", &o, GEMM);
    expect_close(name, "fwd probs", &p, GEMM);
    if (causal) {   // the masked probabilities are exactly 0 on the GPU too
        float *g = malloc(np * sizeof(float));
        assert_non_null(g);
        gpu->to_host(g, p.d, np * sizeof(float));
        size_t nonzero = 0;
        for (size_t r = 0; r < np / lk; r++)
            for (int j = (int)(r % lq) + 1; j < lk; j++) nonzero += g[r * lk + j] != 0.0f;
        free(g);
        report(name, "masked P", (double)nonzero, EXACT);
    }
    cpu->attention_backward(dq.h, dk.h, dv.h, dout.h, q.h, k.h, v.h, p.h, n, lq, lk, heads, d, scale, causal);
    gpu->attention_backward(dq.d, dk.d, dv.d, dout.d, q.d, k.d, v.d, p.d, n, lq, lk, heads, d, scale, causal);
    expect_close(name, "bwd dq", &dq, GEMM_BWD);
    expect_close(name, "bwd dk", &dk, GEMM_BWD);
    expect_close(name, "bwd dv", &dv, GEMM_BWD);
    cpu->attention_backward(NULL, NULL, dv.h, dout.h, q.h, k.h, v.h, p.h, n, lq, lk, heads, d, scale, causal);
    gpu->attention_backward(NULL, NULL, dv.d, dout.d, q.d, k.d, v.d, p.d, n, lq, lk, heads, d, scale, causal);
    expect_close(name, "bwd dv only", &dv, GEMM_BWD);
    cpu->attention_backward(dq.h, NULL, NULL, dout.h, q.h, k.h, v.h, p.h, n, lq, lk, heads, d, scale, causal);
    gpu->attention_backward(dq.d, NULL, NULL, dout.d, q.d, k.d, v.d, p.d, n, lq, lk, heads, d, scale, causal);
    expect_close(name, "bwd dq only", &dq, GEMM_BWD);
    tp_free(&q); tp_free(&k); tp_free(&v); tp_free(&o); tp_free(&p); tp_free(&dout); tp_free(&dq); tp_free(&dk); tp_free(&dv);
}

static void test_attention(void **state) {
    (void)state;
    NEED_GPU();
    attn_case("attention 7x7 2 heads", 3, 49, 49, 2, 16, 0);
    attn_case("attention l=50 4 heads d=32", 2, 50, 50, 4, 32, 0);
    attn_case("attention 1 head", 2, 9, 9, 1, 8, 0);
    // cross-attention (attn2: 8x8 image tokens against 9 or 40 text tokens)
    attn_case("cross-attention lq=64 lk=9 4 heads", 2, 64, 9, 4, 16, 0);
    attn_case("cross-attention lq=16 lk=40 2 heads", 3, 16, 40, 2, 8, 0);
    // causal (CLIP's text encoder: 77 tokens, head_dim 64); l = 40: rows past one warp's 32 keys
    attn_case("attention causal l=77 8 heads d=64", 2, 77, 77, 8, 64, 1);
    attn_case("attention causal l=40 2 heads", 3, 40, 40, 2, 16, 1);
    attn_case("attention causal l=1", 2, 1, 1, 2, 8, 1);
}

// ---- dropout, losses, elementwise, reductions -----------------------------------------------------------------

static void test_dropout(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 10007;
    tpair x = tp_rand(n, -1, 1, 111), y = tp_alloc(n), mask = tp_alloc(n), dy = tp_rand(n, -1, 1, 112),
          dx = tp_rand(n, -1, 1, 113);
    cpu->dropout_forward(y.h, mask.h, x.h, n, 0.1f, 1234, lethe_stream(LETHE_STREAM_DROPOUT, 5, 2));
    gpu->dropout_forward(y.d, mask.d, x.d, n, 0.1f, 1234, lethe_stream(LETHE_STREAM_DROPOUT, 5, 2));
    expect_close("dropout p=0.1", "fwd mask", &mask, EXACT);   // the same Philox values
    expect_close("dropout p=0.1", "fwd y", &y, EXACT);
    cpu->dropout_backward(dx.h, dy.h, mask.h, n);
    gpu->dropout_backward(dx.d, dy.d, mask.d, n);
    expect_close("dropout p=0.1", "bwd dx", &dx, EXACT);
    tp_free(&x); tp_free(&y); tp_free(&mask); tp_free(&dy); tp_free(&dx);
}

static void test_losses(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 70001;   // more than one reduction chunk
    tpair p = tp_rand(n, -2, 2, 121), t = tp_rand(n, -2, 2, 122), dp = tp_rand(n, -1, 1, 123);
    expect_scalar("mse", "fwd loss", gpu->mse_forward(p.d, t.d, n), cpu->mse_forward(p.h, t.h, n), REDUCTION);
    cpu->mse_backward(dp.h, p.h, t.h, n, 0.7f);
    gpu->mse_backward(dp.d, p.d, t.d, n, 0.7f);
    expect_close("mse", "bwd dpred", &dp, ELEMENTWISE);
    tp_free(&p); tp_free(&t); tp_free(&dp);

    const int rows = 37, classes = 10;
    int lab[37];
    for (int i = 0; i < rows; i++) lab[i] = (i * 3) % classes;
    ipair labels = ip_make(lab, rows);
    tpair z = tp_rand((size_t)rows * classes, -5, 5, 124), pr = tp_alloc((size_t)rows * classes),
          dz = tp_rand((size_t)rows * classes, -1, 1, 125);
    const float lc = cpu->cross_entropy_forward(pr.h, z.h, labels.h, rows, classes);
    const float lg = gpu->cross_entropy_forward(pr.d, z.d, labels.d, rows, classes);
    expect_scalar("cross_entropy", "fwd loss", lg, lc, REDUCTION);
    expect_close("cross_entropy", "fwd probs", &pr, ELEMENTWISE);
    cpu->cross_entropy_backward(dz.h, pr.h, labels.h, rows, classes, 1.3f);
    gpu->cross_entropy_backward(dz.d, pr.d, labels.d, rows, classes, 1.3f);
    expect_close("cross_entropy", "bwd dlogits", &dz, ELEMENTWISE);
    tp_free(&z); tp_free(&pr); tp_free(&dz);
    ip_free(&labels);
}

static void test_elementwise(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 50021;
    tpair x = tp_rand(n, -3, 3, 131), z = tp_rand(n, -3, 3, 132), y = tp_alloc(n);
    cpu->axpbz(y.h, 0.3f, x.h, -1.7f, z.h, n);
    gpu->axpbz(y.d, 0.3f, x.d, -1.7f, z.d, n);
    expect_close("axpbz", "y", &y, ELEMENTWISE);
    cpu->axpbz(x.h, 2.0f, x.h, 0.0f, NULL, n);   // in place, z unused
    gpu->axpbz(x.d, 2.0f, x.d, 0.0f, NULL, n);
    expect_close("axpbz", "in place b=0", &x, EXACT);
    {
        const int rows = 7;
        const size_t per = n / rows;
        float a[7], b[7];
        for (int r = 0; r < rows; r++) { a[r] = 0.1f * r - 0.2f; b[r] = r == 3 ? 0.0f : 1.0f - 0.15f * r; }
        cpu->axpbz_rows(y.h, a, x.h, b, z.h, rows, per);
        gpu->axpbz_rows(y.d, a, x.d, b, z.d, rows, per);
        expect_close("axpbz_rows", "y", &y, ELEMENTWISE);
        cpu->axpbz_rows(y.h, a, x.h, NULL, NULL, rows, per);
        gpu->axpbz_rows(y.d, a, x.d, NULL, NULL, rows, per);
        expect_close("axpbz_rows", "b NULL", &y, EXACT);
    }
    cpu->mul(y.h, x.h, z.h, n);
    gpu->mul(y.d, x.d, z.d, n);
    expect_close("mul", "y", &y, EXACT);
    cpu->abs_accumulate(y.h, z.h, n);
    gpu->abs_accumulate(y.d, z.d, n);
    expect_close("abs_accumulate", "acc", &y, EXACT);
    cpu->clamp(y.h, -1.0f, 0.5f, n);
    gpu->clamp(y.d, -1.0f, 0.5f, n);
    expect_close("clamp", "x", &y, EXACT);
    expect_scalar("sum_squares", "value", gpu->sum_squares(z.d, n), cpu->sum_squares(z.h, n), 1e-12);
    expect_scalar("weighted_sum_squares", "value", gpu->weighted_sum_squares(z.d, x.d, n),
                  cpu->weighted_sum_squares(z.h, x.h, n), 1e-12);
    {   // randn: the same Philox normals; double log/sin/cos may differ by an ulp after rounding
        tpair r = tp_alloc(n);
        cpu->randn(r.h, n, 77, lethe_stream(LETHE_STREAM_NOISE, 3, 0), 1001);
        gpu->randn(r.d, n, 77, lethe_stream(LETHE_STREAM_NOISE, 3, 0), 1001);
        expect_close("randn", "x", &r, 1e-7);
        float *g = malloc(n * sizeof(float));
        gpu->to_host(g, r.d, n * sizeof(float));
        size_t same = 0;
        for (size_t i = 0; i < n; i++) same += g[i] == r.h[i];
        printf("    randn: %zu of %zu values bit-identical to the CPU's\n", same, n);
        assert_true(same >= n - n / 1000);
        free(g);
        tp_free(&r);
    }
    {   // all_finite
        tpair f = tp_rand(1000, -1, 1, 133);
        assert_int_equal(gpu->all_finite(f.d, f.n), 1);
        const float bad[2] = {NAN, INFINITY};
        for (int k = 0; k < 2; k++) {
            gpu->to_device(f.d + 517, &bad[k], sizeof(float));
            assert_int_equal(gpu->all_finite(f.d, f.n), 0);
            gpu->to_device(f.d + 517, &f.h[517], sizeof(float));
        }
        assert_int_equal(gpu->all_finite(f.d, f.n), 1);
        report("all_finite", "NaN, Inf, ok", 0, EXACT);
        tp_free(&f);
    }
    tp_free(&x); tp_free(&z); tp_free(&y);
}

static void test_optimizer(void **state) {
    (void)state;
    NEED_GPU();
    const size_t n = 30011;
    tpair p = tp_rand(n, -1, 1, 141), g = tp_rand(n, -0.1f, 0.1f, 142), m = tp_rand(n, -0.01f, 0.01f, 143),
          v = tp_rand(n, 0, 1e-3f, 144), mask = tp_alloc(n), ema = tp_rand(n, -1, 1, 145);
    for (size_t i = 0; i < n; i++) mask.h[i] = (i % 3) ? 1.0f : 0.0f;
    tp_upload(&mask);
    for (int step = 1; step <= 3; step++) {
        cpu->adamw_step(p.h, g.h, m.h, v.h, step == 2 ? mask.h : NULL, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, step, 0.8f);
        gpu->adamw_step(p.d, g.d, m.d, v.d, step == 2 ? mask.d : NULL, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, step, 0.8f);
    }
    expect_close("adamw_step x3 (masked once)", "p", &p, ELEMENTWISE);
    expect_close("adamw_step x3 (masked once)", "m", &m, ELEMENTWISE);
    expect_close("adamw_step x3 (masked once)", "v", &v, ELEMENTWISE);
    cpu->ema_update(ema.h, p.h, n, 0.99f);
    gpu->ema_update(ema.d, p.d, n, 0.99f);
    expect_close("ema_update", "ema", &ema, ELEMENTWISE);
    tp_free(&p); tp_free(&g); tp_free(&m); tp_free(&v); tp_free(&mask); tp_free(&ema);
}

// ---- the whole UNet ---------------------------------------------------------------------------------------------

// One backend's copy of a model run: weights, inputs, outputs and gradients.
typedef struct {
    const lethe_backend *be;
    float *P, *G, *x, *eps, *deps, *dx;
    lethe_arena arena;
} unet_run;

static void run_init(unet_run *r, const lethe_backend *be, const float *P_host, size_t total, size_t sz) {
    lethe_set_backend(be);
    r->be = be;
    r->P = be->alloc(total * sizeof(float));
    r->G = be->alloc(total * sizeof(float));
    r->x = be->alloc(sz * sizeof(float));
    r->eps = be->alloc(sz * sizeof(float));
    r->deps = be->alloc(sz * sizeof(float));
    r->dx = be->alloc(sz * sizeof(float));
    assert_true(r->P && r->G && r->x && r->eps && r->deps && r->dx);
    be->to_device(r->P, P_host, total * sizeof(float));
    arena_init(&r->arena);
}

static void run_free(unet_run *r) {
    lethe_set_backend(r->be);
    arena_free(&r->arena);
    r->be->release(r->P); r->be->release(r->G); r->be->release(r->x);
    r->be->release(r->eps); r->be->release(r->deps); r->be->release(r->dx);
    lethe_set_backend(cpu);
}

// forward (training mode, dropout from seed 7 step 3) + MSE against noise + backward
static float run_step(unet_run *r, lethe_unet *m, const float *t, const int *labels, int n, size_t sz, size_t total) {
    lethe_set_backend(r->be);
    const lethe_backend *be = r->be;
    be->randn(r->x, sz, 5, 1, 0);
    be->randn(r->deps, sz, 5, 2, 0);   // the "noise" target
    arena_reset(&r->arena);
    nn_ctx ctx = {.arena = &r->arena, .train = 1, .seed = 7, .step = 3};
    assert_int_equal(unet_forward(m, r->P, &ctx, r->eps, r->x, t, labels, n), LETHE_OK);
    const float loss = be->mse_forward(r->eps, r->deps, sz);
    be->fill(r->G, 0.0f, total);
    be->fill(r->dx, 0.0f, sz);
    // deps holds the target: the gradient goes to a fresh arena buffer, then back into deps
    float *d = arena_zeros(&r->arena, sz);
    assert_non_null(d);
    be->mse_backward(d, r->eps, r->deps, sz, 1.0f);
    be->copy(r->deps, d, sz);
    assert_int_equal(unet_backward(m, r->P, r->G, &r->arena, r->deps, r->dx), LETHE_OK);
    lethe_set_backend(cpu);
    return loss;
}

// compares buffer `a` of the GPU run with `b` of the CPU run
static void compare_run(const char *op, const char *what, const float *gd, const float *ch, size_t n, double limit) {
    float *g = malloc(n * sizeof(float));
    assert_non_null(g);
    gpu->to_host(g, gd, n * sizeof(float));
    report(op, what, norm_err(g, ch, n), limit);
    free(g);
}

static void unet_case(const char *config, int n, double limit) {
    unet_config cfg;
    lethe_unet m;
    assert_int_equal(unet_config_named(&cfg, config), LETHE_OK);
    assert_int_equal(unet_build(&m, &cfg), LETHE_OK);
    const size_t total = m.table.total, sz = (size_t)n * cfg.in_channels * cfg.sample_size * cfg.sample_size;
    float *P = malloc(total * sizeof(float));
    param_table_init_values(&m.table, P, 3);
    float t[8];
    int labels[8];
    for (int i = 0; i < n; i++) {
        t[i] = (float)((i * 397 + 11) % 1000);
        labels[i] = i % cfg.num_class_embeds;
    }
    const int *lab = cfg.num_class_embeds > 0 ? labels : NULL;
    unet_run rc, rg;
    run_init(&rc, cpu, P, total, sz);
    run_init(&rg, gpu, P, total, sz);
    const float lc = run_step(&rc, &m, t, lab, n, sz, total);
    const float lg = run_step(&rg, &m, t, lab, n, sz, total);
    char name[64];
    snprintf(name, sizeof name, "unet %s (batch %d)", config, n);
    compare_run(name, "eps", rg.eps, rc.eps, sz, limit);
    expect_scalar(name, "loss", lg, lc, limit);
    compare_run(name, "dparams", rg.G, rc.G, total, 10 * limit);
    compare_run(name, "dx", rg.dx, rc.dx, sz, 10 * limit);
    // per tensor: the worst parameter gradient. A tensor whose gradient is zero in exact
    // arithmetic (attention's key bias: softmax ignores a constant added to a row) holds
    // rounding noise on both sides, so norms are floored at 1e-4 of the whole gradient's.
    float *g = malloc(total * sizeof(float));
    gpu->to_host(g, rg.G, total * sizeof(float));
    double worst = 0, gnorm = 0;
    const char *worst_t = "";
    for (size_t i = 0; i < total; i++) gnorm += (double)rc.G[i] * rc.G[i];
    gnorm = sqrt(gnorm);
    for (int i = 0; i < m.table.n; i++) {
        const param_entry *e = &m.table.entries[i];
        double d2 = 0, c2 = 0;
        for (size_t j = 0; j < e->numel; j++) {
            const double d = (double)g[e->offset + j] - rc.G[e->offset + j];
            d2 += d * d;
            c2 += (double)rc.G[e->offset + j] * rc.G[e->offset + j];
        }
        const double floor_ = 1e-4 * gnorm, den = sqrt(c2) > floor_ ? sqrt(c2) : floor_;
        const double err = d2 != d2 ? INFINITY : (d2 > 0 ? sqrt(d2) / (den > 0 ? den : 1e-30) : 0);
        if (err > worst || !worst_t[0]) { worst = err; worst_t = e->name; }
    }
    printf("    %-34s worst tensor gradient %s: %.2e\n", name, worst_t, worst);
    report(name, "worst dW", worst, 100 * limit);
    // determinism: the same step again gives bit-identical gradients on the GPU
    float *g2 = malloc(total * sizeof(float));
    run_step(&rg, &m, t, lab, n, sz, total);
    gpu->to_host(g2, rg.G, total * sizeof(float));
    report(name, "rerun diff", memcmp(g, g2, total * sizeof(float)) ? 1.0 : 0.0, EXACT);
    free(g);
    free(g2);
    run_free(&rc);
    run_free(&rg);
    free(P);
    unet_free(&m);
}

// eps limit 1e-4: the timestep embedding's ulp-level differences (see temb_case) reach
// every resnet; gradients get 10x that, a single tensor 100x.
static void test_unet_tiny(void **state) {
    (void)state;
    NEED_GPU();
    unet_case("tiny", 4, 1e-4);
}

static void test_unet_small(void **state) {
    (void)state;
    NEED_GPU();
    unet_case("small", 2, 1e-4);   // attention blocks and dropout 0.1
}

// five AdamW steps (clipping on) on the tiny UNet: the loss of each step and the final weights
static void test_training_steps(void **state) {
    (void)state;
    NEED_GPU();
    unet_config cfg;
    lethe_unet m;
    assert_int_equal(unet_config_named(&cfg, "tiny"), LETHE_OK);
    assert_int_equal(unet_build(&m, &cfg), LETHE_OK);
    const int n = 8, steps = 5;
    const size_t total = m.table.total, sz = (size_t)n * cfg.sample_size * cfg.sample_size;
    float *P = malloc(total * sizeof(float));
    param_table_init_values(&m.table, P, 9);
    float t[8];
    int labels[8];
    for (int i = 0; i < n; i++) { t[i] = (float)(i * 113 % 1000); labels[i] = i % 10; }
    unet_run r[2];
    const lethe_backend *bes[2] = {cpu, gpu};
    float loss[2][5];
    for (int k = 0; k < 2; k++) {
        run_init(&r[k], bes[k], P, total, sz);
        lethe_set_backend(bes[k]);
        adamw_state opt;
        adamw_config ac = {.lr = 2e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-4f, .max_grad_norm = 1.0f};
        assert_int_equal(adamw_init(&opt, &ac, total), LETHE_OK);
        for (int s = 0; s < steps; s++) {
            lethe_set_backend(bes[k]);
            loss[k][s] = run_step(&r[k], &m, t, labels, n, sz, total);
            lethe_set_backend(bes[k]);
            adamw_update(&opt, r[k].P, r[k].G, NULL, ac.lr, NULL);
        }
        lethe_set_backend(bes[k]);
        adamw_free(&opt);
        lethe_set_backend(cpu);
    }
    for (int s = 0; s < steps; s++) {
        char what[32];
        snprintf(what, sizeof what, "loss %d", s + 1);
        expect_scalar("train tiny x5 (batch 8)", what, loss[1][s], loss[0][s], 1e-4);
    }
    compare_run("train tiny x5 (batch 8)", "weights", r[1].P, r[0].P, total, 1e-4);
    run_free(&r[0]);
    run_free(&r[1]);
    free(P);
    unet_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_silu),
        cmocka_unit_test(test_quick_gelu),
        cmocka_unit_test(test_geglu),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_l2_normalize),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_timestep_embedding),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_channel_bias_and_mean),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_optimizer),
        cmocka_unit_test(test_unet_tiny),
        cmocka_unit_test(test_unet_small),
        cmocka_unit_test(test_training_steps),
    };
    // LETHE_TEST_FILTER=test_unet* runs a subset (cmocka's glob)
    if (getenv("LETHE_TEST_FILTER")) cmocka_set_test_filter(getenv("LETHE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
