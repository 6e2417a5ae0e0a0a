/*
 * cmd_demo.c: `lethe demo`: the main job. Trains the `tiny` model on Fashion-MNIST
 * from scratch (or reuses / resumes the one in OUT/model), then writes a sample grid
 * per class and one grid of all classes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/progress.h"
#include "diffusion/sampler.h"
#include "diffusion/train.h"
#include "core/fsutil.h"
#include "io/png.h"
#include "ops/ops.h"

// 1 if DIR holds a model whose lethe.json says training finished `steps` steps.
static int finished_model(const char *dir, int steps) {
    char p[4096];
    snprintf(p, sizeof p, "%s/lethe.json", dir);
    uint8_t *bytes;
    size_t size;
    if (!fs_exists(p) || fs_read_all(p, &bytes, &size)) return 0;
    char *text = malloc(size + 1);
    if (!text) { free(bytes); return 0; }
    memcpy(text, bytes, size);
    text[size] = 0;
    free(bytes);
    cJSON *r = cJSON_Parse(text);
    free(text);
    const cJSON *done = r ? cJSON_GetObjectItemCaseSensitive(r, "steps_done") : NULL;
    int ok = done && cJSON_IsNumber(done) && done->valueint >= steps;
    cJSON_Delete(r);
    return ok;
}

static void on_sample_step(void *user, int step, int total) {
    (void)total;
    progress_update(user, step, 1.0, NULL);
}

int cmd_demo(int argc, char **argv) {
    const char *out = "runs/demo", *data = "fashion-mnist";
    int per_class = 10, sample_steps = 50, threads = 0, retrain = 0;
    const char *device = "cpu";
    float guidance = 2.0f;
    train_opts o;
    train_opts_default(&o);
    o.steps = 1000;
    o.warmup = 100;
    o.batch = 64;
    o.checkpoint_every = 250;
    o.snapshots = -1;  // 5 (fewer for a short run): the demo model is ready for `unlearn --method vdu`
    const arg_spec specs[] = {
        {"out", ARG_STRING, &out, "run folder (model in OUT/model, grids in OUT/samples)"},
        {"data", ARG_STRING, &data, "dataset"},
        {"steps", ARG_INT, &o.steps, "training steps"},
        {"batch", ARG_INT, &o.batch, "training batch"},
        {"n", ARG_INT, &per_class, "samples per class"},
        {"sample-steps", ARG_INT, &sample_steps, "DDIM steps"},
        {"guidance", ARG_FLOAT, &guidance, "classifier-free guidance scale"},
        {"seed", ARG_U64, &o.seed, "seed"},
        {"snapshots", ARG_INT, &o.snapshots, "weight snapshots kept in OUT/model/snapshots for VDU (default 5, at most steps/2)"},
        {"retrain", ARG_FLAG, &retrain, "train again even if OUT/model is finished"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("demo", "demo [--out runs/demo] [options]\n\n"
                       "Trains the `tiny` UNet on Fashion-MNIST and writes one sample grid per class.\n"
                       "Run again, it reuses the finished model (or resumes an interrupted one).",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (o.snapshots < 0) {   // one snapshot per step at most, over the second half (train.h)
        int half = o.steps - o.steps / 2;
        o.snapshots = half < 5 ? half : 5;
    }
    cli_set_threads(threads);
    if (cli_set_device("demo", device)) return 1;
    double t0 = lethe_now();

    char model_dir[4096], samples_dir[4096], state[4096];
    snprintf(model_dir, sizeof model_dir, "%s/model", out);
    snprintf(samples_dir, sizeof samples_dir, "%s/samples", out);
    snprintf(state, sizeof state, "%s/train_state.safetensors", model_dir);
    lethe_status st;
    if ((st = fs_mkdir_p(samples_dir))) return cli_fail("demo", st);

    lethe_model m;
    if (!retrain && finished_model(model_dir, o.steps) && model_load(&m, model_dir) == LETHE_OK) {
        fprintf(stderr, "lethe demo: reusing the finished model in %s (--retrain to train again)\n", model_dir);
    } else {
        unet_config cfg;
        lethe_dataset ds;
        if ((st = unet_config_named(&cfg, "tiny"))) return cli_fail("demo", st);
        if ((st = dataset_load(&ds, data, LETHE_SPLIT_TRAIN))) return cli_fail("demo", st);
        if ((st = model_create(&m, &cfg, o.init_seed))) { dataset_free(&ds); return cli_fail("demo", st); }
        int resume = !retrain && fs_exists(state);
        fprintf(stderr, "lethe demo: %s the tiny model (%zu parameters) on %s for %d steps of %d images\n",
                resume ? "resuming" : "training", unet_num_params(&m.unet), ds.name, o.steps, o.batch);
        o.out_dir = model_dir;
        o.command_line = "lethe demo";
        st = train_run(&m, &ds, &o, resume);
        dataset_free(&ds);
        if (st) { model_free(&m); return cli_fail("demo", st); }
    }

    // one grid per class, and all classes together (one row per class)
    const unet_config *c = &m.unet.cfg;
    size_t numel = (size_t)c->in_channels * c->sample_size * c->sample_size;
    int total = m.n_classes * per_class;
    float *images = malloc((size_t)total * numel * sizeof(float));
    int *labels = malloc((size_t)total * sizeof(int));
    float *xb = ops()->alloc((size_t)total * numel * sizeof(float));
    lethe_schedule sched;
    denoiser_infer den;
    if (!images || !labels || !xb) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = schedule_init(&sched, &m.sched))) goto done;
    for (int i = 0; i < total; i++) labels[i] = i / per_class;
    denoiser_infer_init(&den, &m.net, m.params);
    sampler_initial_noise(xb, total, numel, o.seed, 0);
    sampler_opts so = {.kind = SAMPLER_DDIM, .steps = sample_steps, .guidance = guidance, .seed = o.seed};
    const lethe_cond cond = cond_class_view(&m.net.cond, labels, total);
    lethe_progress bar;
    progress_start(&bar, "sample", sample_steps, 0, "step/s");
    st = sampler_run(&sched, &so, &den, xb, &cond, total, on_sample_step, &bar);
    progress_finish(&bar, NULL);
    denoiser_infer_free(&den);
    schedule_free(&sched);
    if (st) goto done;
    ops()->to_host(images, xb, (size_t)total * numel * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/all_classes.png", samples_dir);
    if ((st = png_write_grid(path, images, total, c->in_channels, c->sample_size, c->sample_size, per_class, 2, 0))) goto done;
    for (int k = 0; k < m.n_classes; k++) {
        snprintf(path, sizeof path, "%s/%02d_%s.png", samples_dir, k, m.class_names[k]);
        if ((st = png_write_grid(path, images + (size_t)k * per_class * numel, per_class, c->in_channels, c->sample_size,
                                 c->sample_size, per_class, 2, 0)))
            goto done;
    }
    fprintf(stderr, "lethe demo: done in %.1f s: model in %s, grids in %s (all_classes.png: one row per class)\n",
            lethe_now() - t0, model_dir, samples_dir);
done:
    ops()->release(xb);
    free(images);
    free(labels);
    model_free(&m);
    return st ? cli_fail("demo", st) : 0;
}
