/*
 * bench_cuda.c: lethe's training and sampling throughput on the GPU for the `tiny` and
 * `small` configs at the batch sizes of ../shared/targets.md (GPU table), beside the
 * PyTorch 2.11 figures measured on an H100 80GB HBM3, the way those were measured:
 * 3 warm-up steps, then the median of 10 timed steps, the device synchronised at the end
 * of every step.
 *
 *   training step = forward + MSE on epsilon + backward + AdamW (clipping on)
 *   sampling      = one forward pass, inference mode
 *   FLOPs         = 0.366 / 2.208 GFLOP per image forward (targets.md), training 3x
 *   MFU           = achieved FLOP/s / the card's peak: FP32 (CUDA cores) with TF32 off,
 *                   dense TF32 tensor cores with --tf32 (known cards, or --peak-tflops)
 *
 *   build-cuda/bench/bench_cuda [--config tiny|small|all] [--what train|sample|all]
 *        [--batch N] [--steps 10] [--warmup 3] [--tf32] [--peak-tflops X] [--json]
 *        [--device cuda|cpu]   (cpu with a small --batch: a smoke test of this program)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "nn/unet.h"
#include "ops/ops.h"
#include "optim/adamw.h"

#ifdef LETHE_CUDA
#include "ops/cuda/cuda.h"
#endif

typedef struct {
    const char *config, *what;
    int batch;
    double torch_fp32, torch_best;   // images/s on the H100
    const char *best_variant;
} row;

// ../shared/targets.md, "GPU reference: PyTorch 2.11 on one NVIDIA H100 80GB HBM3"
static const row rows[] = {
    {"tiny", "train", 128, 8340, 8340, "fp32"},
    {"tiny", "train", 1024, 25389, 28863, "bf16 autocast"},
    {"tiny", "sample", 256, 54790, 79602, "torch.compile bf16"},
    {"small", "train", 128, 2488, 2798, "torch.compile"},
    {"small", "train", 1024, 7845, 9513, "bf16 autocast"},
    {"small", "sample", 256, 12861, 25836, "torch.compile"},
};

static double forward_gflop(const char *config) { return strcmp(config, "tiny") == 0 ? 0.366 : 2.208; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what) {
    fprintf(stderr, "bench_cuda: %s: %s\n", what, lethe_last_error());
    exit(1);
}

// median ms per step
static double bench_row(const char *config, const char *what, int batch, int steps, int warmup) {
    unet_config cfg;
    lethe_unet m;
    if (unet_config_named(&cfg, config) || unet_build(&m, &cfg)) die("model");
    const size_t total = m.table.total, numel = (size_t)cfg.in_channels * cfg.sample_size * cfg.sample_size;
    const size_t sz = (size_t)batch * numel;
    float *P = ops()->alloc(total * sizeof(float)), *G = ops()->alloc(total * sizeof(float));
    float *host = malloc(total * sizeof(float));
    if (!P || !G || !host) die("out of memory for the weights");
    param_table_init_values(&m.table, host, 0);
    ops()->to_device(P, host, total * sizeof(float));
    free(host);
    float *x = ops()->alloc(sz * sizeof(float)), *target = ops()->alloc(sz * sizeof(float));
    float *eps = ops()->alloc(sz * sizeof(float)), *deps = ops()->alloc(sz * sizeof(float));
    float *t = malloc((size_t)batch * sizeof(float));
    int *labels = malloc((size_t)batch * sizeof(int));
    if (!x || !target || !eps || !deps || !t || !labels) die("out of memory for the batch");
    for (int i = 0; i < batch; i++) {
        t[i] = (float)(i * 37 % 1000);
        labels[i] = cfg.num_class_embeds > 0 ? i % cfg.num_class_embeds : 0;
    }
    ops()->randn(x, sz, 1, 1, 0);
    ops()->randn(target, sz, 1, 2, 0);
    adamw_state opt;
    adamw_config ac = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .max_grad_norm = 1.0f};
    if (adamw_init(&opt, &ac, total)) die("optimizer");
    lethe_arena arena;
    arena_init(&arena);
    const int train = strcmp(what, "train") == 0;
    double *ms = malloc((size_t)steps * sizeof(double));
    ops_synchronize();
    for (int s = 0; s < warmup + steps; s++) {
        const double t0 = lethe_now();
        arena_reset(&arena);
        nn_ctx ctx = {.arena = &arena, .train = train, .seed = 1, .step = (uint64_t)s};
        if (unet_forward(&m, P, &ctx, eps, x, t, cfg.num_class_embeds > 0 ? labels : NULL, batch)) die("forward");
        if (train) {
            ops()->mse_forward(eps, target, sz);
            ops()->fill(G, 0, total);
            ops()->fill(deps, 0, sz);
            ops()->mse_backward(deps, eps, target, sz, 1.0f);
            if (unet_backward(&m, P, G, &arena, deps, NULL)) die("backward");
            adamw_update(&opt, P, G, NULL, ac.lr, NULL);
        }
        ops_synchronize();
        if (!ops()->all_finite(eps, sz)) die("the output is not finite");
        if (s >= warmup) ms[s - warmup] = 1e3 * (lethe_now() - t0);
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    const double med = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    free(ms); free(t); free(labels);
    ops()->release(P); ops()->release(G); ops()->release(x); ops()->release(target); ops()->release(eps);
    ops()->release(deps);
    adamw_free(&opt);
    arena_free(&arena);
    unet_free(&m);
    return med;
}

// peak TFLOP/s of the card: FP32 CUDA cores, or dense TF32 tensor cores (0: unknown)
static double card_peak(const char *name, int tf32) {
    static const struct { const char *match; double fp32, tf32; } cards[] = {
        {"H100 PCIe", 51.2, 378}, {"H100 NVL", 60, 418}, {"H100", 66.9, 494.7}, {"H200", 66.9, 494.7},
        {"GH200", 66.9, 494.7},   {"A100", 19.5, 156},   {"L40S", 91.6, 183},   {"A10", 31.2, 62.5},
    };
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        if (strstr(name, cards[i].match)) return tf32 ? cards[i].tf32 : cards[i].fp32;
    return 0;
}

int main(int argc, char **argv) {
    const char *config = "all", *what = "all", *device = "cuda";
    int batch = 0, steps = 10, warmup = 3, json = 0, tf32 = 0;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--what") && i + 1 < argc) what = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak = atof(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--tf32")) tf32 = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(stderr, "usage: %s [--config tiny|small|all] [--what train|sample|all] [--batch N] [--steps 10] "
                            "[--warmup 3] [--tf32] [--peak-tflops X] [--json] [--device cuda|cpu]\n", argv[0]);
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    if (warmup < 0) warmup = 0;
    if (ops_select_device(device)) die("--device");
    const char *card = "cpu";
#ifdef LETHE_CUDA
    if (!strcmp(device, "cuda")) {
        lethe_cuda_set_tf32(tf32);
        card = lethe_cuda_device_name();
    }
#endif
    if (tf32 && !strcmp(device, "cpu")) tf32 = 0;
    if (peak <= 0) peak = card_peak(card, tf32);
    if (!json) {
        printf("device: %s; GEMMs in %s; PyTorch figures: H100 80GB HBM3 (targets.md)%s\n", ops_device_description(),
               tf32 ? "TF32 (tensor cores)" : "FP32", strstr(card, "H100") ? "" : " -- not this card: compare with care");
        printf("MFU against %s peak %s\n", tf32 ? "dense TF32" : "FP32",
               peak > 0 ? "(TFLOP/s below)" : "unknown (give --peak-tflops)");
        if (peak > 0) printf("peak: %.1f TFLOP/s\n", peak);
        printf("%-6s %-7s %6s %9s %10s %9s %6s %11s %7s %11s %7s %s\n", "config", "what", "batch", "ms/step", "images/s",
               "TFLOP/s", "MFU", "torch fp32", "ratio", "torch best", "ratio", "(best variant)");
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        if (strcmp(config, "all") && strcmp(config, r->config)) continue;
        if (strcmp(what, "all") && strcmp(what, r->what)) continue;
        const int b = batch ? batch : r->batch;
        if (batch && i > 0 && !strcmp(rows[i - 1].config, r->config) && !strcmp(rows[i - 1].what, r->what)) continue;
        const double ms = bench_row(r->config, r->what, b, steps, warmup);
        const double img_s = b / (ms / 1e3);
        const double tflops = img_s * forward_gflop(r->config) * (strcmp(r->what, "train") == 0 ? 3 : 1) / 1e3;
        const double mfu = peak > 0 ? tflops / peak : 0;
        const int same_batch = b == r->batch;
        if (json)
            printf("{\"impl\": \"lethe\", \"device\": \"%s\", \"tf32\": %d, \"config\": \"%s\", \"what\": \"%s\", "
                   "\"batch\": %d, \"ms_per_step\": %.3f, \"images_per_s\": %.1f, \"tflops\": %.3f, \"mfu\": %.4f, "
                   "\"torch_fp32_images_per_s\": %.0f, \"torch_best_images_per_s\": %.0f}\n",
                   card, tf32, r->config, r->what, b, ms, img_s, tflops, mfu, same_batch ? r->torch_fp32 : 0,
                   same_batch ? r->torch_best : 0);
        else if (same_batch)
            printf("%-6s %-7s %6d %9.2f %10.0f %9.2f %5.1f%% %11.0f %6.2fx %11.0f %6.2fx (%s)\n", r->config, r->what, b, ms,
                   img_s, tflops, 100 * mfu, r->torch_fp32, img_s / r->torch_fp32, r->torch_best, img_s / r->torch_best,
                   r->best_variant);
        else
            printf("%-6s %-7s %6d %9.2f %10.0f %9.2f %5.1f%% %11s %7s %11s %7s (no reference at this batch)\n", r->config,
                   r->what, b, ms, img_s, tflops, 100 * mfu, "-", "-", "-", "-");
        fflush(stdout);
    }
    return 0;
}
