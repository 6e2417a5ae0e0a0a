/*
 * cmd_sample.c: `lethe sample`: DDPM or DDIM sampling with classifier-free guidance,
 * for one class, a list, or all classes; writes a PNG grid (one row per class) and,
 * on request, the raw images as .npy and IDX. Seeded and reproducible; the initial
 * noise can come from a .npy file so a run can be reproduced in PyTorch.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "diffusion/sample_job.h"

int cmd_sample(int argc, char **argv) {
    sample_job j;
    sample_job_default(&j);
    const char *model_dir = NULL, *sampler = "ddim", *out = "samples.png", *npy_out = NULL, *idx_out = NULL;
    int threads = 0;
    const char *device = "cpu";
    const arg_spec specs[] = {
        {"model", ARG_STRING, &model_dir, "model folder (diffusers layout; required)"},
        {"class", ARG_STRING, &j.classes, "class name or index, a comma-separated list, or all"},
        {"n", ARG_INT, &j.n, "images per class (unconditional models: images in total)"},
        {"sampler", ARG_STRING, &sampler, "ddim or ddpm", "sampling-method"},
        {"steps", ARG_INT, &j.steps, "sampling steps (ddpm: 1000 is the full chain)"},
        {"eta", ARG_FLOAT, &j.eta, "DDIM eta (0: deterministic)"},
        {"timestep-spacing", ARG_STRING, &j.spacing, "leading, trailing or linspace (default: the model's scheduler_config.json)"},
        {"guidance", ARG_FLOAT, &j.guidance, "classifier-free guidance scale w (1: none)", "cfg-scale"},
        {"seed", ARG_U64, &j.seed, "noise seed"},
        {"noise", ARG_STRING, &j.noise_path, "initial noise x_T from a .npy file of shape (N, C, H, W)"},
        {"batch", ARG_INT, &j.batch, "images per network call (guidance doubles it)"},
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
    if (!strcmp(sampler, "ddim")) j.kind = SAMPLER_DDIM;
    else if (!strcmp(sampler, "ddpm")) j.kind = SAMPLER_DDPM;
    else { fprintf(stderr, "lethe sample: --sampler must be ddim or ddpm (got '%s')\n", sampler); return 2; }
    if (j.n < 1 || j.batch < 1) { fprintf(stderr, "lethe sample: --n and --batch must be positive\n"); return 2; }
    if (j.guidance < 0) { fprintf(stderr, "lethe sample: --guidance must be >= 0\n"); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("sample", device)) return 1;

    lethe_model m;
    lethe_status st = model_load(&m, model_dir);
    if (st) return cli_fail("sample", st);
    if (m.one_step_t > 0)
        fprintf(stderr, "lethe sample: %s is a one-step generator (t_init %d): one network evaluation per image\n",
                model_dir, m.one_step_t);
    sample_images s;
    if (!(st = sample_job_run(&m, &j, &s))) {
        st = sample_images_write_png(&s, out);
        if (!st && npy_out) st = sample_images_write_npy(&s, npy_out);
        if (!st && idx_out) st = sample_images_write_idx(&s, idx_out);
        if (!st)
            fprintf(stderr, "lethe sample: %d images (%s, %d steps, guidance %g) in %.1fs -> %s\n", s.total, s.sampler,
                    s.steps, (double)s.guidance, s.seconds, out);
        sample_images_free(&s);
    }
    model_free(&m);
    return st ? cli_fail("sample", st) : 0;
}
