/*
 * test_ops.c: unit tests of the CPU backend (ops/cpu/, reached through ops()).
 *
 * Every op with a backward gets a gradient check (check_gradients): random seeded inputs,
 * objective L = sum(y .* r) with a fixed random r, and for every input and parameter
 *   - the analytic gradient against central finite differences (L(x+h) - L(x-h)) / 2h,
 *     L summed in double from the float forward;
 *   - accumulation: gradients pre-filled with ones come back as 1 + gradient;
 *   - NULL gradients: asking for one gradient at a time gives the same values.
 * Forward ops are also checked against naive double-precision references or hand-computed
 * numbers; the optimizer against a scalar transcription of PyTorch's AdamW.
 *
 * Run from the repository root: ./build/tests/test_ops
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/cpu/cpu.h"
#include "ops/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

// ---- helpers --------------------------------------------------------------------------------------

static float *fbuf(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

// x (n) uniform in [lo, hi), a pure function of seed
static void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lethe_rand_uniform(seed, 99, i);
}

static void fill_value(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

// ---- gradient checking ------------------------------------------------------------------------------

#define MAX_IN 4
#define MAX_FD 300   // finite-difference checks per tensor (spread over it when larger)

typedef struct {
    const char *name;
    void *ctx;
    void (*forward)(void *ctx);                              // out = f(in[0..nin))
    void (*backward)(void *ctx, const float *dy, float **g);  // g[k] += dL/d in[k]; g[k] may be NULL
    float *out;
    size_t nout;
    int nin;
    float *in[MAX_IN];
    size_t len[MAX_IN];
    const char *in_name[MAX_IN];
    // Finite-difference step and the tolerance on max|analytic - numeric| / max|numeric|.
    // Ops linear in the checked input have no truncation error, so they use a large step
    // (h = 0.5) and the error is float rounding of y only: ~1e-6. Smooth nonlinear ops use
    // h = 1e-2 (truncation ~ h^2 |f'''| / 6 ~ 1e-5 relative) and the rounding error of the
    // float forward divided by 2h (~ 1e-7 |L| / 1e-2): ~1e-4 to 1e-3 for these sizes.
    double h, tol;
} gradcase;

static double objective(const gradcase *gc, const float *r) {
    gc->forward(gc->ctx);
    double L = 0.0;
    for (size_t i = 0; i < gc->nout; i++) L += (double)gc->out[i] * (double)r[i];
    return L;
}

static void check_gradients(const gradcase *gc) {
    float *r = fbuf(gc->nout);
    fill_uniform(r, gc->nout, -1.0f, 1.0f, 777);
    float *g0[MAX_IN], *g1[MAX_IN], *gk[MAX_IN];
    for (int k = 0; k < gc->nin; k++) {
        g0[k] = fbuf(gc->len[k]);
        g1[k] = fbuf(gc->len[k]);
        fill_value(g1[k], gc->len[k], 1.0f);
    }
    gc->forward(gc->ctx);
    gc->backward(gc->ctx, r, g0);
    gc->backward(gc->ctx, r, g1);

    // backward accumulates: ones + gradient (rounding of 1 + g: a few ulp of 1 + |g|)
    for (int k = 0; k < gc->nin; k++)
        for (size_t i = 0; i < gc->len[k]; i++) {
            const double want = 1.0 + (double)g0[k][i];
            if (!(fabs((double)g1[k][i] - want) <= 1e-5 * (1.0 + fabs((double)g0[k][i]))))
                fail_msg("%s: d%s[%zu] accumulated %.9g, want 1 + %.9g", gc->name, gc->in_name[k], i,
                         (double)g1[k][i], (double)g0[k][i]);
        }

    // NULL gradients are skipped and do not change the others
    for (int k = 0; k < gc->nin; k++) {
        for (int j = 0; j < gc->nin; j++) gk[j] = j == k ? fbuf(gc->len[k]) : NULL;
        gc->backward(gc->ctx, r, gk);
        const double e = tensor_rel_err(gk[k], g0[k], gc->len[k], 1e-6);
        if (!(e <= 1e-6)) fail_msg("%s: d%s alone differs from d%s with all grads (rel %.3g)", gc->name,
                                   gc->in_name[k], gc->in_name[k], e);
        free(gk[k]);
    }

    // central finite differences
    for (int k = 0; k < gc->nin; k++) {
        float *x = gc->in[k];
        const size_t n = gc->len[k], step = n > MAX_FD ? n / MAX_FD : 1;
        double maxerr = 0.0, scale = 1e-3;
        size_t worst = 0;
        for (size_t i = step / 2; i < n; i += step) {
            const float save = x[i], xp = save + (float)gc->h, xm = save - (float)gc->h;
            x[i] = xp;
            const double lp = objective(gc, r);
            x[i] = xm;
            const double lm = objective(gc, r);
            x[i] = save;
            const double num = (lp - lm) / ((double)xp - (double)xm);
            const double err = fabs((double)g0[k][i] - num);
            if (err > maxerr || err != err) maxerr = err != err ? INFINITY : err, worst = i;
            if (fabs(num) > scale) scale = fabs(num);
        }
        const double rel = maxerr / scale;
        printf("    %-34s d%-6s fd rel err %.2e (tol %.0e, h %.0e)\n", gc->name, gc->in_name[k], rel, gc->tol,
               gc->h);
        if (!(rel <= gc->tol))
            fail_msg("%s: d%s[%zu] analytic %.7g vs finite difference off by %.3g (rel %.3g > %.3g)", gc->name,
                     gc->in_name[k], worst, (double)g0[k][worst], maxerr, rel, gc->tol);
    }
    gc->forward(gc->ctx);
    for (int k = 0; k < gc->nin; k++) {
        free(g0[k]);
        free(g1[k]);
    }
    free(r);
}

// ---- backend table -----------------------------------------------------------------------------------

static void test_table_complete(void **state) {
    (void)state;
    const lethe_backend *be = ops();
    assert_ptr_equal(be, &lethe_backend_cpu);
    assert_string_equal(be->name, "cpu");
#define HAS(f) assert_non_null((const void *)(uintptr_t)be->f)
    HAS(alloc); HAS(release); HAS(to_device); HAS(to_host); HAS(copy); HAS(fill);
    HAS(conv2d_forward); HAS(conv2d_backward); HAS(group_norm_forward); HAS(group_norm_backward);
    HAS(silu_forward); HAS(silu_backward); HAS(linear_forward); HAS(linear_backward);
    HAS(layer_norm_forward); HAS(layer_norm_backward); HAS(quick_gelu_forward); HAS(quick_gelu_backward);
    HAS(geglu_forward); HAS(geglu_backward);
    HAS(l2_normalize_forward); HAS(l2_normalize_backward);
    HAS(embedding_forward); HAS(embedding_backward);
    HAS(timestep_embedding_forward); HAS(timestep_embedding_backward);
    HAS(upsample2x_forward); HAS(upsample2x_backward); HAS(concat_forward); HAS(concat_backward);
    HAS(add_channel_bias_forward); HAS(add_channel_bias_backward);
    HAS(spatial_mean_forward); HAS(spatial_mean_backward);
    HAS(transpose_forward); HAS(transpose_backward); HAS(attention_forward); HAS(attention_backward);
    HAS(dropout_forward); HAS(dropout_backward); HAS(mse_forward); HAS(mse_backward);
    HAS(cross_entropy_forward); HAS(cross_entropy_backward); HAS(axpbz); HAS(axpbz_rows);
    HAS(clamp); HAS(randn); HAS(sum_squares); HAS(mul); HAS(weighted_sum_squares); HAS(abs_accumulate); HAS(all_finite); HAS(adamw_step); HAS(ema_update);
#undef HAS
}

// ---- memory ------------------------------------------------------------------------------------------

static void test_memory(void **state) {
    (void)state;
    const lethe_backend *be = ops();
    float *a = be->alloc(1000 * sizeof(float));
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 64, 0);
    for (int i = 0; i < 1000; i++) assert_true(a[i] == 0.0f);
    void *z = be->alloc(0);   // never NULL on success
    assert_non_null(z);
    be->release(z);
    float host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (float)i * 0.5f;
    be->to_device(a, host, sizeof host);
    be->to_host(back, a, sizeof back);
    assert_memory_equal(host, back, sizeof host);
    float *b = be->alloc(100000 * sizeof(float));
    be->fill(b, 2.5f, 100000);   // large enough to run in parallel
    for (int i = 0; i < 100000; i++) assert_true(b[i] == 2.5f);
    be->copy(b, a, 1000);
    assert_memory_equal(b, host, sizeof host);
    assert_true(b[1000] == 2.5f);
    be->release(a);
    be->release(b);
}

// ---- conv2d ----------------------------------------------------------------------------------------------

// naive double reference: y (n, co, oh, ow)
static void conv_ref_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s) {
    const int oh = conv2d_out_h(s), ow = conv2d_out_w(s);
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->co; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < s->ci; c++)
                        for (int ki = 0; ki < s->kh; ki++)
                            for (int kj = 0; kj < s->kw; kj++) {
                                const int iy = oy * s->stride - s->pad + ki, ix = ox * s->stride - s->pad + kj;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                                acc += (double)x[(((size_t)n * s->ci + c) * s->h + iy) * s->w + ix] *
                                       (double)w[(((size_t)o * s->ci + c) * s->kh + ki) * s->kw + kj];
                            }
                    y[(((size_t)n * s->co + o) * oh + oy) * ow + ox] = (float)acc;
                }
}

// naive double reference of all three gradients (overwrites dx, dw, db)
static void conv_ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                              const conv2d_shape *s) {
    const int oh = conv2d_out_h(s), ow = conv2d_out_w(s);
    const size_t nx = (size_t)s->n * s->ci * s->h * s->w, nw = (size_t)s->co * s->ci * s->kh * s->kw;
    double *ax = calloc(nx, sizeof(double)), *aw = calloc(nw, sizeof(double)), *ab = calloc(s->co, sizeof(double));
    assert_non_null(ax);
    assert_non_null(aw);
    assert_non_null(ab);
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->co; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    const double g = dy[(((size_t)n * s->co + o) * oh + oy) * ow + ox];
                    ab[o] += g;
                    for (int c = 0; c < s->ci; c++)
                        for (int ki = 0; ki < s->kh; ki++)
                            for (int kj = 0; kj < s->kw; kj++) {
                                const int iy = oy * s->stride - s->pad + ki, ix = ox * s->stride - s->pad + kj;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                                const size_t xi = (((size_t)n * s->ci + c) * s->h + iy) * s->w + ix;
                                const size_t wi = (((size_t)o * s->ci + c) * s->kh + ki) * s->kw + kj;
                                ax[xi] += g * w[wi];
                                aw[wi] += g * x[xi];
                            }
                }
    for (size_t i = 0; i < nx; i++) dx[i] = (float)ax[i];
    for (size_t i = 0; i < nw; i++) dw[i] = (float)aw[i];
    for (int o = 0; o < s->co; o++) db[o] = (float)ab[o];
    free(ax);
    free(aw);
    free(ab);
}

typedef struct {
    conv2d_shape s;
    float *x, *w, *b, *y;
} conv_ctx;

static void conv_fwd(void *c) {
    conv_ctx *k = c;
    ops()->conv2d_forward(k->y, k->x, k->w, k->b, &k->s);
}
static void conv_bwd(void *c, const float *dy, float **g) {
    conv_ctx *k = c;
    ops()->conv2d_backward(g[0], g[1], g[2], dy, k->x, k->w, &k->s);
}

static size_t conv_nx(const conv2d_shape *s) { return (size_t)s->n * s->ci * s->h * s->w; }
static size_t conv_nw(const conv2d_shape *s) { return (size_t)s->co * s->ci * s->kh * s->kw; }
static size_t conv_ny(const conv2d_shape *s) { return (size_t)s->n * s->co * conv2d_out_h(s) * conv2d_out_w(s); }

// conv shapes exercised by the forward, gradient and tiling tests
static const conv2d_shape conv_shapes[] = {
    // n ci  h  w co kh kw stride pad
    {2, 3, 7, 6, 4, 3, 3, 1, 1},     // 3x3 s1 p1
    {2, 3, 8, 7, 4, 3, 3, 2, 1},     // 3x3 s2 p1 (downsample)
    {2, 3, 5, 5, 4, 1, 1, 1, 0},     // 1x1 through im2col (small map)
    {2, 2, 32, 33, 3, 1, 1, 1, 0},   // 1x1 direct GEMM path (>= 1024 pixels)
    {2, 2, 6, 5, 3, 5, 3, 1, 2},     // 5x3, pad 2
    {2, 3, 7, 8, 2, 3, 3, 2, 0},     // 3x3 s2 p0, odd sizes
    {2, 2, 8, 8, 3, 4, 4, 2, 1},     // 4x4 s2 p1
    {1, 1, 4, 4, 2, 3, 3, 3, 2},     // stride 3 with pad 2: some taps never see the image
    {3, 2, 2, 2, 2, 5, 5, 1, 2},     // kernel larger than the image
    // ci >= 8, stride 1, square kernel: dx is computed as a conv with the flipped kernel
    {2, 8, 6, 5, 4, 3, 3, 1, 1},     // 3x3 s1 p1
    {2, 9, 6, 6, 3, 3, 3, 1, 0},     // 3x3 s1 p0 (transposed padding 2)
    {2, 8, 5, 7, 5, 5, 5, 1, 2},     // 5x5 s1 p2
    {2, 8, 4, 4, 3, 1, 1, 1, 0},     // 1x1 through im2col
    // 3x3 s1 p1 with ci, co >= 8: Winograd F(2x2, 3x3) for y and dw (and dx, via the flip)
    {2, 8, 6, 8, 8, 3, 3, 1, 1},     // even sizes: whole 2x2 tiles
    {2, 9, 7, 5, 10, 3, 3, 1, 1},    // odd sizes: the last tile row and column hang over
    {1, 8, 1, 3, 8, 3, 3, 1, 1},     // one row
};
#define N_CONV_SHAPES (sizeof conv_shapes / sizeof conv_shapes[0])

static void test_conv2d_forward_vs_naive(void **state) {
    (void)state;
    for (size_t t = 0; t < N_CONV_SHAPES; t++) {
        const conv2d_shape *s = &conv_shapes[t];
        float *x = fbuf(conv_nx(s)), *w = fbuf(conv_nw(s)), *b = fbuf(s->co);
        float *y = fbuf(conv_ny(s)), *ref = fbuf(conv_ny(s));
        fill_uniform(x, conv_nx(s), -1, 1, 10 + t);
        fill_uniform(w, conv_nw(s), -1, 1, 20 + t);
        fill_uniform(b, s->co, -1, 1, 30 + t);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            ops()->conv2d_forward(y, x, w, with_bias ? b : NULL, s);
            conv_ref_forward(ref, x, w, with_bias ? b : NULL, s);
            const double e = tensor_rel_err(y, ref, conv_ny(s), 1e-6);
            if (!(e < 1e-5)) fail_msg("conv shape %zu bias %d: rel err %.3g vs naive", t, with_bias, e);
        }
        free(x); free(w); free(b); free(y); free(ref);
    }
}

static void test_conv2d_gradients(void **state) {
    (void)state;
    for (size_t t = 0; t < N_CONV_SHAPES; t++) {
        conv_ctx k = {.s = conv_shapes[t]};
        k.x = fbuf(conv_nx(&k.s));
        k.w = fbuf(conv_nw(&k.s));
        k.b = fbuf(k.s.co);
        k.y = fbuf(conv_ny(&k.s));
        fill_uniform(k.x, conv_nx(&k.s), -1, 1, 40 + t);
        fill_uniform(k.w, conv_nw(&k.s), -1, 1, 50 + t);
        fill_uniform(k.b, k.s.co, -1, 1, 60 + t);
        char name[64];
        snprintf(name, sizeof name, "conv %dx%d s%d p%d %dx%d ci%d co%d", k.s.kh, k.s.kw, k.s.stride, k.s.pad, k.s.h,
                 k.s.w, k.s.ci, k.s.co);
        gradcase gc = {.name = name, .ctx = &k, .forward = conv_fwd, .backward = conv_bwd,
                       .out = k.y, .nout = conv_ny(&k.s), .nin = 3,
                       .in = {k.x, k.w, k.b}, .len = {conv_nx(&k.s), conv_nw(&k.s), (size_t)k.s.co},
                       .in_name = {"x", "w", "b"}, .h = 0.5, .tol = 1e-4};
        check_gradients(&gc);
        free(k.x); free(k.w); free(k.b); free(k.y);
    }
}

// Small scratch limits force multi-sample tiles with a remainder, single-sample tiles and
// bands of output rows; every variant must agree with the naive reference.
static void test_conv2d_tiling(void **state) {
    (void)state;
    const conv2d_shape shapes[] = {
        {5, 3, 9, 8, 4, 3, 3, 1, 1},
        {5, 3, 9, 8, 4, 3, 3, 2, 1},
        {3, 2, 7, 7, 3, 5, 3, 1, 2},
        {3, 4, 6, 6, 5, 1, 1, 1, 0},
        {5, 8, 9, 8, 4, 3, 3, 1, 1},   // flipped-kernel dx path, tiled
        {5, 8, 9, 7, 12, 3, 3, 1, 1},  // Winograd, blocks of one tile row up to whole samples
    };
    const size_t limits[] = {1, 5000, 20000, 40000, (size_t)32 << 20};
    const size_t saved = lethe_cpu_scratch_limit();
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const conv2d_shape *s = &shapes[t];
        const size_t nx = conv_nx(s), nw = conv_nw(s), ny = conv_ny(s);
        float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf(s->co), *dy = fbuf(ny);
        float *y = fbuf(ny), *ry = fbuf(ny), *dx = fbuf(nx), *dw = fbuf(nw), *db = fbuf(s->co);
        float *rdx = fbuf(nx), *rdw = fbuf(nw), *rdb = fbuf(s->co);
        fill_uniform(x, nx, -1, 1, 70 + t);
        fill_uniform(w, nw, -1, 1, 80 + t);
        fill_uniform(b, s->co, -1, 1, 90 + t);
        fill_uniform(dy, ny, -1, 1, 100 + t);
        conv_ref_forward(ry, x, w, b, s);
        conv_ref_backward(rdx, rdw, rdb, dy, x, w, s);
        for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
            lethe_cpu_set_scratch_limit(limits[li]);
            ops()->conv2d_forward(y, x, w, b, s);
            memset(dx, 0, nx * sizeof(float));
            memset(dw, 0, nw * sizeof(float));
            memset(db, 0, s->co * sizeof(float));
            ops()->conv2d_backward(dx, dw, db, dy, x, w, s);
            const double ey = tensor_rel_err(y, ry, ny, 1e-6), ex = tensor_rel_err(dx, rdx, nx, 1e-6);
            const double ew = tensor_rel_err(dw, rdw, nw, 1e-6), eb = tensor_rel_err(db, rdb, s->co, 1e-6);
            if (!(ey < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5))
                fail_msg("tiling shape %zu limit %zu: y %.3g dx %.3g dw %.3g db %.3g", t, limits[li], ey, ex, ew, eb);
        }
        free(x); free(w); free(b); free(dy); free(y); free(ry); free(dx); free(dw); free(db);
        free(rdx); free(rdw); free(rdb);
    }
    lethe_cpu_set_scratch_limit(saved);
    lethe_cpu_release_scratch();
}

// ---- group norm ---------------------------------------------------------------------------------------

typedef struct {
    int n, c, hw, groups;
    float eps;
    float *x, *gamma, *beta, *y, *mean, *rstd;
} gn_ctx;

static void gn_fwd(void *c) {
    gn_ctx *k = c;
    ops()->group_norm_forward(k->y, k->mean, k->rstd, k->x, k->gamma, k->beta, k->n, k->c, k->hw, k->groups, k->eps);
}
static void gn_bwd(void *c, const float *dy, float **g) {
    gn_ctx *k = c;
    ops()->group_norm_backward(g[0], g[1], g[2], dy, k->x, k->mean, k->rstd, k->gamma, k->n, k->c, k->hw, k->groups);
}

static void test_group_norm(void **state) {
    (void)state;
    const int groups_list[] = {1, 3, 6};
    for (int gi = 0; gi < 3; gi++) {
        gn_ctx k = {.n = 2, .c = 6, .hw = 5, .groups = groups_list[gi], .eps = 1e-5f};
        const size_t nx = (size_t)k.n * k.c * k.hw;
        k.x = fbuf(nx);
        k.y = fbuf(nx);
        k.gamma = fbuf(k.c);
        k.beta = fbuf(k.c);
        k.mean = fbuf((size_t)k.n * k.groups);
        k.rstd = fbuf((size_t)k.n * k.groups);
        fill_uniform(k.x, nx, 2.0f, 4.0f, 110 + gi);   // offset mean: stats must not cancel
        fill_uniform(k.gamma, k.c, 0.5f, 1.5f, 120 + gi);
        fill_uniform(k.beta, k.c, -1, 1, 130 + gi);

        // forward against a naive double transcription of nn.GroupNorm
        gn_fwd(&k);
        const int cg = k.c / k.groups;
        const size_t m = (size_t)cg * k.hw;
        for (int s = 0; s < k.n; s++)
            for (int g = 0; g < k.groups; g++) {
                const float *xg = k.x + ((size_t)s * k.c + (size_t)g * cg) * k.hw;
                double mu = 0, var = 0;
                for (size_t i = 0; i < m; i++) mu += xg[i];
                mu /= m;
                for (size_t i = 0; i < m; i++) var += (xg[i] - mu) * (xg[i] - mu);
                var /= m;   // biased
                const double rs = 1.0 / sqrt(var + k.eps);
                assert_float_equal(k.mean[s * k.groups + g], mu, 1e-6 * fabs(mu));
                assert_float_equal(k.rstd[s * k.groups + g], rs, 1e-6 * rs);
                for (size_t i = 0; i < m; i++) {
                    const int ch = g * cg + (int)(i / k.hw);
                    const double want = (xg[i] - mu) * rs * k.gamma[ch] + k.beta[ch];
                    const float got = k.y[((size_t)s * k.c + (size_t)g * cg) * k.hw + i];
                    assert_float_equal(got, want, 1e-5);
                }
            }

        char name[64];
        snprintf(name, sizeof name, "group_norm groups=%d of c=%d", k.groups, k.c);
        gradcase gc = {.name = name, .ctx = &k, .forward = gn_fwd, .backward = gn_bwd, .out = k.y, .nout = nx,
                       .nin = 3, .in = {k.x, k.gamma, k.beta}, .len = {nx, (size_t)k.c, (size_t)k.c},
                       .in_name = {"x", "gamma", "beta"}, .h = 1e-2, .tol = 2e-3};
        check_gradients(&gc);
        free(k.x); free(k.y); free(k.gamma); free(k.beta); free(k.mean); free(k.rstd);
    }
}

// the fused GroupNorm + SiLU gives the two ops' results bit for bit (affine and not), on a
// tensor large enough to run threaded
static void test_group_norm_silu_fused(void **state) {
    (void)state;
    const int n = 3, c = 32, hw = 28 * 28, groups = 8;
    const size_t nx = (size_t)n * c * hw;
    float *x = fbuf(nx), *y0 = fbuf(nx), *a0 = fbuf(nx), *y1 = fbuf(nx), *a1 = fbuf(nx), *gamma = fbuf(c), *beta = fbuf(c);
    float mean0[24], rstd0[24], mean1[24], rstd1[24];
    fill_uniform(x, nx, -3.0f, 5.0f, 140);
    fill_uniform(gamma, c, 0.5f, 1.5f, 141);
    fill_uniform(beta, c, -1, 1, 142);
    assert_non_null(ops()->group_norm_silu_forward);
    for (int affine = 0; affine < 2; affine++) {
        const float *g = affine ? gamma : NULL, *b = affine ? beta : NULL;
        ops()->group_norm_forward(y0, mean0, rstd0, x, g, b, n, c, hw, groups, 1e-5f);
        ops()->silu_forward(a0, y0, nx);
        ops()->group_norm_silu_forward(y1, a1, mean1, rstd1, x, g, b, n, c, hw, groups, 1e-5f);
        assert_memory_equal(y0, y1, nx * sizeof(float));
        assert_memory_equal(a0, a1, nx * sizeof(float));
        assert_memory_equal(mean0, mean1, sizeof mean0);
        assert_memory_equal(rstd0, rstd1, sizeof rstd0);
    }
    free(x); free(y0); free(a0); free(y1); free(a1); free(gamma); free(beta);
}

// affine=False: gamma, beta NULL behave as ones and zeros
static void test_group_norm_no_affine(void **state) {
    (void)state;
    const int n = 2, c = 4, hw = 9, groups = 2;
    const size_t nx = (size_t)n * c * hw;
    float *x = fbuf(nx), *y0 = fbuf(nx), *y1 = fbuf(nx), *ones = fbuf(c), *zeros = fbuf(c);
    float mean[4], rstd[4];
    fill_uniform(x, nx, -3, 3, 140);
    fill_value(ones, c, 1.0f);
    ops()->group_norm_forward(y0, mean, rstd, x, ones, zeros, n, c, hw, groups, 1e-5f);
    ops()->group_norm_forward(y1, mean, rstd, x, NULL, NULL, n, c, hw, groups, 1e-5f);
    assert_memory_equal(y0, y1, nx * sizeof(float));
    float *dy = fbuf(nx), *dx0 = fbuf(nx), *dx1 = fbuf(nx);
    fill_uniform(dy, nx, -1, 1, 141);
    ops()->group_norm_backward(dx0, NULL, NULL, dy, x, mean, rstd, ones, n, c, hw, groups);
    ops()->group_norm_backward(dx1, NULL, NULL, dy, x, mean, rstd, NULL, n, c, hw, groups);
    assert_true(tensor_rel_err(dx1, dx0, nx, 1e-6) < 1e-6);
    free(x); free(y0); free(y1); free(ones); free(zeros); free(dy); free(dx0); free(dx1);
}

// ---- layer norm -------------------------------------------------------------------------------------------

typedef struct {
    int rows, width;
    float eps;
    float *x, *gamma, *beta, *y, *mean, *rstd;
} ln_ctx;

static void ln_fwd(void *c) {
    ln_ctx *k = c;
    ops()->layer_norm_forward(k->y, k->mean, k->rstd, k->x, k->gamma, k->beta, k->rows, k->width, k->eps);
}
static void ln_bwd(void *c, const float *dy, float **g) {
    ln_ctx *k = c;
    ops()->layer_norm_backward(g[0], k->gamma ? g[1] : NULL, k->gamma ? g[2] : NULL, dy, k->x, k->mean, k->rstd,
                               k->gamma, k->rows, k->width);
}

static ln_ctx ln_alloc(int rows, int width, int affine) {
    ln_ctx k = {.rows = rows, .width = width, .eps = 1e-5f};   // CLIP's layer_norm_eps
    const size_t nx = (size_t)rows * width;
    k.x = fbuf(nx);
    k.y = fbuf(nx);
    k.mean = fbuf((size_t)rows);
    k.rstd = fbuf((size_t)rows);
    if (affine) {
        k.gamma = fbuf((size_t)width);
        k.beta = fbuf((size_t)width);
        fill_uniform(k.gamma, (size_t)width, 0.5f, 1.5f, 300 + (uint64_t)width);
        fill_uniform(k.beta, (size_t)width, -1, 1, 310 + (uint64_t)width);
    }
    return k;
}

static void ln_free(ln_ctx *k) {
    free(k->x); free(k->y); free(k->mean); free(k->rstd); free(k->gamma); free(k->beta);
}

// forward (after ln_fwd) against a naive double transcription of nn.LayerNorm
static void ln_check_forward(const ln_ctx *k) {
    for (int r = 0; r < k->rows; r++) {
        const float *xr = k->x + (size_t)r * k->width;
        double mu = 0, var = 0;
        for (int j = 0; j < k->width; j++) mu += xr[j];
        mu /= k->width;
        for (int j = 0; j < k->width; j++) var += (xr[j] - mu) * (xr[j] - mu);
        var /= k->width;   // biased
        const double rs = 1.0 / sqrt(var + k->eps);
        assert_float_equal(k->mean[r], mu, 1e-6 * fabs(mu));
        assert_float_equal(k->rstd[r], rs, 1e-6 * rs);
        for (int j = 0; j < k->width; j++) {
            const double want = (xr[j] - mu) * rs * (k->gamma ? k->gamma[j] : 1.0) + (k->beta ? k->beta[j] : 0.0);
            assert_float_equal(k->y[(size_t)r * k->width + j], want, 1e-5);
        }
    }
}

static void test_layer_norm(void **state) {
    (void)state;
    const int widths[] = {1, 7, 64};   // width 1: var 0, y = beta, every gradient but dbeta 0
    for (int wi = 0; wi < 3; wi++) {
        ln_ctx k = ln_alloc(5, widths[wi], 1);
        const size_t nx = (size_t)k.rows * k.width;
        fill_uniform(k.x, nx, 1000.0f, 1002.0f, 320 + wi);   // mean 1000, spread 2: stats must not cancel
        ln_fwd(&k);
        ln_check_forward(&k);
        fill_uniform(k.x, nx, 2.0f, 4.0f, 330 + wi);
        ln_fwd(&k);
        ln_check_forward(&k);
        char name[64];
        snprintf(name, sizeof name, "layer_norm 5 rows of %d", k.width);
        gradcase gc = {.name = name, .ctx = &k, .forward = ln_fwd, .backward = ln_bwd, .out = k.y, .nout = nx,
                       .nin = 3, .in = {k.x, k.gamma, k.beta}, .len = {nx, (size_t)k.width, (size_t)k.width},
                       .in_name = {"x", "gamma", "beta"}, .h = 1e-2, .tol = 2e-3};
        check_gradients(&gc);
        ln_free(&k);
    }
}

// elementwise_affine=False: gamma, beta NULL behave as ones and zeros, forward and backward
static void test_layer_norm_no_affine(void **state) {
    (void)state;
    ln_ctx k = ln_alloc(4, 9, 0);
    const size_t nx = 36;
    float *ones = fbuf(9), *zeros = fbuf(9), *y1 = fbuf(nx);
    fill_value(ones, 9, 1.0f);
    fill_uniform(k.x, nx, -3, 3, 340);
    ln_fwd(&k);
    ln_check_forward(&k);
    ops()->layer_norm_forward(y1, k.mean, k.rstd, k.x, ones, zeros, k.rows, k.width, k.eps);
    assert_memory_equal(k.y, y1, nx * sizeof(float));
    float *dy = fbuf(nx), *dx0 = fbuf(nx), *dx1 = fbuf(nx);
    fill_uniform(dy, nx, -1, 1, 341);
    ops()->layer_norm_backward(dx0, NULL, NULL, dy, k.x, k.mean, k.rstd, ones, k.rows, k.width);
    ops()->layer_norm_backward(dx1, NULL, NULL, dy, k.x, k.mean, k.rstd, NULL, k.rows, k.width);
    assert_true(tensor_rel_err(dx1, dx0, nx, 1e-6) < 1e-6);
    gradcase gc = {.name = "layer_norm no affine", .ctx = &k, .forward = ln_fwd, .backward = ln_bwd, .out = k.y,
                   .nout = nx, .nin = 1, .in = {k.x}, .len = {nx}, .in_name = {"x"}, .h = 1e-2, .tol = 2e-3};
    check_gradients(&gc);
    ln_free(&k);
    free(ones); free(zeros); free(y1); free(dy); free(dx0); free(dx1);
}

// CLIP-like sizes (8 prompts of 77 tokens, width 64: past LETHE_CPU_PAR_MIN, so threaded):
// gradients against a double reference, and the same bits with 1 and 3 threads
static void test_layer_norm_large(void **state) {
    (void)state;
    ln_ctx k = ln_alloc(8 * 77, 64, 1);
    const int rows = k.rows, w = k.width;
    const size_t nx = (size_t)rows * w;
    fill_uniform(k.x, nx, -2, 3, 350);
    float *dy = fbuf(nx), *dx = fbuf(nx), *dg = fbuf((size_t)w), *db = fbuf((size_t)w);
    fill_uniform(dy, nx, -1, 1, 351);
    ln_fwd(&k);
    ln_check_forward(&k);
    ops()->layer_norm_backward(dx, dg, db, dy, k.x, k.mean, k.rstd, k.gamma, rows, w);
    double *rg = calloc((size_t)w, sizeof(double)), *rb = calloc((size_t)w, sizeof(double));
    float *rdx = fbuf(nx), *rdg = fbuf((size_t)w), *rdb = fbuf((size_t)w);
    assert_non_null(rg);
    assert_non_null(rb);
    for (int r = 0; r < rows; r++) {
        const float *xr = k.x + (size_t)r * w, *dyr = dy + (size_t)r * w;
        double mu = 0, var = 0, mg = 0, mgx = 0;
        for (int j = 0; j < w; j++) mu += xr[j];
        mu /= w;
        for (int j = 0; j < w; j++) var += (xr[j] - mu) * (xr[j] - mu);
        const double rs = 1.0 / sqrt(var / w + k.eps);
        for (int j = 0; j < w; j++) {
            const double xh = (xr[j] - mu) * rs, g = (double)dyr[j] * k.gamma[j];
            mg += g / w;
            mgx += g * xh / w;
            rg[j] += dyr[j] * xh;
            rb[j] += dyr[j];
        }
        for (int j = 0; j < w; j++)
            rdx[(size_t)r * w + j] = (float)(rs * ((double)dyr[j] * k.gamma[j] - mg - (xr[j] - mu) * rs * mgx));
    }
    for (int j = 0; j < w; j++) {
        rdg[j] = (float)rg[j];
        rdb[j] = (float)rb[j];
    }
    assert_true(tensor_rel_err(dx, rdx, nx, 1e-6) < 1e-5);
    assert_true(tensor_rel_err(dg, rdg, (size_t)w, 1e-6) < 1e-5);
    assert_true(tensor_rel_err(db, rdb, (size_t)w, 1e-6) < 1e-5);
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    float *y1 = fbuf(nx), *dx1 = fbuf(nx), *dg1 = fbuf((size_t)w), *db1 = fbuf((size_t)w);
    omp_set_num_threads(saved == 3 ? 1 : 3);
    ops()->layer_norm_forward(y1, k.mean, k.rstd, k.x, k.gamma, k.beta, rows, w, k.eps);
    ops()->layer_norm_backward(dx1, dg1, db1, dy, k.x, k.mean, k.rstd, k.gamma, rows, w);
    omp_set_num_threads(saved);
    assert_memory_equal(y1, k.y, nx * sizeof(float));
    assert_memory_equal(dx1, dx, nx * sizeof(float));
    assert_memory_equal(dg1, dg, (size_t)w * sizeof(float));
    assert_memory_equal(db1, db, (size_t)w * sizeof(float));
    free(y1); free(dx1); free(dg1); free(db1);
#endif
    ln_free(&k);
    free(dy); free(dx); free(dg); free(db); free(rg); free(rb); free(rdx); free(rdg); free(rdb);
}

// ---- SiLU -----------------------------------------------------------------------------------------------

typedef struct {
    float *x, *y;
    size_t n;
} silu_ctx;

static void silu_fwd(void *c) {
    silu_ctx *k = c;
    ops()->silu_forward(k->y, k->x, k->n);
}
static void silu_bwd(void *c, const float *dy, float **g) {
    silu_ctx *k = c;
    ops()->silu_backward(g[0], dy, k->x, k->n);
}

static void test_silu(void **state) {
    (void)state;
    silu_ctx k = {.n = 200};
    k.x = fbuf(k.n);
    k.y = fbuf(k.n);
    fill_uniform(k.x, k.n, -8, 8, 150);
    silu_fwd(&k);
    for (size_t i = 0; i < k.n; i++) {
        const double want = k.x[i] / (1.0 + exp(-(double)k.x[i]));
        assert_float_equal(k.y[i], want, 1e-6 * (1 + fabs(want)));
    }
    // in place (y aliases x)
    float *z = fbuf(k.n);
    memcpy(z, k.x, k.n * sizeof(float));
    ops()->silu_forward(z, z, k.n);
    assert_memory_equal(z, k.y, k.n * sizeof(float));
    gradcase gc = {.name = "silu", .ctx = &k, .forward = silu_fwd, .backward = silu_bwd, .out = k.y, .nout = k.n,
                   .nin = 1, .in = {k.x}, .len = {k.n}, .in_name = {"x"}, .h = 1e-2, .tol = 1e-3};
    check_gradients(&gc);
    free(k.x); free(k.y); free(z);
}

// ---- QuickGELU ---------------------------------------------------------------------------------------

static void qgelu_fwd(void *c) {
    silu_ctx *k = c;
    ops()->quick_gelu_forward(k->y, k->x, k->n);
}
static void qgelu_bwd(void *c, const float *dy, float **g) {
    silu_ctx *k = c;
    ops()->quick_gelu_backward(g[0], dy, k->x, k->n);
}

static void test_quick_gelu(void **state) {
    (void)state;
    silu_ctx k = {.n = 200};
    k.x = fbuf(k.n);
    k.y = fbuf(k.n);
    fill_uniform(k.x, k.n, -8, 8, 155);
    qgelu_fwd(&k);
    for (size_t i = 0; i < k.n; i++) {   // transformers' QuickGELUActivation in double
        const double want = k.x[i] / (1.0 + exp(-1.702 * (double)k.x[i]));
        assert_float_equal(k.y[i], want, 1e-6 * (1 + fabs(want)));
    }
    float *z = fbuf(k.n);
    memcpy(z, k.x, k.n * sizeof(float));
    ops()->quick_gelu_forward(z, z, k.n);   // in place (y aliases x)
    assert_memory_equal(z, k.y, k.n * sizeof(float));
    ops()->quick_gelu_backward(NULL, k.y, k.x, k.n);   // no gradient asked: nothing to do
    gradcase gc = {.name = "quick_gelu", .ctx = &k, .forward = qgelu_fwd, .backward = qgelu_bwd, .out = k.y,
                   .nout = k.n, .nin = 1, .in = {k.x}, .len = {k.n}, .in_name = {"x"}, .h = 1e-2, .tol = 1e-3};
    check_gradients(&gc);
    free(k.x); free(k.y); free(z);
}

// ---- GEGLU ---------------------------------------------------------------------------------------------

typedef struct {
    int rows, w;
    float *x, *y;
} geglu_ctx;

static void geglu_fwd(void *c) {
    geglu_ctx *k = c;
    ops()->geglu_forward(k->y, k->x, k->rows, k->w);
}
static void geglu_bwd(void *c, const float *dy, float **g) {
    geglu_ctx *k = c;
    ops()->geglu_backward(g[0], dy, k->x, k->rows, k->w);
}

// diffusers' GEGLU: hidden, gate = proj(x).chunk(2, -1); hidden * F.gelu(gate) (exact erf)
static void test_geglu(void **state) {
    (void)state;
    geglu_ctx k = {.rows = 7, .w = 13};
    const size_t nx = (size_t)k.rows * 2 * k.w, ny = (size_t)k.rows * k.w;
    k.x = fbuf(nx);
    k.y = fbuf(ny);
    fill_uniform(k.x, nx, -5, 5, 157);
    geglu_fwd(&k);
    for (int r = 0; r < k.rows; r++)
        for (int i = 0; i < k.w; i++) {   // the first half is the value, the second the gate
            const double a = k.x[(size_t)r * 2 * k.w + i], b = k.x[(size_t)r * 2 * k.w + k.w + i];
            const double want = a * 0.5 * b * (1.0 + erf(b / sqrt(2.0)));
            assert_float_equal(k.y[(size_t)r * k.w + i], want, 2e-6 * (1 + fabs(want)));
        }
    ops()->geglu_backward(NULL, k.y, k.x, k.rows, k.w);   // no gradient asked: nothing to do
    gradcase gc = {.name = "geglu", .ctx = &k, .forward = geglu_fwd, .backward = geglu_bwd, .out = k.y,
                   .nout = ny, .nin = 1, .in = {k.x}, .len = {nx}, .in_name = {"x"}, .h = 1e-2, .tol = 1e-3};
    check_gradients(&gc);
    free(k.x); free(k.y);
}

// lethe_cpu_expf (used by SiLU and attention) against exp() in double
static void test_expf_accuracy(void **state) {
    (void)state;
    double worst = 0.0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -86.5f + (float)i * (175.2f / 2000000.0f);   // [-86.5, 88.7]
        const double want = exp((double)x), got = lethe_cpu_expf(x);
        const double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    printf("    lethe_cpu_expf max rel err %.2e over [-86.5, 88.7]\n", worst);
    assert_true(worst < 3e-7);   // ~2.5 ulp (float ulp at 1 is 1.2e-7; glibc expf is < 1 ulp)
    assert_true(lethe_cpu_expf(0.0f) == 1.0f);
    assert_true(isinf(lethe_cpu_expf(100.0f)) && lethe_cpu_expf(INFINITY) > 0);
    assert_true(lethe_cpu_expf(-100.0f) == 0.0f && lethe_cpu_expf(-INFINITY) == 0.0f);
    assert_true(isnan(lethe_cpu_expf(NAN)));
}

// lethe_cpu_normal_cdf (GEGLU's exact GELU) against 0.5 erfc(-x / sqrt 2) in double: relative
// error in the lower tail (where 0.5 (1 + erff(x)) would cancel), absolute above 0
static void test_normal_cdf_accuracy(void **state) {
    (void)state;
    double worst_rel = 0.0, worst_abs = 0.0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -12.0f + (float)i * (24.0f / 2000000.0f);
        const double want = 0.5 * erfc(-(double)x / sqrt(2.0)), got = lethe_cpu_normal_cdf(x);
        const double err = fabs(got - want);
        if (x < 0.0f && err / want > worst_rel) worst_rel = err / want;
        if (err > worst_abs) worst_abs = err;
    }
    printf("    lethe_cpu_normal_cdf max rel err %.2e on [-12, 0), max abs err %.2e on [-12, 12]\n",
           worst_rel, worst_abs);
    assert_true(worst_rel < 1.5e-6);   // measured 8.7e-7, at -sqrt 2 where the two forms meet
    assert_true(worst_abs < 1.5e-7);   // measured 9.9e-8 (0.5 (1 + erff) in float: ~6e-8)
    assert_true(lethe_cpu_normal_cdf(0.0f) == 0.5f);
    assert_true(lethe_cpu_normal_cdf(-INFINITY) == 0.0f && lethe_cpu_normal_cdf(INFINITY) == 1.0f);
    assert_true(isnan(lethe_cpu_normal_cdf(NAN)));
}

// ---- linear -------------------------------------------------------------------------------------------------

typedef struct {
    int m, in, out;
    float *x, *w, *b, *y;
} linear_ctx;

static void linear_fwd(void *c) {
    linear_ctx *k = c;
    ops()->linear_forward(k->y, k->x, k->w, k->b, k->m, k->in, k->out);
}
static void linear_bwd(void *c, const float *dy, float **g) {
    linear_ctx *k = c;
    ops()->linear_backward(g[0], g[1], g[2], dy, k->x, k->w, k->m, k->in, k->out);
}

static void test_linear(void **state) {
    (void)state;
    linear_ctx k = {.m = 3, .in = 5, .out = 4};
    k.x = fbuf(15);
    k.w = fbuf(20);
    k.b = fbuf(4);
    k.y = fbuf(12);
    fill_uniform(k.x, 15, -1, 1, 160);
    fill_uniform(k.w, 20, -1, 1, 161);
    fill_uniform(k.b, 4, -1, 1, 162);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        ops()->linear_forward(k.y, k.x, k.w, with_bias ? k.b : NULL, k.m, k.in, k.out);
        for (int r = 0; r < k.m; r++)
            for (int o = 0; o < k.out; o++) {
                double want = with_bias ? k.b[o] : 0.0;
                for (int i = 0; i < k.in; i++) want += (double)k.x[r * k.in + i] * k.w[o * k.in + i];
                assert_float_equal(k.y[r * k.out + o], want, 1e-6);
            }
    }
    gradcase gc = {.name = "linear 3x5 -> 4", .ctx = &k, .forward = linear_fwd, .backward = linear_bwd, .out = k.y,
                   .nout = 12, .nin = 3, .in = {k.x, k.w, k.b}, .len = {15, 20, 4}, .in_name = {"x", "w", "b"},
                   .h = 0.5, .tol = 1e-4};
    check_gradients(&gc);
    free(k.x); free(k.w); free(k.b); free(k.y);
}

// large enough to be split into row blocks over threads; against double references
static void test_linear_large(void **state) {
    (void)state;
    const int m = 64, in = 96, out = 200;
    float *x = fbuf((size_t)m * in), *w = fbuf((size_t)out * in), *b = fbuf(out), *y = fbuf((size_t)m * out);
    float *dy = fbuf((size_t)m * out), *dx = fbuf((size_t)m * in), *dw = fbuf((size_t)out * in), *db = fbuf(out);
    fill_uniform(x, (size_t)m * in, -1, 1, 163);
    fill_uniform(w, (size_t)out * in, -1, 1, 164);
    fill_uniform(b, out, -1, 1, 165);
    fill_uniform(dy, (size_t)m * out, -1, 1, 166);
    fill_value(dx, (size_t)m * in, 1.0f);   // backward adds to these
    fill_value(dw, (size_t)out * in, 1.0f);
    fill_value(db, out, 1.0f);
    ops()->linear_forward(y, x, w, b, m, in, out);
    ops()->linear_backward(dx, dw, db, dy, x, w, m, in, out);
    for (int r = 0; r < m; r++)
        for (int o = 0; o < out; o++) {
            double want = b[o];
            for (int i = 0; i < in; i++) want += (double)x[r * in + i] * w[o * in + i];
            assert_float_equal(y[r * out + o], want, 1e-5);
        }
    for (int r = 0; r < m; r++)
        for (int i = 0; i < in; i++) {
            double want = 1.0;
            for (int o = 0; o < out; o++) want += (double)dy[r * out + o] * w[o * in + i];
            assert_float_equal(dx[r * in + i], want, 1e-5);
        }
    for (int o = 0; o < out; o++) {
        double wantb = 1.0;
        for (int r = 0; r < m; r++) wantb += dy[r * out + o];
        assert_float_equal(db[o], wantb, 1e-5);
        for (int i = 0; i < in; i++) {
            double want = 1.0;
            for (int r = 0; r < m; r++) want += (double)dy[r * out + o] * x[r * in + i];
            assert_float_equal(dw[o * in + i], want, 1e-5);
        }
    }
    free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db);
}

// ---- embedding ----------------------------------------------------------------------------------------------

typedef struct {
    int n, dim;
    const int *idx;
    float *table, *y;
} emb_ctx;

static void emb_fwd(void *c) {
    emb_ctx *k = c;
    ops()->embedding_forward(k->y, k->idx, k->table, k->n, k->dim);
}
static void emb_bwd(void *c, const float *dy, float **g) {
    emb_ctx *k = c;
    ops()->embedding_backward(g[0], dy, k->idx, k->n, k->dim);
}

static void test_embedding(void **state) {
    (void)state;
    static const int idx[5] = {2, 0, 2, 3, 2};   // repeats add up in backward; row 1 unused
    emb_ctx k = {.n = 5, .dim = 3, .idx = idx};
    k.table = fbuf(12);
    k.y = fbuf(15);
    fill_uniform(k.table, 12, -1, 1, 170);
    emb_fwd(&k);
    for (int i = 0; i < 5; i++) assert_memory_equal(k.y + 3 * i, k.table + 3 * idx[i], 3 * sizeof(float));
    gradcase gc = {.name = "embedding", .ctx = &k, .forward = emb_fwd, .backward = emb_bwd, .out = k.y,
                   .nout = 15, .nin = 1, .in = {k.table}, .len = {12}, .in_name = {"table"}, .h = 0.5,
                   .tol = 1e-5};
    check_gradients(&gc);
    free(k.table); free(k.y);
}

// ---- timestep embedding ----------------------------------------------------------------------------------------

typedef struct {
    int n, dim, flip;
    float shift;
    float *t, *y;
} temb_ctx;

static void temb_fwd(void *c) {
    temb_ctx *k = c;
    ops()->timestep_embedding_forward(k->y, k->t, k->n, k->dim, k->flip, k->shift);
}
static void temb_bwd(void *c, const float *dy, float **g) {
    temb_ctx *k = c;
    ops()->timestep_embedding_backward(g[0], dy, k->t, k->n, k->dim, k->flip, k->shift);
}

static void test_timestep_embedding_values(void **state) {
    (void)state;
    float t = 17.0f, y[65];
    // diffusers get_timestep_embedding(t=17, 64, flip_sin_to_cos=True, downscale_freq_shift=1)
    ops()->timestep_embedding_forward(y, &t, 1, 64, 1, 1.0f);
    assert_float_equal(y[0], -0.2751633, 1e-6);    // cos(17 * f_0), f_0 = 1
    assert_float_equal(y[32], -0.9613975, 1e-6);   // sin(17)
    assert_float_equal(y[1], 0.997951640434109, 2e-6);     // cos(17 exp(-ln(1e4)/31))
    assert_float_equal(y[33], 0.06397283294392121, 2e-6);  // sin of the same
    // no flip: [sin, cos]; freq_shift 0 puts f_j = 10000^(-j/32)
    ops()->timestep_embedding_forward(y, &t, 1, 64, 0, 0.0f);
    assert_float_equal(y[0], -0.9613975, 1e-6);
    assert_float_equal(y[32], -0.2751633, 1e-6);
    const double f31 = exp(-log(10000.0) * 31.0 / 32.0);
    assert_float_equal(y[31], sin(17.0 * f31), 1e-6);
    assert_float_equal(y[63], cos(17.0 * f31), 1e-6);
    // odd dim: a zero column at the end
    fill_value(y, 65, 7.0f);
    ops()->timestep_embedding_forward(y, &t, 1, 65, 1, 1.0f);
    assert_true(y[64] == 0.0f);
    assert_float_equal(y[0], -0.2751633, 1e-6);
}

static void test_timestep_embedding_grad(void **state) {
    (void)state;
    const int dims[2] = {8, 9};
    for (int di = 0; di < 2; di++)
        for (int flip = 0; flip < 2; flip++) {
            temb_ctx k = {.n = 3, .dim = dims[di], .flip = flip, .shift = (float)flip};
            float t[3] = {0.5f, 3.0f, 17.0f};
            k.t = t;
            k.y = fbuf((size_t)k.n * k.dim);
            char name[64];
            snprintf(name, sizeof name, "timestep_embedding dim %d flip %d", k.dim, flip);
            gradcase gc = {.name = name, .ctx = &k, .forward = temb_fwd, .backward = temb_bwd, .out = k.y,
                           .nout = (size_t)k.n * k.dim, .nin = 1, .in = {k.t}, .len = {3}, .in_name = {"t"},
                           .h = 1e-2, .tol = 1e-3};
            check_gradients(&gc);
            free(k.y);
        }
}

// ---- upsample, concat, channel bias, transpose -------------------------------------------------------------------

typedef struct {
    int n, c, h, w;
    float *x, *y;
} up_ctx;

static void up_fwd(void *c) {
    up_ctx *k = c;
    ops()->upsample2x_forward(k->y, k->x, k->n, k->c, k->h, k->w);
}
static void up_bwd(void *c, const float *dy, float **g) {
    up_ctx *k = c;
    ops()->upsample2x_backward(g[0], dy, k->n, k->c, k->h, k->w);
}

static void test_upsample(void **state) {
    (void)state;
    up_ctx k = {.n = 2, .c = 2, .h = 3, .w = 4};
    const size_t nx = 48, ny = 192;
    k.x = fbuf(nx);
    k.y = fbuf(ny);
    fill_uniform(k.x, nx, -1, 1, 180);
    up_fwd(&k);
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 8; j++) assert_true(k.y[(p * 6 + i) * 8 + j] == k.x[(p * 3 + i / 2) * 4 + j / 2]);
    gradcase gc = {.name = "upsample2x", .ctx = &k, .forward = up_fwd, .backward = up_bwd, .out = k.y, .nout = ny,
                   .nin = 1, .in = {k.x}, .len = {nx}, .in_name = {"x"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.x); free(k.y);
}

typedef struct {
    int n, ca, cb, hw;
    float *a, *b, *y;
} cat_ctx;

static void cat_fwd(void *c) {
    cat_ctx *k = c;
    ops()->concat_forward(k->y, k->a, k->b, k->n, k->ca, k->cb, k->hw);
}
static void cat_bwd(void *c, const float *dy, float **g) {
    cat_ctx *k = c;
    ops()->concat_backward(g[0], g[1], dy, k->n, k->ca, k->cb, k->hw);
}

static void test_concat(void **state) {
    (void)state;
    cat_ctx k = {.n = 2, .ca = 2, .cb = 3, .hw = 4};
    k.a = fbuf(16);
    k.b = fbuf(24);
    k.y = fbuf(40);
    fill_uniform(k.a, 16, -1, 1, 190);
    fill_uniform(k.b, 24, -1, 1, 191);
    cat_fwd(&k);
    for (int s = 0; s < 2; s++) {
        assert_memory_equal(k.y + s * 20, k.a + s * 8, 8 * sizeof(float));
        assert_memory_equal(k.y + s * 20 + 8, k.b + s * 12, 12 * sizeof(float));
    }
    gradcase gc = {.name = "concat", .ctx = &k, .forward = cat_fwd, .backward = cat_bwd, .out = k.y, .nout = 40,
                   .nin = 2, .in = {k.a, k.b}, .len = {16, 24}, .in_name = {"a", "b"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.a); free(k.b); free(k.y);
}

typedef struct {
    int n, c, hw;
    float *base, *bias, *y;
} cb_ctx;

static void cb_fwd(void *c) {
    cb_ctx *k = c;
    memcpy(k->y, k->base, (size_t)k->n * k->c * k->hw * sizeof(float));
    ops()->add_channel_bias_forward(k->y, k->bias, k->n, k->c, k->hw);
}
static void cb_bwd(void *c, const float *dy, float **g) {
    cb_ctx *k = c;
    ops()->add_channel_bias_backward(g[0], dy, k->n, k->c, k->hw);
}

static void test_add_channel_bias(void **state) {
    (void)state;
    cb_ctx k = {.n = 2, .c = 3, .hw = 5};
    k.base = fbuf(30);
    k.bias = fbuf(6);
    k.y = fbuf(30);
    fill_uniform(k.base, 30, -1, 1, 200);
    fill_uniform(k.bias, 6, -1, 1, 201);
    cb_fwd(&k);
    for (int i = 0; i < 30; i++) assert_true(k.y[i] == k.base[i] + k.bias[i / 5]);
    gradcase gc = {.name = "add_channel_bias", .ctx = &k, .forward = cb_fwd, .backward = cb_bwd, .out = k.y,
                   .nout = 30, .nin = 1, .in = {k.bias}, .len = {6}, .in_name = {"bias"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.base); free(k.bias); free(k.y);
}

typedef struct {
    int n, c, hw;
    float *x, *y;
} sm_ctx;

static void sm_fwd(void *c) {
    sm_ctx *k = c;
    ops()->spatial_mean_forward(k->y, k->x, k->n, k->c, k->hw);
}
static void sm_bwd(void *c, const float *dy, float **g) {
    sm_ctx *k = c;
    ops()->spatial_mean_backward(g[0], dy, k->n, k->c, k->hw);
}

static void test_spatial_mean(void **state) {
    (void)state;
    sm_ctx k = {.n = 2, .c = 3, .hw = 7};
    k.x = fbuf(42);
    k.y = fbuf(6);
    fill_uniform(k.x, 42, -1, 1, 205);
    sm_fwd(&k);
    for (int p = 0; p < 6; p++) {
        double s = 0;
        for (int i = 0; i < 7; i++) s += k.x[p * 7 + i];
        assert_float_equal(k.y[p], s / 7, 1e-6);
    }
    gradcase gc = {.name = "spatial_mean", .ctx = &k, .forward = sm_fwd, .backward = sm_bwd, .out = k.y,
                   .nout = 6, .nin = 1, .in = {k.x}, .len = {42}, .in_name = {"x"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.x); free(k.y);
}

typedef struct {
    int n, rows, cols;
    float *x, *y;
} tr_ctx;

static void tr_fwd(void *c) {
    tr_ctx *k = c;
    ops()->transpose_forward(k->y, k->x, k->n, k->rows, k->cols);
}
static void tr_bwd(void *c, const float *dy, float **g) {
    tr_ctx *k = c;
    ops()->transpose_backward(g[0], dy, k->n, k->rows, k->cols);
}

static void test_transpose(void **state) {
    (void)state;
    // 37 x 45: more than one 32x32 block each way
    tr_ctx k = {.n = 2, .rows = 37, .cols = 45};
    const size_t nx = 2 * 37 * 45;
    k.x = fbuf(nx);
    k.y = fbuf(nx);
    fill_uniform(k.x, nx, -1, 1, 210);
    tr_fwd(&k);
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < 37; r++)
            for (int c = 0; c < 45; c++) assert_true(k.y[(s * 45 + c) * 37 + r] == k.x[(s * 37 + r) * 45 + c]);
    gradcase gc = {.name = "transpose", .ctx = &k, .forward = tr_fwd, .backward = tr_bwd, .out = k.y, .nout = nx,
                   .nin = 1, .in = {k.x}, .len = {nx}, .in_name = {"x"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.x); free(k.y);
}

// ---- attention -------------------------------------------------------------------------------------------------

typedef struct {
    int n, l, heads, hd, causal;
    int lk;   // keys (cross-attention); 0: l (self-attention)
    float scale;
    float *q, *k, *v, *o, *probs;
} att_ctx;

static int att_lk(const att_ctx *a) { return a->lk ? a->lk : a->l; }
static void att_fwd(void *c) {
    att_ctx *a = c;
    ops()->attention_forward(a->o, a->probs, a->q, a->k, a->v, a->n, a->l, att_lk(a), a->heads, a->hd, a->scale,
                             a->causal);
}
static void att_bwd(void *c, const float *dy, float **g) {
    att_ctx *a = c;
    ops()->attention_backward(g[0], g[1], g[2], dy, a->q, a->k, a->v, a->probs, a->n, a->l, att_lk(a), a->heads,
                              a->hd, a->scale, a->causal);
}

static void test_attention(void **state) {
    (void)state;
    att_ctx a = {.n = 2, .l = 5, .heads = 2, .hd = 3};
    a.scale = 1.0f / sqrtf((float)a.hd);
    const int C = a.heads * a.hd;
    const size_t nt = (size_t)a.n * a.l * C;
    a.q = fbuf(nt);
    a.k = fbuf(nt);
    a.v = fbuf(nt);
    a.o = fbuf(nt);
    a.probs = fbuf((size_t)a.n * a.heads * a.l * a.l);
    fill_uniform(a.q, nt, -2, 2, 220);
    fill_uniform(a.k, nt, -2, 2, 221);
    fill_uniform(a.v, nt, -1, 1, 222);
    att_fwd(&a);
    // naive double reference, heads taken from channel slices
    for (int s = 0; s < a.n; s++)
        for (int h = 0; h < a.heads; h++)
            for (int i = 0; i < a.l; i++) {
                double sc[5], mx = -INFINITY, sum = 0;
                for (int j = 0; j < a.l; j++) {
                    double d = 0;
                    for (int c = 0; c < a.hd; c++)
                        d += (double)a.q[(s * a.l + i) * C + h * a.hd + c] * a.k[(s * a.l + j) * C + h * a.hd + c];
                    sc[j] = d * a.scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < a.l; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int c = 0; c < a.hd; c++) {
                    double want = 0;
                    for (int j = 0; j < a.l; j++) want += sc[j] / sum * a.v[(s * a.l + j) * C + h * a.hd + c];
                    assert_float_equal(a.o[(s * a.l + i) * C + h * a.hd + c], want, 1e-6);
                }
                for (int j = 0; j < a.l; j++)
                    assert_float_equal(a.probs[((s * a.heads + h) * a.l + i) * a.l + j], sc[j] / sum, 1e-6);
            }
    gradcase gc = {.name = "attention n2 l5 heads2 d3", .ctx = &a, .forward = att_fwd, .backward = att_bwd,
                   .out = a.o, .nout = nt, .nin = 3, .in = {a.q, a.k, a.v}, .len = {nt, nt, nt},
                   .in_name = {"q", "k", "v"}, .h = 1e-2, .tol = 2e-3};
    check_gradients(&gc);
    free(a.q); free(a.k); free(a.v); free(a.o); free(a.probs);
}

// large logits: the row max is subtracted, so nothing overflows
static void test_attention_stable(void **state) {
    (void)state;
    const int l = 4, C = 2;
    float q[8], k[8], v[8], o[8], probs[16];
    for (int i = 0; i < 8; i++) {
        q[i] = 100.0f;
        k[i] = (float)(i / 2) * 10.0f;
        v[i] = (float)(i / 2);
    }
    ops()->attention_forward(o, probs, q, k, v, 1, l, l, 1, C, 1.0f, 0);
    assert_true(ops()->all_finite(o, 8) && ops()->all_finite(probs, 16));
    for (int i = 0; i < l; i++) assert_float_equal(o[i * C], 3.0f, 1e-6);   // all weight on the last key
}

// cross-attention (diffusers' attn2: queries from image tokens, keys and values from the
// text encoder's hidden states): lq != lk, against a naive reference, and gradients
static void test_attention_cross(void **state) {
    (void)state;
    for (int lk = 1; lk <= 7; lk += 6) {   // one key (softmax of one: P = 1) and more keys than queries
        att_ctx a = {.n = 2, .l = 4, .lk = lk, .heads = 2, .hd = 3};
        a.scale = 1.0f / sqrtf((float)a.hd);
        const int C = a.heads * a.hd, lq = a.l;
        const size_t nq = (size_t)a.n * lq * C, nk = (size_t)a.n * lk * C;
        a.q = fbuf(nq);
        a.k = fbuf(nk);
        a.v = fbuf(nk);
        a.o = fbuf(nq);
        a.probs = fbuf((size_t)a.n * a.heads * lq * lk);
        fill_uniform(a.q, nq, -2, 2, 231);
        fill_uniform(a.k, nk, -2, 2, 232);
        fill_uniform(a.v, nk, -1, 1, 233);
        att_fwd(&a);
        for (int s = 0; s < a.n; s++)
            for (int h = 0; h < a.heads; h++)
                for (int i = 0; i < lq; i++) {
                    double sc[7], mx = -INFINITY, sum = 0;
                    for (int j = 0; j < lk; j++) {
                        double d = 0;
                        for (int c = 0; c < a.hd; c++)
                            d += (double)a.q[(s * lq + i) * C + h * a.hd + c] * a.k[(s * lk + j) * C + h * a.hd + c];
                        sc[j] = d * a.scale;
                        if (sc[j] > mx) mx = sc[j];
                    }
                    for (int j = 0; j < lk; j++) sum += (sc[j] = exp(sc[j] - mx));
                    for (int c = 0; c < a.hd; c++) {
                        double want = 0;
                        for (int j = 0; j < lk; j++) want += sc[j] / sum * a.v[(s * lk + j) * C + h * a.hd + c];
                        assert_float_equal(a.o[(s * lq + i) * C + h * a.hd + c], want, 1e-6);
                    }
                    for (int j = 0; j < lk; j++)
                        assert_float_equal(a.probs[((s * a.heads + h) * lq + i) * lk + j], sc[j] / sum, 1e-6);
                }
        gradcase gc = {.name = lk == 1 ? "cross-attention lq4 lk1" : "cross-attention lq4 lk7", .ctx = &a,
                       .forward = att_fwd, .backward = att_bwd, .out = a.o, .nout = nq, .nin = 3,
                       .in = {a.q, a.k, a.v}, .len = {nq, nk, nk}, .in_name = {"q", "k", "v"}, .h = 1e-2, .tol = 2e-3};
        check_gradients(&gc);
        free(a.q); free(a.k); free(a.v); free(a.o); free(a.probs);
    }
}

static att_ctx att_alloc(int n, int l, int heads, int hd, int causal, uint64_t seed) {
    att_ctx a = {.n = n, .l = l, .heads = heads, .hd = hd, .causal = causal};
    a.scale = 1.0f / sqrtf((float)hd);
    const size_t nt = (size_t)n * l * heads * hd;
    a.q = fbuf(nt);
    a.k = fbuf(nt);
    a.v = fbuf(nt);
    a.o = fbuf(nt);
    a.probs = fbuf((size_t)n * heads * l * l);
    fill_uniform(a.q, nt, -2, 2, seed);
    fill_uniform(a.k, nt, -2, 2, seed + 1);
    fill_uniform(a.v, nt, -1, 1, seed + 2);
    return a;
}

static void att_free(att_ctx *a) {
    free(a->q); free(a->k); free(a->v); free(a->o); free(a->probs);
}

// causal (SDPA is_causal=True, CLIP's text encoder): against a masked reference, exact zeros
// above the diagonal, gradients, and no influence of later tokens on earlier ones
static void test_attention_causal(void **state) {
    (void)state;
    att_ctx a = att_alloc(2, 6, 2, 3, 1, 225);
    const int C = a.heads * a.hd, l = a.l;
    const size_t nt = (size_t)a.n * l * C, np = (size_t)a.n * a.heads * l * l;
    fill_value(a.probs, np, NAN);   // as reused memory: the masked zeros must be written
    att_fwd(&a);
    for (int s = 0; s < a.n; s++)
        for (int h = 0; h < a.heads; h++)
            for (int i = 0; i < l; i++) {
                double sc[6], mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) {   // keys j > i are -inf: they drop out of the softmax
                    double d = 0;
                    for (int c = 0; c < a.hd; c++)
                        d += (double)a.q[(s * l + i) * C + h * a.hd + c] * a.k[(s * l + j) * C + h * a.hd + c];
                    sc[j] = d * a.scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= i; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int c = 0; c < a.hd; c++) {
                    double want = 0;
                    for (int j = 0; j <= i; j++) want += sc[j] / sum * a.v[(s * l + j) * C + h * a.hd + c];
                    assert_float_equal(a.o[(s * l + i) * C + h * a.hd + c], want, 1e-6);
                }
                const float *prow = a.probs + ((size_t)(s * a.heads + h) * l + i) * l;
                for (int j = 0; j <= i; j++) assert_float_equal(prow[j], sc[j] / sum, 1e-6);
                for (int j = i + 1; j < l; j++) assert_true(prow[j] == 0.0f);   // exactly 0
            }
    assert_true(a.probs[0] == 1.0f);   // query 0 sees only itself

    gradcase gc = {.name = "attention causal n2 l6 heads2 d3", .ctx = &a, .forward = att_fwd, .backward = att_bwd,
                   .out = a.o, .nout = nt, .nin = 3, .in = {a.q, a.k, a.v}, .len = {nt, nt, nt},
                   .in_name = {"q", "k", "v"}, .h = 1e-2, .tol = 2e-3};
    check_gradients(&gc);

    // tokens after t change: outputs and probabilities of tokens <= t keep every bit
    const int t = 2;
    float *o0 = fbuf(nt), *p0 = fbuf(np);
    att_fwd(&a);
    memcpy(o0, a.o, nt * sizeof(float));
    memcpy(p0, a.probs, np * sizeof(float));
    for (int s = 0; s < a.n; s++)
        for (int i = t + 1; i < l; i++)
            for (int c = 0; c < C; c++) {
                const size_t e = ((size_t)s * l + i) * C + c;
                a.q[e] += 0.7f;
                a.k[e] -= 1.3f;
                a.v[e] *= -2.0f;
            }
    att_fwd(&a);
    for (int s = 0; s < a.n; s++) {
        const size_t lo = (size_t)s * l * C;
        assert_memory_equal(a.o + lo, o0 + lo, (size_t)(t + 1) * C * sizeof(float));
        assert_true(memcmp(a.o + lo + (size_t)(t + 1) * C, o0 + lo + (size_t)(t + 1) * C,
                           (size_t)(l - t - 1) * C * sizeof(float)) != 0);   // later tokens did change
        for (int h = 0; h < a.heads; h++) {
            const size_t pr = (size_t)(s * a.heads + h) * l * l;
            assert_memory_equal(a.probs + pr, p0 + pr, (size_t)(t + 1) * l * sizeof(float));
        }
    }

    // a gradient only at tokens <= t reaches no q, k or v after t: masked scores pass nothing
    float *dout = fbuf(nt), *dq = fbuf(nt), *dk = fbuf(nt), *dv = fbuf(nt);
    fill_uniform(dout, nt, -1, 1, 228);
    for (int s = 0; s < a.n; s++)
        for (size_t e = ((size_t)s * l + t + 1) * C; e < (size_t)(s + 1) * l * C; e++) dout[e] = 0.0f;
    ops()->attention_backward(dq, dk, dv, dout, a.q, a.k, a.v, a.probs, a.n, l, l, a.heads, a.hd, a.scale, 1);
    for (int s = 0; s < a.n; s++)
        for (size_t e = ((size_t)s * l + t + 1) * C; e < (size_t)(s + 1) * l * C; e++)
            assert_true(dq[e] == 0.0f && dk[e] == 0.0f && dv[e] == 0.0f);
    double reached = 0;   // and the earlier tokens did get gradient
    for (size_t e = 0; e < (size_t)(t + 1) * C; e++) reached += fabs(dq[e]) + fabs(dk[e]) + fabs(dv[e]);
    assert_true(reached > 0);
    free(o0); free(p0); free(dout); free(dq); free(dk); free(dv);
    att_free(&a);

    // l == 1: nothing to mask, the same bits as the non-causal op, forward and backward
    att_ctx b = att_alloc(3, 1, 2, 4, 1, 229);
    const size_t nb = (size_t)3 * 1 * 8;
    float *ob = fbuf(nb), *pb = fbuf(6), *g[2][3];
    float *db = fbuf(nb);
    fill_uniform(db, nb, -1, 1, 230);
    for (int c = 0; c < 2; c++) {
        b.causal = c;
        att_fwd(&b);
        if (c == 0) {
            memcpy(ob, b.o, nb * sizeof(float));
            memcpy(pb, b.probs, 6 * sizeof(float));
        }
        for (int k = 0; k < 3; k++) g[c][k] = fbuf(nb);
        att_bwd(&b, db, g[c]);
    }
    assert_memory_equal(b.o, ob, nb * sizeof(float));
    assert_memory_equal(b.probs, pb, 6 * sizeof(float));
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(g[1][k], g[0][k], nb * sizeof(float));
        free(g[0][k]);
        free(g[1][k]);
    }
    free(ob); free(pb); free(db);
    att_free(&b);
}

// ---- L2 normalisation ------------------------------------------------------------------------------------------

typedef struct {
    int rows, width;
    float eps;
    float *x, *y, *norm;
} l2n_ctx;

static void l2n_fwd(void *c) {
    l2n_ctx *k = c;
    ops()->l2_normalize_forward(k->y, k->norm, k->x, k->rows, k->width, k->eps);
}
static void l2n_bwd(void *c, const float *dy, float **g) {
    l2n_ctx *k = c;
    ops()->l2_normalize_backward(g[0], dy, k->y, k->norm, k->rows, k->width, k->eps);
}

static void test_l2_normalize(void **state) {
    (void)state;
    // eps 1e-12 (F.normalize's default): no row is clamped; eps 0.1 with a zero row and a
    // row of norm ~1e-3 among ordinary rows: those two are divided by eps instead
    const float epss[2] = {1e-12f, 0.1f};
    for (int e = 0; e < 2; e++) {
        l2n_ctx k = {.rows = 5, .width = 6, .eps = epss[e]};
        const size_t nx = 30;
        k.x = fbuf(nx);
        k.y = fbuf(nx);
        k.norm = fbuf(5);
        fill_uniform(k.x, nx, -1, 1, 360 + e);
        if (e == 1) {
            fill_value(k.x + 6, 6, 0.0f);
            for (int j = 0; j < 6; j++) k.x[18 + j] *= 1e-3f;
        }
        l2n_fwd(&k);
        for (int r = 0; r < k.rows; r++) {
            double ss = 0;
            for (int j = 0; j < k.width; j++) ss += (double)k.x[r * 6 + j] * k.x[r * 6 + j];
            const double nr = sqrt(ss), d = nr > k.eps ? nr : k.eps;
            assert_float_equal(k.norm[r], nr, 1e-6 * nr);
            for (int j = 0; j < k.width; j++) assert_float_equal(k.y[r * 6 + j], k.x[r * 6 + j] / d, 1e-6);
        }
        // the rule of each row, on a known dy
        float dy[30], dx[30];
        fill_uniform(dy, nx, -1, 1, 362);
        fill_value(dx, nx, 0.0f);
        ops()->l2_normalize_backward(dx, dy, k.y, k.norm, k.rows, k.width, k.eps);
        for (int r = 0; r < k.rows; r++) {
            double dot = 0;
            for (int j = 0; j < 6; j++) dot += (double)k.y[r * 6 + j] * dy[r * 6 + j];
            const int clamped = k.norm[r] < k.eps;
            assert_int_equal(clamped, e == 1 && (r == 1 || r == 3));
            for (int j = 0; j < 6; j++) {
                const double want = clamped ? dy[r * 6 + j] / k.eps
                                            : (dy[r * 6 + j] - k.y[r * 6 + j] * dot) / k.norm[r];
                assert_float_equal(dx[r * 6 + j], want, 1e-6 * (1 + fabs(want)));
            }
        }
        ops()->l2_normalize_backward(NULL, dy, k.y, k.norm, k.rows, k.width, k.eps);   // nothing asked
        char name[64];
        snprintf(name, sizeof name, "l2_normalize eps %g", (double)k.eps);
        gradcase gc = {.name = name, .ctx = &k, .forward = l2n_fwd, .backward = l2n_bwd, .out = k.y, .nout = nx,
                       .nin = 1, .in = {k.x}, .len = {nx}, .in_name = {"x"}, .h = 1e-2, .tol = 1e-3};
        check_gradients(&gc);
        free(k.x); free(k.y); free(k.norm);
    }
}

// ---- dropout -----------------------------------------------------------------------------------------------------

typedef struct {
    float *x, *y, *mask;
    size_t n;
    float p;
} drop_ctx;

static void drop_fwd(void *c) {
    drop_ctx *k = c;
    ops()->dropout_forward(k->y, k->mask, k->x, k->n, k->p, 5, 6);
}
static void drop_bwd(void *c, const float *dy, float **g) {
    drop_ctx *k = c;
    ops()->dropout_backward(g[0], dy, k->mask, k->n);
}

static void test_dropout(void **state) {
    (void)state;
    const size_t n = 100000;
    float *x = fbuf(n), *y = fbuf(n), *mask = fbuf(n), *y2 = fbuf(n), *mask2 = fbuf(n);
    fill_uniform(x, n, -1, 1, 230);
    // p = 0: identity
    ops()->dropout_forward(y, mask, x, n, 0.0f, 1, 2);
    assert_memory_equal(y, x, n * sizeof(float));
    for (size_t i = 0; i < n; i++) assert_true(mask[i] == 1.0f);
    // p = 0.5: about half kept, kept ones doubled
    ops()->dropout_forward(y, mask, x, n, 0.5f, 1, 2);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(mask[i] == 0.0f || mask[i] == 2.0f);
        assert_true(mask[i] == (lethe_rand_uniform(1, 2, i) >= 0.5f ? 2.0f : 0.0f));   // element i's own draw
        assert_true(y[i] == x[i] * mask[i]);
        kept += mask[i] != 0.0f;
    }
    assert_true(fabs((double)kept / n - 0.5) < 0.01);   // 6.3 sigma of Binomial(1e5, 1/2)
    // the same (seed, stream) gives the same mask; another stream does not
    ops()->dropout_forward(y2, mask2, x, n, 0.5f, 1, 2);
    assert_memory_equal(mask, mask2, n * sizeof(float));
    ops()->dropout_forward(y2, mask2, x, n, 0.5f, 1, 3);
    assert_true(memcmp(mask, mask2, n * sizeof(float)) != 0);
    // mask may be NULL (no backward needed)
    ops()->dropout_forward(y2, NULL, x, n, 0.5f, 1, 2);
    assert_memory_equal(y, y2, n * sizeof(float));
    // p = 1 drops everything
    ops()->dropout_forward(y2, mask2, x, n, 1.0f, 1, 2);
    for (size_t i = 0; i < n; i++) assert_true(y2[i] == 0.0f);
    free(x); free(y); free(mask); free(y2); free(mask2);

    drop_ctx k = {.n = 60, .p = 0.3f};
    k.x = fbuf(k.n);
    k.y = fbuf(k.n);
    k.mask = fbuf(k.n);
    fill_uniform(k.x, k.n, -1, 1, 231);
    gradcase gc = {.name = "dropout p=0.3", .ctx = &k, .forward = drop_fwd, .backward = drop_bwd, .out = k.y,
                   .nout = k.n, .nin = 1, .in = {k.x}, .len = {k.n}, .in_name = {"x"}, .h = 0.5, .tol = 1e-5};
    check_gradients(&gc);
    free(k.x); free(k.y); free(k.mask);
}

// ---- losses ----------------------------------------------------------------------------------------------------------

typedef struct {
    float *pred, *target;
    size_t n;
    float out;
} mse_ctx;

static void mse_fwd(void *c) {
    mse_ctx *k = c;
    k->out = ops()->mse_forward(k->pred, k->target, k->n);
}
static void mse_bwd(void *c, const float *dy, float **g) {
    mse_ctx *k = c;
    ops()->mse_backward(g[0], k->pred, k->target, k->n, dy[0]);
}

static void test_mse(void **state) {
    (void)state;
    const float p[3] = {1, 2, 3}, t[3] = {0, 2, 5};
    assert_float_equal(ops()->mse_forward(p, t, 3), 5.0 / 3.0, 1e-7);   // (1 + 0 + 4) / 3
    float d[3] = {1, 1, 1};
    ops()->mse_backward(d, p, t, 3, 0.5f);   // += 0.5 * 2 (p - t) / 3
    assert_float_equal(d[0], 1.0 + 1.0 / 3.0, 1e-7);
    assert_float_equal(d[1], 1.0, 1e-7);
    assert_float_equal(d[2], 1.0 - 2.0 / 3.0, 1e-7);
    // a large buffer (several reduction blocks) against a double sum
    const size_t n = 300001;
    float *a = fbuf(n), *b = fbuf(n);
    fill_uniform(a, n, -1, 1, 240);
    fill_uniform(b, n, -1, 1, 241);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    assert_float_equal(ops()->mse_forward(a, b, n), want / n, 1e-6 * want / n);
    free(a); free(b);

    mse_ctx k = {.n = 20};
    k.pred = fbuf(k.n);
    k.target = fbuf(k.n);
    fill_uniform(k.pred, k.n, -1, 1, 242);
    fill_uniform(k.target, k.n, -1, 1, 243);
    // quadratic: central differences are exact up to rounding
    gradcase gc = {.name = "mse", .ctx = &k, .forward = mse_fwd, .backward = mse_bwd, .out = &k.out, .nout = 1,
                   .nin = 1, .in = {k.pred}, .len = {k.n}, .in_name = {"pred"}, .h = 1e-2, .tol = 1e-3};
    check_gradients(&gc);
    free(k.pred); free(k.target);
}

typedef struct {
    float *logits, *probs;
    const int *labels;
    int n, classes;
    float out;
} ce_ctx;

static void ce_fwd(void *c) {
    ce_ctx *k = c;
    k->out = ops()->cross_entropy_forward(k->probs, k->logits, k->labels, k->n, k->classes);
}
static void ce_bwd(void *c, const float *dy, float **g) {
    ce_ctx *k = c;
    ops()->cross_entropy_backward(g[0], k->probs, k->labels, k->n, k->classes, dy[0]);
}

static void test_cross_entropy(void **state) {
    (void)state;
    // rows: [1,2,3] label 2 -> log(1 + e^-1 + e^-2); [0,0,0] label 0 -> log 3; [1000,0,0] label 1 -> 1000 + log(1+2e^-1000)
    const float logits[9] = {1, 2, 3, 0, 0, 0, 1000, 0, 0};
    const int labels[3] = {2, 0, 1};
    float probs[9];
    const double r1 = 0.4076059644443804, r2 = log(3.0), r3 = 1000.0;
    assert_float_equal(ops()->cross_entropy_forward(probs, logits, labels, 2, 3), (r1 + r2) / 2, 1e-6);
    assert_float_equal(ops()->cross_entropy_forward(probs, logits, labels, 3, 3), (r1 + r2 + r3) / 3, 1e-4);
    assert_float_equal(probs[2], exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0)), 1e-7);
    assert_float_equal(probs[6], 1.0, 1e-7);
    float d[9];
    fill_value(d, 9, 0.0f);
    ops()->cross_entropy_backward(d, probs, labels, 3, 3, 1.0f);
    assert_float_equal(d[7], (0.0 - 1.0) / 3, 1e-7);   // label column of row 3: (p - 1)/n
    assert_float_equal(d[6], 1.0 / 3, 1e-7);

    static const int lab[4] = {0, 3, 1, 3};
    ce_ctx k = {.labels = lab, .n = 4, .classes = 5};
    k.logits = fbuf(20);
    k.probs = fbuf(20);
    fill_uniform(k.logits, 20, -3, 3, 250);
    gradcase gc = {.name = "cross_entropy", .ctx = &k, .forward = ce_fwd, .backward = ce_bwd, .out = &k.out,
                   .nout = 1, .nin = 1, .in = {k.logits}, .len = {20}, .in_name = {"logits"}, .h = 1e-2,
                   .tol = 1e-3};
    check_gradients(&gc);
    free(k.logits); free(k.probs);
}

// ---- elementwise and reductions ---------------------------------------------------------------------------------

static void test_axpbz(void **state) {
    (void)state;
    float x[5] = {1, 2, 3, 4, 5}, z[5] = {10, 20, 30, 40, 50}, y[5];
    ops()->axpbz(y, 2.0f, x, -1.0f, z, 5);
    for (int i = 0; i < 5; i++) assert_true(y[i] == 2 * x[i] - z[i]);
    float xa[5];
    memcpy(xa, x, sizeof xa);
    ops()->axpbz(xa, 2.0f, xa, 0.5f, z, 5);   // y aliases x
    for (int i = 0; i < 5; i++) assert_true(xa[i] == 2 * x[i] + 0.5f * z[i]);
    float za[5];
    memcpy(za, z, sizeof za);
    ops()->axpbz(za, 3.0f, x, 1.0f, za, 5);   // y aliases z
    for (int i = 0; i < 5; i++) assert_true(za[i] == 3 * x[i] + z[i]);
    ops()->axpbz(y, 0.5f, x, 0.0f, NULL, 5);   // z NULL when b == 0
    for (int i = 0; i < 5; i++) assert_true(y[i] == 0.5f * x[i]);
    // per row coefficients, rows of 3
    float xr[6] = {1, 2, 3, 4, 5, 6}, zr[6] = {1, 1, 1, 2, 2, 2}, yr[6];
    const float a[2] = {1, 2}, b[2] = {10, -1};
    ops()->axpbz_rows(yr, a, xr, b, zr, 2, 3);
    const float want[6] = {11, 12, 13, 6, 8, 10};
    for (int i = 0; i < 6; i++) assert_true(yr[i] == want[i]);
    // large (parallel) aliasing case
    const size_t n = 100000;
    float *big = fbuf(n), *ref = fbuf(n);
    fill_uniform(big, n, -1, 1, 260);
    for (size_t i = 0; i < n; i++) ref[i] = 0.25f * big[i] + 2.0f * big[i];
    ops()->axpbz(big, 0.25f, big, 2.0f, big, n);
    assert_memory_equal(big, ref, n * sizeof(float));
    free(big); free(ref);
}

static void test_clamp(void **state) {
    (void)state;
    float x[6] = {-5, -1, 0, 0.5f, 3, NAN};
    ops()->clamp(x, -1.0f, 1.0f, 6);
    assert_true(x[0] == -1 && x[1] == -1 && x[2] == 0 && x[3] == 0.5f && x[4] == 1);
    assert_true(isnan(x[5]));   // as torch.clamp
}

static void test_randn(void **state) {
    (void)state;
    const size_t n = 100000;
    float *x = fbuf(n), *x2 = fbuf(n), *xo = fbuf(n);
    ops()->randn(x, n, 42, 7, 0);
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (size_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n - 1;
    assert_true(fabs(mean) < 0.02);         // sd of the mean: 0.0032
    assert_true(fabs(var - 1.0) < 0.03);    // sd of the variance: 0.0045
    ops()->randn(x2, n, 42, 7, 0);
    assert_memory_equal(x, x2, n * sizeof(float));
    for (size_t i = 0; i < n; i += 997) assert_true(x[i] == lethe_rand_normal(42, 7, i));
    ops()->randn(xo, n - 10, 42, 7, 10);   // offset: elements 10.. of the same sequence
    assert_memory_equal(xo, x + 10, (n - 10) * sizeof(float));
    ops()->randn(xo, n - 13, 42, 7, 7);   // an offset and a length that split Philox blocks
    assert_memory_equal(xo, x + 7, (n - 13) * sizeof(float));
    ops()->randn(x2, n, 42, 8, 0);
    assert_true(memcmp(x, x2, n * sizeof(float)) != 0);
    free(x); free(x2); free(xo);
}

static void test_reductions(void **state) {
    (void)state;
    const size_t n = 200003;   // several reduction blocks plus a remainder
    float *x = fbuf(n);
    fill_uniform(x, n, -2, 2, 270);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += (double)x[i] * x[i];
    const double got = ops()->sum_squares(x, n);
    assert_float_equal(got, want, 1e-12 * want);
    assert_true(ops()->sum_squares(x, 0) == 0.0);
    assert_true(ops()->all_finite(x, n));
    const size_t where[3] = {0, 77777, n - 1};
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int w = 0; w < 3; w++)
        for (int b = 0; b < 3; b++) {
            const float save = x[where[w]];
            x[where[w]] = bad[b];
            assert_false(ops()->all_finite(x, n));
            x[where[w]] = save;
        }
    x[5] = FLT_MAX;
    assert_true(ops()->all_finite(x, n));
    x[5] = 0.5f;
    // weighted sum of squares, elementwise product, |x| accumulation
    float *w = fbuf(n), *y = fbuf(n), *acc = fbuf(n);
    fill_uniform(w, n, 0, 3, 271);
    double want_w = 0;
    for (size_t i = 0; i < n; i++) want_w += (double)w[i] * x[i] * x[i];
    assert_float_equal(ops()->weighted_sum_squares(x, w, n), want_w, 1e-12 * want_w);
    ops()->mul(y, x, w, n);
    for (size_t i = 0; i < n; i += 997) assert_true(y[i] == x[i] * w[i]);
    for (size_t i = 0; i < n; i++) acc[i] = 1.0f;
    ops()->abs_accumulate(acc, x, n);
    ops()->abs_accumulate(acc, y, n);
    for (size_t i = 0; i < n; i += 991) assert_true(acc[i] == (1.0f + fabsf(x[i])) + fabsf(y[i]));
    free(w); free(y); free(acc);
    free(x);
}

// results must not depend on the number of OpenMP threads
static void test_thread_count_independence(void **state) {
    (void)state;
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    const int n = 4, c = 32, hw = 784, groups = 8;
    const size_t nx = (size_t)n * c * hw;
    float *x = fbuf(nx), *y1 = fbuf(nx), *y2 = fbuf(nx), *dx1 = fbuf(nx), *dx2 = fbuf(nx), *dy = fbuf(nx);
    float mean[32], rstd[32], g1[32] = {0}, g2[32] = {0};
    fill_uniform(x, nx, -1, 1, 280);
    fill_uniform(dy, nx, -1, 1, 281);
    double s[2], m[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t == 0 ? 1 : 3);
        ops()->group_norm_forward(t ? y2 : y1, mean, rstd, x, NULL, NULL, n, c, hw, groups, 1e-5f);
        ops()->group_norm_backward(t ? dx2 : dx1, t ? g2 : g1, NULL, dy, x, mean, rstd, NULL, n, c, hw, groups);
        s[t] = ops()->sum_squares(x, nx);
        m[t] = ops()->mse_forward(x, dy, nx);
    }
    // conv2d: tiles are planned per thread count; the values must not change
    const conv2d_shape cs = {16, 8, 14, 14, 16, 3, 3, 1, 1};
    const size_t cx = conv_nx(&cs), cw = conv_nw(&cs), cy = conv_ny(&cs);
    float *cin = fbuf(cx), *cwt = fbuf(cw), *cdy = fbuf(cy), *co[2], *cdx[2], *cdw[2];
    fill_uniform(cin, cx, -1, 1, 282);
    fill_uniform(cwt, cw, -1, 1, 283);
    fill_uniform(cdy, cy, -1, 1, 284);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t == 0 ? 1 : 3);
        co[t] = fbuf(cy);
        cdx[t] = fbuf(cx);
        cdw[t] = fbuf(cw);
        ops()->conv2d_forward(co[t], cin, cwt, NULL, &cs);
        ops()->conv2d_backward(cdx[t], cdw[t], NULL, cdy, cin, cwt, &cs);
    }
    assert_true(tensor_rel_err(co[1], co[0], cy, 1e-6) < 1e-6);
    assert_true(tensor_rel_err(cdx[1], cdx[0], cx, 1e-6) < 1e-6);
    assert_true(tensor_rel_err(cdw[1], cdw[0], cw, 1e-6) < 1e-6);
    for (int t = 0; t < 2; t++) {
        free(co[t]); free(cdx[t]); free(cdw[t]);
    }
    free(cin); free(cwt); free(cdy);
    omp_set_num_threads(saved);
    assert_memory_equal(y1, y2, nx * sizeof(float));
    assert_memory_equal(dx1, dx2, nx * sizeof(float));
    assert_memory_equal(g1, g2, sizeof g1);
    assert_true(s[0] == s[1] && m[0] == m[1]);
    free(x); free(y1); free(y2); free(dx1); free(dx2); free(dy);
#else
    assert_true(1);   // single-threaded build: nothing to compare
#endif
}

// ---- optimizer --------------------------------------------------------------------------------------------------

// PyTorch's _single_tensor_adam (AdamW, non-capturable) transcribed for one scalar, in double.
static void adamw_ref(double *p, double *m, double *v, double g, double lr, double b1, double b2, double eps,
                      double wd, int step) {
    *p *= 1 - lr * wd;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    *p -= lr / bc1 * *m / (sqrt(*v) / sqrt(bc2) + eps);
}

static void test_adamw(void **state) {
    (void)state;
    enum { N = 6 };
    float p[N] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -0.25f}, m[N] = {0}, v[N] = {0};
    const float g1[N] = {0.1f, -0.2f, 0.0f, 1.5f, -3.0f, 1e-4f}, g2[N] = {-0.3f, 0.4f, 0.2f, 1.0f, 2.0f, -1e-4f};
    const float mask[N] = {1, 1, 1, 0, 1, 1};   // element 3 frozen
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
    double rp[N], rm[N] = {0}, rv[N] = {0};
    for (int i = 0; i < N; i++) rp[i] = p[i];
    for (int step = 1; step <= 2; step++) {
        const float *g = step == 1 ? g1 : g2;
        ops()->adamw_step(p, g, m, v, mask, N, lr, b1, b2, eps, wd, step, scale);
        for (int i = 0; i < N; i++)
            if (mask[i] != 0)
                adamw_ref(&rp[i], &rm[i], &rv[i], (double)g[i] * scale, lr, b1, b2, eps, wd, step);
        for (int i = 0; i < N; i++) {
            assert_float_equal(p[i], rp[i], 2e-6 * fabs(rp[i]) + 1e-7);
            assert_float_equal(m[i], rm[i], 1e-6 * fabs(rm[i]) + 1e-12);
            assert_float_equal(v[i], rv[i], 1e-6 * fabs(rv[i]) + 1e-15);
        }
    }
    assert_true(p[3] == 0.0f && m[3] == 0.0f && v[3] == 0.0f);   // masked: untouched
    // first step moves every unmasked, non-zero-gradient element by about lr (Adam's sign-like step)
    float q = 1.0f, mq = 0, vq = 0, gq = 123.0f;
    ops()->adamw_step(&q, &gq, &mq, &vq, NULL, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 1.0f);
    assert_float_equal(q, 1.0 - 1e-3, 1e-7);
    // weight decay alone (g = 0): p *= 1 - lr wd
    float r = 2.0f, mr = 0, vr = 0, gr = 0.0f;
    ops()->adamw_step(&r, &gr, &mr, &vr, NULL, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1, 1.0f);
    assert_float_equal(r, 2.0 * 0.95, 1e-6);
}

static void test_ema(void **state) {
    (void)state;
    float ema[3] = {1, 2, 3};
    const float p[3] = {3, 2, -1};
    ops()->ema_update(ema, p, 3, 0.75f);
    assert_float_equal(ema[0], 1.5, 1e-7);
    assert_float_equal(ema[1], 2.0, 1e-7);
    assert_float_equal(ema[2], 2.0, 1e-7);
    ops()->ema_update(ema, p, 3, 0.0f);   // decay 0 copies
    assert_memory_equal(ema, p, sizeof ema);
}

static int teardown_all(void **state) {
    (void)state;
    lethe_cpu_release_scratch();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_conv2d_forward_vs_naive),
        cmocka_unit_test(test_conv2d_gradients),
        cmocka_unit_test(test_conv2d_tiling),
        cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_group_norm_no_affine),
        cmocka_unit_test(test_group_norm_silu_fused),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_layer_norm_no_affine),
        cmocka_unit_test(test_layer_norm_large),
        cmocka_unit_test(test_silu),
        cmocka_unit_test(test_quick_gelu),
        cmocka_unit_test(test_geglu),
        cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_normal_cdf_accuracy),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_large),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_timestep_embedding_values),
        cmocka_unit_test(test_timestep_embedding_grad),
        cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_add_channel_bias),
        cmocka_unit_test(test_spatial_mean),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_stable),
        cmocka_unit_test(test_attention_cross),
        cmocka_unit_test(test_attention_causal),
        cmocka_unit_test(test_l2_normalize),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_axpbz),
        cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_randn),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_thread_count_independence),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_ema),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
