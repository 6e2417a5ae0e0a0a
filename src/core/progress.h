/*
 * progress.h: a progress bar for long work, with rate and ETA.
 *
 *   [##########----------]  512/1000  51%  loss 0.0612  148.3 img/s  ETA 1m02s
 *
 * On a terminal it redraws one line (stderr); otherwise (CI, logs) it prints a plain
 * line every `quiet_every_s` seconds so logs stay readable.
 */
#ifndef LETHE_CORE_PROGRESS_H
#define LETHE_CORE_PROGRESS_H

typedef struct {
    const char *label;
    const char *unit;        // what the rate counts ("img/s", "step/s")
    long total, done, start_done;
    double t_start, t_last_draw;
    int tty, enabled;
    double quiet_every_s;
    double rate_scale;       // last rate_scale given to progress_update
} lethe_progress;

double lethe_now(void);   // monotonic seconds
double lethe_cpu_seconds(void);   // CPU time of this process so far (all threads)

void progress_start(lethe_progress *p, const char *label, long total, long already_done, const char *unit);
// done: units finished so far; units_per_step scales the rate (images per step); extra: text like "loss 0.0612".
void progress_update(lethe_progress *p, long done, double rate_scale, const char *extra);
void progress_finish(lethe_progress *p, const char *extra);

#endif
