/* run.c: the run harness shared by training and unlearning (see run.h). */
#include "diffusion/run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "io/safetensors.h"
#include "ops/ops.h"

static void state_path(const lethe_run *r, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", r->c.out_dir, r->c.state_file);
}

// ---- state -----------------------------------------------------------------------------------

lethe_status run_state_save(const lethe_run *r) {
    const run_config *c = &r->c;
    size_t total = 0;
    for (int i = 0; i < c->n_buffers; i++) total += c->buffers[i].n;
    float *host = malloc((total ? total : 1) * sizeof(float));
    st_entry *e = calloc((size_t)c->n_buffers + 1, sizeof *e);
    const char **meta = calloc(2 * (size_t)(5 + c->n_meta), sizeof *meta);
    lethe_status st = LETHE_OK;
    if (!host || !e || !meta) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory writing the %s state", c->what);
        goto done;
    }
    // st_write sorts the tensors by name; the order here does not matter.
    size_t off = 0;
    for (int i = 0; i < c->n_buffers; i++) {
        const run_buffer *b = &c->buffers[i];
        ops()->to_host(host + off, b->data, b->n * sizeof(float));
        e[i] = (st_entry){.name = b->name, .data = host + off, .ndim = 1, .shape = {(int64_t)b->n}};
        off += b->n;
    }
    char step_s[32], seed_s[32], wall_s[32], cpu_s[32], path[4096];
    snprintf(step_s, sizeof step_s, "%d", *r->step);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)c->seed);
    snprintf(wall_s, sizeof wall_s, "%.2f", run_seconds(r));
    snprintf(cpu_s, sizeof cpu_s, "%.2f", run_cpu_seconds(r));
    const char *head[10] = {"format", c->state_format, "step", step_s, "seed", seed_s, "seconds", wall_s,
                            "cpu_seconds", cpu_s};
    memcpy(meta, head, sizeof head);
    for (int i = 0; i < c->n_meta; i++) {
        meta[10 + 2 * i] = c->meta[i].key;
        meta[11 + 2 * i] = c->meta[i].value;
    }
    state_path(r, path, sizeof path);
    st = st_write(path, e, c->n_buffers, meta, 5 + c->n_meta);
done:
    free(meta);
    free(e);
    free(host);
    return st;
}

// msg with its first "%s" replaced by value.
static lethe_status fail_mismatch(const char *path, const char *msg, const char *value) {
    const char *at = strstr(msg, "%s");
    if (!at) return lethe_fail(LETHE_ERR_ARG, "%s: %s", path, msg);
    return lethe_fail(LETHE_ERR_ARG, "%s: %.*s%s%s", path, (int)(at - msg), msg, value, at + 2);
}

static lethe_status state_load(lethe_run *r) {
    const run_config *c = &r->c;
    char path[4096];
    state_path(r, path, sizeof path);
    if (!fs_exists(path))
        return lethe_fail(LETHE_ERR_IO, "%s: nothing to resume (no %s state in %s)", path, c->what, c->out_dir);
    st_file f;
    lethe_status st = st_open(&f, path);
    if (st) return st;
    const char *fmt = st_metadata(&f, "format"), *step_s = st_metadata(&f, "step"), *seed_s = st_metadata(&f, "seed");
    int complete = fmt && step_s && seed_s && strcmp(fmt, c->state_format) == 0;
    for (int i = 0; complete && i < c->n_meta; i++) complete = !c->meta[i].mismatch || st_metadata(&f, c->meta[i].key);
    if (!complete) st = lethe_fail(LETHE_ERR_FORMAT, "%s: not a lethe %s state (metadata missing)", path, c->what);
    for (int i = 0; !st && i < c->n_meta; i++) {
        if (!c->meta[i].mismatch) continue;
        const char *saved = st_metadata(&f, c->meta[i].key);
        if (strcmp(saved, c->meta[i].value) != 0) st = fail_mismatch(path, c->meta[i].mismatch, saved);
    }
    if (!st && strtoull(seed_s, NULL, 10) != c->seed)
        st = lethe_fail(LETHE_ERR_ARG, "%s: the run used --seed %s; resume with the same seed", path, seed_s);
    long step = 0;
    if (!st) {
        char *end;
        errno = 0;
        step = strtol(step_s, &end, 10);
        if (errno || end == step_s || *end)
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: step '%s' is not a number", path, step_s);
        else if (step < 0 || step > c->steps)
            st = lethe_fail(LETHE_ERR_ARG, "%s: saved step %ld is beyond --steps %d", path, step, c->steps);
    }
    size_t most = 0;
    for (int i = 0; i < c->n_buffers; i++) most = c->buffers[i].n > most ? c->buffers[i].n : most;
    float *host = st ? NULL : malloc((most ? most : 1) * sizeof(float));
    if (!st && !host) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < c->n_buffers; i++) {   // st_read_f32 checks each size
        const run_buffer *b = &c->buffers[i];
        if ((st = st_read_f32(&f, b->name, host, b->n))) break;
        ops()->to_device(b->data, host, b->n * sizeof(float));
    }
    if (!st) {
        *r->step = (int)step;
        // the cost so far (a state of an older lethe has none: its earlier invocations are not counted)
        const char *wall = st_metadata(&f, "seconds"), *cpu = st_metadata(&f, "cpu_seconds");
        r->seconds_before = wall ? strtod(wall, NULL) : 0;
        r->cpu_before = cpu ? strtod(cpu, NULL) : 0;
    }
    free(host);
    st_close(&f);
    return st;
}

// ---- log -------------------------------------------------------------------------------------

// Keeps the records of steps <= step, in order; drops the rest and lines that are not a
// record (a line torn by a kill).
static lethe_status log_trim(const char *path, int step) {
    if (!fs_exists(path)) return LETHE_OK;
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    char *out = malloc(size + 1);
    size_t o = 0;
    if (!out) { free(bytes); return lethe_fail(LETHE_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < size;) {
        size_t j = i;
        while (j < size && bytes[j] != '\n') j++;
        cJSON *rec = j < size ? cJSON_ParseWithLength((const char *)bytes + i, j - i) : NULL;   // no newline: torn
        const cJSON *s = rec ? cJSON_GetObjectItemCaseSensitive(rec, "step") : NULL;
        if (cJSON_IsNumber(s) && s->valueint <= step) {
            memcpy(out + o, bytes + i, j - i);
            o += j - i;
            out[o++] = '\n';
        }
        cJSON_Delete(rec);
        i = j + 1;
    }
    out[o] = 0;
    st = fs_write_text_atomic(path, out);
    free(out);
    free(bytes);
    return st;
}

static int log_due(const run_config *c, int step) {
    return c->log_every > 0 && (step % c->log_every == 0 || step == c->steps);
}

static lethe_status log_append(lethe_run *r, const char *record) {
    if (fprintf(r->log, "%s\n", record) < 0 || fflush(r->log) != 0)
        return lethe_fail(LETHE_ERR_IO, "%s: cannot append to the %s log (disk full?)", r->log_path, r->c.what);
    return LETHE_OK;
}

// ---- the invocation ----------------------------------------------------------------------------

lethe_status run_begin(lethe_run *r, const run_config *c, int *step, int resume) {
    memset(r, 0, sizeof *r);
    r->c = *c;
    if (r->c.t_start <= 0) r->c.t_start = lethe_now();
    r->step = step;
    *step = 0;
    snprintf(r->log_path, sizeof r->log_path, "%s/%s", c->out_dir, c->log_file);
    lethe_status st;
    if (resume) {
        if ((st = state_load(r)) || (st = log_trim(r->log_path, *step))) return st;
    } else if (c->log_every > 0) {
        if ((st = fs_write_text_atomic(r->log_path, ""))) return st;
    } else {
        remove(r->log_path);   // a previous run's
    }
    if (c->log_every > 0 && !(r->log = fopen(r->log_path, "a")))
        return lethe_fail(LETHE_ERR_IO, "%s: cannot open the %s log for appending", r->log_path, c->what);
    return LETHE_OK;
}

lethe_status run_end(lethe_run *r) {
    lethe_status st = LETHE_OK;
    if (r->log && fclose(r->log) != 0)
        st = lethe_fail(LETHE_ERR_IO, "%s: could not write the %s log (disk full?)", r->log_path, r->c.what);
    r->log = NULL;
    return st;
}

double run_seconds(const lethe_run *r) { return r->seconds_before + (lethe_now() - r->c.t_start); }
double run_cpu_seconds(const lethe_run *r) { return r->cpu_before + lethe_cpu_seconds(); }

// LETHE_TEST_CRASH_AFTER_STEP (run.h): the step to die after, or -1.
static int crash_step(void) {
    const char *s = getenv("LETHE_TEST_CRASH_AFTER_STEP");
    return s && *s ? atoi(s) : -1;
}

lethe_status run_loop(lethe_run *r, const run_hooks *h, int *stopped) {
    const run_config *c = &r->c;
    *stopped = 0;
    lethe_progress bar;
    progress_start(&bar, c->label, c->steps, *r->step, c->unit);
    bar.enabled = bar.enabled && !c->quiet;
    r->start = *r->step;
    r->t0 = lethe_now();
    const int crash_after = crash_step();
    int saved = -1;   // the step of this invocation's last checkpoint
    lethe_status st = LETHE_OK;
    char record[RUN_RECORD_MAX], extra[128] = "";
    while (*r->step < c->steps) {
        const int s = *r->step;
        const int logged = log_due(c, s + 1);
        if ((st = h->step(h->ctx, logged ? record : NULL, sizeof record, extra, sizeof extra))) break;
        if (*r->step != s + 1) {
            st = lethe_fail(LETHE_ERR_ARG, "%s: the step function did not advance the step (%d to %d)", c->what, s, *r->step);
            break;
        }
        if (logged && strnlen(record, sizeof record) >= RUN_RECORD_MAX - 1) {   // maybe cut by snprintf
            st = lethe_fail(LETHE_ERR_ARG, "%s: the log record of step %d does not fit in %d bytes", c->what, *r->step,
                            RUN_RECORD_MAX - 2);
            break;
        }
        if (logged && (st = log_append(r, record))) break;
        progress_update(&bar, *r->step, c->rate_scale, extra);
        if (*r->step == crash_after) raise(SIGKILL);
        const int last = *r->step == c->steps, stop = c->stop_after > 0 && *r->step - r->start >= c->stop_after;
        if ((c->checkpoint_every > 0 && *r->step % c->checkpoint_every == 0) || last || stop) {
            if ((st = h->checkpoint(h->ctx))) break;
            saved = *r->step;
        }
        if (stop && !last) {
            *stopped = 1;
            break;
        }
    }
    if (!st && !*stopped && saved != *r->step) st = h->checkpoint(h->ctx);   // resumed at the last step
    progress_finish(&bar, st ? "stopped" : *stopped ? "stopped (resume with --resume)" : extra);
    return st;
}
