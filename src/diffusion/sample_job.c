/*
 * sample_job.c: images of some classes from a loaded model, and their exports (see
 * sample_job.h). Batches are cut from one global index range, so image i gets the same
 * x_T and sampler noise whatever --batch is.
 */
#include "diffusion/sample_job.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"
#include "io/idx.h"
#include "io/npy.h"
#include "io/png.h"
#include "ops/ops.h"

void sample_job_default(sample_job *j) {
    *j = (sample_job){.classes = "all", .n = 8, .kind = SAMPLER_DDIM, .steps = 50, .eta = 0.0f, .guidance = 2.0f, .clipped_eps = 1,
                      .seed = 0, .batch = 256};
}

#define ROW(name, alias, type, field, help) {name, alias, type, offsetof(sample_request, field), {0}, help, NULL, NULL, 0}
static const opt_spec sample_rows[] = {
    ROW("class", NULL, OPT_STRING, job.classes, "class name or index, a comma-separated list, or all"),
    ROW("prompt", NULL, OPT_STRING, job.prompt, "text-to-image models: the prompt (e.g. \"a trouser in zebra style\")"),
    ROW("prompts", NULL, OPT_STRING, job.prompts_file, "text-to-image models: a file of prompts, one per line (one grid "
        "row each; blank lines skipped)"),
    ROW("negative-prompt", NULL, OPT_STRING, job.negative_prompt, "text-to-image models: the unconditional half of "
        "guidance conditions on this prompt instead of the empty one"),
    ROW("n", NULL, OPT_INT, job.n, "images per class (unconditional models: images in total)"),
    {"sampler", "sampling-method", OPT_CHOICE, offsetof(sample_request, sampler), {0}, "ddim or ddpm", NULL, "ddim|ddpm", 0},
    ROW("steps", NULL, OPT_INT, job.steps, "sampling steps (ddpm: 1000 is the full chain)"),
    ROW("eta", NULL, OPT_FLOAT, job.eta, "DDIM eta (0: deterministic)"),
    ROW("timestep-spacing", NULL, OPT_STRING, job.spacing, "leading, trailing or linspace (default: the model's scheduler_config.json)"),
    ROW("guidance", "cfg-scale", OPT_FLOAT, job.guidance, "classifier-free guidance scale w (1: none)"),
    ROW("network-eps", NULL, OPT_FLAG, network_eps, "DDIM: step along the network's noise prediction (diffusers' "
        "default) instead of the one re-derived from the clipped x0 prediction (use_clipped_model_output, lethe's default)"),
    ROW("seed", NULL, OPT_U64, job.seed, "noise seed"),
    ROW("noise", NULL, OPT_STRING, job.noise_path, "initial noise x_T from a .npy file of shape (N, C, H, W)"),
    ROW("batch", NULL, OPT_INT, job.batch, "images per network call (guidance doubles it)"),
};
const opt_table sample_request_options = {sample_rows, (int)(sizeof sample_rows / sizeof sample_rows[0])};

void sample_request_default(sample_request *r) {
    *r = (sample_request){.sampler = 0};   // every flag unset (network_eps was left to the stack)
    sample_job_default(&r->job);
}

lethe_status sample_request_check(sample_request *r) {
    r->job.kind = r->sampler == 0 ? SAMPLER_DDIM : SAMPLER_DDPM;
    if (r->network_eps) r->job.clipped_eps = 0;
    if (r->job.n < 1 || r->job.batch < 1) return lethe_fail(LETHE_ERR_ARG, "--n and --batch must be positive");
    if (r->job.guidance < 0) return lethe_fail(LETHE_ERR_ARG, "--guidance must be >= 0");
    return LETHE_OK;
}

typedef struct { lethe_progress *bar; int done_before; } sample_progress;

static void on_step(void *user, int step, int total) {
    sample_progress *p = user;
    (void)total;
    progress_update(p->bar, p->done_before + step, 1.0, NULL);
}

// "all" or a list -> class indices; an unconditional model gets the one pseudo-class -1.
static lethe_status parse_classes(const lethe_model *m, const char *spec, int *classes, int *k) {
    *k = 0;
    if (m->n_classes == 0) {
        classes[(*k)++] = -1;
        return LETHE_OK;
    }
    if (!spec || !strcmp(spec, "all")) {
        for (; *k < m->n_classes; (*k)++) classes[*k] = *k;
        return LETHE_OK;
    }
    char *list = strdup(spec), *save = NULL;
    if (!list) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    for (char *tok = strtok_r(list, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (*k == LETHE_MAX_CLASSES) break;
        st = model_class_index(m, tok, &classes[(*k)++]);
    }
    free(list);
    return st;
}

// The prompts of a text-to-image job: rows of *cap chars (caller frees *rows), *k of them.
static lethe_status job_prompts(const sample_job *j, char **rows, size_t *cap, int *k) {
    *rows = NULL;
    *k = 0;
    *cap = 1;
    if (j->prompt && j->prompts_file) return lethe_fail(LETHE_ERR_ARG, "give --prompt or --prompts FILE, not both");
    if (!j->prompt && !j->prompts_file)
        return lethe_fail(LETHE_ERR_ARG, "a text-to-image model samples from prompts: give --prompt \"...\" or --prompts FILE");
    char *text = NULL;
    if (j->prompts_file) {
        lethe_status st = fs_read_text(j->prompts_file, &text);
        if (st) return st;
    } else if (!(text = strdup(j->prompt))) {
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    // lines (one line for --prompt: a newline in it is a separator all the same)
    size_t longest = 1;
    int lines = 0;
    for (char *line = text, *end; line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strspn(line, " \t\r") >= len && j->prompts_file) continue;   // blank
        lines++;
        if (len + 1 > longest) longest = len + 1;
    }
    if (lines == 0) {
        free(text);
        return lethe_fail(LETHE_ERR_ARG, "%s: no prompts (one per line)", j->prompts_file);
    }
    if (lines > LETHE_MAX_CLASSES) {
        free(text);
        return lethe_fail(LETHE_ERR_ARG, "%d prompts: at most %d per run", lines, LETHE_MAX_CLASSES);
    }
    *rows = calloc((size_t)lines, longest);
    if (!*rows) { free(text); return lethe_fail(LETHE_ERR_NOMEM, "out of memory"); }
    for (char *line = text, *end; line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strspn(line, " \t\r") >= len && j->prompts_file) continue;
        if (len && line[len - 1] == '\r') len--;
        memcpy(*rows + (size_t)*k * longest, line, len);
        (*k)++;
    }
    free(text);
    *cap = longest;
    return LETHE_OK;
}

// The text-to-image cond spec of a job: the prompts' encodings as its "classes" (so prompt i is
// class i for cond_set_classes), the negative prompt's (or the empty prompt's) as the null row.
// *enc and *neg are backend buffers the caller releases.
static lethe_status text_spec(lethe_model *m, const sample_job *j, lethe_cond_spec *spec, int *k, float **enc,
                              float **neg) {
    char *rows = NULL;
    size_t cap = 1;
    *enc = *neg = NULL;
    lethe_status st = job_prompts(j, &rows, &cap, k);
    if (st) return st;
    const size_t row = (size_t)m->text->seq * m->text->width;
    *spec = m->net.cond;
    *enc = ops()->alloc((size_t)*k * row * sizeof(float));
    if (!*enc) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if (!st) st = text_cond_encode(m->text, rows, cap, *k, *enc);
    free(rows);
    if (!st && j->negative_prompt) {
        if (!(*neg = ops()->alloc(row * sizeof(float)))) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        if (!st && (st = text_cond_encode_one(m->text, j->negative_prompt, *neg))) st = lethe_fail_context(st, "--negative-prompt");
        if (!st) spec->null_tokens = *neg;
    }
    spec->class_tokens = *enc;
    spec->n_classes = *k;
    return st;
}

static lethe_status parse_spacing(const char *s, timestep_spacing *out) {
    if (!strcmp(s, "leading")) *out = SPACING_LEADING;
    else if (!strcmp(s, "trailing")) *out = SPACING_TRAILING;
    else if (!strcmp(s, "linspace")) *out = SPACING_LINSPACE;
    else return lethe_fail(LETHE_ERR_ARG, "--timestep-spacing must be leading, trailing or linspace (got '%s')", s);
    return LETHE_OK;
}

lethe_status sample_job_run(lethe_model *m, const sample_job *j, sample_images *out) {
    if (j->n < 1 || j->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--n and --batch must be positive");
    if (j->guidance < 0) return lethe_fail(LETHE_ERR_ARG, "--guidance must be >= 0");
    if (j->kind != SAMPLER_DDIM && j->kind != SAMPLER_DDPM) return lethe_fail(LETHE_ERR_ARG, "the sampler must be ddim or ddpm");
    int classes[LETHE_MAX_CLASSES], k;
    lethe_status st;
    lethe_cond_spec spec = m->net.cond;   // text-to-image: with the job's prompts (text_spec)
    float *prompt_enc = NULL, *neg_enc = NULL;
    lethe_cond cond = {0};
    const int text = model_is_text(m);
    if (text) {
        if (j->classes && strcmp(j->classes, "all") != 0)
            return lethe_fail(LETHE_ERR_ARG, "this is a text-to-image model: it samples from --prompt or --prompts, not "
                              "--class %s", j->classes);
        if ((st = text_spec(m, j, &spec, &k, &prompt_enc, &neg_enc))) goto fail_text;
        for (int i = 0; i < k; i++) classes[i] = i;
    } else {
        if (j->prompt || j->prompts_file || j->negative_prompt)
            return lethe_fail(LETHE_ERR_ARG, "this model is %s: it takes --class, not prompts (--prompt, --prompts, "
                              "--negative-prompt are for text-to-image models)",
                              m->n_classes ? "class-conditional" : "unconditional");
        if ((st = parse_classes(m, j->classes, classes, &k))) return st;
    }
    lethe_denoiser *net = &m->net;
    sample_images s = {.total = k * j->n, .channels = net->channels, .size = net->size, .cols = j->n,
                       .sampler = j->kind == SAMPLER_DDIM ? "ddim" : "ddpm", .steps = j->steps, .guidance = j->guidance};
    int total = s.total;
    size_t numel = denoiser_numel(net);
    s.images = malloc((size_t)total * numel * sizeof(float));
    s.labels = malloc((size_t)total * sizeof(int));
    if (!s.images || !s.labels) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d images", total);
        goto fail;
    }
    for (int i = 0; i < total; i++) s.labels[i] = classes[i / j->n];

    if (j->noise_path) {
        npy_array a;
        if ((st = npy_read(&a, j->noise_path))) goto fail;
        if (a.count != (size_t)total * numel) {
            st = lethe_fail(LETHE_ERR_SHAPE, "%s: noise has %zu values, %d images of %zu values need %zu", j->noise_path,
                            a.count, total, numel, (size_t)total * numel);
            npy_free(&a);
            goto fail;
        }
        memcpy(s.images, a.data, a.count * sizeof(float));
        npy_free(&a);
    }
    schedule_config sc = m->sched;
    if (j->spacing && (st = parse_spacing(j->spacing, &sc.spacing))) goto fail;
    lethe_schedule sched;
    if ((st = schedule_init(&sched, &sc))) goto fail;
    denoiser_infer den;
    denoiser_infer_init(&den, net, m->params);
    sampler_opts so = {.kind = j->kind, .steps = j->steps, .eta = j->eta, .guidance = j->guidance, .seed = j->seed,
                       .clipped_eps = j->clipped_eps};
    if (m->one_step_t > 0) {   // an SFD generator: one evaluation per image, whatever the sampler asked for
        so = (sampler_opts){.kind = SAMPLER_ONE_STEP, .steps = 1, .one_step_t = m->one_step_t, .seed = j->seed};
        s.steps = 1;
        s.guidance = 0;
        s.sampler = "one-step";
    }
    int per_call = s.guidance > 1 && (m->n_classes || text) ? (j->batch + 1) / 2 : j->batch;
    if (per_call < 1) per_call = 1;
    if (text && (st = cond_alloc(&cond, &spec, per_call))) goto fail_sched;
    float *xb = ops()->alloc((size_t)per_call * numel * sizeof(float));
    if (!xb) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail_sched; }
    lethe_progress bar;
    int n_batches = (total + per_call - 1) / per_call;
    progress_start(&bar, "sample", (long)n_batches * s.steps, 0, "step/s");
    bar.enabled = bar.enabled && !j->quiet;
    double t0 = lethe_now();
    for (int b = 0; b < n_batches && !st; b++) {
        int first = b * per_call, cnt = total - first < per_call ? total - first : per_call;
        if (j->noise_path) ops()->to_device(xb, s.images + (size_t)first * numel, (size_t)cnt * numel * sizeof(float));
        else sampler_initial_noise(xb, cnt, numel, j->seed, first);
        so.first_index = first;
        sample_progress sp = {&bar, b * s.steps};
        lethe_cond view = cond_class_view(&net->cond, s.labels + first, cnt);
        if (text) cond_set_classes(&cond, s.labels + first, cnt);   // the prompts' encodings
        st = sampler_run(&sched, &so, &den, xb, text ? &cond : m->n_classes ? &view : NULL, cnt, on_step, &sp);
        ops()->to_host(s.images + (size_t)first * numel, xb, (size_t)cnt * numel * sizeof(float));
    }
    s.seconds = lethe_now() - t0;
    ops()->release(xb);
    if (st) goto fail_sched;
    char extra[64];
    snprintf(extra, sizeof extra, "%.1f img/s", total / (s.seconds > 0 ? s.seconds : 1));
    progress_finish(&bar, extra);
    denoiser_infer_free(&den);
    schedule_free(&sched);
    if (!m->n_classes && !text) for (s.cols = 1; s.cols * s.cols < j->n; s.cols++) {}   // a square-ish grid
    cond_free(&cond);
    ops()->release(prompt_enc);
    ops()->release(neg_enc);
    *out = s;
    return LETHE_OK;
fail_sched:
    denoiser_infer_free(&den);
    schedule_free(&sched);
fail:
    sample_images_free(&s);
fail_text:
    cond_free(&cond);
    ops()->release(prompt_enc);
    ops()->release(neg_enc);
    return st;
}

void sample_images_free(sample_images *s) {
    free(s->images);
    free(s->labels);
    s->images = NULL;
    s->labels = NULL;
}

lethe_status sample_images_write_png(const sample_images *s, const char *path) {
    return png_write_grid(path, s->images, s->total, s->channels, s->size, s->size, s->cols, 2, 0);
}

lethe_status sample_images_write_png_range(const sample_images *s, int first, int count, const char *path) {
    if (first < 0 || count < 1 || first + count > s->total)
        return lethe_fail(LETHE_ERR_ARG, "images %d..%d of %d asked for a grid", first, first + count - 1, s->total);
    size_t numel = (size_t)s->channels * s->size * s->size;
    return png_write_grid(path, s->images + (size_t)first * numel, count, s->channels, s->size, s->size, s->cols, 2, 0);
}

lethe_status sample_images_write_npy(const sample_images *s, const char *path) {
    int64_t shape[4] = {s->total, s->channels, s->size, s->size};
    return npy_write_f32(path, s->images, 4, shape);
}

lethe_status sample_images_write_idx(const sample_images *s, const char *prefix) {
    size_t cnt = (size_t)s->total * s->channels * s->size * s->size;
    unsigned char *u8 = malloc(cnt), *lab = malloc((size_t)s->total);
    if (!u8 || !lab) {
        free(u8);
        free(lab);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    images_to_u8(u8, s->images, cnt);
    for (int i = 0; i < s->total; i++) lab[i] = (unsigned char)(s->labels[i] < 0 ? 0 : s->labels[i]);
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s-images-idx3-ubyte", prefix);
    snprintf(p2, sizeof p2, "%s-labels-idx1-ubyte", prefix);
    lethe_status st;
    if (s->channels == 1) st = idx_write_u8(p1, u8, 3, (int[]){s->total, s->size, s->size});
    else st = idx_write_u8(p1, u8, 4, (int[]){s->total, s->channels, s->size, s->size});
    if (!st) st = idx_write_u8(p2, lab, 1, (int[]){s->total});
    free(u8);
    free(lab);
    return st;
}
