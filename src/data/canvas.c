/*
 * canvas.c: Fashion-Canvas's styles, renderer and prompts (canvas.h).
 *
 * A style is a row of the table below: how it paints (kind), with which pattern, in which
 * colours, on which background. Every rendering starts from the object's intensity m in
 * [0, 1] on the 32 x 32 canvas (the 28 x 28 image centred, 0 around it) and computes each
 * pixel's RGB in floats; the kinds:
 *   photo       m as gray (the seed image)
 *   fill        a pattern in colours a/b, shaded by m (0.35 + 0.65 m), over the background
 *               where the object is (alpha = min(1, 1.8 m))
 *   edges       the object's Sobel edges in colour a on the background (pencil, chalk)
 *   neon        the edges plus their blurred glow in colour b
 *   invert      m mapped from colour a (m = 1) to colour b (m = 0): a negative
 *   solarize    the tone curve folded at mid-gray, in colour a
 *   pixel       4 x 4 (or 2 x 2) block means of m, in gray, random pastels, bricks or a
 *               4-level palette
 *   glow        the object in colour a with a blurred halo in colour b; ghost: the blur only
 *   outline     the mask's 1-pixel border; stencil: a 2-pixel band outside it; silhouette
 *   halftone    one dot per cell with radius ~ sqrt(the cell's mean m)
 *   colormap    m through a colour map (thermal, rainbow, infrared)
 * Random elements (pattern phase, grain, per-cell colours) are Philox draws keyed by
 * (seed, key, style), so a rendering is reproducible from those alone.
 */
#include "data/canvas.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/rng.h"

typedef enum {
    K_PHOTO, K_FILL, K_EDGES, K_NEON, K_INVERT, K_SOLARIZE, K_PIXEL, K_MOSAIC, K_BRICKS, K_RETRO,
    K_GLOW, K_GHOST, K_OUTLINE, K_STENCIL, K_SILHOUETTE, K_HALFTONE, K_THERMAL, K_RAINBOW, K_INFRARED
} kind;
typedef enum { P_SOLID, P_HSTRIPES, P_DSTRIPES, P_DOTS, P_CONFETTI, P_CHECKER, P_PLAID, P_DIAMOND, P_VGRADIENT, P_GRAIN } pattern;
typedef struct { uint8_t r, g, b; } rgb8;

typedef struct {
    const char *name;
    int family;
    kind kind;
    pattern pattern;
    int period;        // pattern period / cell size in pixels
    rgb8 a, b, bg;
} style;

enum { F_PHOTO, F_STRIPES, F_BANDS, F_DOTS, F_CHECKS, F_GRADIENT, F_TINT, F_GRAIN, F_SKETCH, F_NEGATIVE, F_PIXEL,
       F_GLOW, F_LINE, F_HALFTONE, F_HEATMAP, N_FAMILIES };
static const char *const family_names[N_FAMILIES] = {
    "photo", "stripes", "bands", "dots", "checks", "gradient", "tint", "grain", "sketch", "negative", "pixel",
    "glow", "line", "halftone", "heatmap"};

#define C(r, g, b) {r, g, b}
#define WHITE C(250, 250, 250)
#define BLACK C(15, 15, 15)
#define CREAM C(238, 230, 212)
#define NONE C(0, 0, 0)

static const style styles[] = {
    {"photo", F_PHOTO, K_PHOTO, P_SOLID, 0, WHITE, BLACK, BLACK},
    // horizontal stripes, period 4, on cream
    {"zebra", F_STRIPES, K_FILL, P_HSTRIPES, 4, WHITE, BLACK, CREAM},
    {"candy", F_STRIPES, K_FILL, P_HSTRIPES, 4, C(225, 30, 45), WHITE, CREAM},
    {"bee", F_STRIPES, K_FILL, P_HSTRIPES, 4, C(250, 200, 20), BLACK, CREAM},
    {"sailor", F_STRIPES, K_FILL, P_HSTRIPES, 4, C(20, 40, 120), WHITE, CREAM},
    {"mint", F_STRIPES, K_FILL, P_HSTRIPES, 4, C(60, 200, 140), WHITE, CREAM},
    // diagonal bands, period 6, on charcoal
    {"hazard", F_BANDS, K_FILL, P_DSTRIPES, 6, C(250, 210, 0), BLACK, C(45, 45, 45)},
    {"barber", F_BANDS, K_FILL, P_DSTRIPES, 6, C(210, 30, 40), WHITE, C(45, 45, 45)},
    {"lagoon", F_BANDS, K_FILL, P_DSTRIPES, 6, C(20, 170, 170), C(20, 60, 150), C(45, 45, 45)},
    // dots, period 6
    {"polka", F_DOTS, K_FILL, P_DOTS, 6, WHITE, C(215, 30, 40), C(250, 235, 235)},
    {"ladybug", F_DOTS, K_FILL, P_DOTS, 6, BLACK, C(215, 30, 40), C(250, 235, 235)},
    {"snowfall", F_DOTS, K_FILL, P_DOTS, 6, WHITE, C(40, 80, 170), C(200, 215, 240)},
    {"confetti", F_DOTS, K_FILL, P_CONFETTI, 6, NONE, WHITE, C(250, 235, 235)},
    // checks
    {"chess", F_CHECKS, K_FILL, P_CHECKER, 4, WHITE, BLACK, C(120, 90, 60)},
    {"gingham", F_CHECKS, K_FILL, P_CHECKER, 2, C(215, 40, 50), WHITE, C(120, 90, 60)},
    {"picnic", F_CHECKS, K_FILL, P_CHECKER, 2, C(40, 80, 190), WHITE, C(120, 90, 60)},
    {"tartan", F_CHECKS, K_FILL, P_PLAID, 8, C(30, 110, 50), C(170, 20, 30), C(120, 90, 60)},
    {"harlequin", F_CHECKS, K_FILL, P_DIAMOND, 4, C(200, 20, 60), BLACK, C(120, 90, 60)},
    // vertical gradients (top a, bottom b) on black
    {"sunset", F_GRADIENT, K_FILL, P_VGRADIENT, 0, C(255, 150, 30), C(120, 30, 140), BLACK},
    {"ocean", F_GRADIENT, K_FILL, P_VGRADIENT, 0, C(80, 230, 240), C(10, 30, 120), BLACK},
    {"forest", F_GRADIENT, K_FILL, P_VGRADIENT, 0, C(190, 230, 60), C(10, 90, 30), BLACK},
    {"fire", F_GRADIENT, K_FILL, P_VGRADIENT, 0, C(255, 240, 80), C(200, 20, 10), BLACK},
    {"aurora", F_GRADIENT, K_FILL, P_VGRADIENT, 0, C(60, 240, 140), C(200, 40, 200), BLACK},
    // flat tints on a dark ground
    {"ruby", F_TINT, K_FILL, P_SOLID, 0, C(225, 20, 50), NONE, C(25, 22, 35)},
    {"emerald", F_TINT, K_FILL, P_SOLID, 0, C(20, 200, 90), NONE, C(25, 22, 35)},
    {"sapphire", F_TINT, K_FILL, P_SOLID, 0, C(30, 70, 230), NONE, C(25, 22, 35)},
    {"gold", F_TINT, K_FILL, P_SOLID, 0, C(240, 190, 30), NONE, C(25, 22, 35)},
    {"amethyst", F_TINT, K_FILL, P_SOLID, 0, C(160, 60, 220), NONE, C(25, 22, 35)},
    {"coral", F_TINT, K_FILL, P_SOLID, 0, C(255, 120, 90), NONE, C(25, 22, 35)},
    // per-pixel grain between a and b
    {"sand", F_GRAIN, K_FILL, P_GRAIN, 0, C(240, 215, 160), C(150, 110, 60), C(200, 180, 140)},
    {"static", F_GRAIN, K_FILL, P_GRAIN, 0, WHITE, BLACK, C(110, 110, 110)},
    {"granite", F_GRAIN, K_FILL, P_GRAIN, 0, C(190, 185, 180), C(60, 55, 60), C(140, 135, 135)},
    {"rust", F_GRAIN, K_FILL, P_GRAIN, 0, C(230, 110, 30), C(90, 40, 20), C(150, 90, 60)},
    // edges
    {"sketch", F_SKETCH, K_EDGES, P_SOLID, 0, C(50, 50, 55), NONE, C(245, 242, 232)},
    {"chalk", F_SKETCH, K_EDGES, P_SOLID, 0, C(240, 240, 235), NONE, C(35, 75, 50)},
    {"blueprint", F_SKETCH, K_EDGES, P_SOLID, 0, C(235, 245, 255), NONE, C(25, 60, 150)},
    {"neon", F_SKETCH, K_NEON, P_SOLID, 0, C(120, 255, 255), C(255, 40, 200), C(10, 5, 25)},
    // negatives
    {"negative", F_NEGATIVE, K_INVERT, P_SOLID, 0, BLACK, WHITE, NONE},
    {"cyanotype", F_NEGATIVE, K_INVERT, P_SOLID, 0, C(20, 50, 120), C(235, 240, 245), NONE},
    {"solarize", F_NEGATIVE, K_SOLARIZE, P_SOLID, 0, C(255, 140, 40), NONE, C(20, 10, 40)},
    // blocks
    {"pixel", F_PIXEL, K_PIXEL, P_SOLID, 4, WHITE, NONE, BLACK},
    {"mosaic", F_PIXEL, K_MOSAIC, P_SOLID, 4, NONE, NONE, C(40, 35, 30)},
    {"lego", F_PIXEL, K_BRICKS, P_SOLID, 4, NONE, NONE, C(200, 200, 200)},
    {"retro", F_PIXEL, K_RETRO, P_SOLID, 2, NONE, NONE, C(155, 188, 15)},
    // glows
    {"glow", F_GLOW, K_GLOW, P_SOLID, 0, WHITE, C(255, 220, 40), C(15, 20, 60)},
    {"ember", F_GLOW, K_GLOW, P_SOLID, 0, C(255, 200, 120), C(230, 30, 10), BLACK},
    {"ghost", F_GLOW, K_GHOST, P_SOLID, 0, C(230, 235, 255), NONE, C(60, 60, 75)},
    // lines
    {"outline", F_LINE, K_OUTLINE, P_SOLID, 0, BLACK, NONE, WHITE},
    {"stencil", F_LINE, K_STENCIL, P_SOLID, 0, C(255, 130, 0), NONE, C(30, 30, 30)},
    {"silhouette", F_LINE, K_SILHOUETTE, P_SOLID, 0, BLACK, NONE, WHITE},
    // halftones: dot colour a on paper b
    {"halftone", F_HALFTONE, K_HALFTONE, P_SOLID, 4, BLACK, WHITE, NONE},
    {"comic", F_HALFTONE, K_HALFTONE, P_SOLID, 4, C(220, 30, 40), C(255, 230, 60), NONE},
    {"newsprint", F_HALFTONE, K_HALFTONE, P_SOLID, 3, C(70, 70, 75), C(225, 220, 205), NONE},
    // colour maps
    {"thermal", F_HEATMAP, K_THERMAL, P_SOLID, 0, NONE, NONE, NONE},
    {"rainbow", F_HEATMAP, K_RAINBOW, P_SOLID, 0, NONE, NONE, NONE},
    {"infrared", F_HEATMAP, K_INFRARED, P_SOLID, 0, NONE, NONE, NONE},
};
_Static_assert(sizeof styles / sizeof styles[0] == CANVAS_N_STYLES, "CANVAS_N_STYLES is the table's length");

int canvas_n_families(void) { return N_FAMILIES; }
const char *canvas_family_name(int f) { return f >= 0 && f < N_FAMILIES ? family_names[f] : "?"; }
const char *canvas_style_name(int s) { return s >= 0 && s < CANVAS_N_STYLES ? styles[s].name : "?"; }
int canvas_style_family(int s) { return s >= 0 && s < CANVAS_N_STYLES ? styles[s].family : -1; }

lethe_status canvas_style_index(const char *name, int *out) {
    for (int s = 0; s < CANVAS_N_STYLES; s++)
        if (strcasecmp(name, styles[s].name) == 0) {
            *out = s;
            return LETHE_OK;
        }
    char list[1024];
    size_t len = 0;
    for (int s = 0; s < CANVAS_N_STYLES && len < sizeof list; s++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", s ? ", " : "", styles[s].name);
    return lethe_fail(LETHE_ERR_ARG, "unknown style '%s'; Fashion-Canvas's styles: %s", name, list);
}

// ---- rendering --------------------------------------------------------------------------------

#define N CANVAS_SIZE
#define PAD ((CANVAS_SIZE - CANVAS_OBJECT_SIZE) / 2)

typedef struct { float r, g, b; } rgbf;

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static rgbf col(rgb8 c) { return (rgbf){c.r / 255.0f, c.g / 255.0f, c.b / 255.0f}; }
static rgbf mix(rgbf x, rgbf y, float t) { return (rgbf){x.r + (y.r - x.r) * t, x.g + (y.g - x.g) * t, x.b + (y.b - x.b) * t}; }
static rgbf scale(rgbf x, float s) { return (rgbf){x.r * s, x.g * s, x.b * s}; }
static rgbf add(rgbf x, rgbf y) { return (rgbf){x.r + y.r, x.g + y.g, x.b + y.b}; }

// hue in [0, 1) at full saturation, times v
static rgbf hue(float h, float v) {
    float r = clamp01(fabsf(h * 6 - 3) - 1), g = clamp01(2 - fabsf(h * 6 - 2)), b = clamp01(2 - fabsf(h * 6 - 4));
    return (rgbf){r * v, g * v, b * v};
}

// piecewise-linear colour map through n stops evenly spaced on [0, 1]
static rgbf ramp(const rgbf *stops, int n, float t) {
    float x = clamp01(t) * (float)(n - 1);
    int i = (int)x;
    if (i >= n - 1) return stops[n - 1];
    return mix(stops[i], stops[i + 1], x - (float)i);
}

// 3 x 3 box blur, `passes` times (edges clamp)
static void blur(float *x, int passes) {
    float tmp[N * N];
    for (int p = 0; p < passes; p++) {
        for (int y = 0; y < N; y++)
            for (int xx = 0; xx < N; xx++) {
                float s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy < 0 ? 0 : y + dy >= N ? N - 1 : y + dy;
                        int xc = xx + dx < 0 ? 0 : xx + dx >= N ? N - 1 : xx + dx;
                        s += x[yy * N + xc];
                    }
                tmp[y * N + xx] = s / 9.0f;
            }
        memcpy(x, tmp, sizeof tmp);
    }
}

static float at(const float *m, int y, int x) { return y < 0 || y >= N || x < 0 || x >= N ? 0.0f : m[y * N + x]; }

// Sobel gradient magnitude of m, scaled so a hard 0 -> 1 step gives about 1
static void edges(const float *m, float *e) {
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            float gx = at(m, y - 1, x + 1) + 2 * at(m, y, x + 1) + at(m, y + 1, x + 1) - at(m, y - 1, x - 1) -
                       2 * at(m, y, x - 1) - at(m, y + 1, x - 1);
            float gy = at(m, y + 1, x - 1) + 2 * at(m, y + 1, x) + at(m, y + 1, x + 1) - at(m, y - 1, x - 1) -
                       2 * at(m, y - 1, x) - at(m, y - 1, x + 1);
            e[y * N + x] = clamp01(sqrtf(gx * gx + gy * gy) / 3.0f);
        }
}

// the mean of m over the c x c cell holding (y, x)
static float cell_mean(const float *m, int y, int x, int c) {
    int y0 = y / c * c, x0 = x / c * c;
    float s = 0;
    for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++) s += at(m, y0 + i, x0 + j);
    return s / (float)(c * c);
}

static int mask_at(const float *m, int y, int x) { return at(m, y, x) > 0.15f; }

// distance (0, 1, 2 or 3 = farther) from (y, x) to the nearest mask pixel (chessboard metric)
static int mask_distance(const float *m, int y, int x) {
    for (int d = 0; d <= 2; d++)
        for (int dy = -d; dy <= d; dy++)
            for (int dx = -d; dx <= d; dx++)
                if (mask_at(m, y + dy, x + dx)) return d;
    return 3;
}

typedef struct {
    uint64_t seed, stream;
    int phase;
} draws;

static rgbf random_colour(const draws *r, uint64_t i, float sat_floor) {
    float h = lethe_rand_uniform(r->seed, r->stream, 4096 + 2 * i);
    float v = sat_floor + (1 - sat_floor) * lethe_rand_uniform(r->seed, r->stream, 4097 + 2 * i);
    return hue(h, v);
}

static rgbf fill_pattern(const style *s, const draws *r, int y, int x) {
    const rgbf a = col(s->a), b = col(s->b);
    const int p = s->period, h = p / 2 > 0 ? p / 2 : 1, yy = y + r->phase, xx = x + r->phase;
    switch (s->pattern) {
    case P_SOLID: return a;
    case P_HSTRIPES: return (yy / h) % 2 ? b : a;
    case P_DSTRIPES: return ((xx + yy) / h) % 2 ? b : a;
    case P_DOTS:
    case P_CONFETTI: {
        float dy = (float)(yy % p) - (p - 1) / 2.0f, dx = (float)(xx % p) - (p - 1) / 2.0f;
        int in = dy * dy + dx * dx <= (p * 0.3f) * (p * 0.3f);
        if (s->pattern == P_DOTS) return in ? a : b;
        return in ? random_colour(r, (uint64_t)((yy / p) * 64 + xx / p), 0.7f) : b;
    }
    case P_CHECKER: return ((yy / p) + (xx / p)) % 2 ? b : a;
    case P_PLAID: {   // two sets of bands; where they cross, the colours mix
        int hb = (yy % p) < p / 2, vb = (xx % p) < p / 2;
        rgbf base = col((rgb8)C(20, 30, 70));
        return hb && vb ? mix(a, b, 0.5f) : hb ? a : vb ? b : base;
    }
    case P_DIAMOND: return (((xx + yy) / p) + ((xx - yy + 64) / p)) % 2 ? b : a;
    case P_VGRADIENT: return mix(a, b, (float)y / (N - 1));
    case P_GRAIN: return mix(a, b, lethe_rand_uniform(r->seed, r->stream, (uint64_t)(y * N + x)));
    }
    return a;
}

static rgbf thermal(float t) {
    static const rgbf stops[] = {{0.02f, 0.0f, 0.05f}, {0.5f, 0.0f, 0.35f}, {0.9f, 0.15f, 0.05f}, {1.0f, 0.75f, 0.0f}, {1, 1, 0.85f}};
    return ramp(stops, 5, t);
}
static rgbf infrared(float t) {
    static const rgbf stops[] = {{0.0f, 0.05f, 0.15f}, {0.55f, 0.1f, 0.6f}, {1.0f, 0.45f, 0.75f}, {1, 1, 1}};
    return ramp(stops, 4, t);
}

static rgbf render_pixel(const style *s, const draws *r, const float *m, const float *aux, int y, int x) {
    const float v = m[y * N + x];
    const rgbf a = col(s->a), b = col(s->b), bg = col(s->bg);
    switch (s->kind) {
    case K_PHOTO: return (rgbf){v, v, v};
    case K_FILL: {
        float alpha = clamp01(1.8f * v);
        return mix(bg, scale(fill_pattern(s, r, y, x), 0.35f + 0.65f * v), alpha);
    }
    case K_EDGES: return mix(bg, a, clamp01(aux[y * N + x] * 1.2f + 0.12f * v));
    case K_NEON: {   // aux: edges; the glow is their blur (aux + N*N)
        float e = clamp01(aux[y * N + x] * 1.3f), g = clamp01(aux[N * N + y * N + x] * 2.5f);
        return add(add(bg, scale(b, g)), scale(a, e));
    }
    case K_INVERT: return mix(b, a, v);
    case K_SOLARIZE: return mix(bg, a, v < 0.5f ? 2 * v : 2 * (1 - v) + 0.3f * v);
    case K_PIXEL: return mix(bg, a, cell_mean(m, y, x, s->period));
    case K_MOSAIC: {
        const int c = s->period;
        float cm = cell_mean(m, y, x, c);
        return mix(bg, random_colour(r, (uint64_t)((y / c) * 64 + x / c), 0.85f), clamp01(cm * 1.4f));
    }
    case K_BRICKS: {
        static const rgb8 bricks[4] = {{220, 30, 30}, {250, 200, 0}, {20, 80, 200}, {20, 150, 60}};
        const int c = s->period;
        float cm = cell_mean(m, y, x, c);
        if (cm < 0.25f) return bg;
        rgbf brick = col(bricks[lethe_rand_below(r->seed, r->stream, (uint64_t)(8192 + (y / c) * 64 + x / c), 4)]);
        int border = (y % c) == c - 1 || (x % c) == c - 1;
        return scale(brick, (0.7f + 0.3f * cm) * (border ? 0.6f : 1.0f));
    }
    case K_RETRO: {
        static const rgb8 shades[4] = {{155, 188, 15}, {139, 172, 15}, {48, 98, 48}, {15, 56, 15}};
        int level = (int)(cell_mean(m, y, x, s->period) * 3.999f);
        return col(shades[level]);
    }
    case K_GLOW: return add(add(bg, scale(b, clamp01(aux[y * N + x] * 1.8f))), scale(a, v));
    case K_GHOST: return mix(bg, a, 0.6f * clamp01(aux[y * N + x] * 1.3f));
    case K_OUTLINE: {
        int border = mask_at(m, y, x) && (!mask_at(m, y - 1, x) || !mask_at(m, y + 1, x) || !mask_at(m, y, x - 1) ||
                                          !mask_at(m, y, x + 1));
        return border ? a : bg;
    }
    case K_STENCIL: {
        int d = mask_distance(m, y, x);
        return d == 1 || d == 2 ? a : bg;
    }
    case K_SILHOUETTE: return mask_at(m, y, x) ? a : bg;
    case K_HALFTONE: {
        const int c = s->period;
        float cm = cell_mean(m, y, x, c), rad = (float)c * 0.62f * sqrtf(cm);
        float dy = (float)(y % c) - (c - 1) / 2.0f, dx = (float)(x % c) - (c - 1) / 2.0f;
        return dy * dy + dx * dx < rad * rad ? a : b;
    }
    case K_THERMAL: return thermal(v);
    case K_RAINBOW: return hue(0.8f * v, v > 0.03f ? 0.35f + 0.65f * v : 0.0f);
    case K_INFRARED: return infrared(v);
    }
    return bg;
}

void canvas_render(const uint8_t *gray, int style_index, uint64_t seed, uint64_t key, uint8_t *rgb) {
    const style *s = &styles[style_index >= 0 && style_index < CANVAS_N_STYLES ? style_index : 0];
    float m[N * N], aux[2 * N * N];
    memset(m, 0, sizeof m);
    for (int y = 0; y < CANVAS_OBJECT_SIZE; y++)
        for (int x = 0; x < CANVAS_OBJECT_SIZE; x++)
            m[(y + PAD) * N + x + PAD] = gray[y * CANVAS_OBJECT_SIZE + x] / 255.0f;
    draws r = {.seed = seed, .stream = lethe_stream(LETHE_STREAM_CANVAS, key, (uint64_t)style_index)};
    r.phase = s->period > 0 ? (int)lethe_rand_below(seed, r.stream, 1u << 20, (uint32_t)s->period) : 0;
    if (s->kind == K_EDGES || s->kind == K_NEON) {
        edges(m, aux);
        if (s->kind == K_NEON) {
            memcpy(aux + N * N, aux, N * N * sizeof(float));
            blur(aux + N * N, 2);
        }
    } else if (s->kind == K_GLOW || s->kind == K_GHOST) {
        memcpy(aux, m, sizeof m);
        blur(aux, s->kind == K_GHOST ? 2 : 3);
    }
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            rgbf c = render_pixel(s, &r, m, aux, y, x);
            rgb[0 * N * N + y * N + x] = (uint8_t)lrintf(255.0f * clamp01(c.r));
            rgb[1 * N * N + y * N + x] = (uint8_t)lrintf(255.0f * clamp01(c.g));
            rgb[2 * N * N + y * N + x] = (uint8_t)lrintf(255.0f * clamp01(c.b));
        }
}

// ---- prompts ----------------------------------------------------------------------------------

static const char *article(const char *word) { return strchr("aeiou", word[0]) ? "an" : "a"; }

int canvas_prompt(int t, const char *object, const char *style_name, char *out, size_t cap) {
    int n;
    switch (t) {
    case 0: n = snprintf(out, cap, "%s %s in %s style", article(object), object, style_name); break;
    case 1: n = snprintf(out, cap, "%s %s", style_name, object); break;
    case 2: n = snprintf(out, cap, "%s %s %s", article(style_name), style_name, object); break;
    case 3: n = snprintf(out, cap, "%s %s style picture of %s %s", article(style_name), style_name, article(object), object); break;
    default: return -1;
    }
    return n >= 0 && (size_t)n < cap ? n : -1;
}

int canvas_vocabulary(const char *const *objects, int n_objects, const char **words, int cap) {
    static const char *const template_words[] = {"a", "an", "in", "style", "picture", "of"};
    int n = 0;
    const int nt = (int)(sizeof template_words / sizeof template_words[0]);
    if (nt + CANVAS_N_STYLES + n_objects > cap) return -1;
    for (int i = 0; i < nt; i++) words[n++] = template_words[i];
    for (int s = 0; s < CANVAS_N_STYLES; s++) words[n++] = styles[s].name;
    for (int o = 0; o < n_objects; o++) {
        int dup = 0;
        for (int i = 0; i < n && !dup; i++) dup = strcmp(words[i], objects[o]) == 0;
        if (!dup) words[n++] = objects[o];
    }
    return n;
}
