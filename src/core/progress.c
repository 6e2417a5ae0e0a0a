/* progress.c: terminal progress bar (see progress.h). */
#include "core/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double lethe_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double lethe_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t cap, double s) {
    if (s < 0 || s > 1e7) { snprintf(buf, cap, "--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

void progress_start(lethe_progress *p, const char *label, long total, long already_done, const char *unit) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = p->start_done = already_done;
    p->t_start = p->t_last_draw = lethe_now();
    p->tty = isatty(2);
    p->enabled = getenv("LETHE_NO_PROGRESS") == NULL;
    p->quiet_every_s = 10.0;
    p->rate_scale = 1.0;
}

static void draw(lethe_progress *p, double rate_scale, const char *extra, int final) {
    double now = lethe_now(), el = now - p->t_start;
    long did = p->done - p->start_done;
    double steps_per_s = el > 0 ? did / el : 0;
    double eta = steps_per_s > 0 ? (p->total - p->done) / steps_per_s : -1;
    char eta_s[32], el_s[32];
    fmt_duration(eta_s, sizeof eta_s, eta);
    fmt_duration(el_s, sizeof el_s, el);
    int width = 24, fill = p->total > 0 ? (int)(width * (double)p->done / p->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    int pct = p->total > 0 ? (int)(100.0 * p->done / p->total) : 100;
    fprintf(stderr, "%s%s [%s] %ld/%ld %3d%% %s%s%.1f %s %s %s", p->tty ? "\r" : "", p->label, bar, p->done, p->total, pct,
            extra ? extra : "", extra ? "  " : "", steps_per_s * rate_scale, p->unit, final ? "in" : "ETA",
            final ? el_s : eta_s);
    fprintf(stderr, p->tty && !final ? "\033[K" : "\n");
    fflush(stderr);
    p->t_last_draw = now;
}

void progress_update(lethe_progress *p, long done, double rate_scale, const char *extra) {
    p->done = done;
    p->rate_scale = rate_scale;
    if (!p->enabled) return;
    double now = lethe_now();
    if (p->tty ? now - p->t_last_draw >= 0.2 : now - p->t_last_draw >= p->quiet_every_s) draw(p, rate_scale, extra, 0);
}

void progress_finish(lethe_progress *p, const char *extra) {
    if (!p->enabled) return;
    draw(p, p->rate_scale > 0 ? p->rate_scale : 1.0, extra, 1);
}
