/*
 * png.c: image grids as PNG via stb_image_write (see png.h).
 *
 * The grid is laid out like torchvision.utils.make_grid: `pad` pixels around and
 * between the images. stb encodes into a memory buffer, which fs_write_atomic then
 * writes (PATH.tmp + rename), so an interrupted run never leaves a broken PNG.
 */
#include "io/png.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int oom;
} png_mem;

static void png_mem_write(void *ctx, void *data, int size) {
    png_mem *m = ctx;
    if (m->oom || size <= 0) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + (size_t)size) cap *= 2;
        unsigned char *nd = realloc(m->data, cap);
        if (!nd) { m->oom = 1; return; }
        m->data = nd;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

lethe_status png_write_grid_u8(const char *path, const unsigned char *images, int n, int c, int h, int w,
                               int cols, int pad, int pad_value) {
    if (!path) return lethe_fail(LETHE_ERR_ARG, "png: NULL path");
    if (n < 1 || !images) return lethe_fail(LETHE_ERR_ARG, "%s: no images to write", path);
    if (c != 1 && c != 3) return lethe_fail(LETHE_ERR_ARG, "%s: %d channels, expected 1 (gray) or 3 (RGB)", path, c);
    if (h < 1 || w < 1) return lethe_fail(LETHE_ERR_ARG, "%s: image size %dx%d", path, h, w);
    if (cols < 1) return lethe_fail(LETHE_ERR_ARG, "%s: %d grid columns, expected at least 1", path, cols);
    if (pad < 0 || pad_value < 0 || pad_value > 255)
        return lethe_fail(LETHE_ERR_ARG, "%s: padding %d with value %d, expected >= 0 and 0..255", path, pad, pad_value);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t W = (int64_t)cols * (w + (int64_t)pad) + pad;
    int64_t H = (int64_t)rows * (h + (int64_t)pad) + pad;
    if (W > 65535 || H > 65535 || W * H * c > INT_MAX / 2)
        return lethe_fail(LETHE_ERR_ARG, "%s: grid of %lldx%lld pixels is too large for a PNG", path,
                          (long long)W, (long long)H);

    // HWC pixels for stb.
    unsigned char *grid = malloc((size_t)(W * H * c));
    if (!grid) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    memset(grid, pad_value, (size_t)(W * H * c));
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        int64_t x0 = pad + (int64_t)(i % cols) * (w + pad), y0 = pad + (int64_t)(i / cols) * (h + pad);
        const unsigned char *img = images + (size_t)i * c * plane;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++)
                    grid[((y0 + y) * W + x0 + x) * c + ch] = img[ch * plane + (size_t)y * w + x];
    }
    png_mem m = {0};
    int ok = stbi_write_png_to_func(png_mem_write, &m, (int)W, (int)H, c, grid, (int)(W * c));
    free(grid);
    if (!ok || m.oom) {
        free(m.data);
        return lethe_fail(m.oom ? LETHE_ERR_NOMEM : LETHE_ERR_IO, "%s: PNG encoding failed", path);
    }
    const void *bufs[1] = {m.data};
    size_t lens[1] = {m.len};
    lethe_status st = fs_write_atomic(path, bufs, lens, 1);
    free(m.data);
    return st;
}

void images_to_u8(unsigned char *u8, const float *images, size_t count) {
    // diffusers: (x / 2 + 0.5).clamp(0, 1), then numpy (x * 255).round() (half to even, as rintf).
    for (size_t i = 0; i < count; i++) {
        float v = images[i] / 2.0f + 0.5f;
        if (!(v >= 0.0f)) v = 0.0f;   // also NaN
        if (v > 1.0f) v = 1.0f;
        u8[i] = (unsigned char)rintf(v * 255.0f);
    }
}

lethe_status png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                            int cols, int pad, int pad_value) {
    if (n < 1 || !images) return lethe_fail(LETHE_ERR_ARG, "%s: no images to write", path ? path : "png");
    if (c < 1 || h < 1 || w < 1) return lethe_fail(LETHE_ERR_ARG, "%s: image shape (%d, %d, %d)", path, c, h, w);
    size_t total;
    if (h > 65535 || w > 65535 || c > 4 ||
        __builtin_mul_overflow((size_t)n, (size_t)c * (size_t)h * (size_t)w, &total) || total > INT_MAX)
        return lethe_fail(LETHE_ERR_ARG, "%s: %d images of (%d, %d, %d) are too many pixels for a PNG", path, n, c, h, w);
    unsigned char *u8 = malloc(total);
    if (!u8) return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path);
    images_to_u8(u8, images, total);
    lethe_status st = png_write_grid_u8(path, u8, n, c, h, w, cols, pad, pad_value);
    free(u8);
    return st;
}
