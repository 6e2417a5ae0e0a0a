/*
 * plot.h: line charts as PNG, in lethe's bitmap font (font.h), so a curve (quality against
 * steps, forgetting against the number of concepts erased) can be read without a second
 * tool: one panel, axes with ticks at round values, one colour and marker per series, a
 * legend. NaN points are gaps.
 */
#ifndef LETHE_IO_PLOT_H
#define LETHE_IO_PLOT_H

#include "core/error.h"

#define PLOT_MAX_SERIES 8

typedef struct {
    const char *name;
    const double *x, *y;
    int n;
} plot_series;

typedef struct {
    const char *title, *x_label, *y_label;
    double y_min, y_max;   // NaN: from the data
    int log_x;             // 1: x on a log scale (x > 0)
    int width, height;     // pixels (0: 640 x 400)
} plot_axes;

void plot_axes_default(plot_axes *a);
// Draws the series into a 3-channel CHW image (caller frees *px) of a->width x a->height.
lethe_status plot_lines(const plot_axes *a, const plot_series *s, int n_series, unsigned char **px);
// plot_lines, written as a PNG.
lethe_status plot_lines_png(const char *path, const plot_axes *a, const plot_series *s, int n_series);

#endif
