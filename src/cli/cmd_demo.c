/*
 * cmd_demo.c: `lethe demo`: the main job. Trains the `tiny` model on Fashion-MNIST
 * from scratch (or reuses / resumes the one in OUT/model), then writes a sample grid
 * per class and one grid of all classes.
 */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsutil.h"
#include "core/progress.h"
#include "diffusion/sample_job.h"
#include "diffusion/train_new.h"

typedef struct { int resume; const train_opts *o; } banner_args;

static void banner(void *user, const lethe_model *m, const lethe_dataset *ds) {
    const banner_args *b = user;
    fprintf(stderr, "lethe demo: %s the tiny model (%zu parameters) on %s for %d steps of %d images\n",
            b->resume ? "resuming" : "training", unet_num_params(&m->unet), ds->name, b->o->steps, b->o->batch);
}

int cmd_demo(int argc, char **argv) {
    const char *out = "runs/demo";
    int per_class = 10, sample_steps = 50, threads = 0, retrain = 0;
    const char *device = "cpu";
    float guidance = 2.0f;
    train_job j;   // `lethe train`'s options (and record, for --resume), with the demo's budget
    train_job_default(&j);
    train_opts *o = &j.o;
    o->steps = 1000;
    o->warmup = 100;
    o->batch = 64;
    o->checkpoint_every = 250;
    o->snapshots = -1;  // 5 (fewer for a short run): the demo model is ready for `unlearn --method vdu`
    const arg_spec specs[] = {
        {"out", ARG_STRING, &out, "run folder (model in OUT/model, grids in OUT/samples)"},
        {"data", ARG_STRING, &j.src.data, "dataset"},
        {"steps", ARG_INT, &o->steps, "training steps"},
        {"batch", ARG_INT, &o->batch, "training batch"},
        {"n", ARG_INT, &per_class, "samples per class"},
        {"sample-steps", ARG_INT, &sample_steps, "DDIM steps"},
        {"guidance", ARG_FLOAT, &guidance, "classifier-free guidance scale"},
        {"seed", ARG_U64, &o->seed, "seed"},
        {"snapshots", ARG_INT, &o->snapshots, "weight snapshots kept in OUT/model/snapshots for VDU (default 5, at most steps/2)"},
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
    if (o->snapshots < 0) {   // one snapshot per step at most, over the second half (train.h)
        int half = o->steps - o->steps / 2;
        o->snapshots = half < 5 ? half : 5;
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
    if (!retrain && train_finished(model_dir, o->steps) && model_load(&m, model_dir) == LETHE_OK) {
        fprintf(stderr, "lethe demo: reusing the finished model in %s (--retrain to train again)\n", model_dir);
    } else {
        banner_args ba = {!retrain && fs_exists(state), o};
        j.src.on_ready = banner;
        j.src.user = &ba;
        j.resume = ba.resume;
        o->out_dir = model_dir;
        o->command_line = "lethe demo";
        if (j.resume) {   // the interrupted run's recorded options, then the flags given now (checked against them)
            unsigned char given[64];
            int unchecked = 0;
            if (train_job_options.n > (int)sizeof given) return 1;
            args_given(&train_job_options, argc, argv, given);
            if ((st = train_job_resume(&j, given, &unchecked))) return cli_fail("demo", st);
            if (unchecked)
                fprintf(stderr, "lethe demo: warning: %s records no options (an older lethe wrote it): resuming with the "
                        "options given now, which could not be checked against the run's\n", state);
        }
        // train_run leaves the exported (EMA) weights in the model, so the saved folder is what it sampled
        st = train_job_run(&j);
        train_job_free(&j);
        if (st || (st = model_load(&m, model_dir))) return cli_fail("demo", st);
    }

    // one grid per class, and all classes together (one row per class), all in one batch
    sample_job sj;
    sample_job_default(&sj);
    sj.n = per_class;
    sj.steps = sample_steps;
    sj.guidance = guidance;
    sj.seed = o->seed;
    sj.batch = 2 * m.n_classes * per_class;
    sample_images s;
    if ((st = sample_job_run(&m, &sj, &s))) { model_free(&m); return cli_fail("demo", st); }
    char path[4096];
    snprintf(path, sizeof path, "%s/all_classes.png", samples_dir);
    st = sample_images_write_png(&s, path);
    for (int k = 0; k < m.n_classes && !st; k++) {
        snprintf(path, sizeof path, "%s/%02d_%s.png", samples_dir, k, m.class_names[k]);
        st = sample_images_write_png_range(&s, k * per_class, per_class, path);
    }
    if (!st)
        fprintf(stderr, "lethe demo: done in %.1f s: model in %s, grids in %s (all_classes.png: one row per class)\n",
                lethe_now() - t0, model_dir, samples_dir);
    sample_images_free(&s);
    model_free(&m);
    return st ? cli_fail("demo", st) : 0;
}
