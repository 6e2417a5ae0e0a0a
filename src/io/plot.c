/* plot.c: line charts as PNG (plot.h). */
#include "io/plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/font.h"
#include "io/png.h"

#define LEFT 64
#define RIGHT 140
#define TOP 26
#define BOTTOM 44

static const uint8_t palette[PLOT_MAX_SERIES][3] = {
    {31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14}, {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {0, 0, 0}};
static const uint8_t ink[3] = {0, 0, 0}, grey[3] = {215, 215, 215};

void plot_axes_default(plot_axes *a) {
    memset(a, 0, sizeof *a);
    a->y_min = a->y_max = NAN;
    a->width = 640;
    a->height = 400;
}

typedef struct {
    uint8_t *px;
    int W, H;
    double x0, x1, y0, y1;   // data range of the panel (x in log10 when log_x)
    int log_x;
} canvas;

static void put(canvas *c, int x, int y, const uint8_t *rgb) {
    if (x < 0 || y < 0 || x >= c->W || y >= c->H) return;
    for (int k = 0; k < 3; k++) c->px[(size_t)k * c->W * c->H + (size_t)y * c->W + x] = rgb[k];
}

static void line(canvas *c, int x0, int y0, int x1, int y1, const uint8_t *rgb, int thick) {
    const int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {   // Bresenham
        for (int t = 0; t < thick; t++) put(c, x0 + (dx < -dy ? t : 0), y0 + (dx < -dy ? 0 : t), rgb);
        if (x0 == x1 && y0 == y1) break;
        const int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

static void box(canvas *c, int x, int y, int r, const uint8_t *rgb) {
    for (int j = -r; j <= r; j++)
        for (int i = -r; i <= r; i++) put(c, x + i, y + j, rgb);
}

static double tx(const canvas *c, double x) { return c->log_x ? log10(x) : x; }
static int px_x(const canvas *c, double x) {
    return LEFT + (int)lround((tx(c, x) - c->x0) / (c->x1 - c->x0) * (c->W - LEFT - RIGHT));
}
static int px_y(const canvas *c, double y) {
    return c->H - BOTTOM - (int)lround((y - c->y0) / (c->y1 - c->y0) * (c->H - TOP - BOTTOM));
}

// A round tick step for a range: 1, 2 or 5 times a power of ten, about 5 ticks.
static double tick_step(double range) {
    const double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void label(canvas *c, int x, int y, const char *text) { font_draw(c->px, 3, c->W, c->H, x, y, text, ink, 1); }

lethe_status plot_lines(const plot_axes *a, const plot_series *s, int n_series, unsigned char **out) {
    *out = NULL;
    if (n_series < 1 || n_series > PLOT_MAX_SERIES)
        return lethe_fail(LETHE_ERR_ARG, "plot: 1 to %d series (got %d)", PLOT_MAX_SERIES, n_series);
    canvas c = {.W = a->width > 0 ? a->width : 640, .H = a->height > 0 ? a->height : 400, .log_x = a->log_x};
    if (c.W < LEFT + RIGHT + 40 || c.H < TOP + BOTTOM + 40) return lethe_fail(LETHE_ERR_ARG, "plot: %d x %d is too small", c.W, c.H);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            const double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (a->log_x && !(x > 0)) return lethe_fail(LETHE_ERR_ARG, "plot: x = %g on a log scale", x);
            xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    if (!isfinite(xmin)) return lethe_fail(LETHE_ERR_ARG, "plot: no finite point");
    if (isfinite(a->y_min)) ymin = a->y_min;
    if (isfinite(a->y_max)) ymax = a->y_max;
    if (ymax <= ymin) ymax = ymin + 1;
    if (!isfinite(a->y_min) || !isfinite(a->y_max)) {   // 5% room for markers
        const double pad = 0.05 * (ymax - ymin);
        if (!isfinite(a->y_min)) ymin -= pad;
        if (!isfinite(a->y_max)) ymax += pad;
    }
    c.x0 = tx(&c, xmin), c.x1 = tx(&c, xmax), c.y0 = ymin, c.y1 = ymax;
    if (c.x1 <= c.x0) c.x0 -= 0.5, c.x1 += 0.5;
    const double xpad = 0.04 * (c.x1 - c.x0);
    c.x0 -= xpad, c.x1 += xpad;
    if (!(c.px = malloc((size_t)3 * c.W * c.H))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for a plot");
    memset(c.px, 255, (size_t)3 * c.W * c.H);
    const int L = LEFT, R = c.W - RIGHT, T = TOP, B = c.H - BOTTOM;
    char buf[64];
    // y ticks and grid
    const double ys = tick_step(ymax - ymin);
    for (double y = ceil(ymin / ys) * ys; y <= ymax + 1e-9 * ys; y += ys) {
        const int py = px_y(&c, y);
        line(&c, L, py, R, py, grey, 1);
        snprintf(buf, sizeof buf, "%g", fabs(y) < 1e-12 * ys ? 0.0 : y);
        label(&c, L - 6 - font_text_width(buf, 1), py - FONT_HEIGHT / 2, buf);
    }
    // x ticks: the first series' x values on a log scale, round values otherwise
    if (a->log_x) {
        for (int i = 0; i < s[0].n && i < 16; i++) {
            if (!isfinite(s[0].x[i])) continue;
            const int px = px_x(&c, s[0].x[i]);
            line(&c, px, T, px, B, grey, 1);
            snprintf(buf, sizeof buf, "%g", s[0].x[i]);
            label(&c, px - font_text_width(buf, 1) / 2, B + 6, buf);
        }
    } else {
        const double xs = tick_step(xmax - xmin > 0 ? xmax - xmin : 1);
        for (double x = ceil(xmin / xs) * xs; x <= xmax + 1e-9 * xs; x += xs) {
            const int px = px_x(&c, x);
            line(&c, px, T, px, B, grey, 1);
            snprintf(buf, sizeof buf, "%g", x);
            label(&c, px - font_text_width(buf, 1) / 2, B + 6, buf);
        }
    }
    // frame, labels, title
    line(&c, L, T, R, T, ink, 1), line(&c, L, B, R, B, ink, 1), line(&c, L, T, L, B, ink, 1), line(&c, R, T, R, B, ink, 1);
    if (a->x_label) label(&c, (L + R - font_text_width(a->x_label, 1)) / 2, B + 22, a->x_label);
    if (a->y_label) label(&c, 4, T - FONT_HEIGHT - 4, a->y_label);
    if (a->title) font_draw(c.px, 3, c.W, c.H, (L + R - font_text_width(a->title, 1)) / 2, 6, a->title, ink, 1);
    // series: lines between consecutive finite points, a marker on each, the legend at the right
    for (int k = 0; k < n_series; k++) {
        const uint8_t *col = palette[k];
        int have = 0, lx = 0, ly = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) { have = 0; continue; }
            const int x = px_x(&c, s[k].x[i]), y = px_y(&c, s[k].y[i]);
            if (have) line(&c, lx, ly, x, y, col, 2);
            box(&c, x, y, 2 + k % 2, col);
            have = 1, lx = x, ly = y;
        }
        const int ly0 = T + 6 + k * (FONT_HEIGHT + 8);
        line(&c, R + 10, ly0 + FONT_HEIGHT / 2, R + 28, ly0 + FONT_HEIGHT / 2, col, 2);
        box(&c, R + 19, ly0 + FONT_HEIGHT / 2, 2 + k % 2, col);
        label(&c, R + 34, ly0, s[k].name ? s[k].name : "");
    }
    *out = c.px;
    return LETHE_OK;
}

lethe_status plot_lines_png(const char *path, const plot_axes *a, const plot_series *s, int n_series) {
    unsigned char *px;
    lethe_status st = plot_lines(a, s, n_series, &px);
    if (st) return st;
    const int W = a->width > 0 ? a->width : 640, H = a->height > 0 ? a->height : 400;
    st = png_write_grid_u8(path, px, 1, 3, H, W, 1, 0, 255);
    free(px);
    return st;
}
