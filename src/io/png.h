/*
 * png.h: sample grids as PNG (stb_image_write).
 */
#ifndef LETHE_IO_PNG_H
#define LETHE_IO_PNG_H

#include <stddef.h>

#include "core/error.h"

// images: (n, c, h, w) floats in [-1, 1] (clamped; mapped like diffusers:
// round(255 * clamp(x/2 + 0.5, 0, 1))). c is 1 (gray) or 3 (RGB).
// Laid out row-major in a grid of `cols` columns with `pad` pixels of gap (value pad_value 0..255).
// Atomic write (tmp + rename).
lethe_status png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                            int cols, int pad, int pad_value);

// Images in [-1, 1] to uint8 exactly as diffusers' pipelines do (also used for IDX output).
void images_to_u8(unsigned char *u8, const float *images, size_t count);

// Same as png_write_grid but from uint8 images (n, c, h, w).
lethe_status png_write_grid_u8(const char *path, const unsigned char *images, int n, int c, int h, int w,
                               int cols, int pad, int pad_value);

#endif
