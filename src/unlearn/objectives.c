/* objectives.c: data streams, noising and the loss/gradient helpers methods share (see unlearn.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"

#define N_STREAMS 4

typedef struct {
    unlearn_batch b[N_STREAMS];
    int cap[N_STREAMS];
    float *host;        // staging for dataset_batch (largest batch)
    size_t host_cap;    // floats
    float *dpred;       // gradient of the loss wrt the prediction
    int coef_cap;
} batch_store;

static void free_batch(unlearn_batch *b) {
    ops()->release(b->x0); ops()->release(b->xt); ops()->release(b->eps);
    ops()->release(b->target); ops()->release(b->pred);
    free(b->t);
    free(b->labels);
    cond_free(&b->cond);
    memset(b, 0, sizeof *b);
}

void unlearn_batches_free(unlearn_ctx *u) {
    batch_store *bs = u->batches;
    if (!bs) return;
    for (int i = 0; i < N_STREAMS; i++) free_batch(&bs->b[i]);
    free(bs->host);
    ops()->release(bs->dpred);
    free(bs);
    u->batches = NULL;
}

static lethe_status ensure_coef(batch_store *bs, unlearn_ctx *u, int n) {
    if (n <= bs->coef_cap) return LETHE_OK;
    ops()->release(bs->dpred);
    bs->dpred = ops()->alloc((size_t)n * u->numel * sizeof(float));
    if (!bs->dpred) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for a batch of %d", n);
    bs->coef_cap = n;
    return LETHE_OK;
}

lethe_status unlearn_batch_get(unlearn_ctx *u, unlearn_stream s, int n, unlearn_batch **out) {
    if (!u->batches && !(u->batches = calloc(1, sizeof(batch_store)))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    batch_store *bs = u->batches;
    unlearn_batch *b = &bs->b[s];
    if (n > bs->cap[s]) {
        free_batch(b);
        size_t sz = (size_t)n * u->numel * sizeof(float);
        b->x0 = ops()->alloc(sz); b->xt = ops()->alloc(sz); b->eps = ops()->alloc(sz);
        b->target = ops()->alloc(sz); b->pred = ops()->alloc(sz);
        b->t = malloc((size_t)n * sizeof(float));
        b->labels = malloc((size_t)n * sizeof(int));
        lethe_status cs = unlearn_cond_alloc(u, &b->cond, n);
        if (cs || !b->x0 || !b->xt || !b->eps || !b->target || !b->pred || !b->t || !b->labels) {
            free_batch(b);
            bs->cap[s] = 0;
            return lethe_fail(LETHE_ERR_NOMEM, "out of memory for a batch of %d", n);
        }
        bs->cap[s] = n;
    }
    lethe_status st = ensure_coef(bs, u, n);
    if (st) return st;
    b->n = n;
    b->cond.n = n;
    *out = b;
    return LETHE_OK;
}

lethe_status unlearn_sample_images(unlearn_ctx *u, const lethe_dataset *set, int step, unlearn_stream s,
                                   unlearn_batch *b, int n) {
    if (set->n < 1) return lethe_fail(LETHE_ERR_ARG, "no images to draw a batch from");
    batch_store *bs = u->batches;
    size_t need = (size_t)n * u->numel;
    if (need > bs->host_cap) {
        float *h = realloc(bs->host, need * sizeof(float));
        if (!h) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        bs->host = h;
        bs->host_cap = need;
    }
    int *idx = malloc((size_t)n * sizeof(int));
    if (!idx) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    uint64_t stream = lethe_stream(LETHE_STREAM_BATCH, (uint64_t)step, (uint64_t)s);
    for (int i = 0; i < n; i++) idx[i] = (int)lethe_rand_below(u->o->seed, stream, (uint64_t)i, (uint32_t)set->n);
    dataset_batch(set, idx, n, bs->host, b->labels);
    free(idx);
    ops()->to_device(b->x0, bs->host, need * sizeof(float));
    b->n = n;
    cond_set_classes(&b->cond, b->labels, n);
    return LETHE_OK;
}

lethe_status unlearn_cond_alloc(unlearn_ctx *u, lethe_cond *c, int n) { return denoiser_cond_alloc(&u->model->net, c, n); }

void unlearn_diffuse(unlearn_ctx *u, int step, uint64_t stream, int n, int t_lo, int t_hi, const float *x0, float *t,
                     float *eps, float *xt) {
    schedule_add_noise(&u->sched, xt, t, eps, x0, n, u->numel, t_lo, t_hi, u->o->seed,
                       lethe_stream(LETHE_STREAM_TIMESTEP, (uint64_t)step, stream),
                       lethe_stream(LETHE_STREAM_NOISE, (uint64_t)step, stream));
}

void unlearn_noise(unlearn_ctx *u, int step, unlearn_stream s, unlearn_batch *b, int t_lo, int t_hi) {
    unlearn_diffuse(u, step, (uint64_t)s, b->n, t_lo, t_hi, b->x0, b->t, b->eps, b->xt);
}

lethe_status unlearn_predict(unlearn_ctx *u, const float *W, const float *xt, const float *t, const lethe_cond *c,
                             int n, float *out) {
    arena_mark_t mark = arena_mark(&u->arena);
    nn_ctx ctx = {.arena = &u->arena, .train = 0};
    lethe_status st = denoiser_forward(&u->model->net, W, &ctx, out, xt, t, c, n);
    arena_release(&u->arena, mark);
    return st;
}

lethe_status unlearn_mse_grad(unlearn_ctx *u, const float *xt, const float *t, const lethe_cond *c, int n,
                              const float *target, float weight, double *loss_out) {
    batch_store *bs = u->batches;
    lethe_status st = ensure_coef(bs, u, n);
    if (st) return st;
    const size_t sz = (size_t)n * u->numel;
    float *pred = bs->dpred;   // reuse: prediction first, then its gradient, in the same buffer
    arena_mark_t mark = arena_mark(&u->arena);
    nn_ctx ctx = {.arena = &u->arena, .train = 1, .seed = u->o->seed, .step = (uint64_t)u->step};
    float *p = arena_floats(&u->arena, sz);
    if (!p) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for activations");
    if ((st = denoiser_forward(&u->model->net, u->params, &ctx, p, xt, t, c, n))) {
        arena_release(&u->arena, mark);
        return st;
    }
    double loss = ops()->mse_forward(p, target, sz);
    if (loss_out) *loss_out = loss;
    ops()->fill(pred, 0.0f, sz);
    ops()->mse_backward(pred, p, target, sz, weight);
    st = denoiser_backward(&u->model->net, u->params, u->grads, &u->arena, pred, NULL);
    arena_release(&u->arena, mark);
    return st;
}

void unlearn_row_mse(const unlearn_ctx *u, const float *pred, const float *target, int n, double *out) {
    for (int r = 0; r < n; r++)   // one op per image: per-row losses are few, the rows long
        out[r] = ops()->mse_forward(pred + (size_t)r * u->numel, target + (size_t)r * u->numel, u->numel);
}

lethe_status unlearn_mse_grad_rows(unlearn_ctx *u, const float *xt, const float *t, const lethe_cond *c, int n,
                                   const float *target, unlearn_row_weigh weigh, void *wctx, double *row_loss) {
    batch_store *bs = u->batches;
    lethe_status st = ensure_coef(bs, u, n);
    if (st) return st;
    const size_t sz = (size_t)n * u->numel;
    float *coef = malloc(2 * (size_t)n * sizeof(float));
    if (!coef) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    arena_mark_t mark = arena_mark(&u->arena);
    nn_ctx ctx = {.arena = &u->arena, .train = 1, .seed = u->o->seed, .step = (uint64_t)u->step};
    float *p = arena_floats(&u->arena, sz);
    if (!p) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for activations");
    else st = denoiser_forward(&u->model->net, u->params, &ctx, p, xt, t, c, n);
    if (!st) {
        unlearn_row_mse(u, p, target, n, row_loss);
        weigh(wctx, row_loss, coef, n);
        // d l_r / d pred_r = 2 (pred_r - target_r) / numel, times w_r
        for (int r = 0; r < n; r++) {
            coef[r] *= 2.0f / (float)u->numel;
            coef[n + r] = -coef[r];
        }
        ops()->axpbz_rows(bs->dpred, coef, p, coef + n, target, n, u->numel);
        st = denoiser_backward(&u->model->net, u->params, u->grads, &u->arena, bs->dpred, NULL);
    }
    arena_release(&u->arena, mark);
    free(coef);
    return st;
}

void unlearn_drop_cond(unlearn_ctx *u, int step, unlearn_stream s, unlearn_batch *b, float p) {
    b->cond.n = b->n;
    cond_drop(&b->cond, p, u->o->seed, lethe_stream(LETHE_STREAM_LABEL_DROP, (uint64_t)step, (uint64_t)s));
}

lethe_status unlearn_dsm(unlearn_ctx *u, const lethe_dataset *set, int step, unlearn_stream s, int n, float p_drop,
                         float weight, double *loss) {
    unlearn_batch *b;
    lethe_status st = unlearn_batch_get(u, s, n, &b);
    if (!st) st = unlearn_sample_images(u, set, step, s, b, n);
    if (st) return st;
    unlearn_drop_cond(u, step, s, b, p_drop);
    unlearn_noise(u, step, s, b, 0, u->sched.cfg.num_train_timesteps);
    return unlearn_mse_grad(u, b->xt, b->t, &b->cond, n, b->eps, weight, loss);
}

void unlearn_log_part(unlearn_ctx *u, const char *name, double value) {
    if (u->n_parts == 4) return;
    u->part_name[u->n_parts] = name;
    u->part[u->n_parts++] = value;
}

// ---- masks ------------------------------------------------------------------------------------------

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

lethe_status unlearn_top_fraction_mask(const float *score, size_t n, float fraction, float *mask, float *thr) {
    if (!(fraction > 0 && fraction <= 1)) return lethe_fail(LETHE_ERR_ARG, "mask fraction %g is not in (0, 1]", (double)fraction);
    float *h = malloc(n * sizeof(float)), *sorted = malloc(n * sizeof(float));
    if (!h || !sorted) {
        free(h);
        free(sorted);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the saliency mask");
    }
    ops()->to_host(h, score, n * sizeof(float));
    for (size_t i = 0; i < n; i++) sorted[i] = h[i] = fabsf(h[i]);
    qsort(sorted, n, sizeof(float), cmp_desc);   // once per run: simplicity over a selection algorithm
    size_t k = (size_t)ceil((double)fraction * (double)n);
    if (k < 1) k = 1;
    const float t = sorted[k - 1];
    for (size_t i = 0; i < n; i++) h[i] = h[i] >= t ? 1.0f : 0.0f;
    ops()->to_device(mask, h, n * sizeof(float));
    if (thr) *thr = t;
    free(h);
    free(sorted);
    return LETHE_OK;
}
