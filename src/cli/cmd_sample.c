/*
 * cmd_sample.c: `lethe sample`: DDPM or DDIM sampling with classifier-free guidance,
 * for one class, a list, or all classes; writes a PNG grid (one row per class) and,
 * on request, the raw images as .npy and IDX. Seeded and reproducible; the initial
 * noise can come from a .npy file so a run can be reproduced in PyTorch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/progress.h"
#include "diffusion/sampler.h"
#include "core/fsutil.h"
#include "io/idx.h"
#include "diffusion/model.h"
#include "io/npy.h"
#include "io/png.h"
#include "ops/ops.h"

typedef struct { lethe_progress *bar; int done_before, total; } sample_progress;

static void on_step(void *user, int step, int total) {
    sample_progress *p = user;
    (void)total;
    progress_update(p->bar, p->done_before + step, 1.0, NULL);
}

int cmd_sample(int argc, char **argv) {
    const char *model_dir = NULL, *cls = "all", *sampler = "ddim", *out = "samples.png", *npy_out = NULL, *idx_out = NULL,
               *noise_path = NULL, *spacing = NULL;
    int n = 8, steps = 50, batch = 256, threads = 0;
    const char *device = "cpu";
    float eta = 0.0f, guidance = 2.0f;
    uint64_t seed = 0;
    const arg_spec specs[] = {
        {"model", ARG_STRING, &model_dir, "model folder (diffusers layout; required)"},
        {"class", ARG_STRING, &cls, "class name or index, a comma-separated list, or all"},
        {"n", ARG_INT, &n, "images per class (unconditional models: images in total)"},
        {"sampler", ARG_STRING, &sampler, "ddim or ddpm", "sampling-method"},
        {"steps", ARG_INT, &steps, "sampling steps (ddpm: 1000 is the full chain)"},
        {"eta", ARG_FLOAT, &eta, "DDIM eta (0: deterministic)"},
        {"timestep-spacing", ARG_STRING, &spacing, "leading, trailing or linspace (default: the model's scheduler_config.json)"},
        {"guidance", ARG_FLOAT, &guidance, "classifier-free guidance scale w (1: none)", "cfg-scale"},
        {"seed", ARG_U64, &seed, "noise seed"},
        {"noise", ARG_STRING, &noise_path, "initial noise x_T from a .npy file of shape (N, C, H, W)"},
        {"batch", ARG_INT, &batch, "images per network call (guidance doubles it)"},
        {"out", ARG_STRING, &out, "PNG grid (one row per class)", "output"},
        {"npy", ARG_STRING, &npy_out, "also write the images (N, C, H, W) float32 in [-1, 1] as .npy"},
        {"idx", ARG_STRING, &idx_out, "also write PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("sample", "sample --model DIR [--class NAME|all] [--n N] [--sampler ddim|ddpm] [options]",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 1, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!model_dir && npos) model_dir = pos[0];
    if (!model_dir) { fprintf(stderr, "lethe sample: --model DIR is required\n"); return 2; }
    sampler_kind kind;
    if (!strcmp(sampler, "ddim")) kind = SAMPLER_DDIM;
    else if (!strcmp(sampler, "ddpm")) kind = SAMPLER_DDPM;
    else { fprintf(stderr, "lethe sample: --sampler must be ddim or ddpm (got '%s')\n", sampler); return 2; }
    if (n < 1 || batch < 1) { fprintf(stderr, "lethe sample: --n and --batch must be positive\n"); return 2; }
    if (guidance < 0) { fprintf(stderr, "lethe sample: --guidance must be >= 0\n"); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("sample", device)) return 1;

    lethe_model m;
    lethe_status st = model_load(&m, model_dir);
    if (st) return cli_fail("sample", st);
    int code = 1;
    int classes[LETHE_MAX_CLASSES], k = 0;
    const unet_config *c = &m.unet.cfg;
    if (m.n_classes == 0) {
        k = 1;
        classes[0] = -1;
    } else if (!strcmp(cls, "all")) {
        for (k = 0; k < m.n_classes; k++) classes[k] = k;
    } else {
        char *list = strdup(cls), *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            if (k == LETHE_MAX_CLASSES) break;
            if ((st = model_class_index(&m, tok, &classes[k++]))) { free(list); cli_fail("sample", st); goto out_model; }
        }
        free(list);
    }
    int total = k * n;
    size_t numel = (size_t)c->in_channels * c->sample_size * c->sample_size;
    float *images = malloc((size_t)total * numel * sizeof(float));
    int *labels = malloc((size_t)total * sizeof(int));
    if (!images || !labels) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d images", total); cli_fail("sample", st); goto out_buf; }
    for (int i = 0; i < total; i++) labels[i] = classes[i / n];

    if (noise_path) {
        npy_array a;
        if ((st = npy_read(&a, noise_path))) { cli_fail("sample", st); goto out_buf; }
        if (a.count != (size_t)total * numel) {
            st = lethe_fail(LETHE_ERR_SHAPE, "%s: noise has %zu values, %d images of %zu values need %zu", noise_path, a.count,
                            total, numel, (size_t)total * numel);
            npy_free(&a);
            cli_fail("sample", st);
            goto out_buf;
        }
        memcpy(images, a.data, a.count * sizeof(float));
        npy_free(&a);
    }

    if (spacing) {
        if (!strcmp(spacing, "leading")) m.sched.spacing = SPACING_LEADING;
        else if (!strcmp(spacing, "trailing")) m.sched.spacing = SPACING_TRAILING;
        else if (!strcmp(spacing, "linspace")) m.sched.spacing = SPACING_LINSPACE;
        else {
            cli_fail("sample", lethe_fail(LETHE_ERR_ARG, "--timestep-spacing must be leading, trailing or linspace (got '%s')", spacing));
            goto out_buf;
        }
    }
    lethe_schedule sched;
    if ((st = schedule_init(&sched, &m.sched))) { cli_fail("sample", st); goto out_buf; }
    denoiser_infer den;
    denoiser_infer_init(&den, &m.net, m.params);
    sampler_opts so = {.kind = kind, .steps = steps, .eta = eta, .guidance = guidance, .seed = seed};
    if (m.one_step_t > 0) {   // an SFD generator: one evaluation per image, whatever --sampler says
        fprintf(stderr, "lethe sample: %s is a one-step generator (t_init %d): one network evaluation per image\n",
                model_dir, m.one_step_t);
        so = (sampler_opts){.kind = SAMPLER_ONE_STEP, .steps = 1, .one_step_t = m.one_step_t, .seed = seed};
        steps = 1;
        guidance = 0;
        sampler = "one-step";
    }
    int per_call = guidance > 1 && m.n_classes ? (batch + 1) / 2 : batch;
    if (per_call < 1) per_call = 1;
    float *xb = ops()->alloc((size_t)per_call * numel * sizeof(float));
    if (!xb) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto out_sched; }
    lethe_progress bar;
    int n_batches = (total + per_call - 1) / per_call;
    progress_start(&bar, "sample", (long)n_batches * steps, 0, "step/s");
    double t0 = lethe_now();
    for (int b = 0; b < n_batches && !st; b++) {
        int first = b * per_call, cnt = total - first < per_call ? total - first : per_call;
        if (noise_path) ops()->to_device(xb, images + (size_t)first * numel, (size_t)cnt * numel * sizeof(float));
        else sampler_initial_noise(xb, cnt, numel, seed, first);
        so.first_index = first;
        sample_progress sp = {&bar, b * steps, n_batches * steps};
        const lethe_cond cond = cond_class_view(&m.net.cond, labels + first, cnt);
        st = sampler_run(&sched, &so, &den, xb, m.n_classes ? &cond : NULL, cnt, on_step, &sp);
        ops()->to_host(images + (size_t)first * numel, xb, (size_t)cnt * numel * sizeof(float));
    }
    double el = lethe_now() - t0;
    ops()->release(xb);
    if (st) { cli_fail("sample", st); goto out_sched; }
    char extra[64];
    snprintf(extra, sizeof extra, "%.1f img/s", total / (el > 0 ? el : 1));
    progress_finish(&bar, extra);

    int cols = n;   // one row per class; an unconditional model gets a square-ish grid
    if (!m.n_classes) for (cols = 1; cols * cols < n; cols++) {}
    if ((st = png_write_grid(out, images, total, c->in_channels, c->sample_size, c->sample_size, cols, 2, 0))) {
        cli_fail("sample", st);
        goto out_sched;
    }
    if (npy_out) {
        int64_t shape[4] = {total, c->in_channels, c->sample_size, c->sample_size};
        if ((st = npy_write_f32(npy_out, images, 4, shape))) { cli_fail("sample", st); goto out_sched; }
    }
    if (idx_out) {
        size_t cnt = (size_t)total * numel;
        unsigned char *u8 = malloc(cnt), *lab = malloc((size_t)total);
        if (!u8 || !lab) {
            free(u8);
            free(lab);
            cli_fail("sample", lethe_fail(LETHE_ERR_NOMEM, "out of memory"));
            goto out_sched;
        }
        images_to_u8(u8, images, cnt);
        for (int i = 0; i < total; i++) lab[i] = (unsigned char)(labels[i] < 0 ? 0 : labels[i]);
        char p1[4096], p2[4096];
        snprintf(p1, sizeof p1, "%s-images-idx3-ubyte", idx_out);
        snprintf(p2, sizeof p2, "%s-labels-idx1-ubyte", idx_out);
        if (c->in_channels == 1) st = idx_write_u8(p1, u8, 3, (int[]){total, c->sample_size, c->sample_size});
        else st = idx_write_u8(p1, u8, 4, (int[]){total, c->in_channels, c->sample_size, c->sample_size});
        if (!st) st = idx_write_u8(p2, lab, 1, (int[]){total});
        free(u8);
        free(lab);
        if (st) { cli_fail("sample", st); goto out_sched; }
    }
    fprintf(stderr, "lethe sample: %d images (%s, %d steps, guidance %g) in %.1fs -> %s\n", total, sampler, steps,
            (double)guidance, el, out);
    code = 0;
out_sched:
    denoiser_infer_free(&den);
    schedule_free(&sched);
out_buf:
    free(images);
    free(labels);
out_model:
    model_free(&m);
    return code;
}
