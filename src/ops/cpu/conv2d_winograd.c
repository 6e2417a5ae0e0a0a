/*
 * conv2d_winograd.c: 3x3, stride 1, pad 1 convolutions as Winograd F(2x2, 3x3)
 * (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks").
 *
 * One 2x2 output tile of one output channel o is
 *
 *   Y = A^T [ sum_c (G g[o,c] G^T) .* (B^T d[c] B) ] A
 *
 * with d[c] the 4x4 input patch of channel c under the tile and g[o,c] the 3x3 kernel.
 * Writing U[xi] = (G g G^T)[xi] as a (co, ci) matrix and V[xi] = (B^T d B)[xi] as a
 * (ci, tiles) matrix for each of the 16 positions xi of the 4x4 transformed tile, the
 * channel sum is 16 GEMMs M[xi] = U[xi] V[xi]: 16 multiplies per 2x2 outputs per (o, c)
 * instead of im2col's 36 (2.25x fewer), and the transformed input is 4x the image, not 9x.
 *
 * The weight gradient follows from linearity in U: with dZ[xi] = (A dY A^T)[xi] per tile,
 *   dU[xi] = sum_tiles dZ[xi] V[xi]^T  (16 GEMMs over the tiles),   dW = G^T dU G.
 * The input gradient needs no code here: conv2d.c computes it as a forward convolution
 * of dY with the flipped kernel, which lands in the forward path below.
 *
 * Tiles are grouped by "units", one row of tiles of one sample (tw tiles, two output
 * rows); a block is a run of consecutive units, sized so that its transformed input and
 * products stay in the core's cache, and OpenMP threads take whole blocks, calling
 * single-threaded sgemm inside (the same threading policy as conv2d.c).
 *
 * Rounding: the transforms only add and halve, so results differ from the direct sum by
 * a few float32 ulps of the largest partial sums (tests/test_ops.c bounds it).
 */
#include "ops/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

// Scratch per thread aimed at: the block's V and M (or dZ) fit in the core's 2 MiB L2.
#define BLOCK_BYTES ((size_t)1 << 20)
// Narrower GEMMs than this (columns per block) lose more to packing than the cache saves.
#define BLOCK_MIN_COLS 96
// Widest image row the Winograd path takes (its zero row is static).
#define ZERO_ROW 4096

// Shapes worth it: enough channels on both sides that the 16 GEMMs are not degenerate
// (the input conv has ci = 1 and the output conv co = 1; im2col handles those), and
// transformed weights (16 co ci floats, held whole) within half the scratch budget, so
// very wide layers keep im2col's bounded scratch.
int lethe_cpu_winograd_applies(const conv2d_shape *s) {
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->pad == 1 && s->ci >= 8 && s->co >= 8 &&
           s->w <= ZERO_ROW && 16 * sizeof(float) * (size_t)s->co * s->ci <= lethe_cpu_scratch_limit() / 2;
}

typedef struct {
    int th, tw;          // tile rows and columns per sample (output size / 2, rounded up)
    int units;           // n * th: one row of tiles of one sample each
    int upb;             // units per block
    int nblocks;
    size_t pb;           // GEMM columns of the largest block: upb * (tw + 1)
} wino_plan;

// Columns per unit in V, M and dZ: its tw tiles and one dummy. With the dummy, column q of a
// block reads the padded input rows at 2q .. 2q+3 whatever unit it belongs to, so every
// transform is one long unit-stride loop over the block (a unit alone is 4-14 tiles: too
// short to vectorise). The dummy's products are never stored, and its dZ is zero.
static inline int unit_cols(const wino_plan *p) { return p->tw + 1; }
static inline int unit_row(const wino_plan *p) { return 2 * p->tw + 2; }   // padded row length

// per_col: floats of per-thread scratch one GEMM column needs
static wino_plan plan_blocks(const conv2d_shape *s, size_t per_col, int nt) {
    wino_plan p;
    p.th = (s->h + 1) / 2;
    p.tw = (s->w + 1) / 2;
    p.units = s->n * p.th;
    size_t cols = BLOCK_BYTES / sizeof(float) / per_col;
    if (cols < BLOCK_MIN_COLS) cols = BLOCK_MIN_COLS;
    const size_t limit = lethe_cpu_scratch_limit() / sizeof(float) / per_col / (size_t)(nt + 1);
    if (cols > limit) cols = limit;
    int upb = (int)(cols / (size_t)unit_cols(&p));
    if (upb < 1) upb = 1;
    // at least two blocks per thread, so dynamic scheduling can even out the last ones
    const int fair = (p.units + 2 * nt - 1) / (2 * nt);
    if (nt > 1 && upb > fair) upb = fair > 0 ? fair : 1;
    if (upb > p.units) upb = p.units;
    p.upb = upb;
    p.nblocks = (p.units + upb - 1) / upb;
    p.pb = (size_t)upb * unit_cols(&p);
    return p;
}

// floats of transform work space per thread: 4 padded rows over a block (and 2 spare)
static size_t work_floats(const wino_plan *p) { return 4 * ((size_t)p->upb * unit_row(p) + 2); }

// U[xi][o][c] = (G g G^T)[xi] for w (co, ci, 3, 3), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
static void transform_weights(float *U, const float *w, int co, int ci) {
    const size_t plane = (size_t)co * ci;
    #pragma omp parallel for schedule(static) if (plane * 16 > LETHE_CPU_PAR_MIN)
    for (int o = 0; o < co; o++)
        for (int c = 0; c < ci; c++) {
            const float *g = w + ((size_t)o * ci + c) * 9;
            float t[4][3];   // G g
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            float *u = U + (size_t)o * ci + c;
            for (int i = 0; i < 4; i++) {   // (G g) G^T
                u[(4 * i + 0) * plane] = t[i][0];
                u[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(4 * i + 3) * plane] = t[i][2];
            }
        }
}

static const float zero_row[ZERO_ROW];   // stands for the rows above and below the image

// B^T down the columns of four input rows d0..d3 (w floats each) into t0..t3, zero from w up
// to len, and t[-1] = 0 (the pad columns around the row). The rows of the small images are
// short (7, 14 or 28 floats in the tiny config): a compiler's vector loop plus scalar
// remainder spent most of its time in the remainder (perf: transform_input was a fifth of a
// sampling step, mostly scalar), so with AVX-512 every row is whole masked vectors.
static inline void columns_bt(float *restrict t0, float *restrict t1, float *restrict t2, float *restrict t3,
                              const float *d0, const float *d1, const float *d2, const float *d3, int w, int len) {
    t0[-1] = t1[-1] = t2[-1] = t3[-1] = 0.0f;
#ifdef __AVX512F__
    for (int ix = 0; ix < len; ix += 16) {
        const int nr = w - ix, ns = len - ix;   // floats to read (the rest load as 0) and to store
        const __mmask16 kr = nr >= 16 ? (__mmask16)0xffff : nr <= 0 ? (__mmask16)0 : (__mmask16)((1u << nr) - 1u);
        const __mmask16 ks = ns >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << ns) - 1u);
        const __m512 a0 = _mm512_maskz_loadu_ps(kr, d0 + ix), a1 = _mm512_maskz_loadu_ps(kr, d1 + ix);
        const __m512 a2 = _mm512_maskz_loadu_ps(kr, d2 + ix), a3 = _mm512_maskz_loadu_ps(kr, d3 + ix);
        _mm512_mask_storeu_ps(t0 + ix, ks, _mm512_sub_ps(a0, a2));
        _mm512_mask_storeu_ps(t1 + ix, ks, _mm512_add_ps(a1, a2));
        _mm512_mask_storeu_ps(t2 + ix, ks, _mm512_sub_ps(a2, a1));
        _mm512_mask_storeu_ps(t3 + ix, ks, _mm512_sub_ps(a1, a3));
    }
#else
    for (int ix = 0; ix < w; ix++) {
        t0[ix] = d0[ix] - d2[ix];
        t1[ix] = d1[ix] + d2[ix];
        t2[ix] = d2[ix] - d1[ix];
        t3[ix] = d1[ix] - d3[ix];
    }
    for (int ix = w; ix < len; ix++) t0[ix] = t1[ix] = t2[ix] = t3[ix] = 0.0f;
#endif
}

// V[xi][c][q] = (B^T d B)[xi] for the tiles of units [u0, u0+nu) (unit u = sample u / th,
// tile row u % th) and every channel c of x (n, ci, h, w); V has row length pb.
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. rows: work_floats() of work space.
static void transform_input(float *V, float *rows, const float *x, const conv2d_shape *s, const wino_plan *p,
                            int u0, int nu) {
    const int h = s->h, w = s->w, wp = unit_row(p);
    const size_t ld = p->pb, plane = (size_t)s->ci * ld, len = (size_t)nu * wp + 2;
    const int ncol = nu * unit_cols(p);
    float *r0 = rows, *r1 = r0 + len, *r2 = r1 + len, *r3 = r2 + len;
    for (int c = 0; c < s->ci; c++) {
        // B^T along the columns, into zero-padded rows: unit u's input column ix lands at
        // u * wp + 1 + ix, with a zero on its left and one or two on its right. A unit's rows
        // are a few short runs, one sample's plane apart from the previous unit's at every
        // sample boundary: the loads waited on memory (perf: 60% of this function at one
        // masked load), so each unit asks early for its rows of the next channel.
        for (int u = 0; u < nu; u++) {
            const int si = (u0 + u) / p->th, ty = (u0 + u) % p->th;
            const float *xc = x + ((size_t)si * s->ci + c) * h * w;
            const float *d[4];
            for (int k = 0; k < 4; k++) {
                const int iy = 2 * ty - 1 + k;
                d[k] = iy < 0 || iy >= h ? zero_row : xc + (size_t)iy * w;
            }
            if (c + 1 < s->ci) {   // this unit's rows of the next channel (see the note above)
                const int y0 = 2 * ty - 1 < 0 ? 0 : 2 * ty - 1, y1 = 2 * ty + 3 > h ? h : 2 * ty + 3;
                const char *from = (const char *)(xc + (size_t)h * w + (size_t)y0 * w);
                const char *to = (const char *)(xc + (size_t)h * w + (size_t)y1 * w);
                for (; from < to; from += 64) __builtin_prefetch(from);
            }
            const size_t at = (size_t)u * wp;
            columns_bt(r0 + at + 1, r1 + at + 1, r2 + at + 1, r3 + at + 1, d[0], d[1], d[2], d[3], w, wp - 1);
        }
        for (int k = 0; k < 2; k++) r0[len - 2 + k] = r1[len - 2 + k] = r2[len - 2 + k] = r3[len - 2 + k] = 0.0f;
        // then B along the rows, one tile (4 columns, stride 2) per column q of V
        float *vc = V + (size_t)c * ld;
        const float *tr[4] = {r0, r1, r2, r3};
        for (int i = 0; i < 4; i++) {
            const float *restrict a = tr[i];
            float *restrict v0 = vc + (size_t)(4 * i) * plane, *restrict v1 = v0 + plane, *restrict v2 = v1 + plane,
                            *restrict v3 = v2 + plane;
            for (int q = 0; q < ncol; q++) {
                const float a0 = a[2 * q], a1 = a[2 * q + 1], a2 = a[2 * q + 2], a3 = a[2 * q + 3];
                v0[q] = a0 - a2;
                v1[q] = a1 + a2;
                v2[q] = a2 - a1;
                v3[q] = a1 - a3;
            }
        }
    }
}

// dst (n) = src + bias, or dst += src: one output row (short rows as masked vectors, as in columns_bt)
static inline void store_row(float *restrict dst, const float *restrict src, int n, float bias, int accumulate) {
#ifdef __AVX512F__
    const __m512 b = _mm512_set1_ps(bias);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(k, src + i);
        _mm512_mask_storeu_ps(dst + i, k, accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst + i), v) : _mm512_add_ps(v, b));
    }
#else
    if (accumulate)
        for (int i = 0; i < n; i++) dst[i] += src[i];
    else
        for (int i = 0; i < n; i++) dst[i] = src[i] + bias;
#endif
}

// y rows of units [u0, u0+nu) = A^T M A (+ b, or += when accumulate) for every output
// channel, from M[xi][o][q]; A^T = [1 1 1 0; 0 1 -1 -1]. rows: work_floats() of work space.
static void transform_output(float *y, float *rows, const float *M, const float *b, const conv2d_shape *s,
                             const wino_plan *p, int u0, int nu, int accumulate) {
    const int oh = s->h, ow = s->w, wp = unit_row(p);
    const size_t ld = p->pb, plane = (size_t)s->co * ld;
    const int ncol = nu * unit_cols(p);
    float *restrict y0 = rows, *restrict y1 = rows + (size_t)nu * wp;   // two output rows per unit, padded
    for (int o = 0; o < s->co; o++) {
        const float *m[16];
        for (int xi = 0; xi < 16; xi++) m[xi] = M + (size_t)xi * plane + (size_t)o * ld;
        // spelled out, one unit-stride stream per xi, so that the loop vectorises
        const float *restrict m0 = m[0], *restrict m1 = m[1], *restrict m2 = m[2], *restrict m3 = m[3];
        const float *restrict m4 = m[4], *restrict m5 = m[5], *restrict m6 = m[6], *restrict m7 = m[7];
        const float *restrict m8 = m[8], *restrict m9 = m[9], *restrict m10 = m[10], *restrict m11 = m[11];
        const float *restrict m12 = m[12], *restrict m13 = m[13], *restrict m14 = m[14], *restrict m15 = m[15];
        #pragma omp simd
        for (int q = 0; q < ncol; q++) {
            // A^T M: row 0 = M0 + M1 + M2, row 1 = M1 - M2 - M3 (rows of M: xi / 4)
            const float s0 = m0[q] + m4[q] + m8[q], s1 = m1[q] + m5[q] + m9[q], s2 = m2[q] + m6[q] + m10[q],
                        s3 = m3[q] + m7[q] + m11[q];
            const float d0 = m4[q] - m8[q] - m12[q], d1 = m5[q] - m9[q] - m13[q], d2 = m6[q] - m10[q] - m14[q],
                        d3 = m7[q] - m11[q] - m15[q];
            // then A on the right: (c0 + c1 + c2, c1 - c2 - c3)
            y0[2 * q] = s0 + s1 + s2;
            y0[2 * q + 1] = s1 - s2 - s3;
            y1[2 * q] = d0 + d1 + d2;
            y1[2 * q + 1] = d1 - d2 - d3;
        }
        const float bo = b ? b[o] : 0.0f;
        for (int u = 0; u < nu; u++) {
            const int si = (u0 + u) / p->th, ty = (u0 + u) % p->th;
            float *yo = y + ((size_t)si * s->co + o) * oh * ow + (size_t)(2 * ty) * ow;
            const int nrows = 2 * ty + 1 < oh ? 2 : 1;
            for (int r = 0; r < nrows; r++) {
                store_row(yo + (size_t)r * ow, (r ? y1 : y0) + (size_t)u * wp, ow, bo, accumulate);
            }
        }
    }
}

// dZ[xi][o][q] = (A g A^T)[xi] for the 2x2 tiles g of dy (n, co, h, w) in units [u0, u0+nu),
// zero where a tile hangs over the edge and for the dummy columns. A = [1 0; 1 1; 1 -1; 0 -1].
// rows: work_floats() of work space.
static void transform_output_grad(float *dZ, float *rows, const float *dy, const conv2d_shape *s,
                                  const wino_plan *p, int u0, int nu) {
    const int oh = s->h, ow = s->w, wp = unit_row(p);
    const size_t ld = p->pb, plane = (size_t)s->co * ld;
    const int ncol = nu * unit_cols(p);
    float *restrict g0 = rows, *restrict g1 = rows + (size_t)nu * wp;   // dy rows, zero-padded to wp
    for (int o = 0; o < s->co; o++) {
        for (int u = 0; u < nu; u++) {
            const int si = (u0 + u) / p->th, ty = (u0 + u) % p->th;
            const float *dyo = dy + ((size_t)si * s->co + o) * oh * ow + (size_t)(2 * ty) * ow;
            float *a = g0 + (size_t)u * wp, *c = g1 + (size_t)u * wp;
            memcpy(a, dyo, (size_t)ow * sizeof(float));
            if (2 * ty + 1 < oh) memcpy(c, dyo + ow, (size_t)ow * sizeof(float));
            else memset(c, 0, (size_t)ow * sizeof(float));
            for (int ox = ow; ox < wp; ox++) a[ox] = c[ox] = 0.0f;
        }
        float *z[16];
        for (int xi = 0; xi < 16; xi++) z[xi] = dZ + (size_t)xi * plane + (size_t)o * ld;
        float *restrict z0 = z[0], *restrict z1 = z[1], *restrict z2 = z[2], *restrict z3 = z[3];
        float *restrict z4 = z[4], *restrict z5 = z[5], *restrict z6 = z[6], *restrict z7 = z[7];
        float *restrict z8 = z[8], *restrict z9 = z[9], *restrict z10 = z[10], *restrict z11 = z[11];
        float *restrict z12 = z[12], *restrict z13 = z[13], *restrict z14 = z[14], *restrict z15 = z[15];
        #pragma omp simd
        for (int q = 0; q < ncol; q++) {
            const float a0 = g0[2 * q], b0 = g0[2 * q + 1], a1 = g1[2 * q], b1 = g1[2 * q + 1];
            // A g: rows (g0, g0 + g1, g0 - g1, -g1); then each row (a, b) -> (a, a+b, a-b, -b)
            const float pa = a0 + a1, pb = b0 + b1, ma = a0 - a1, mb = b0 - b1;
            z0[q] = a0, z1[q] = a0 + b0, z2[q] = a0 - b0, z3[q] = -b0;
            z4[q] = pa, z5[q] = pa + pb, z6[q] = pa - pb, z7[q] = -pb;
            z8[q] = ma, z9[q] = ma + mb, z10[q] = ma - mb, z11[q] = -mb;
            z12[q] = -a1, z13[q] = -a1 - b1, z14[q] = b1 - a1, z15[q] = b1;
        }
    }
}

int lethe_cpu_winograd_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                               int accumulate) {
    const int co = s->co, ci = s->ci;
    const int nt = lethe_cpu_gemm_threads();
    const size_t per_col = 16 * ((size_t)ci + co);
    const wino_plan p = plan_blocks(s, per_col, nt);
    const size_t u_floats = 16 * (size_t)co * ci;
    const size_t per_thread = (per_col * p.pb + work_floats(&p) + 15) / 16 * 16;
    const size_t bytes = ((u_floats + 15) / 16 * 16 + per_thread * (size_t)nt) * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) return 0;
    float *U = scratch;
    transform_weights(U, w, co, ci);
    float *threads_base = scratch + (u_floats + 15) / 16 * 16;
    #pragma omp parallel for schedule(dynamic, 1) if (nt > 1 && p.nblocks > 1)
    for (int bi = 0; bi < p.nblocks; bi++) {
        float *V = threads_base + per_thread * (size_t)lethe_cpu_thread_id();
        float *M = V + (size_t)ci * 16 * p.pb;
        float *rows = M + (size_t)co * 16 * p.pb;
        const int u0 = bi * p.upb, nu = p.units - u0 < p.upb ? p.units - u0 : p.upb;
        const int ncol = nu * unit_cols(&p);
        transform_input(V, rows, x, s, &p, u0, nu);
        for (int xi = 0; xi < 16; xi++)
            lethe_cpu_sgemm(false, false, co, ncol, ci, 1.0f, U + (size_t)xi * co * ci, ci,
                            V + (size_t)xi * ci * p.pb, (int)p.pb, 0.0f, M + (size_t)xi * co * p.pb, (int)p.pb);
        transform_output(y, rows, M, b, s, &p, u0, nu, accumulate);
    }
    return 1;
}

int lethe_cpu_winograd_weight_grad(float *dw, const float *dy, const float *x, const conv2d_shape *s) {
    const int co = s->co, ci = s->ci;
    const int nt = lethe_cpu_gemm_threads();
    const size_t per_col = 16 * ((size_t)ci + co);
    const wino_plan p = plan_blocks(s, per_col, nt);
    // Threads own contiguous runs of blocks (static schedule), so the dU summation order
    // depends only on the thread count, as in conv2d.c's dW.
    const size_t du_floats = (16 * (size_t)co * ci + 15) / 16 * 16;
    const size_t per_thread = du_floats + (per_col * p.pb + work_floats(&p) + 15) / 16 * 16;
    const size_t bytes = per_thread * (size_t)nt * sizeof(float);
    float *scratch = lethe_cpu_scratch(bytes);
    if (!scratch) return 0;
    for (int th = 0; th < nt; th++) memset(scratch + per_thread * (size_t)th, 0, du_floats * sizeof(float));
    #pragma omp parallel if (nt > 1 && p.nblocks > 1)
    {
        const int th = lethe_cpu_thread_id();
        float *dU = scratch + per_thread * (size_t)th;
        float *V = dU + du_floats;
        float *dZ = V + (size_t)ci * 16 * p.pb;
        float *rows = dZ + (size_t)co * 16 * p.pb;
        #pragma omp for schedule(static)
        for (int bi = 0; bi < p.nblocks; bi++) {
            const int u0 = bi * p.upb, nu = p.units - u0 < p.upb ? p.units - u0 : p.upb;
            const int ncol = nu * unit_cols(&p);
            transform_input(V, rows, x, s, &p, u0, nu);
            transform_output_grad(dZ, rows, dy, s, &p, u0, nu);
            for (int xi = 0; xi < 16; xi++)
                lethe_cpu_sgemm(false, true, co, ci, ncol, 1.0f, dZ + (size_t)xi * co * p.pb,
                                (int)p.pb, V + (size_t)xi * ci * p.pb, (int)p.pb, 1.0f, dU + (size_t)xi * co * ci, ci);
        }
    }
    const size_t plane = (size_t)co * ci;
    // dw[o][c] += G^T (sum over threads of dU) G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
    #pragma omp parallel for schedule(static) if (plane * 16 > LETHE_CPU_PAR_MIN)
    for (size_t oc = 0; oc < plane; oc++) {
        float u[16];
        for (int xi = 0; xi < 16; xi++) {
            float acc = 0.0f;
            for (int th = 0; th < nt; th++) acc += scratch[per_thread * th + (size_t)xi * plane + oc];
            u[xi] = acc;
        }
        float t[3][4];   // G^T dU
        for (int j = 0; j < 4; j++) {
            t[0][j] = u[j] + 0.5f * (u[4 + j] + u[8 + j]);
            t[1][j] = 0.5f * (u[4 + j] - u[8 + j]);
            t[2][j] = 0.5f * (u[4 + j] + u[8 + j]) + u[12 + j];
        }
        float *g = dw + oc * 9;
        for (int i = 0; i < 3; i++) {   // (G^T dU) G
            g[3 * i + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
            g[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
            g[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
    return 1;
}
