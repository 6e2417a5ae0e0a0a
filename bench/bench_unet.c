/*
 * bench_unet.c: lethe's training and sampling throughput for the `tiny` and `small`
 * configs at the batch sizes of ../shared/targets.md, measured the way the PyTorch
 * reference was: 3 warm-up steps, then the median of 10 timed steps.
 *
 *   training step = forward + MSE on epsilon + backward + AdamW
 *   sampling      = one forward pass, inference mode
 *
 * Prints a table (images/s, GFLOP/s with training FLOPs = 3 x forward, and the ratio to
 * the PyTorch figures of targets.md) and, with --json, one JSON object per row.
 *
 *   build/bench/bench_unet [--config tiny|small|canvas-tiny|all] [--what train|sample|all] [--batch N]
 *                          [--steps 10] [--warmup 3] [--precision fp32|bf16] [--threads N] [--json] [--gemm]
 *   --batch N: each selected (config, what) once at batch N (the ratio column only where N is
 *              the targets.md batch); without it, the rows of targets.md
 *   --precision bf16: the GEMMs in bf16 mixed precision (ops_set_precision; fp32 where it cannot)
 *   --gemm: print the GEMM the ops would use (onednn or openblas; LETHE_GEMM picks) and exit
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/progress.h"
#include "core/rng.h"
#include "nn/unet.h"
#include "nn/unet_cond.h"
#include "ops/cpu/cpu.h"
#include "ops/ops.h"
#include "optim/adamw.h"

typedef struct { const char *config, *what; int batch; double torch_img_s; } row;

// PyTorch 1.13, 2 threads, same model and step (../shared/targets.md).
static const row rows[] = {
    {"tiny", "train", 64, 164.8},  {"tiny", "train", 128, 141.4},  {"tiny", "sample", 256, 292.1},
    {"small", "train", 64, 25.6},  {"small", "train", 128, 27.9},  {"small", "sample", 256, 77.3},
    // the text-to-image UNet (UNet2DConditionModel, canvas-tiny, context (n, 16, 64)): no
    // targets.md figure; bench/compare.sh measures PyTorch beside it
    {"canvas-tiny", "train", 64, 0},  {"canvas-tiny", "sample", 128, 0},
};
#define CANVAS_SEQ 16
#define CANVAS_WIDTH 64
static double forward_gflop(const char *config) {
    return !strcmp(config, "tiny") ? 0.366 : !strcmp(config, "small") ? 2.208 : 0.0;   // canvas-tiny: not counted
}

// The network of a row: a UNet2DModel, or canvas-tiny's UNet2DConditionModel (whose skeleton
// holds the parameter table)
typedef struct {
    int cond;
    lethe_unet m;
    lethe_unet_cond mc;
    float *context;
} bench_net;

static void net_build(bench_net *b, const char *config, int batch, size_t *total, size_t *numel) {
    memset(b, 0, sizeof *b);
    b->cond = !strcmp(config, "canvas-tiny");
    lethe_status st;
    if (b->cond) {
        unet_cond_config cfg;
        st = unet_cond_config_named(&cfg, config, CANVAS_WIDTH);
        if (!st) st = unet_cond_build(&b->mc, &cfg);
        if (!st) {
            *total = b->mc.unet.table.total;
            *numel = (size_t)cfg.in_channels * cfg.sample_size * cfg.sample_size;
            size_t csz = (size_t)batch * CANVAS_SEQ * CANVAS_WIDTH;
            b->context = ops()->alloc(csz * sizeof(float));
            ops()->randn(b->context, csz, 1, 3, 0);
        }
    } else {
        unet_config cfg;
        st = unet_config_named(&cfg, config);
        if (!st) st = unet_build(&b->m, &cfg);
        if (!st) {
            *total = b->m.table.total;
            *numel = (size_t)cfg.in_channels * cfg.sample_size * cfg.sample_size;
        }
    }
    if (st) { fprintf(stderr, "%s\n", lethe_last_error()); exit(1); }
}

static param_table *net_table(bench_net *b) { return b->cond ? &b->mc.unet.table : &b->m.table; }

static lethe_status net_forward(bench_net *b, const float *P, const nn_ctx *ctx, float *eps, const float *x,
                                const float *t, const int *labels, int n) {
    return b->cond ? unet_cond_forward(&b->mc, P, ctx, eps, x, t, b->context, CANVAS_SEQ, n)
                   : unet_forward(&b->m, P, ctx, eps, x, t, labels, n);
}

static lethe_status net_backward(bench_net *b, const float *P, float *G, lethe_arena *A, const float *deps) {
    return b->cond ? unet_cond_backward(&b->mc, P, G, A, deps, NULL, NULL) : unet_backward(&b->m, P, G, A, deps, NULL);
}

static void net_free(bench_net *b) {
    if (b->cond) unet_cond_free(&b->mc), ops()->release(b->context);
    else unet_free(&b->m);
}

// the process's peak resident memory so far (ru_maxrss is in KiB on Linux)
static double peak_rss_mb(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) ? 0.0 : u.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double bench_row(const row *r, int steps, int warmup) {
    bench_net net;
    size_t total, numel;
    net_build(&net, r->config, r->batch, &total, &numel);
    size_t sz = (size_t)r->batch * numel;
    float *P = ops()->alloc(total * sizeof(float)), *G = ops()->alloc(total * sizeof(float));
    float *host = malloc(total * sizeof(float));
    param_table_init_values(net_table(&net), host, 0);
    ops()->to_device(P, host, total * sizeof(float));
    free(host);
    float *x = ops()->alloc(sz * sizeof(float)), *target = ops()->alloc(sz * sizeof(float));
    float *eps = ops()->alloc(sz * sizeof(float)), *deps = ops()->alloc(sz * sizeof(float));
    float *t = malloc((size_t)r->batch * sizeof(float));
    int *labels = malloc((size_t)r->batch * sizeof(int));
    for (int i = 0; i < r->batch; i++) { t[i] = (float)(i * 37 % 1000); labels[i] = i % 11; }
    ops()->randn(x, sz, 1, 1, 0);
    ops()->randn(target, sz, 1, 2, 0);
    adamw_state opt;
    adamw_config ac = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .max_grad_norm = 1.0f};
    adamw_init(&opt, &ac, total);
    lethe_arena arena;
    arena_init(&arena);
    int train = strcmp(r->what, "train") == 0;
    double *ms = malloc((size_t)steps * sizeof(double));
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = lethe_now();
        arena_reset(&arena);
        nn_ctx ctx = {.arena = &arena, .train = train, .seed = 1, .step = (uint64_t)s};
        if (net_forward(&net, P, &ctx, eps, x, t, labels, r->batch)) { fprintf(stderr, "%s\n", lethe_last_error()); exit(1); }
        if (train) {
            ops()->mse_forward(eps, target, sz);
            ops()->fill(G, 0, total);
            ops()->fill(deps, 0, sz);
            ops()->mse_backward(deps, eps, target, sz, 1.0f);
            if (net_backward(&net, P, G, &arena, deps)) { fprintf(stderr, "%s\n", lethe_last_error()); exit(1); }
            adamw_update(&opt, P, G, NULL, ac.lr, NULL);
        }
        if (s >= warmup) ms[s - warmup] = 1e3 * (lethe_now() - t0);
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    double med = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    free(ms); free(t); free(labels);
    ops()->release(P); ops()->release(G); ops()->release(x); ops()->release(target); ops()->release(eps); ops()->release(deps);
    adamw_free(&opt);
    arena_free(&arena);
    net_free(&net);
    return med;
}

int main(int argc, char **argv) {
    const char *config = "all", *what = "all";
    const char *precision = "fp32";
    int batch = 0, steps = 10, warmup = 3, json = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--what") && i + 1 < argc) what = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) precision = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--gemm")) { puts(lethe_cpu_gemm_name()); return 0; }   // which GEMM would run
        else { fprintf(stderr, "usage: %s [--config tiny|small|canvas-tiny|all] [--what train|sample|all] [--batch N] [--steps 10] [--warmup 3] [--precision fp32|bf16] [--threads N] [--json] [--gemm]\n", argv[0]); return 2; }
    }
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    const char *fallback;
    if (ops_set_precision(precision, &fallback)) { fprintf(stderr, "bench_unet: %s\n", lethe_last_error()); return 2; }
    if (fallback) fprintf(stderr, "bench_unet: --precision %s: %s; running in fp32\n", precision, fallback);
    if (steps < 1) steps = 1;
    if (!json) printf("# GEMM: %s (LETHE_GEMM=openblas|onednn), precision %s, %d threads\n", lethe_cpu_gemm_name(), ops_precision(),
                      lethe_cpu_max_threads());
    if (!json) printf("%-6s %-7s %6s %10s %10s %9s %14s %8s\n", "config", "what", "batch", "ms/step", "images/s", "GFLOP/s", "torch images/s", "ratio");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        if (strcmp(config, "all") && strcmp(config, r->config)) continue;
        if (strcmp(what, "all") && strcmp(what, r->what)) continue;
        row at = *r;
        if (batch) {   // each (config, what) once, at the batch asked for
            int seen = 0;
            for (size_t e = 0; e < i; e++) seen |= !strcmp(rows[e].config, r->config) && !strcmp(rows[e].what, r->what);
            if (seen) continue;
            for (size_t e = i; e < sizeof rows / sizeof rows[0]; e++)   // its targets.md figure, if any
                if (!strcmp(rows[e].config, r->config) && !strcmp(rows[e].what, r->what)) at = rows[e].batch == batch ? rows[e] : at;
            if (at.batch != batch) at.torch_img_s = 0;
            at.batch = batch;
        }
        r = &at;
        double ms = bench_row(r, steps, warmup);
        double img_s = r->batch / (ms / 1e3);
        double flop = forward_gflop(r->config) * (strcmp(r->what, "train") == 0 ? 3 : 1);
        if (!r->torch_img_s && !json)
            printf("%-6s %-7s %6d %10.1f %10.1f %9s %14s %8s\n", r->config, r->what, r->batch, ms, img_s, "-", "-", "-");
        else if (json)
            printf("{\"impl\": \"lethe\", \"config\": \"%s\", \"what\": \"%s\", \"batch\": %d, \"ms_per_step\": %.2f, "
                   "\"images_per_s\": %.2f, \"gflops\": %.1f, \"peak_rss_mb\": %.1f, \"gemm\": \"%s\", \"precision\": \"%s\", "
                   "\"threads\": %d}\n", r->config, r->what, r->batch, ms, img_s, img_s * flop, peak_rss_mb(), lethe_cpu_gemm_name(),
                   ops_precision(), lethe_cpu_max_threads());
        else
            printf("%-6s %-7s %6d %10.1f %10.1f %9.1f %14.1f %7.2fx\n", r->config, r->what, r->batch, ms, img_s, img_s * flop,
                   r->torch_img_s, img_s / r->torch_img_s);
        fflush(stdout);
    }
    return 0;
}
