/*
 * cmd_sample.c: `lethe sample`: DDPM or DDIM sampling with classifier-free guidance,
 * for one class, a list, or all classes; writes a PNG grid (one row per class) and,
 * on request, the raw images as .npy and IDX. Seeded and reproducible; the initial
 * noise can come from a .npy file so a run can be reproduced in PyTorch.
 */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "diffusion/sample_job.h"

int cmd_sample(int argc, char **argv) {
    sample_request req;
    sample_request_default(&req);
    const char *model_dir = NULL, *out = "samples.png", *npy_out = NULL, *idx_out = NULL;
    int threads = 0;
    const char *device = "cpu", *precision = "fp32";
    arg_spec specs[32];
    int n = 0;
    specs[n++] = (arg_spec){"model", ARG_STRING, &model_dir, "model folder (diffusers layout; required)"};
    int k = args_from_options(specs + n, ARGS_ROOM(specs, n, 6), &sample_request_options, &req);
    if (k < 0) return 2;
    n += k;
    specs[n++] = (arg_spec){"out", ARG_STRING, &out, "PNG grid (one row per class)", "output"};
    specs[n++] = (arg_spec){"npy", ARG_STRING, &npy_out, "also write the images (N, C, H, W) float32 in [-1, 1] as .npy"};
    specs[n++] = (arg_spec){"idx", ARG_STRING, &idx_out, "also write PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte"};
    specs[n++] = (arg_spec){"threads", ARG_INT, &threads, "CPU threads (0: all)"};
    specs[n++] = (arg_spec){"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"};
    specs[n++] = (arg_spec){"precision", ARG_STRING, &precision, CLI_PRECISION_HELP};
    const char *pos[1];
    int npos;
    int r = args_parse("sample", "sample --model DIR [--class NAME|all] [--n N] [--sampler ddim|ddpm] [options]",
                       specs, n, argc, argv, pos, 1, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!model_dir && npos) model_dir = pos[0];
    if (!model_dir) { fprintf(stderr, "lethe sample: --model DIR is required\n"); return 2; }
    if (sample_request_check(&req)) { fprintf(stderr, "lethe sample: %s\n", lethe_last_error()); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("sample", device)) return 1;
    if (cli_set_precision("sample", precision)) return 2;

    lethe_model m;
    lethe_status st = model_load(&m, model_dir);
    if (st) return cli_fail("sample", st);
    if (m.one_step_t > 0)
        fprintf(stderr, "lethe sample: %s is a one-step generator (t_init %d): one network evaluation per image\n",
                model_dir, m.one_step_t);
    sample_images s;
    if (!(st = sample_job_run(&m, &req.job, &s))) {
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
