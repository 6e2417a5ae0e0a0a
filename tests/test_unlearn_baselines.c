/*
 * test_unlearn_baselines.c: the ESD, SalUn and Selective Amnesia methods (src/unlearn/esd.c,
 * salun.c, sa.c) on a toy class-conditional UNet (8x8, 8/16 channels, dropout 0.1) and a
 * 24-image in-memory dataset of 3 classes, through the shared loop (unlearn_run_loop):
 *
 * - the sampler's stop_after returns exactly the intermediate x of the full chain;
 * - ESD: after a step, the target in the forget batch equals eps*(null) - eta (eps*(c_f) -
 *   eps*(null)) computed directly from the frozen parent on the same x_t, t and labels, the
 *   labels are the forget class and every t lies in one 20-step DDIM slot;
 * - SalUn: the mask keeps the requested fraction of the weights, and only masked weights
 *   change in the unlearned model;
 * - SA: the EWC gradient matches central differences of its penalty, the Fisher diagonal is
 *   >= 0 (and not all zero), the replay set holds only retained classes, and the result does
 *   not depend on the forget images' pixels;
 * - each method runs 2 steps and writes a loadable model whose lethe.json names the method
 *   and the parent's SHA-256, and --stop-after 1 + --resume reproduces the uninterrupted
 *   weights bit for bit (setup is recomputed on resume; dropout and every draw are keyed);
 * - every method refuses an unconditional model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"
#include "unlearn_toy.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/rng.h"
#include "diffusion/sampler.h"
#include "core/fsutil.h"
#include "io/hash.h"
#include "ops/ops.h"
#include "unlearn/baselines.h"
#include "unlearn/unlearn_internal.h"

#define N_IMAGES 24
#define N_CLASSES TOY_CLASSES
#define FORGET 1

// ----------------------------------------------------------------------------
// fixtures: a toy parent model on disk and a toy dataset

static int group_setup(void **state) {
    (void)state;
    return toy_setup("lethe-test-unlearn", 0);
}

static int group_teardown(void **state) {
    (void)state;
    return toy_teardown();
}

// 24 random 8x8 images, label i mod 3; the forget class's pixels come from forget_seed.
static void toy_dataset(lethe_dataset *d, uint64_t forget_seed) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "toy");
    d->n = N_IMAGES;
    d->c = 1;
    d->h = d->w = 8;
    d->n_classes = N_CLASSES;
    for (int k = 0; k < N_CLASSES; k++) snprintf(d->class_names[k], 32, "%d", k);
    d->pixels = malloc(N_IMAGES * 64);
    d->labels = malloc(N_IMAGES * sizeof(int));
    for (int i = 0; i < N_IMAGES; i++) {
        d->labels[i] = i % N_CLASSES;
        uint64_t seed = d->labels[i] == FORGET ? forget_seed : 5;
        for (int j = 0; j < 64; j++) d->pixels[i * 64 + j] = (uint8_t)lethe_rand_below(seed, 1, (uint64_t)(i * 64 + j), 256);
    }
}

static void toy_opts(unlearn_opts *o, const unlearn_method *meth, const char *out) {
    unlearn_opts_default(o);
    o->method = meth->name;
    o->model_dir = toy_parent;
    o->out_dir = out;
    o->forget = "1";
    o->steps = 2;
    o->batch = 2;
    o->lr = meth->default_lr;
    o->weight_decay = 0.0f;   // unlearn_run resolves the method's default; the loop is called directly here
    o->seed = 7;
    o->quiet = 1;
    o->log_every = 1;
    if (!strcmp(meth->name, "sa")) {   // small, so the test stays fast
        assert_int_equal(unlearn_opts_set(o, "fisher-samples", "4"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(o, "replay-samples", "6"), LETHE_OK);
    }
}

// lethe.json names the method and the parent's SHA-256, and model_load reads the method back.
static void check_provenance(const char *out, const char *method) {
    char path[256], parent_sha[65], weights[256];
    snprintf(weights, sizeof weights, "%s/unet/diffusion_pytorch_model.safetensors", toy_parent);
    assert_int_equal(sha256_file(weights, parent_sha), LETHE_OK);
    snprintf(path, sizeof path, "%s/lethe.json", out);
    uint8_t *text;
    size_t len;
    assert_int_equal(fs_read_all(path, &text, &len), LETHE_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    assert_non_null(j);
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(j, "method"), *p = cJSON_GetObjectItemCaseSensitive(j, "parent");
    const cJSON *sha = p ? cJSON_GetObjectItemCaseSensitive(p, "weights_sha256") : NULL;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps_done");
    assert_true(cJSON_IsString(meth) && cJSON_IsString(sha) && cJSON_IsNumber(steps));
    assert_string_equal(meth->valuestring, method);
    assert_string_equal(sha->valuestring, parent_sha);
    assert_int_equal(steps->valueint, 2);
    cJSON_Delete(j);
    lethe_model m;
    assert_int_equal(model_load(&m, out), LETHE_OK);
    assert_string_equal(m.method, method);
    model_free(&m);
}

// The checks every method shares. `spy` (the method with test hooks, or NULL) makes the
// uninterrupted 2-step run into OUT/<name>_a; the real method makes the interrupted one.
static void check_method(const unlearn_method *meth, const unlearn_method *spy, const lethe_dataset *d,
                         const char *out_a) {
    unlearn_opts o;
    toy_opts(&o, meth, out_a);
    lethe_status st = toy_run(&o, spy ? spy : meth, d, 0);
    if (st) fail_msg("%s: %s", meth->name, lethe_last_error());
    check_provenance(out_a, meth->name);

    size_t n, np;
    float *a = toy_load_weights(out_a, &n), *p = toy_load_weights(toy_parent, &np);
    assert_int_equal(n, np);
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) changed += memcmp(&a[i], &p[i], sizeof(float)) != 0;
    print_message("%s: 2 steps changed %zu of %zu weights\n", meth->name, changed, n);
    assert_true(changed > 0);

    // the same run, interrupted after step 1 and resumed
    char out_b[192];
    snprintf(out_b, sizeof out_b, "%s_resumed", out_a);
    toy_opts(&o, meth, out_b);
    o.stop_after = 1;
    if ((st = toy_run(&o, meth, d, 0))) fail_msg("%s (stop after 1): %s", meth->name, lethe_last_error());
    char model_file[256];
    snprintf(model_file, sizeof model_file, "%s/lethe.json", out_b);
    assert_false(fs_exists(model_file));   // stopped: no model yet
    o.stop_after = 0;
    if ((st = toy_run(&o, meth, d, 1))) fail_msg("%s (resume): %s", meth->name, lethe_last_error());
    size_t nb;
    float *b = toy_load_weights(out_b, &nb);
    assert_int_equal(nb, n);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    if (differ) fail_msg("%s: resumed run differs from the uninterrupted one in %zu weights", meth->name, differ);
    free(a);
    free(b);
    free(p);
}

// ----------------------------------------------------------------------------
// sampler: stop_after

typedef struct {
    float *seen;     // x passed to the denoiser at each call (n * numel each)
    int calls;
    int n;
    size_t numel;
} recorder;

static lethe_status record_eps(lethe_denoiser *d, const float *W, const nn_ctx *ctx, float *eps, const float *x,
                               const float *t, const lethe_cond *c, int n) {
    (void)W; (void)ctx; (void)c;
    recorder *r = d->net;
    size_t sz = (size_t)n * r->numel;
    memcpy(r->seen + (size_t)r->calls++ * sz, x, sz * sizeof(float));
    for (size_t i = 0; i < sz; i++) eps[i] = 0.3f * x[i] + 0.01f * t[i / r->numel] / 1000.0f;
    return LETHE_OK;
}

static void test_sampler_stop_after(void **state) {
    (void)state;
    schedule_config sc;
    schedule_config_default(&sc);
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &sc), LETHE_OK);
    const int N = 10, n = 2;
    const size_t numel = 16, sz = n * numel;
    recorder r = {.seen = malloc((N + 1) * sz * sizeof(float)), .n = n, .numel = numel};
    static const lethe_denoiser_vtable record_vt = {.name = "recorder", .forward = record_eps};
    lethe_denoiser net = {.vt = &record_vt, .net = &r, .channels = 1, .size = 4};   // numel 16
    denoiser_infer d;
    denoiser_infer_init(&d, &net, NULL);
    float *xT = malloc(sz * sizeof(float)), *x = malloc(sz * sizeof(float)), *full = malloc(sz * sizeof(float));
    sampler_initial_noise(xT, n, numel, 3, 0);
    for (int kind = 0; kind < 2; kind++) {
        sampler_opts o = {.kind = kind ? SAMPLER_DDPM : SAMPLER_DDIM, .steps = N, .eta = 0.5f, .seed = 9};
        memcpy(full, xT, sz * sizeof(float));
        r.calls = 0;
        assert_int_equal(sampler_run(&s, &o, &d, full, NULL, n, NULL, NULL), LETHE_OK);
        assert_int_equal(r.calls, N);
        memcpy(r.seen + (size_t)N * sz, full, sz * sizeof(float));
        float *seen = malloc((N + 1) * sz * sizeof(float));
        memcpy(seen, r.seen, (N + 1) * sz * sizeof(float));
        const int ks[] = {1, 4, 9, 10, 0};
        for (int i = 0; i < 5; i++) {
            o.stop_after = ks[i];
            memcpy(x, xT, sz * sizeof(float));
            r.calls = 0;
            assert_int_equal(sampler_run(&s, &o, &d, x, NULL, n, NULL, NULL), LETHE_OK);
            int k = ks[i] ? ks[i] : N;
            assert_int_equal(r.calls, k);
            // after k steps x is what the full chain passed to its (k+1)-th call (x_0 for k = N)
            assert_memory_equal(x, seen + (size_t)k * sz, sz * sizeof(float));
        }
        free(seen);
    }
    free(xT); free(x); free(full); free(r.seen);
    denoiser_infer_free(&d);
    schedule_free(&s);
}

// ----------------------------------------------------------------------------
// ESD

static int esd_checked;
static float esd_eta = 1.0f;   // the --negative-guidance of the run (default 1)

// After the real step: recompute the target from the frozen parent on the batch's x_t.
static lethe_status esd_spy_step(unlearn_ctx *u, int step) {
    lethe_status st = unlearn_esd.step(u, step);
    if (st) return st;
    const int n = u->o->batch;
    const float eta = esd_eta;
    unlearn_batch *b;
    assert_int_equal(unlearn_batch_get(u, STREAM_FORGET, n, &b), LETHE_OK);
    const size_t sz = (size_t)n * u->numel;
    int slot = (int)b->t[0] / 20;
    lethe_cond nulls;
    assert_int_equal(denoiser_cond_alloc(&u->model->net, &nulls, n), LETHE_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(b->labels[i], FORGET);
        assert_int_equal(b->cond.labels[i], FORGET);
        assert_int_equal(nulls.labels[i], model_null_class(u->model));
        assert_int_equal((int)b->t[i] / 20, slot);   // one t_enc per step: t in [20 t_enc, 20 t_enc + 20)
        assert_true(b->t[i] >= 0 && b->t[i] < 1000);
    }
    float *e0 = malloc(sz * sizeof(float)), *ep = malloc(sz * sizeof(float)), *want = malloc(sz * sizeof(float)),
          *got = malloc(sz * sizeof(float)), *xt = malloc(sz * sizeof(float));
    lethe_arena A;
    arena_init(&A);
    nn_ctx ctx = {.arena = &A, .train = 0};
    assert_int_equal(denoiser_forward(&u->model->net, u->teacher, &ctx, e0, b->xt, b->t, &nulls, n), LETHE_OK);
    arena_reset(&A);
    assert_int_equal(denoiser_forward(&u->model->net, u->teacher, &ctx, ep, b->xt, b->t, &b->cond, n), LETHE_OK);
    cond_free(&nulls);
    for (size_t i = 0; i < sz; i++) want[i] = e0[i] - eta * (ep[i] - e0[i]);
    ops()->to_host(got, b->target, sz * sizeof(float));
    ops()->to_host(xt, b->xt, sz * sizeof(float));
    double err = tensor_rel_err(got, want, sz, 1e-3);
    if (!(err < 1e-6)) fail_msg("esd step %d: target differs from eps0 - eta (eps_c - eps0): rel err %g", step, err);
    for (size_t i = 0; i < sz; i++) assert_true(isfinite(xt[i]));
    arena_free(&A);
    free(e0); free(ep); free(want); free(got); free(xt);
    esd_checked++;
    return LETHE_OK;
}

static void test_esd(void **state) {
    (void)state;
    lethe_dataset d;
    toy_dataset(&d, 5);
    unlearn_method spy = unlearn_esd;
    spy.step = esd_spy_step;
    check_method(&unlearn_esd, &spy, &d, toy_path("esd"));
    assert_int_equal(esd_checked, 2);
    // eta is --negative-guidance (its old spelling --alpha): a non-default value reaches the target
    unlearn_opts o;
    toy_opts(&o, &unlearn_esd, toy_path("esd_eta"));
    assert_int_equal(unlearn_opts_set(&o, "alpha", "0.5"), LETHE_OK);
    o.steps = 1;
    esd_eta = 0.5f;
    assert_int_equal(toy_run(&o, &spy, &d, 0), LETHE_OK);
    esd_eta = 1.0f;
    assert_int_equal(esd_checked, 3);

    // --params conditioning: only the forget class's row of the class embedding moves
    toy_opts(&o, &unlearn_esd, toy_path("esd_cond"));
    assert_int_equal(unlearn_opts_set(&o, "params", "conditioning"), LETHE_OK);
    o.lr = 1e-2f;
    assert_int_equal(toy_run(&o, &unlearn_esd, &d, 0), LETHE_OK);
    lethe_model m;
    assert_int_equal(model_load(&m, toy_parent), LETHE_OK);
    const param_entry *e = param_table_find(m.net.table, "class_embedding.weight");
    assert_non_null(e);
    const size_t row = (size_t)e->shape[1], lo = e->offset + 1 * row, hi = lo + row;   // forget = class 1
    size_t n, n2;
    float *before = toy_load_weights(toy_parent, &n), *after = toy_load_weights(toy_path("esd_cond"), &n2);
    assert_int_equal(n, n2);
    size_t moved_in = 0, moved_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (before[i] == after[i]) continue;
        if (i >= lo && i < hi) moved_in++;
        else moved_out++;
    }
    assert_int_equal(moved_out, 0);
    assert_true(moved_in > row / 2);
    free(before);
    free(after);
    model_free(&m);
    dataset_free(&d);
}

// ----------------------------------------------------------------------------
// SalUn

static float *salun_mask;
static size_t salun_n;

static lethe_status salun_spy_setup(unlearn_ctx *u) {
    lethe_status st = unlearn_salun.setup(u);
    if (st) return st;
    assert_non_null(u->mask);
    salun_n = u->n_train;
    salun_mask = malloc(salun_n * sizeof(float));
    ops()->to_host(salun_mask, u->mask, salun_n * sizeof(float));
    return LETHE_OK;
}

static void test_salun(void **state) {
    (void)state;
    lethe_dataset d;
    toy_dataset(&d, 5);
    unlearn_method spy = unlearn_salun;
    spy.setup = salun_spy_setup;
    check_method(&unlearn_salun, &spy, &d, toy_path("salun"));
    assert_non_null(salun_mask);
    size_t ones = 0;
    for (size_t i = 0; i < salun_n; i++) {
        assert_true(salun_mask[i] == 0.0f || salun_mask[i] == 1.0f);
        ones += salun_mask[i] != 0;
    }
    size_t k = (salun_n + 1) / 2;   // ceil(0.5 n); ties at the threshold are kept
    print_message("salun: mask keeps %zu of %zu weights (want >= %zu)\n", ones, salun_n, k);
    assert_true(ones >= k && ones <= k + salun_n / 1000);

    // only masked weights changed
    size_t n, np;
    float *a = toy_load_weights(toy_path("salun"), &n), *p = toy_load_weights(toy_parent, &np);
    assert_int_equal(n, salun_n);
    size_t changed_in = 0, changed_out = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = memcmp(&a[i], &p[i], sizeof(float)) != 0;
        if (salun_mask[i] != 0) changed_in += ch;
        else changed_out += ch;
    }
    print_message("salun: %zu masked weights changed, %zu unmasked changed\n", changed_in, changed_out);
    assert_int_equal(changed_out, 0);
    assert_true(changed_in > ones / 2);
    free(a);
    free(p);
    free(salun_mask);

    // another fraction
    unlearn_opts o;
    toy_opts(&o, &unlearn_salun, toy_path("salun_03"));
    assert_int_equal(unlearn_opts_set(&o, "mask-fraction", "0.3"), LETHE_OK);
    o.steps = 1;
    salun_mask = NULL;
    assert_int_equal(toy_run(&o, &spy, &d, 0), LETHE_OK);
    ones = 0;
    for (size_t i = 0; i < salun_n; i++) ones += salun_mask[i] != 0;
    k = (size_t)ceil(0.3 * (double)salun_n);
    assert_true(ones >= k && ones <= k + salun_n / 1000);
    free(salun_mask);
    salun_mask = NULL;
    dataset_free(&d);
}

// ----------------------------------------------------------------------------
// SA

static int sa_checked;

static lethe_status sa_spy_setup(unlearn_ctx *u) {
    lethe_status st = unlearn_sa.setup(u);
    if (st) return st;
    const float *F = sa_fisher(u);
    assert_non_null(F);
    float *f = malloc(u->n_params * sizeof(float));
    ops()->to_host(f, F, u->n_params * sizeof(float));
    size_t pos = 0;
    for (size_t i = 0; i < u->n_params; i++) {
        assert_true(isfinite(f[i]) && f[i] >= 0.0f);
        pos += f[i] > 0;
    }
    print_message("sa: Fisher > 0 for %zu of %zu weights\n", pos, u->n_params);
    assert_true(pos > u->n_params / 2);
    free(f);
    const lethe_dataset *r = sa_replay_set(u);
    assert_non_null(r);
    assert_int_equal(r->n, 6);   // --replay-samples of toy_opts
    for (int i = 0; i < r->n; i++) assert_int_not_equal(r->labels[i], FORGET);
    sa_checked++;
    return LETHE_OK;
}

static void test_sa_ewc_gradient(void **state) {
    (void)state;
    const size_t n = 257;
    const float lambda = 10.0f, h = 1e-2f;
    float hF[257], hW[257], hW0[257], hg[257];
    for (size_t i = 0; i < n; i++) {
        hF[i] = i % 7 == 0 ? 0.0f : fabsf(lethe_rand_normal(1, 2, i));
        hW[i] = lethe_rand_normal(1, 3, i);
        hW0[i] = lethe_rand_normal(1, 4, i);
        hg[i] = 0.25f;   // the gradient is added to what is there
    }
    float *F = ops()->alloc(n * sizeof(float)), *W = ops()->alloc(n * sizeof(float)),
          *W0 = ops()->alloc(n * sizeof(float)), *g = ops()->alloc(n * sizeof(float)),
          *scratch = ops()->alloc(n * sizeof(float));
    ops()->to_device(F, hF, sizeof hF);
    ops()->to_device(W, hW, sizeof hW);
    ops()->to_device(W0, hW0, sizeof hW0);
    ops()->to_device(g, hg, sizeof hg);
    double pen = sa_ewc(F, W, W0, lambda, g, scratch, n), want = 0;
    for (size_t i = 0; i < n; i++) want += (double)lambda * hF[i] * ((double)hW[i] - hW0[i]) * ((double)hW[i] - hW0[i]);
    assert_true(fabs(pen - want) <= 1e-6 * want);
    ops()->to_host(hg, g, sizeof hg);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float w = hW[i];
        hW[i] = w + h;
        ops()->to_device(W, hW, sizeof hW);
        double up = sa_ewc(F, W, W0, lambda, NULL, scratch, n);
        hW[i] = w - h;
        ops()->to_device(W, hW, sizeof hW);
        double down = sa_ewc(F, W, W0, lambda, NULL, scratch, n);
        hW[i] = w;
        double fd = (up - down) / ((double)(w + h) - (double)(w - h)), got = hg[i] - 0.25;
        double err = fabs(fd - got) / fmax(fabs(fd), 1.0);
        if (err > worst) worst = err;
    }
    ops()->to_device(W, hW, sizeof hW);
    print_message("sa: EWC gradient vs central differences: max rel err %.3g\n", worst);
    assert_true(worst < 1e-4);
    ops()->release(F); ops()->release(W); ops()->release(W0); ops()->release(g); ops()->release(scratch);
}

static void test_sa(void **state) {
    (void)state;
    lethe_dataset d;
    toy_dataset(&d, 5);
    unlearn_method spy = unlearn_sa;
    spy.setup = sa_spy_setup;
    check_method(&unlearn_sa, &spy, &d, toy_path("sa"));
    assert_int_equal(sa_checked, 1);
    assert_int_equal(unlearn_sa.needs_forget_data, 0);

    // SA reads no forget image: other pixels for the forget class give the same weights
    lethe_dataset d2;
    toy_dataset(&d2, 99);
    assert_memory_not_equal(d.pixels + FORGET * 64, d2.pixels + FORGET * 64, 64);
    unlearn_opts o;
    toy_opts(&o, &unlearn_sa, toy_path("sa_other_forget_pixels"));
    assert_int_equal(toy_run(&o, &unlearn_sa, &d2, 0), LETHE_OK);
    size_t n1, n2;
    float *a = toy_load_weights(toy_path("sa"), &n1), *b = toy_load_weights(toy_path("sa_other_forget_pixels"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof(float));
    free(a);
    free(b);
    dataset_free(&d);
    dataset_free(&d2);
}

// ----------------------------------------------------------------------------

static void test_unconditional_refused(void **state) {
    (void)state;
    lethe_dataset d;
    toy_dataset(&d, 5);
    const unlearn_method *ms[] = {&unlearn_esd, &unlearn_salun, &unlearn_sa};
    for (int i = 0; i < 3; i++) {
        unlearn_opts o;
        toy_opts(&o, ms[i], toy_path("uncond_out"));
        o.model_dir = toy_uncond;
        assert_int_equal(toy_run(&o, ms[i], &d, 0), LETHE_ERR_ARG);
        assert_non_null(strstr(lethe_last_error(), "class-conditional"));
    }
    dataset_free(&d);
}

static void test_registered(void **state) {
    (void)state;
    assert_ptr_equal(unlearn_find("esd"), &unlearn_esd);
    assert_ptr_equal(unlearn_find("salun"), &unlearn_salun);
    assert_ptr_equal(unlearn_find("sa"), &unlearn_sa);
}

int main(void) {
#ifdef _OPENMP
    // The toy tensors are far too small to share out: with two threads on a loaded 2-core
    // machine the run took 80 s of mostly waiting, with one it takes about 1.5 s.
    omp_set_num_threads(1);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_sampler_stop_after),
        cmocka_unit_test(test_sa_ewc_gradient),
        cmocka_unit_test(test_unconditional_refused),
        cmocka_unit_test(test_esd),
        cmocka_unit_test(test_salun),
        cmocka_unit_test(test_sa),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
