/*
 * cmd_canvas.c: `lethe canvas --out sheet.png`: Fashion-Canvas's reference sheet (data/canvas.h),
 * one row per style (named, grouped by family), one column per object (named), each cell
 * the same Fashion-MNIST image of that object rendered in that style; --prompts N prints N
 * prompts per template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "data/canvas.h"
#include "data/dataset.h"
#include "io/font.h"
#include "io/png.h"

#define SHEET_GAP 2

int cmd_canvas(int argc, char **argv) {
    const char *out = NULL, *data = "fashion-mnist";
    int split = 1, image = 0, scale = 2, prompts = 0;
    uint64_t seed = 0;
    const arg_spec specs[] = {
        {"out", ARG_STRING, &out, "the reference sheet (PNG): one row per style, one column per object"},
        {"data", ARG_STRING, &data, "the Fashion-MNIST data (a name or a folder of IDX files)"},
        {"split", ARG_CHOICE, &split, "the split the images come from", .choices = "train|test"},
        {"image", ARG_INT, &image, "which image of each class (0: the first of its class in the split)"},
        {"seed", ARG_U64, &seed, "the rendering seed (pattern phases, grain, colours)"},
        {"scale", ARG_INT, &scale, "pixels per canvas pixel in the sheet (1..8)"},
        {"prompts", ARG_INT, &prompts, "also print this many example prompts per template"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("canvas", "canvas --out SHEET.png [options]", specs, (int)(sizeof specs / sizeof specs[0]), argc,
                       argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!out) { fprintf(stderr, "lethe canvas: --out SHEET.png is required\n"); return 2; }
    if (scale < 1 || scale > 8 || image < 0 || prompts < 0) {
        fprintf(stderr, "lethe canvas: --scale must be 1..8, --image and --prompts >= 0\n");
        return 2;
    }
    lethe_dataset ds;
    lethe_status st = dataset_load(&ds, data, split ? LETHE_SPLIT_TEST : LETHE_SPLIT_TRAIN);
    if (st) return cli_fail("canvas", st);
    if (ds.c != 1 || ds.h != CANVAS_OBJECT_SIZE || ds.w != CANVAS_OBJECT_SIZE) {
        st = lethe_fail(LETHE_ERR_SHAPE, "Fashion-Canvas renders 1 x 28 x 28 images; %s has %d x %d x %d", data, ds.c,
                        ds.h, ds.w);
        dataset_free(&ds);
        return cli_fail("canvas", st);
    }
    // the image-th of each class, and its index in the split (the rendering's key)
    int pick[LETHE_MAX_CLASSES], seen[LETHE_MAX_CLASSES] = {0};
    for (int k = 0; k < ds.n_classes; k++) pick[k] = -1;
    for (int i = 0; i < ds.n; i++) {
        int k = ds.labels[i];
        if (pick[k] < 0 && seen[k]++ == image) pick[k] = i;
    }
    for (int k = 0; k < ds.n_classes; k++)
        if (pick[k] < 0) {
            st = lethe_fail(LETHE_ERR_ARG, "--image %d: class %s has only %d images in this split", image,
                            ds.class_names[k], seen[k]);
            dataset_free(&ds);
            return cli_fail("canvas", st);
        }

    // layout: a label column, a header row, then the cells; a family starts with a wider gap
    const int cell = CANVAS_SIZE * scale, label_w = 11 * FONT_ADVANCE * scale + 4 * scale,
              header_h = (FONT_HEIGHT + 4) * scale, cols = ds.n_classes;
    int families = 0;
    for (int s = 0; s < CANVAS_N_STYLES; s++) families += s == 0 || canvas_style_family(s) != canvas_style_family(s - 1);
    const int W = label_w + cols * (cell + SHEET_GAP),
              H = header_h + CANVAS_N_STYLES * (cell + SHEET_GAP) + families * 3 * SHEET_GAP;
    uint8_t *sheet = malloc((size_t)3 * W * H), rgb[CANVAS_NUMEL];
    if (!sheet) {
        dataset_free(&ds);
        return cli_fail("canvas", lethe_fail(LETHE_ERR_NOMEM, "out of memory for a %d x %d sheet", W, H));
    }
    memset(sheet, 255, (size_t)3 * W * H);
    const uint8_t ink[3] = {0, 0, 0}, family_ink[3] = {120, 120, 120};
    for (int k = 0; k < cols; k++) {
        int x = label_w + k * (cell + SHEET_GAP) + (cell - font_text_width(ds.class_names[k], 1)) / 2;
        font_draw(sheet, 3, W, H, x, 2 * scale, ds.class_names[k], ink, 1);
    }
    int y = header_h;
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        if (s == 0 || canvas_style_family(s) != canvas_style_family(s - 1)) y += 3 * SHEET_GAP;
        font_draw(sheet, 3, W, H, 2 * scale, y + (cell - FONT_HEIGHT * scale) / 2, canvas_style_name(s),
                  canvas_style_family(s) % 2 ? family_ink : ink, scale);
        for (int k = 0; k < cols; k++) {
            canvas_render(ds.pixels + (size_t)pick[k] * 784, s, seed, (uint64_t)pick[k], rgb);
            const int x0 = label_w + k * (cell + SHEET_GAP);
            for (int c = 0; c < 3; c++)
                for (int py = 0; py < cell; py++)
                    for (int px = 0; px < cell; px++)
                        sheet[(size_t)c * W * H + (size_t)(y + py) * W + x0 + px] =
                            rgb[c * CANVAS_SIZE * CANVAS_SIZE + (py / scale) * CANVAS_SIZE + px / scale];
        }
        y += cell + SHEET_GAP;
    }
    st = png_write_grid_u8(out, sheet, 1, 3, H, W, 1, 0, 255);
    free(sheet);
    if (st) {
        dataset_free(&ds);
        return cli_fail("canvas", st);
    }
    printf("lethe canvas: wrote %s: %d styles in %d families (rows, family names alternate black and gray) x %d "
           "objects (columns), image %d of each class of the %s split, seed %llu\n", out, CANVAS_N_STYLES,
           canvas_n_families(), cols, image, split ? "test" : "train", (unsigned long long)seed);
    for (int f = 0; f < canvas_n_families(); f++) {
        printf("  %-9s", canvas_family_name(f));
        for (int s = 0; s < CANVAS_N_STYLES; s++)
            if (canvas_style_family(s) == f) printf(" %s", canvas_style_name(s));
        printf("\n");
    }
    for (int t = 0; t < CANVAS_N_TEMPLATES && prompts > 0; t++)
        for (int i = 0; i < prompts; i++) {
            char p[160];
            int s = (7 * i + 3 * t + 1) % CANVAS_N_STYLES, k = (i + t) % cols;
            if (canvas_prompt(t, ds.class_names[k], canvas_style_name(s), p, sizeof p) > 0) printf("  \"%s\"\n", p);
        }
    dataset_free(&ds);
    return 0;
}
