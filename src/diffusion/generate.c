/* generate.c: seeded sample generation for evaluation (see generate.h). */
#include "diffusion/generate.h"

#include <stdlib.h>

#include "io/png.h"
#include "ops/ops.h"

typedef struct {
    sampler_progress_fn fn;
    void *user;
    int done_before, total;
} chained_progress;

static void on_step(void *user, int step, int total) {
    chained_progress *p = user;
    (void)total;
    if (p->fn) p->fn(p->user, p->done_before + step, p->total);
}

lethe_status eval_generate(const lethe_schedule *s, const sampler_opts *so, denoiser_infer *d, int label, int n,
                           int batch, uint8_t *u8_out, sampler_progress_fn progress, void *user) {
    const size_t numel = denoiser_numel(d->net);
    if (batch < 1) batch = 1;
    int mb = n < batch ? n : batch;
    float *x = ops()->alloc((size_t)mb * numel * sizeof(float));
    float *host = malloc((size_t)mb * numel * sizeof(float));
    lethe_cond cond = {0};
    lethe_status st = label >= 0 ? denoiser_cond_alloc(d->net, &cond, mb) : LETHE_OK;
    if (!st && (!x || !host)) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d samples", mb);
    if (st) goto done;
    const int n_batches = (n + mb - 1) / mb;
    const long base = label >= 0 ? (long)label * EVAL_CLASS_STRIDE : 0;
    for (int b = 0; b < n_batches && !st; b++) {
        int i0 = b * mb, cnt = n - i0 < mb ? n - i0 : mb;
        sampler_opts o = *so;
        o.first_index = (int)(base + i0);
        sampler_initial_noise(x, cnt, numel, o.seed, o.first_index);
        chained_progress cp = {progress, user, b * so->steps, n_batches * so->steps};
        if (label >= 0) cond_fill_class(&cond, label, cnt);
        st = sampler_run(s, &o, d, x, label >= 0 ? &cond : NULL, cnt, on_step, &cp);
        if (st) break;
        ops()->to_host(host, x, (size_t)cnt * numel * sizeof(float));
        images_to_u8(u8_out + (size_t)i0 * numel, host, (size_t)cnt * numel);
    }
done:
    ops()->release(x);
    free(host);
    cond_free(&cond);
    return st;
}

void u8_to_unit_range(float *x, const uint8_t *u8, size_t count) {
    for (size_t i = 0; i < count; i++) x[i] = (float)u8[i] / 127.5f - 1.0f;
}
