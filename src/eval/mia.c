/* mia.c: per-image denoising loss over fixed (t, eps) pairs (see mia.h). */
#include "eval/mia.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "ops/ops.h"

void mia_pair_timesteps(const lethe_schedule *s, int pairs, uint64_t seed, int *t) {
    const uint32_t T = (uint32_t)s->cfg.num_train_timesteps;
    for (int j = 0; j < pairs; j++)
        t[j] = (int)lethe_rand_below(seed, lethe_stream(LETHE_STREAM_MIA, 0, 1), (uint64_t)j, T);
}

lethe_status denoising_losses(const lethe_schedule *s, denoiser_infer *d, int pairs, uint64_t seed,
                              const float *x0, const lethe_cond *cond, int n, double *loss_out, int batch,
                              sampler_progress_fn progress, void *user) {
    if (pairs < 1) return lethe_fail(LETHE_ERR_ARG, "membership losses: pairs %d must be >= 1", pairs);
    if (batch < 1) return lethe_fail(LETHE_ERR_ARG, "membership losses: batch %d must be >= 1", batch);
    if (n < 0) return lethe_fail(LETHE_ERR_ARG, "membership losses: bad image count %d", n);
    for (int i = 0; i < n; i++) loss_out[i] = 0.0;
    if (n == 0) return LETHE_OK;

    const long rows_all = (long)n * pairs;
    if (denoiser_numel(d->net) < 1) return lethe_fail(LETHE_ERR_ARG, "membership losses: the denoiser has no sample size");
    if (rows_all > INT_MAX)
        return lethe_fail(LETHE_ERR_ARG, "membership losses: %d images x %d pairs is too many for one call; split the images", n, pairs);
    if (batch > rows_all) batch = (int)rows_all;
    const size_t numel = denoiser_numel(d->net), bsz = (size_t)batch * numel;
    lethe_status st = LETHE_OK;
    float *x0b = ops()->alloc(bsz * sizeof(float)), *z = ops()->alloc(bsz * sizeof(float));
    float *xt = ops()->alloc(bsz * sizeof(float)), *eps = ops()->alloc(bsz * sizeof(float));
    int *tp = malloc((size_t)pairs * sizeof(int)), *im = malloc((size_t)batch * sizeof(int));
    float *tf = malloc((size_t)batch * sizeof(float));
    lethe_cond rows = {0};   // the cond of each row of a batch (image im[k]'s)
    if (!x0b || !z || !xt || !eps || !tp || !im || !tf) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for membership-loss buffers (batch %d x %zu)", batch, numel);
        goto done;
    }
    if (cond && (st = cond_alloc(&rows, &cond->spec, batch))) goto done;
    mia_pair_timesteps(s, pairs, seed, tp);

    for (long r0 = 0; r0 < rows_all; r0 += batch) {
        const int m = rows_all - r0 < batch ? (int)(rows_all - r0) : batch;
        for (int k = 0; k < m; k++) {
            const long row = r0 + k;
            const int i = (int)(row / pairs), j = (int)(row % pairs);
            im[k] = i;
            tf[k] = (float)tp[j];
            ops()->copy(x0b + (size_t)k * numel, x0 + (size_t)i * numel, numel);
            ops()->randn(z + (size_t)k * numel, numel, seed, lethe_stream(LETHE_STREAM_MIA, (uint64_t)j, 0), 0);
        }
        const size_t sz = (size_t)m * numel;
        schedule_add_noise_at(s, xt, x0b, z, tf, m, numel);   // x_t = sqrt(abar) x0 + sqrt(1 - abar) eps_j
        if (cond) cond_select(&rows, cond, im, m);
        if ((st = denoiser_infer_eps(d, eps, xt, tf, cond ? &rows : NULL, m))) goto done;
        if (!ops()->all_finite(eps, sz)) {
            st = lethe_fail(LETHE_ERR_NUMERIC, "membership losses: the model produced NaN/Inf (image %d)", im[0]);
            goto done;
        }
        ops()->axpbz(eps, 1.0f, eps, -1.0f, z, sz);        // eps_hat - eps_j
        for (int k = 0; k < m; k++)
            loss_out[im[k]] += ops()->sum_squares(eps + (size_t)k * numel, numel) / (double)numel;
        if (progress) progress(user, (int)(r0 + m), (int)rows_all);
    }
    for (int i = 0; i < n; i++) loss_out[i] /= pairs;

done:
    ops()->release(x0b); ops()->release(z); ops()->release(xt); ops()->release(eps);
    free(tp); free(im); free(tf);
    cond_free(&rows);
    return st;
}
