/*
 * test_run.c: the run harness (diffusion/run.h) on a toy loop whose step adds to a 4-float
 * buffer: logs every log_every steps and the last, checkpoints every checkpoint_every steps,
 * the last and at --stop-after; a resume trims the log (later records and a torn line) and
 * continues to the uninterrupted result; the state load refuses another kind of file, another
 * run (metadata, seed), a buffer of another size and a step past the end.
 * (A real kill between checkpoints, for training and unlearning: tests/cli/test_resume.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "core/fsutil.h"
#include "diffusion/run.h"
#include "ops/ops.h"

typedef struct {
    lethe_run run;
    int step;
    float *w;                   // backend, 4 floats (host memory on the CPU backend)
    int checkpoints[32], n_checkpoints;
    int steps_run;
} toy;

static lethe_status toy_step(void *ctx, char *record, size_t cap, char *extra, size_t extra_cap) {
    toy *t = ctx;
    float h[4];
    ops()->to_host(h, t->w, sizeof h);
    for (int i = 0; i < 4; i++) h[i] = h[i] * 0.5f + (float)(t->step + i);
    ops()->to_device(t->w, h, sizeof h);
    t->step++;
    t->steps_run++;
    if (record) snprintf(record, cap, "{\"step\": %d, \"w0\": %.9g}", t->step, (double)h[0]);
    snprintf(extra, extra_cap, "w0 %.3f", (double)h[0]);
    return LETHE_OK;
}

static lethe_status toy_checkpoint(void *ctx) {
    toy *t = ctx;
    if (t->n_checkpoints < 32) t->checkpoints[t->n_checkpoints++] = t->step;
    return run_state_save(&t->run);
}

static char dir[64];

static run_config toy_config(const run_buffer *b, const run_meta *meta, int steps) {
    return (run_config){.out_dir = dir, .what = "toy", .state_file = "toy_state.safetensors", .state_format = "toy-state-1",
                        .log_file = "toy_log.jsonl", .steps = steps, .checkpoint_every = 4, .log_every = 3, .seed = 7,
                        .buffers = b, .n_buffers = 1, .meta = meta, .n_meta = 1, .label = "toy", .unit = "step/s",
                        .rate_scale = 1, .quiet = 1};
}

// One invocation: run_begin, run_loop, run_end; returns the first error.
static lethe_status invoke(toy *t, const run_config *c, int resume, int *stopped) {
    t->n_checkpoints = t->steps_run = 0;
    lethe_status st = run_begin(&t->run, c, &t->step, resume);
    const run_hooks h = {.ctx = t, .step = toy_step, .checkpoint = toy_checkpoint};
    if (!st) st = run_loop(&t->run, &h, stopped);
    lethe_status e = run_end(&t->run);
    return st ? st : e;
}

static char *read_log(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/toy_log.jsonl", dir);
    uint8_t *b;
    size_t n;
    if (fs_read_all(path, &b, &n)) fail_msg("%s: %s", path, lethe_last_error());
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    free(b);
    return s;
}

// The log's steps, space-separated.
static void log_steps(char *out, size_t cap) {
    char *log = read_log(), *p = log;
    out[0] = 0;
    while ((p = strstr(p, "\"step\": "))) {
        p += 8;
        snprintf(out + strlen(out), cap - strlen(out), "%s%d", out[0] ? " " : "", atoi(p));
    }
    free(log);
}

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/lethe-test-run-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const run_meta meta_ga = {"method", "ga", "the run used --method %s; resume with the same method"};

static void test_schedule_stop_and_resume(void **state) {
    toy a = {0}, b = {0};
    a.w = ops()->alloc(4 * sizeof(float));
    b.w = ops()->alloc(4 * sizeof(float));
    ops()->fill(a.w, 1.0f, 4);
    ops()->fill(b.w, 1.0f, 4);
    run_buffer ba = {"w", a.w, 4}, bb = {"w", b.w, 4};
    char steps[256];
    int stopped = 0;

    // uninterrupted: logs at 3 6 9 10, checkpoints at 4 8 10
    run_config c = toy_config(&ba, &meta_ga, 10);
    assert_int_equal(invoke(&a, &c, 0, &stopped), LETHE_OK);
    assert_int_equal(stopped, 0);
    log_steps(steps, sizeof steps);
    assert_string_equal(steps, "3 6 9 10");
    assert_int_equal(a.n_checkpoints, 3);
    assert_int_equal(a.checkpoints[0], 4);
    assert_int_equal(a.checkpoints[1], 8);
    assert_int_equal(a.checkpoints[2], 10);
    float want[4];
    ops()->to_host(want, a.w, sizeof want);

    // --stop-after 5: stopped, checkpointed at 4 and 5
    c = toy_config(&bb, &meta_ga, 10);
    c.stop_after = 5;
    assert_int_equal(invoke(&b, &c, 0, &stopped), LETHE_OK);
    assert_int_equal(stopped, 1);
    assert_int_equal(b.step, 5);
    assert_int_equal(b.n_checkpoints, 2);
    assert_int_equal(b.checkpoints[1], 5);
    // as if it had run on past its checkpoint and been killed mid-line
    char path[128];
    snprintf(path, sizeof path, "%s/toy_log.jsonl", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("{\"step\": 6, \"w0\": 1}\n{\"step\": 7, \"w", f);
    fclose(f);
    ops()->fill(b.w, -1.0f, 4);   // the state file is the truth
    b.step = 99;

    // resumed: the log is trimmed to step 5, then each later step logged once
    c.stop_after = 0;
    assert_int_equal(invoke(&b, &c, 1, &stopped), LETHE_OK);
    assert_int_equal(stopped, 0);
    assert_int_equal(b.steps_run, 5);
    log_steps(steps, sizeof steps);
    assert_string_equal(steps, "3 6 9 10");
    float got[4];
    ops()->to_host(got, b.w, sizeof got);
    assert_memory_equal(got, want, sizeof want);

    // resumed at the last step: no step, one more checkpoint (a crash may have cut the last one short)
    assert_int_equal(invoke(&b, &c, 1, &stopped), LETHE_OK);
    assert_int_equal(b.steps_run, 0);
    assert_int_equal(b.n_checkpoints, 1);
    log_steps(steps, sizeof steps);
    assert_string_equal(steps, "3 6 9 10");
    ops()->release(a.w);
    ops()->release(b.w);
}

static void expect_load_fails(toy *t, const run_config *c, lethe_status code, const char *needle) {
    lethe_status st = run_begin(&t->run, c, &t->step, 1);
    run_end(&t->run);
    if (st != code) fail_msg("status %d, expected %d (%s)", st, code, lethe_last_error());
    if (!strstr(lethe_last_error(), needle)) fail_msg("message '%s' lacks '%s'", lethe_last_error(), needle);
}

static void test_state_checks(void **state) {
    toy t = {0};
    t.w = ops()->alloc(8 * sizeof(float));
    ops()->fill(t.w, 0.0f, 8);
    run_buffer b = {"w", t.w, 4};
    run_config c = toy_config(&b, &meta_ga, 6);
    c.stop_after = 2;
    int stopped;
    assert_int_equal(invoke(&t, &c, 0, &stopped), LETHE_OK);

    run_config d = c;
    d.state_file = "none.safetensors";
    expect_load_fails(&t, &d, LETHE_ERR_IO, "nothing to resume");
    d = c;
    d.state_format = "other-state-1";
    expect_load_fails(&t, &d, LETHE_ERR_FORMAT, "not a lethe toy state");
    const run_meta esd = {"method", "esd", "the run used --method %s; resume with the same method"};
    d = c;
    d.meta = &esd;
    expect_load_fails(&t, &d, LETHE_ERR_ARG, "the run used --method ga; resume with the same method");
    const run_meta other_key = {"parent", "x", "another parent"};
    d = c;
    d.meta = &other_key;
    expect_load_fails(&t, &d, LETHE_ERR_FORMAT, "metadata missing");
    d = c;
    d.seed = 8;
    expect_load_fails(&t, &d, LETHE_ERR_ARG, "--seed 7");
    d = c;
    d.steps = 1;
    expect_load_fails(&t, &d, LETHE_ERR_ARG, "beyond --steps 1");
    run_buffer wide = {"w", t.w, 8};
    d = c;
    d.buffers = &wide;
    expect_load_fails(&t, &d, LETHE_ERR_SHAPE, "expected 8 elements");
    run_buffer renamed = {"v", t.w, 4};
    d = c;
    d.buffers = &renamed;
    expect_load_fails(&t, &d, LETHE_ERR_FORMAT, "'v' not found");
    // and the right run resumes
    assert_int_equal(run_begin(&t.run, &c, &t.step, 1), LETHE_OK);
    assert_int_equal(t.step, 2);
    assert_int_equal(run_end(&t.run), LETHE_OK);
    ops()->release(t.w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schedule_stop_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_checks, setup, teardown),
    };
    return cmocka_run_group_tests_name("run", tests, NULL, NULL);
}
