/* snapshots.c: training snapshots and their manifest (see snapshots.h). */
#include "diffusion/snapshots.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/safetensors.h"
#include "ops/ops.h"

int train_snapshot_step(int steps, int k, int K) {
    const int h = steps / 2, rest = steps - h;
    return h + (int)(((int64_t)(k + 1) * rest + K - 1) / K);
}

static void snapshot_name(int step, char *out, size_t cap) { snprintf(out, cap, "snapshot_%08d.safetensors", step); }

static void snapshot_path(const snapshot_plan *p, int step, char *out, size_t cap) {
    char name[64];
    snapshot_name(step, name, sizeof name);
    snprintf(out, cap, "%s/" SNAPSHOT_DIR "/%s", p->out_dir, name);
}

// ---- the manifest ----------------------------------------------------------------------------

void snapshot_manifest_free(snapshot_manifest *m) {
    for (int i = 0; i < m->n; i++) free(m->files[i].file);
    free(m->files);
    memset(m, 0, sizeof *m);
    m->count = m->steps_total = -1;
}

lethe_status snapshot_manifest_read(const char *path, snapshot_manifest *m) {
    memset(m, 0, sizeof *m);
    m->count = m->steps_total = -1;
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength((const char *)bytes, size);
    free(bytes);
    const cJSON *files = j ? cJSON_GetObjectItemCaseSensitive(j, "files") : NULL,
                *fmt = j ? cJSON_GetObjectItemCaseSensitive(j, "format") : NULL;
    if (!cJSON_IsArray(files) || (fmt && !(cJSON_IsString(fmt) && strcmp(fmt->valuestring, SNAPSHOT_MANIFEST_FORMAT) == 0))) {
        cJSON_Delete(j);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: not a lethe snapshot list (no \"files\" array)", path);
    }
    const cJSON *kk = cJSON_GetObjectItemCaseSensitive(j, "snapshots"), *tt = cJSON_GetObjectItemCaseSensitive(j, "steps_total"),
                *ss = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (cJSON_IsNumber(kk)) m->count = kk->valueint;
    if (cJSON_IsNumber(tt)) m->steps_total = tt->valueint;
    if (cJSON_IsString(ss)) {
        m->has_seed = 1;
        m->seed = strtoull(ss->valuestring, NULL, 10);
    }
    int n = cJSON_GetArraySize(files);
    m->files = calloc(n > 0 ? (size_t)n : 1, sizeof *m->files);
    if (!m->files) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, files) {
        if (st) break;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "file"), *step = cJSON_GetObjectItemCaseSensitive(e, "step");
        if (!cJSON_IsString(name) || !cJSON_IsNumber(step) || strchr(name->valuestring, '/')) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: an entry of \"files\" lacks \"file\" or \"step\"", path);
            break;
        }
        snapshot_entry *f = &m->files[m->n];
        f->step = step->valueint;
        if (!(f->file = strdup(name->valuestring))) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        else m->n++;
    }
    cJSON_Delete(j);
    if (st) snapshot_manifest_free(m);
    return st;
}

static lethe_status write_manifest(const snapshot_plan *p, const char *path) {
    char seed_s[32], name[64];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)p->seed);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", SNAPSHOT_MANIFEST_FORMAT);
    cJSON_AddNumberToObject(r, "snapshots", p->count);
    cJSON_AddNumberToObject(r, "steps_total", p->steps);
    cJSON_AddStringToObject(r, "seed", seed_s);
    cJSON_AddStringToObject(r, "weights", p->use_ema ? "ema" : "live");
    cJSON *a = cJSON_AddArrayToObject(r, "files");
    for (int k = 0; k < p->count; k++) {
        int step = train_snapshot_step(p->steps, k, p->count);
        snapshot_name(step, name, sizeof name);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "step", step);
        cJSON_AddStringToObject(e, "file", name);
        cJSON_AddItemToArray(a, e);
    }
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    lethe_status st = text ? fs_write_text_atomic(path, text) : lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

int snapshots_locate(const char *dir, char *sdir, size_t sdir_cap, char *manifest, size_t manifest_cap) {
    snprintf(sdir, sdir_cap, "%s/" SNAPSHOT_DIR, dir);
    snprintf(manifest, manifest_cap, "%s/" SNAPSHOT_MANIFEST, sdir);
    if (fs_exists(manifest)) return 1;
    snprintf(sdir, sdir_cap, "%s", dir);   // DIR may be the snapshots folder itself
    snprintf(manifest, manifest_cap, "%s/" SNAPSHOT_MANIFEST, sdir);
    return fs_exists(manifest);
}

// ---- the snapshot files ------------------------------------------------------------------------

lethe_status snapshot_save(const snapshot_plan *p, const lethe_model *m, const float *weights, int step) {
    const param_table *t = m->net.table;
    float *host = malloc(t->total * sizeof(float));
    st_entry *e = calloc((size_t)t->n, sizeof *e);
    char *cfg = model_net_config(m);
    if (!host || !e || !cfg) {
        free(host); free(e); free(cfg);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory writing a snapshot");
    }
    ops()->to_host(host, weights, t->total * sizeof(float));
    for (int i = 0; i < t->n; i++) {
        const param_entry *pe = &t->entries[i];
        e[i] = (st_entry){.name = pe->name, .data = host + pe->offset, .ndim = pe->ndim};
        for (int d = 0; d < pe->ndim; d++) e[i].shape[d] = pe->shape[d];
    }
    char step_s[32], total_s[32], seed_s[32], path[4096];
    snprintf(step_s, sizeof step_s, "%d", step);
    snprintf(total_s, sizeof total_s, "%d", p->steps);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)p->seed);
    const char *meta[] = {"format", "pt", "lethe_format", SNAPSHOT_FORMAT, "step", step_s, "steps_total", total_s,
                          "seed", seed_s, "weights", p->use_ema ? "ema" : "live", "unet_config", cfg};
    snapshot_path(p, step, path, sizeof path);
    lethe_status st = st_write(path, e, t->n, meta, 7);
    free(cfg);
    free(e);
    free(host);
    return st;
}

// A snapshot due before the resume step: it must be there, from this run.
static lethe_status check_snapshot(const snapshot_plan *p, const lethe_model *m, int step, int resume_step) {
    char path[4096];
    snapshot_path(p, step, path, sizeof path);
    if (!fs_exists(path))
        return lethe_fail(LETHE_ERR_IO, "%s is missing: the snapshot of step %d was due before the resumed step %d and "
                          "cannot be recreated (train again without --resume)", path, step, resume_step);
    st_file f;
    lethe_status st = st_open(&f, path);
    if (st) return st;
    const char *step_s = st_metadata(&f, "step"), *total_s = st_metadata(&f, "steps_total"), *seed_s = st_metadata(&f, "seed"),
               *cfg_s = st_metadata(&f, "unet_config");
    char *cfg = model_net_config(m);
    if (!step_s || !total_s || !seed_s || !cfg_s || !cfg || atoi(step_s) != step || atoi(total_s) != p->steps ||
        strtoull(seed_s, NULL, 10) != p->seed || strcmp(cfg_s, cfg) != 0)
        st = lethe_fail(LETHE_ERR_ARG, "%s is not the snapshot of step %d of this run (another seed, --steps or config); "
                        "train again without --resume", path, step);
    free(cfg);
    st_close(&f);
    return st;
}

lethe_status snapshots_prepare(const snapshot_plan *p, const lethe_model *m, int resume, int step, int *next) {
    char dir[4096], mpath[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/" SNAPSHOT_DIR, p->out_dir);
    snprintf(mpath, sizeof mpath, "%s/" SNAPSHOT_MANIFEST, dir);
    *next = 0;
    snapshot_manifest old = {.count = -1, .steps_total = -1};
    lethe_status st = LETHE_OK;
    if (fs_exists(mpath)) {   // a previous invocation's: K, steps and seed are needed to judge it
        if ((st = snapshot_manifest_read(mpath, &old))) return st;
        if (old.count < 0 || old.steps_total < 0 || !old.has_seed) {
            snapshot_manifest_free(&old);
            return lethe_fail(LETHE_ERR_FORMAT, "%s: not a lethe snapshot list", mpath);
        }
    }
    if (resume && old.count >= 0 && (old.count != p->count || old.steps_total != p->steps || old.seed != p->seed))
        st = lethe_fail(LETHE_ERR_ARG, "%s: the run keeps %d snapshot(s) of %d steps; resume with --snapshots %d and the "
                        "same --steps and --seed", mpath, old.count, old.steps_total, old.count);
    else if (resume && old.count < 0 && p->count > 0 && train_snapshot_step(p->steps, 0, p->count) <= step)
        st = lethe_fail(LETHE_ERR_ARG, "--snapshots %d: the run was started without snapshots and is resumed at step %d, "
                        "after the first snapshot (step %d) was due; train again without --resume", p->count,
                        step, train_snapshot_step(p->steps, 0, p->count));
    else if (!resume && old.count >= 0) {   // a fresh run: the old snapshots are of another run
        for (int i = 0; i < old.n; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, old.files[i].file);
            remove(path);
        }
        remove(mpath);
    }
    snapshot_manifest_free(&old);
    if (st || p->count == 0) return st;
    if ((st = fs_mkdir_p(dir))) return st;
    for (int k = 0; k < p->count; k++) {
        int s = train_snapshot_step(p->steps, k, p->count);
        if (s <= step) {
            if (resume && (st = check_snapshot(p, m, s, step))) return st;
            *next = k + 1;
        } else if (!resume) {
            snapshot_path(p, s, path, sizeof path);
            remove(path);   // a file of another run under a planned name
        }
    }
    return write_manifest(p, mpath);
}
