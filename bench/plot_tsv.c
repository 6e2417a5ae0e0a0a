/*
 * plot_tsv.c: a line chart (PNG) from a table of numbers, for the docs' curves.
 *
 *   build/bench/plot_tsv IN.tsv OUT.png [--title T] [--x-label L] [--y-label L] [--log-x] [--y-range LO,HI]
 *
 * IN.tsv: a header row (the x column's name, then one name per series) and rows of numbers
 * separated by tabs; "-", "nan" or an empty cell is a gap.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/plot.h"

#define MAX_ROWS 256

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: plot_tsv IN.tsv OUT.png [--title T] [--x-label L] [--y-label L] [--log-x] [--y-range LO,HI]\n");
        return 2;
    }
    plot_axes a;
    plot_axes_default(&a);
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--log-x")) a.log_x = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--title")) a.title = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--x-label")) a.x_label = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--y-label")) a.y_label = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--y-range")) {
            if (sscanf(argv[++i], "%lf,%lf", &a.y_min, &a.y_max) != 2) { fprintf(stderr, "plot_tsv: --y-range LO,HI\n"); return 2; }
        } else { fprintf(stderr, "plot_tsv: unknown argument %s\n", argv[i]); return 2; }
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) { fprintf(stderr, "plot_tsv: cannot read %s\n", argv[1]); return 1; }
    static char names[PLOT_MAX_SERIES + 1][64];
    static double cols[PLOT_MAX_SERIES + 1][MAX_ROWS];
    char line[4096];
    int n_cols = 0, n_rows = 0;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        for (char *tok = strtok(line, "\t"); tok && n_cols <= PLOT_MAX_SERIES; tok = strtok(NULL, "\t"))
            snprintf(names[n_cols++], sizeof names[0], "%s", tok);
    }
    while (n_rows < MAX_ROWS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *p = line;
        for (int c = 0; c < n_cols; c++) {
            char *tab = strchr(p, '\t'), *end;
            if (tab) *tab = 0;
            double v = strtod(p, &end);
            cols[c][n_rows] = end == p ? NAN : v;
            p = tab ? tab + 1 : p + strlen(p);
        }
        n_rows++;
    }
    fclose(f);
    if (n_cols < 2 || n_rows < 1) { fprintf(stderr, "plot_tsv: %s: need a header and rows of x and a series\n", argv[1]); return 1; }
    if (!a.x_label) a.x_label = names[0];
    plot_series s[PLOT_MAX_SERIES];
    for (int c = 1; c < n_cols; c++) s[c - 1] = (plot_series){.name = names[c], .x = cols[0], .y = cols[c], .n = n_rows};
    lethe_status st = plot_lines_png(argv[2], &a, s, n_cols - 1);
    if (st) { fprintf(stderr, "plot_tsv: %s\n", lethe_last_error()); return 1; }
    return 0;
}
