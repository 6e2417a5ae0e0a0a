/*
 * run.h: the harness of a resumable optimisation run, shared by training (diffusion/train.c)
 * and unlearning (unlearn/loop.c). A loop supplies its step and its checkpoint; the harness
 * does the rest the same way for both, so the two cannot drift:
 *
 *   state   named flat buffers (weights, Adam moments, EMA...) + step + metadata in one
 *           safetensors file in OUT, written atomically; loaded with checks: the right kind
 *           of file, every buffer at its size, the same run (seed and the loop's own keys).
 *   log     a JSON-lines file in OUT, one object per logged step (every log_every steps and
 *           the last; log_every 0: none). A fresh run starts it empty; a resumed run first
 *           drops the records of steps after the resumed step (and any torn last line), so
 *           a run killed between checkpoints and resumed logs every step exactly once.
 *   loop    steps until `steps` are done, a checkpoint every checkpoint_every steps, at the
 *           last step and when stop_after steps of this invocation are done (--stop-after:
 *           stops as if interrupted, checkpointed); the progress bar (core/progress.h).
 *
 * For tests: LETHE_TEST_CRASH_AFTER_STEP=S makes the process kill itself (SIGKILL) right
 * after step S is done and logged, before any checkpoint of step S: a crash at a known step
 * between checkpoints (tests/cli/test_resume.sh).
 */
#ifndef LETHE_DIFFUSION_RUN_H
#define LETHE_DIFFUSION_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define RUN_RECORD_MAX 4096   // the buffer for one log record (so a record has at most 4094 bytes)

// One buffer of the state file: a tensor of n floats in backend memory.
typedef struct {
    const char *name;
    float *data;
    size_t n;
} run_buffer;

// A metadata entry the state file carries beside format, step and seed. On load the saved
// value must equal `value`; otherwise the load fails with `mismatch` (a "%s" in it shows the
// saved value). mismatch NULL: saved only, not required or checked on load (a record the
// loop reads and judges itself, e.g. training's options, which a state of an older lethe lacks).
typedef struct {
    const char *key, *value, *mismatch;
} run_meta;

typedef struct {
    const char *out_dir;
    const char *what;                        // "training", "unlearning": names the run in messages
    const char *state_file, *state_format;   // e.g. "train_state.safetensors", "lethe-train-state-1"
    const char *log_file;                    // e.g. "train_log.jsonl"
    int steps;                               // total steps of the run
    int checkpoint_every;                    // 0: only at the last step (and at stop_after)
    int log_every;                           // 0: no log
    int stop_after;                          // > 0: stop after this many steps of this invocation
    uint64_t seed;                           // recorded in the state; a resume must use the same
    const run_buffer *buffers;               // the state's tensors (saved and loaded)
    int n_buffers;
    const run_meta *meta;                    // the state's own metadata (saved and checked)
    int n_meta;
    const char *label, *unit;                // progress bar: "train", "img/s"
    double rate_scale;                       // progress units per step (images per step, or 1)
    int quiet;                               // no progress bar
    double t_start;                          // lethe_now() when this invocation's work began (setup
                                             // included); 0: when run_begin is called
} run_config;

typedef struct {
    run_config c;
    int *step;       // the loop's counter of steps done (its step function advances it)
    int start;       // *step when this invocation's loop began
    double t0;       // lethe_now() when this invocation's loop began
    double seconds_before, cpu_before;   // the cost of earlier invocations, up to the checkpoint resumed
    FILE *log;
    char log_path[4096];
} lethe_run;

// The run's cost so far, over every invocation (the state file carries it across resumes):
// wall seconds since config.t_start plus earlier invocations', and CPU seconds of this
// process (all threads; data loading and setup count) plus earlier invocations'. Work done
// after an invocation's last checkpoint is redone on resume, and counted where it is redone.
double run_seconds(const lethe_run *r);
double run_cpu_seconds(const lethe_run *r);

typedef struct {
    void *ctx;
    // One step: from *run->step steps done to one more. When `record` is not NULL the step is
    // logged: write its record there (one JSON object, no newline, under cap bytes). `extra`
    // receives the text shown after the progress bar ("loss 0.0612").
    lethe_status (*step)(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap);
    // Saves what a resume needs (run_state_save) and whatever else a checkpoint holds.
    lethe_status (*checkpoint)(void *ctx);
} run_hooks;

// Starts an invocation: with resume, loads the state (sets *step) and trims the log to it;
// without, *step = 0 and a fresh log. Opens the log for appending.
lethe_status run_begin(lethe_run *r, const run_config *c, int *step, int resume);

// The state file at *r->step (atomic).
lethe_status run_state_save(const lethe_run *r);

// Steps until the run is done or stop_after ends this invocation (*stopped = 1), with logs,
// progress and checkpoints. A run resumed at its last step is checkpointed once more (a
// crash may have come between the state and the rest of the checkpoint).
lethe_status run_loop(lethe_run *r, const run_hooks *h, int *stopped);

// Closes the log; an error when it could not be written. Safe after a failed run_begin.
lethe_status run_end(lethe_run *r);

#endif
