/*
 * test_unlearn_vdu.c: VDU (src/unlearn/vdu.c, reconstructed objective) and the training
 * snapshots it can read (lethe train --snapshots K, diffusion/train.c).
 *
 * Small UNets (8/16 channels) saved to temporary folders with different init seeds, and
 * an in-memory dataset of 40 random 28x28 images of 4 classes:
 * - the mean and precision from 3 checkpoints equal a direct two-pass computation in double;
 * - B's gradient equals a central finite difference of B (20 coordinates), scaled by the
 *   weight and accumulated into what the buffer held;
 * - a gradient step on B alone moves every weight toward mu and lowers B;
 * - short runs on a class-conditional and an unconditional model write a model and a
 *   lethe.json with the method, the parent's SHA-256, the checkpoints and the
 *   reconstruction note; --stop-after + --resume give the same weights;
 * - data-constrained: with forget_images = 8, images after the 8th forget image do not matter;
 * - --update natural: the step's gradient is the objective's divided by prec, applied by SGD;
 * - --anchor-precision fisher: prec = the Fisher plus its floor, normalised, mu = the parent; runs on
 *   both kinds of model, resume, the statistics file, the option errors;
 * - errors: fewer than 2 checkpoints, neither or both sources, another config, identical
 *   checkpoints, a folder without snapshots;
 * - train --snapshots: the snapshot steps, EMA weights (the last equals the exported model),
 *   a resumed run writes the same files, VDU reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "diffusion/train.h"
#include "core/fsutil.h"
#include "diffusion/model.h"
#include "diffusion/schedule.h"
#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"
#include "unlearn/vdu.h"

static char g_root[64];   // temporary folder of this test run

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_root, name); }

static void small_config(unet_config *c, int conditional) {
    assert_int_equal(unet_config_named(c, "tiny"), LETHE_OK);
    c->block_out_channels[0] = 8;
    c->block_out_channels[1] = 16;
    c->norm_num_groups = 4;
    c->num_class_embeds = conditional ? 11 : 0;
}

// A model with init seed `seed` saved as folder `name` under g_root; returns the path in out.
static void save_model(const unet_config *c, uint64_t seed, const char *name, char *out, size_t cap) {
    lethe_model m;
    assert_int_equal(model_create(&m, c, seed), LETHE_OK);
    path_in(out, cap, name);
    assert_int_equal(model_save(&m, m.params, out, NULL), LETHE_OK);
    model_free(&m);
}

static float *host_weights(const char *dir, size_t *n) {
    lethe_model m;
    assert_int_equal(model_load(&m, dir), LETHE_OK);
    *n = m.unet.table.total;
    float *h = malloc(*n * sizeof(float));
    ops()->to_host(h, m.params, *n * sizeof(float));
    model_free(&m);
    return h;
}

// 40 random images, labels i % 4, classes "0".."3"; `variant` changes the class-1 images
// after the 8th of them (for the data-constrained test).
static void toy_dataset(lethe_dataset *d, int variant) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "toy");
    d->n = 40;
    d->c = 1;
    d->h = d->w = 28;
    d->n_classes = 4;
    for (int k = 0; k < 4; k++) snprintf(d->class_names[k], 32, "%d", k);
    d->pixels = malloc((size_t)d->n * 28 * 28);
    d->labels = malloc((size_t)d->n * sizeof(int));
    uint32_t s = 12345;
    int seen1 = 0;
    for (int i = 0; i < d->n; i++) {
        d->labels[i] = i % 4;
        int late = d->labels[i] == 1 && seen1++ >= 8;
        for (int p = 0; p < 28 * 28; p++) {
            s = s * 1664525u + 1013904223u;
            d->pixels[(size_t)i * 784 + p] = (uint8_t)((s >> 24) ^ (late && variant ? 0x5a : 0));
        }
    }
}

static void quick_opts(unlearn_opts *o, const char *parent, const char *out) {
    unlearn_opts_default(o);
    o->method = "vdu";
    o->model_dir = parent;
    o->out_dir = out;
    o->forget = "1";
    o->steps = 3;
    o->batch = 4;
    // the paper's update (Adam) and lethe's first objective, at Adam's rate: the tests below
    // predate the defaults (gated, --update natural); those have tests of their own
    assert_int_equal(unlearn_opts_set(o, "update", "adam"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(o, "objective", "reconstructed"), LETHE_OK);
    o->lr = VDU_DEFAULT_LR_ADAM;
    o->weight_decay = 0.0f;
    o->log_every = 1;
    o->quiet = 1;
}

static lethe_status run_vdu(const unlearn_opts *o, const lethe_dataset *ds) {
    lethe_model m;
    assert_int_equal(model_load(&m, o->model_dir), LETHE_OK);
    assert_int_equal(fs_mkdir_p(o->out_dir), LETHE_OK);
    lethe_status st = unlearn_run_loop(o, &unlearn_vdu, &m, ds, o->resume);
    model_free(&m);
    return st;
}

static cJSON *read_json(const char *path) {
    uint8_t *b;
    size_t n;
    assert_int_equal(fs_read_all(path, &b, &n), LETHE_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void expect_error(lethe_status st, const char *needle) {
    assert_int_not_equal(st, LETHE_OK);
    if (!strstr(lethe_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", lethe_last_error(), needle);
}

// ---- statistics -------------------------------------------------------------------------------

static char c1[256], c2[256], c3[256], u1[256], u2[256], other[256];

static void test_stats_match_direct(void **state) {
    (void)state;
    char list[1024];
    snprintf(list, sizeof list, "%s, %s,%s", c1, c2, c3);   // spaces are allowed
    lethe_model parent;
    assert_int_equal(model_load(&parent, c1), LETHE_OK);
    const float floor_ = 0.05f;
    vdu_stats s;
    lethe_status st = vdu_stats_load(&s, &parent, list, NULL, floor_);
    if (st) fail_msg("%s", lethe_last_error());
    assert_int_equal(s.k, 3);
    assert_int_equal(s.step[0], -1);
    assert_string_equal(s.source[2], c3);
    size_t n = s.n, n1, n2, n3;
    float *w[3] = {host_weights(c1, &n1), host_weights(c2, &n2), host_weights(c3, &n3)};
    assert_true(n1 == n && n2 == n && n3 == n);
    // two passes in double over the parameters (the table's entries; padding has prec 0)
    const param_table *t = &parent.unet.table;
    double *mu = calloc(n, sizeof(double)), *p = calloc(n, sizeof(double)), sum_var = 0, sum_p = 0;
    size_t n_real = 0;
    for (int e = 0; e < t->n; e++)
        for (size_t i = t->entries[e].offset; i < t->entries[e].offset + t->entries[e].numel; i++, n_real++) {
            mu[i] = ((double)w[0][i] + w[1][i] + w[2][i]) / 3;
            double v = 0;
            for (int k = 0; k < 3; k++) v += ((double)w[k][i] - mu[i]) * ((double)w[k][i] - mu[i]);
            p[i] = v / 3;
            sum_var += p[i];
        }
    assert_true(n_real < n);   // the buffer has alignment padding: it must not count
    double eps = floor_ * sum_var / (double)n_real;
    for (int e = 0; e < t->n; e++)
        for (size_t i = t->entries[e].offset; i < t->entries[e].offset + t->entries[e].numel; i++)
            sum_p += (p[i] = 1.0 / (p[i] + eps));
    assert_true(fabs(s.mean_var - sum_var / (double)n_real) <= 1e-9 * s.mean_var);
    assert_true(fabs(s.var_eps - eps) <= 1e-9 * eps);
    float *gmu = malloc(n * sizeof(float)), *gp = malloc(n * sizeof(float));
    ops()->to_host(gmu, s.mu, n * sizeof(float));
    ops()->to_host(gp, s.prec, n * sizeof(float));
    double max_mu = 0, max_p = 0, mean_prec = 0;
    for (size_t i = 0; i < n; i++) {
        double want_p = p[i] / (sum_p / (double)n_real);
        max_mu = fmax(max_mu, fabs(gmu[i] - mu[i]) / fmax(fabs(mu[i]), 1e-3));
        max_p = fmax(max_p, fabs(gp[i] - want_p) / fmax(want_p, 1e-30));
        mean_prec += gp[i];
    }
    mean_prec /= (double)n_real;
    if (!(max_mu < 1e-6 && max_p < 1e-6)) fail_msg("mu rel err %.3g, prec rel err %.3g", max_mu, max_p);
    assert_true(fabs(mean_prec - 1) < 1e-5);   // normalised to mean 1
    free(gmu); free(gp); free(mu); free(p);
    for (int k = 0; k < 3; k++) free(w[k]);
    vdu_stats_free(&s);
    model_free(&parent);
}

// ---- the stability term B ---------------------------------------------------------------------

static void test_anchor_gradient(void **state) {
    (void)state;
    char list[1024];
    snprintf(list, sizeof list, "%s,%s,%s", c1, c2, c3);
    lethe_model parent;
    assert_int_equal(model_load(&parent, c1), LETHE_OK);
    vdu_stats s;
    assert_int_equal(vdu_stats_load(&s, &parent, list, NULL, VDU_DEFAULT_VAR_FLOOR), LETHE_OK);
    const size_t n = s.n;
    float *theta = ops()->alloc(n * sizeof(float)), *grad = ops()->alloc(n * sizeof(float)),
          *scratch = ops()->alloc(n * sizeof(float));
    ops()->copy(theta, parent.params, n);
    // gradient with weight 2.5 accumulated onto 0.25
    ops()->fill(grad, 0.25f, n);
    double b0 = vdu_anchor(&s, theta, grad, 2.5f, scratch);
    assert_true(b0 > 0);
    float *g = malloc(n * sizeof(float)), *th = malloc(n * sizeof(float)), *mu = malloc(n * sizeof(float)),
          *prec = malloc(n * sizeof(float));
    ops()->to_host(g, grad, n * sizeof(float));
    ops()->to_host(th, theta, n * sizeof(float));
    ops()->to_host(mu, s.mu, n * sizeof(float));
    ops()->to_host(prec, s.prec, n * sizeof(float));
    // B's value against a direct sum
    double direct = 0;
    for (size_t i = 0; i < n; i++) direct += 0.5 * prec[i] * ((double)th[i] - mu[i]) * ((double)th[i] - mu[i]);
    assert_true(fabs(b0 - direct) <= 1e-6 * direct);
    // central differences on 20 coordinates spread over the buffer
    double worst = 0;
    for (int j = 0; j < 20; j++) {
        const param_entry *pe = &parent.unet.table.entries[(j * 7) % parent.unet.table.n];
        size_t i = pe->offset + (size_t)(((uint64_t)j * 2654435761u) % pe->numel);
        float orig = th[i], h = 1e-2f * fmaxf(fabsf(orig), 1e-2f);
        float tp = orig + h, tm = orig - h;
        ops()->to_device(theta + i, &tp, sizeof(float));
        double bp = vdu_anchor(&s, theta, NULL, 0.0f, scratch);
        ops()->to_device(theta + i, &tm, sizeof(float));
        double bm = vdu_anchor(&s, theta, NULL, 0.0f, scratch);
        ops()->to_device(theta + i, &orig, sizeof(float));
        double fd = (bp - bm) / ((double)tp - (double)tm);
        double got = ((double)g[i] - 0.25) / 2.5;
        double err = fabs(got - fd) / fmax(fabs(fd), 1e-6);
        if (err > worst) worst = err;
    }
    if (!(worst < 1e-3)) fail_msg("dB/dtheta vs central difference: worst relative error %.3g", worst);
    free(g); free(th); free(mu); free(prec);
    ops()->release(theta); ops()->release(grad); ops()->release(scratch);
    vdu_stats_free(&s);
    model_free(&parent);
}

static void test_anchor_step_toward_mu(void **state) {
    (void)state;
    char list[1024];
    snprintf(list, sizeof list, "%s,%s", c1, c2);
    lethe_model parent;
    assert_int_equal(model_load(&parent, c1), LETHE_OK);
    vdu_stats s;
    assert_int_equal(vdu_stats_load(&s, &parent, list, NULL, VDU_DEFAULT_VAR_FLOOR), LETHE_OK);
    const size_t n = s.n;
    float *theta = ops()->alloc(n * sizeof(float)), *grad = ops()->alloc(n * sizeof(float)),
          *scratch = ops()->alloc(n * sizeof(float));
    ops()->copy(theta, parent.params, n);
    double b0 = vdu_anchor(&s, theta, grad, 1.0f, scratch);
    float *prec = malloc(n * sizeof(float)), *mu = malloc(n * sizeof(float)), *before = malloc(n * sizeof(float)),
          *after = malloc(n * sizeof(float));
    ops()->to_host(prec, s.prec, n * sizeof(float));
    ops()->to_host(mu, s.mu, n * sizeof(float));
    ops()->to_host(before, theta, n * sizeof(float));
    float pmax = 0;
    for (size_t i = 0; i < n; i++) pmax = fmaxf(pmax, prec[i]);
    // gradient descent on B alone, step 0.5 / max prec: every |theta - mu| shrinks
    ops()->axpbz(theta, 1.0f, theta, -0.5f / pmax, grad, n);
    ops()->to_host(after, theta, n * sizeof(float));
    size_t closer = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        double d0 = fabs((double)before[i] - mu[i]), d1 = fabs((double)after[i] - mu[i]);
        assert_true(d1 <= d0 + 1e-7);
        if (d0 > 1e-6) { moved++; closer += d1 < d0; }
    }
    assert_true(moved > n / 2);
    assert_int_equal(closer, moved);
    double b1 = vdu_anchor(&s, theta, NULL, 0.0f, scratch);
    assert_true(b1 < b0);
    free(prec); free(mu); free(before); free(after);
    ops()->release(theta); ops()->release(grad); ops()->release(scratch);
    vdu_stats_free(&s);
    model_free(&parent);
}

// ---- errors ----------------------------------------------------------------------------------

static void test_errors(void **state) {
    (void)state;
    lethe_model parent;
    assert_int_equal(model_load(&parent, c1), LETHE_OK);
    vdu_stats s;
    char list[1024];
    expect_error(vdu_stats_load(&s, &parent, c1, NULL, 0.01f), "at least 2 checkpoints");
    expect_error(vdu_stats_load(&s, &parent, NULL, NULL, 0.01f), "--checkpoints");
    snprintf(list, sizeof list, "%s,%s", c1, c2);
    expect_error(vdu_stats_load(&s, &parent, list, g_root, 0.01f), "not both");
    expect_error(vdu_stats_load(&s, &parent, list, NULL, 0.0f), "--var-floor");
    snprintf(list, sizeof list, "%s,%s", c1, other);
    expect_error(vdu_stats_load(&s, &parent, list, NULL, 0.01f), "another UNet config");
    assert_non_null(strstr(lethe_last_error(), "block_out_channels"));
    snprintf(list, sizeof list, "%s,%s", c1, c1);
    expect_error(vdu_stats_load(&s, &parent, list, NULL, 0.01f), "identical");
    snprintf(list, sizeof list, "%s,%s/nope", c1, g_root);
    expect_error(vdu_stats_load(&s, &parent, list, NULL, 0.01f), "nope");
    expect_error(vdu_stats_load(&s, &parent, NULL, c1, 0.01f), "has no snapshots");
    model_free(&parent);

    // through the loop: setup fails, nothing is written
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char out[256];
    path_in(out, sizeof out, "err_out");
    unlearn_opts o;
    quick_opts(&o, c1, out);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", c1), LETHE_OK);
    expect_error(run_vdu(&o, &ds), "at least 2 checkpoints");
    char p[512];
    snprintf(p, sizeof p, "%s/lethe.json", out);
    assert_false(fs_exists(p));
    dataset_free(&ds);
}

// ---- runs ------------------------------------------------------------------------------------

static void check_provenance(const char *out, const char *parent_dir, const char *checkpoints, int k) {
    char p[512], sha[65];
    lethe_model m;
    assert_int_equal(model_load(&m, parent_dir), LETHE_OK);
    assert_int_equal(model_weights_sha256(&m, sha), LETHE_OK);
    model_free(&m);
    snprintf(p, sizeof p, "%s/lethe.json", out);
    cJSON *j = read_json(p);
    assert_string_equal(jstr(j, "method"), "vdu");
    assert_string_equal(jstr(j, "kind"), "unlearned");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(j, "parent"), "weights_sha256"), sha);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(j, "arguments");
    if (checkpoints) assert_string_equal(jstr(args, "checkpoints"), checkpoints);
    const char *rec = jstr(j, "reconstructed");
    assert_non_null(strstr(rec, "gamma*B - (1-gamma)*A"));
    assert_non_null(strstr(rec, "A' + gamma*B"));
    assert_non_null(strstr(rec, "q(theta) = delta(theta)"));
    assert_non_null(strstr(rec, "0.5 * sum_i prec_i (theta_i - mu_i)^2"));
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/vdu_statistics.json", out);
    j = read_json(p);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "k")->valueint, k);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "checkpoints")), k);
    assert_string_equal(jstr(j, "parent_weights_sha256"), sha);
    cJSON_Delete(j);
    // the log has both parts and loss = -forget + gamma * anchor (gamma 1)
    snprintf(p, sizeof p, "%s/unlearn_log.jsonl", out);
    uint8_t *b;
    size_t n;
    assert_int_equal(fs_read_all(p, &b, &n), LETHE_OK);
    const uint8_t *nl = memchr(b, '\n', n);
    assert_non_null(nl);
    cJSON *r = cJSON_ParseWithLength((const char *)b, (size_t)(nl - b));
    free(b);
    assert_non_null(r);
    double loss = cJSON_GetObjectItemCaseSensitive(r, "loss")->valuedouble,
           lf = cJSON_GetObjectItemCaseSensitive(r, "forget_dsm")->valuedouble,
           lb = cJSON_GetObjectItemCaseSensitive(r, "anchor")->valuedouble;
    assert_true(lb > 0 && lf > 0);
    assert_true(fabs(loss - (-lf + lb)) < 1e-9 * (fabs(loss) + 1));
    cJSON_Delete(r);
}

static double max_abs_diff(const char *a, const char *b) {
    size_t na, nb;
    float *x = host_weights(a, &na), *y = host_weights(b, &nb);
    assert_true(na == nb);
    double d = 0;
    for (size_t i = 0; i < na; i++) d = fmax(d, fabs((double)x[i] - y[i]));
    free(x);
    free(y);
    return d;
}

static void test_run_conditional(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char out[256], list[1024];
    path_in(out, sizeof out, "run_cond");
    snprintf(list, sizeof list, "%s,%s,%s", c1, c2, c3);
    unlearn_opts o;
    quick_opts(&o, c1, out);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    lethe_status st = run_vdu(&o, &ds);
    if (st) fail_msg("%s", lethe_last_error());
    check_provenance(out, c1, list, 3);
    double d = max_abs_diff(out, c1);
    assert_true(d > 0 && d < 3 * 1e-4);   // Adam moves a weight by about lr (1e-5) per step

    // --stop-after 2 then --resume: the same weights (setup re-run deterministically)
    char out2[256];
    path_in(out2, sizeof out2, "run_cond_resume");
    quick_opts(&o, c1, out2);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    o.stop_after = 2;
    assert_int_equal(run_vdu(&o, &ds), LETHE_OK);
    o.stop_after = 0;
    o.resume = 1;
    assert_int_equal(run_vdu(&o, &ds), LETHE_OK);
    assert_true(max_abs_diff(out, out2) == 0);
    dataset_free(&ds);
}

static void test_run_unconditional(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char out[256], list[1024];
    path_in(out, sizeof out, "run_uncond");
    snprintf(list, sizeof list, "%s,%s", u1, u2);
    unlearn_opts o;
    quick_opts(&o, u1, out);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "gamma", "1"), LETHE_OK);
    lethe_status st = run_vdu(&o, &ds);
    if (st) fail_msg("%s", lethe_last_error());
    check_provenance(out, u1, list, 2);
    lethe_model m;
    assert_int_equal(model_load(&m, out), LETHE_OK);
    assert_int_equal(m.n_classes, 0);
    model_free(&m);
    assert_true(max_abs_diff(out, u1) > 0);
    dataset_free(&ds);
}

// Only the first 8 forget images are read: changing the later ones changes nothing, even
// with a batch (16) larger than the forget set.
static void test_data_constrained(void **state) {
    (void)state;
    char list[1024], oa[256], ob[256], oc[256];
    snprintf(list, sizeof list, "%s,%s", c1, c2);
    path_in(oa, sizeof oa, "dc_a");
    path_in(ob, sizeof ob, "dc_b");
    path_in(oc, sizeof oc, "dc_c");
    lethe_dataset a, b;
    toy_dataset(&a, 0);
    toy_dataset(&b, 1);
    unlearn_opts o;
    quick_opts(&o, c1, oa);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    o.forget_images = 8;
    o.batch = 16;
    o.steps = 2;
    lethe_status st = run_vdu(&o, &a);
    if (st) fail_msg("%s", lethe_last_error());
    o.out_dir = ob;
    assert_int_equal(run_vdu(&o, &b), LETHE_OK);
    assert_true(max_abs_diff(oa, ob) == 0);
    // without the limit the later images are used and the result differs
    o.out_dir = oc;
    o.forget_images = 0;
    assert_int_equal(run_vdu(&o, &b), LETHE_OK);
    assert_true(max_abs_diff(oa, oc) > 0);
    dataset_free(&a);
    dataset_free(&b);
}

// ---- the convex and gated objectives ------------------------------------------------------------

// Ho et al.'s eq. 12 weights from the default schedule: mean 1 over t, and their ratios equal
// beta / (2 (1 - beta) (1 - abar)) computed here from the linear betas (1e-4 .. 0.02, T = 1000).
static void test_elbo_weights(void **state) {
    (void)state;
    schedule_config c;
    schedule_config_default(&c);
    lethe_schedule s;
    assert_int_equal(schedule_init(&s, &c), LETHE_OK);
    const int T = c.num_train_timesteps;
    double *w = malloc((size_t)T * sizeof(double)), mean = 0;
    schedule_elbo_weights(&s, w);
    for (int t = 0; t < T; t++) mean += w[t] / T;
    assert_true(fabs(mean - 1) < 1e-12);
    // by hand: beta_t, abar_t as float32 products (diffusers), C_t unnormalised
    double raw[4];
    const int at[4] = {0, 1, 100, 999};
    float abar = 1.0f;
    for (int t = 0, k = 0; t < T && k < 4; t++) {
        float beta = (float)(1e-4 + (0.02 - 1e-4) * t / (T - 1));
        abar *= 1.0f - beta;
        if (t == at[k]) raw[k++] = beta / (2.0 * (1.0 - beta) * (1.0 - (double)abar));
    }
    assert_true(fabs(raw[0] - 0.5 / (1 - 1e-4)) < 1e-3);   // t = 0: 1 - abar_0 = beta_0
    for (int k = 1; k < 4; k++) assert_true(fabs(w[at[k]] / w[0] - raw[k] / raw[0]) < 1e-6 * raw[k] / raw[0]);
    // the bound stresses small t: C_0 ~ 51, C_500 ~ 0.56, C_999 ~ 1.03 (beta_t grows again)
    assert_true(w[0] > 40 && w[500] < 0.7 && w[999] > 0.9 && w[999] < 1.2);
    free(w);
    schedule_free(&s);
}

// A spy around the real step: at step 2 it checks vdu_objective against what the test
// computes itself (per-image losses under the live and the parent's weights, B from its own
// statistics), then lets the real step run.
static struct {
    const char *list;          // the checkpoints
    float gamma, gate;         // as given
    int gated, elbo;
    int checked, open, n;
    double loss_err, forget_err, open_err, rows_vs_mse, gate_err, gate_vs_all, fd_err;
} spy;
static float *spy_parent;      // the parent's weights (backend)

static float *dev_host(const float *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    ops()->to_host(h, d, n * sizeof(float));
    return h;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

typedef struct {
    const float *w;
} fixed_weights;

static void put_fixed(void *ctx, const double *l, float *w, int n) {
    (void)l;
    memcpy(w, ((fixed_weights *)ctx)->w, (size_t)n * sizeof(float));
}

static double spy_value(unlearn_ctx *u, int step) {
    vdu_terms t;
    ops()->fill(u->grads, 0.0f, u->n_params);
    assert_int_equal(vdu_objective(u, step, &t), LETHE_OK);
    return t.loss;
}

static void spy_check(unlearn_ctx *u, int step) {
    const size_t np = u->n_params, numel = u->numel;
    const int n = u->o->batch;
    const double g = spy.gamma;
    vdu_terms T;
    ops()->fill(u->grads, 0.0f, np);
    assert_int_equal(vdu_objective(u, step, &T), LETHE_OK);
    float *G = dev_host(u->grads, np);
    unlearn_batch *b;
    assert_int_equal(unlearn_batch_get(u, STREAM_FORGET, n, &b), LETHE_OK);   // the step's batch, kept
    // per-image losses under the live weights and the parent's
    float *pred = ops()->alloc((size_t)n * numel * sizeof(float));
    double *l = malloc((size_t)n * sizeof(double)), *p = malloc((size_t)n * sizeof(double));
    assert_int_equal(unlearn_predict(u, u->params, b->xt, b->t, &b->cond, n, pred), LETHE_OK);
    unlearn_row_mse(u, pred, b->eps, n, l);
    assert_int_equal(unlearn_predict(u, spy_parent, b->xt, b->t, &b->cond, n, pred), LETHE_OK);
    unlearn_row_mse(u, pred, b->eps, n, p);
    double *c_t = malloc((size_t)u->sched.cfg.num_train_timesteps * sizeof(double));
    schedule_elbo_weights(&u->sched, c_t);
    // B and its gradient from the test's own statistics
    vdu_stats st;
    assert_int_equal(vdu_stats_load(&st, u->model, spy.list, NULL, VDU_DEFAULT_VAR_FLOOR), LETHE_OK);
    float *scratch = ops()->alloc(np * sizeof(float)), *gb = ops()->alloc(np * sizeof(float));
    const double B = vdu_anchor(&st, u->params, gb, 1.0f, scratch);
    float *GB = dev_host(gb, np);
    // the objective by hand: gamma B - (1 - gamma) mean C_t min(l, gate p)
    double term = 0, mean_l = 0;
    int open = 0;
    float *w_open = malloc((size_t)n * sizeof(float)), *w_all = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < n; r++) {
        const double c = spy.elbo ? c_t[(int)b->t[r]] : 1.0;
        const int on = !spy.gated || l[r] < spy.gate * p[r];
        open += on;
        term += c * (on ? l[r] : spy.gate * p[r]) / n;
        mean_l += l[r] / n;
        w_all[r] = (float)(-(1 - g) * c / n);
        w_open[r] = on ? w_all[r] : 0.0f;
    }
    spy.n = n;
    spy.open = open;
    spy.open_err = T.open != open;
    spy.loss_err = fabs(T.loss - (g * B - (1 - g) * term)) / fabs(T.loss);
    spy.forget_err = fabs(T.forget_term - term) / term + fabs(T.forget_dsm - mean_l) / mean_l;
    // the forget part of the gradient (G - gamma dB) against the open rows' gradients alone
    double *lr = malloc((size_t)n * sizeof(double));
    fixed_weights fw = {w_open};
    ops()->fill(u->grads, 0.0f, np);
    assert_int_equal(unlearn_mse_grad_rows(u, b->xt, b->t, &b->cond, n, b->eps, put_fixed, &fw, lr), LETHE_OK);
    float *Go = dev_host(u->grads, np);
    fw.w = w_all;
    ops()->fill(u->grads, 0.0f, np);
    assert_int_equal(unlearn_mse_grad_rows(u, b->xt, b->t, &b->cond, n, b->eps, put_fixed, &fw, lr), LETHE_OK);
    float *Ga = dev_host(u->grads, np);
    double d_open = 0, d_all = 0;
    for (size_t i = 0; i < np; i++) {
        const double f = (double)G[i] - g * GB[i];
        d_open = fmax(d_open, fabs(f - Go[i]));
        d_all = fmax(d_all, fabs(f - Ga[i]));
    }
    spy.gate_err = d_open / fmax(max_abs(Ga, np), 1e-30);
    spy.gate_vs_all = d_all / fmax(max_abs(Ga, np), 1e-30);
    // the rows helper with equal weights w/n is unlearn_mse_grad(weight w)
    float *wu = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < n; r++) wu[r] = -0.7f / n;
    fw.w = wu;
    ops()->fill(u->grads, 0.0f, np);
    assert_int_equal(unlearn_mse_grad_rows(u, b->xt, b->t, &b->cond, n, b->eps, put_fixed, &fw, lr), LETHE_OK);
    float *Gr = dev_host(u->grads, np);
    ops()->fill(u->grads, 0.0f, np);
    double lm;
    assert_int_equal(unlearn_mse_grad(u, b->xt, b->t, &b->cond, n, b->eps, -0.7f, &lm), LETHE_OK);
    float *Gm = dev_host(u->grads, np);
    double dm = 0;
    for (size_t i = 0; i < np; i++) dm = fmax(dm, fabs((double)Gr[i] - Gm[i]));
    spy.rows_vs_mse = dm / max_abs(Gm, np) + fabs(lm - mean_l) / mean_l;
    // the directional derivative along G: (L(theta + e G) - L(theta - e G)) / 2e = |G|^2
    double gg = 0;
    for (size_t i = 0; i < np; i++) gg += (double)G[i] * G[i];
    float *w0 = dev_host(u->params, np), *wp = malloc(np * sizeof(float));
    const double e = 1e-3 / sqrt(gg);
    double Lp[2];
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < np; i++) wp[i] = w0[i] + (float)((side ? -e : e) * G[i]);
        ops()->to_device(u->params, wp, np * sizeof(float));
        Lp[side] = spy_value(u, step);
    }
    ops()->to_device(u->params, w0, np * sizeof(float));
    spy.fd_err = fabs((Lp[0] - Lp[1]) / (2 * e) - gg) / gg;
    ops()->fill(u->grads, 0.0f, np);   // the real step starts from zero
    spy.checked = 1;
    free(G); free(GB); free(Go); free(Ga); free(Gr); free(Gm); free(w0); free(wp); free(wu);
    free(l); free(p); free(lr); free(c_t); free(w_open); free(w_all);
    ops()->release(pred); ops()->release(scratch); ops()->release(gb);
    vdu_stats_free(&st);
}

static lethe_status spy_step(unlearn_ctx *u, int step) {
    if (step == 2) spy_check(u, step);
    return unlearn_vdu.step(u, step);
}

// A short run of `objective` with the spy (lr 3e-3: the weights move enough in 2 steps for
// the gate to close on some images).
static void spy_run(const char *objective, const char *weighting, const char *gamma, const char *gate) {
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    static char list[1024];
    char out[256];
    snprintf(list, sizeof list, "%s,%s,%s", c1, c2, c3);
    path_in(out, sizeof out, "spy");
    unlearn_opts o;
    quick_opts(&o, c1, out);
    o.lr = 3e-3f;
    o.batch = 8;
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "objective", objective), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "weighting", weighting), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "stability-weight", gamma), LETHE_OK);
    if (gate) assert_int_equal(unlearn_opts_set(&o, "gate", gate), LETHE_OK);
    memset(&spy, 0, sizeof spy);
    spy.list = list;
    spy.gamma = strtof(gamma, NULL);
    spy.gate = gate ? strtof(gate, NULL) : 0;
    spy.gated = gate != NULL;
    spy.elbo = strcmp(weighting, "elbo") == 0;
    lethe_model m;
    assert_int_equal(model_load(&m, c1), LETHE_OK);
    spy_parent = ops()->alloc(m.unet.table.total * sizeof(float));
    ops()->copy(spy_parent, m.params, m.unet.table.total);
    assert_int_equal(fs_mkdir_p(out), LETHE_OK);
    unlearn_method meth = unlearn_vdu;
    meth.step = spy_step;
    lethe_status st = unlearn_run_loop(&o, &meth, &m, &ds, 0);
    if (st) fail_msg("%s", lethe_last_error());
    ops()->release(spy_parent);
    model_free(&m);
    dataset_free(&ds);
    assert_true(spy.checked);
    assert_true(spy.loss_err < 1e-6);
    assert_true(spy.forget_err < 1e-6);
    assert_int_equal(spy.open_err, 0);
    assert_true(spy.gate_err < 1e-5);
    assert_true(spy.rows_vs_mse < 1e-5);
    if (spy.fd_err >= 0.02) fail_msg("directional derivative off by %.3g", spy.fd_err);
}

// faithful: L = gamma B - (1 - gamma) mean l; every image pushed
static void test_faithful_objective(void **state) {
    (void)state;
    spy_run("faithful", "simple", "0.25", NULL);
    assert_int_equal(spy.open, spy.n);
    assert_true(spy.gate_vs_all < 1e-5);
    spy_run("faithful", "elbo", "0.6", NULL);
    assert_int_equal(spy.open, spy.n);
}

// gated: the gradient of each image whose loss passed gate x the parent's is exactly off
static void test_gated_objective(void **state) {
    (void)state;
    spy_run("gated", "simple", "0.25", "1.5");   // after 2 steps the ratios are 1.26..1.75
    assert_true(spy.open > 0 && spy.open < spy.n);   // both kinds present
    assert_true(spy.gate_vs_all > 1e-3);              // and it matters
    spy_run("gated", "elbo", "0.5", "1e6");          // a gate never reached: the faithful gradient
    assert_int_equal(spy.open, spy.n);
    assert_true(spy.gate_vs_all < 1e-5);
}

// Option checks: gamma in [0, 1) for the convex objectives, the gate > 1 and only under gated.
static void test_objective_errors(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char list[1024], out[256];
    snprintf(list, sizeof list, "%s,%s", c1, c2);
    path_in(out, sizeof out, "obj_err");
    const char *cases[][4] = {
        {"faithful", "1", NULL, "must be in [0, 1)"},
        {"gated", "-0.1", NULL, "must be in [0, 1)"},
        {"gated", "0.5", "1", "> 1"},
        {"faithful", "0.5", "2", "applies to --objective gated only"},
        {"reconstructed", "1", "2", "applies to --objective gated only"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unlearn_opts o;
        quick_opts(&o, c1, out);
        assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "objective", cases[i][0]), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "stability-weight", cases[i][1]), LETHE_OK);
        if (cases[i][2]) assert_int_equal(unlearn_opts_set(&o, "gate", cases[i][2]), LETHE_OK);
        expect_error(run_vdu(&o, &ds), cases[i][3]);
    }
    dataset_free(&ds);
}

// --update natural: the step's gradient is the objective's gradient divided by prec (the
// test's own statistics), and the optimizer is plain SGD (momentum 0 unless --adam-beta1,
// clipping off here): after one step the weights are the parent's minus lr times it.
static struct {
    float *g_objective, *g_step;   // host copies from step 0
} nat;

static lethe_status natural_spy_step(unlearn_ctx *u, int step) {
    vdu_terms T;
    ops()->fill(u->grads, 0.0f, u->n_params);
    lethe_status st = vdu_objective(u, step, &T);
    if (st) return st;
    if (step == 0) nat.g_objective = dev_host(u->grads, u->n_params);
    ops()->fill(u->grads, 0.0f, u->n_params);
    if ((st = unlearn_vdu.step(u, step))) return st;
    if (step == 0) nat.g_step = dev_host(u->grads, u->n_params);
    return LETHE_OK;
}

static void test_natural_update(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char list[1024], out[256], path[512];
    snprintf(list, sizeof list, "%s,%s,%s", c1, c2, c3);
    path_in(out, sizeof out, "natural");
    unlearn_opts o;
    quick_opts(&o, c1, out);
    o.steps = 1;
    o.lr = 0.05f;
    o.max_grad_norm = 0;
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "objective", "gated"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "gate", "20"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "update", "natural"), LETHE_OK);
    lethe_model m;
    assert_int_equal(model_load(&m, c1), LETHE_OK);
    const size_t np = m.unet.table.total;
    float *theta0 = dev_host(m.params, np);
    vdu_stats s;
    assert_int_equal(vdu_stats_load(&s, &m, list, NULL, VDU_DEFAULT_VAR_FLOOR), LETHE_OK);
    float *prec = dev_host(s.prec, np);
    vdu_stats_free(&s);
    assert_int_equal(fs_mkdir_p(out), LETHE_OK);
    unlearn_method meth = unlearn_vdu;
    meth.step = natural_spy_step;
    memset(&nat, 0, sizeof nat);
    lethe_status st = unlearn_run_loop(&o, &meth, &m, &ds, 0);
    if (st) fail_msg("%s", lethe_last_error());
    model_free(&m);
    assert_non_null(nat.g_objective);
    assert_non_null(nat.g_step);
    size_t n1;
    float *theta1 = host_weights(out, &n1);
    assert_int_equal(n1, np);
    double g_err = 0, w_err = 0, moved = 0, scale = max_abs(nat.g_objective, np);
    for (size_t i = 0; i < np; i++) {
        if (prec[i] > 0) g_err = fmax(g_err, fabs((double)nat.g_step[i] * prec[i] - nat.g_objective[i]) / scale);
        else assert_true(nat.g_step[i] == 0);   // the padding: no inf * 0
        w_err = fmax(w_err, fabs((double)theta1[i] - ((double)theta0[i] - (double)o.lr * nat.g_step[i])));
        moved = fmax(moved, fabs((double)theta1[i] - theta0[i]));
    }
    if (!(g_err < 1e-6)) fail_msg("natural gradient * prec differs from the gradient by %.3g", g_err);
    assert_true(moved > 0);
    if (!(w_err < 1e-6 * fmax(moved, 1e-3))) fail_msg("SGD step off by %.3g (moved %.3g)", w_err, moved);
    snprintf(path, sizeof path, "%s/vdu_statistics.json", out);
    cJSON *j = read_json(path);
    assert_string_equal(jstr(j, "update"), "natural");
    cJSON_Delete(j);
    free(nat.g_objective); free(nat.g_step); free(theta0); free(theta1); free(prec);
    dataset_free(&ds);
}

// --params conditioning at the defaults (gated, natural update, the Fisher anchor: mu = the
// parent): only the forgotten class's row of the class embedding moves (no other row has a
// gradient: the forget batches hold class 1 only, and the anchor's is 0 at the parent); an
// unconditional model has no conditioning weights (an error).
static void test_params_conditioning(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    char out[256], list[1024];
    path_in(out, sizeof out, "params_cond");
    unlearn_opts o;
    quick_opts(&o, c1, out);
    assert_int_equal(unlearn_opts_set(&o, "anchor-precision", "fisher"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "fisher-samples", "5"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "objective", "gated"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "update", "natural"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "params", "conditioning"), LETHE_OK);
    o.lr = VDU_DEFAULT_LR_NATURAL;
    lethe_status st = run_vdu(&o, &ds);
    if (st) fail_msg("%s", lethe_last_error());
    lethe_model m;
    assert_int_equal(model_load(&m, c1), LETHE_OK);
    const param_table *tab = &m.unet.table;
    size_t off = 0, numel = 0;
    for (int i = 0; i < tab->n; i++)
        if (!strcmp(tab->entries[i].name, "class_embedding.weight")) {
            off = tab->entries[i].offset;
            numel = tab->entries[i].numel;
        }
    assert_true(numel > 0);
    const size_t width = numel / (size_t)m.unet.cfg.num_class_embeds;
    model_free(&m);
    size_t n0, n1;
    float *theta0 = host_weights(c1, &n0), *theta1 = host_weights(out, &n1);
    assert_int_equal(n0, n1);
    size_t changed_elsewhere = 0;
    double moved = 0;
    for (size_t i = 0; i < n0; i++) {
        const int forget_row = i >= off && i < off + numel && (i - off) / width == 1;
        if (forget_row) moved = fmax(moved, fabs((double)theta1[i] - theta0[i]));
        else changed_elsewhere += theta1[i] != theta0[i];
    }
    if (changed_elsewhere) fail_msg("%zu weights outside class 1's embedding row changed", changed_elsewhere);
    assert_true(moved > 0);
    free(theta0); free(theta1);

    path_in(out, sizeof out, "params_uncond");
    snprintf(list, sizeof list, "%s,%s", u1, u2);
    quick_opts(&o, u1, out);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "params", "conditioning"), LETHE_OK);
    expect_error(run_vdu(&o, &ds), "no class embedding or cross-attention");
    dataset_free(&ds);
}

// ---- --anchor-precision fisher ---------------------------------------------------------------------

// prec = (F + floor mean F) / mean(F + floor mean F) over the parameters, mu = the parent
// exactly, padding 0; errors for a zero Fisher and a bad floor.
static void test_fisher_stats(void **state) {
    (void)state;
    lethe_model parent;
    assert_int_equal(model_load(&parent, c1), LETHE_OK);
    const size_t n = denoiser_num_params(&parent.net);
    const param_table *t = &parent.unet.table;
    float *host = calloc(n, sizeof(float)), *gp = malloc(n * sizeof(float)), *gmu = malloc(n * sizeof(float)),
          *theta = malloc(n * sizeof(float));
    size_t n_real = 0;
    double sum = 0;
    for (int e = 0; e < t->n; e++)
        for (size_t i = t->entries[e].offset; i < t->entries[e].offset + t->entries[e].numel; i++, n_real++)
            sum += (host[i] = (float)((i * 7919) % 13) * 0.25f);   // some exact zeros, the rest positive
    float *F = ops()->alloc(n * sizeof(float));
    ops()->to_device(F, host, n * sizeof(float));
    const float floor_ = 0.05f;
    vdu_stats s;
    lethe_status st = vdu_stats_from_fisher(&s, &parent, parent.params, F, floor_);
    if (st) fail_msg("%s", lethe_last_error());
    const double mean_f = sum / (double)n_real, eps = floor_ * mean_f;
    assert_true(fabs(s.mean_fisher - mean_f) <= 1e-9 * mean_f);
    assert_true(fabs(s.mean_raw_prec - (mean_f + eps)) <= 1e-9 * mean_f);
    ops()->to_host(gp, s.prec, n * sizeof(float));
    ops()->to_host(gmu, s.mu, n * sizeof(float));
    ops()->to_host(theta, parent.params, n * sizeof(float));
    assert_memory_equal(gmu, theta, n * sizeof(float));   // anchored at the parent itself
    double max_err = 0, mean_prec = 0, pad = 0;
    for (size_t i = 0; i < n; i++) pad += fabs(gp[i]);
    for (int e = 0; e < t->n; e++)
        for (size_t i = t->entries[e].offset; i < t->entries[e].offset + t->entries[e].numel; i++) {
            double want = ((double)host[i] + eps) / (mean_f + eps);
            max_err = fmax(max_err, fabs(gp[i] - want) / want);
            mean_prec += gp[i];
            pad -= fabs(gp[i]);
        }
    if (!(max_err < 1e-6)) fail_msg("prec rel err %.3g", max_err);
    assert_true(fabs(mean_prec / (double)n_real - 1) < 1e-5);
    assert_true(fabs(pad) < 1e-3);   // the padding's prec is 0
    // at mu the anchor is 0
    float *scratch = ops()->alloc(n * sizeof(float));
    assert_true(vdu_anchor(&s, parent.params, NULL, 0.0f, scratch) == 0.0);
    vdu_stats_free(&s);
    ops()->fill(F, 0.0f, n);
    expect_error(vdu_stats_from_fisher(&s, &parent, parent.params, F, floor_), "0 everywhere");
    expect_error(vdu_stats_from_fisher(&s, &parent, parent.params, F, 0.0f), "--var-floor");
    ops()->release(F);
    ops()->release(scratch);
    free(host); free(gp); free(gmu); free(theta);
    model_free(&parent);
}

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

// Runs on a class-conditional and an unconditional model: no checkpoints read, the Fisher's
// statistics recorded, the anchor 0 at the start, --resume gives the same weights (the
// samples and the Fisher are recomputed from the parent); --checkpoints is refused.
static void test_fisher_precision_run(void **state) {
    (void)state;
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    const char *parents[2] = {c1, u1};
    for (int p = 0; p < 2; p++) {
        char out[256], out2[256], path[512];
        snprintf(out, sizeof out, "%s/fisher_%d", g_root, p);
        snprintf(out2, sizeof out2, "%s/fisher_%d_resume", g_root, p);
        unlearn_opts o;
        quick_opts(&o, parents[p], out);
        assert_int_equal(unlearn_opts_set(&o, "precision", "fisher"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "fisher-samples", "5"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "objective", "gated"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "gate", "20"), LETHE_OK);
        lethe_status st = run_vdu(&o, &ds);
        if (st) fail_msg("%s", lethe_last_error());
        snprintf(path, sizeof path, "%s/vdu_statistics.json", out);
        cJSON *j = read_json(path);
        assert_string_equal(jstr(j, "precision"), "fisher");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "k")->valueint, 0);
        assert_true(json_num(j, "fisher_samples") == 5);
        assert_true(json_num(j, "mean_fisher") > 0);
        assert_true(json_num(j, "anchor_at_parent") == 0);
        cJSON_Delete(j);
        double d = max_abs_diff(out, parents[p]);
        assert_true(d > 0 && d < 3 * 1e-4);
        quick_opts(&o, parents[p], out2);
        assert_int_equal(unlearn_opts_set(&o, "precision", "fisher"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "fisher-samples", "5"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "objective", "gated"), LETHE_OK);
        assert_int_equal(unlearn_opts_set(&o, "gate", "20"), LETHE_OK);
        o.stop_after = 2;
        assert_int_equal(run_vdu(&o, &ds), LETHE_OK);
        o.stop_after = 0;
        o.resume = 1;
        assert_int_equal(run_vdu(&o, &ds), LETHE_OK);
        assert_true(max_abs_diff(out, out2) == 0);
    }
    char out[256], list[1024];
    path_in(out, sizeof out, "fisher_err");
    snprintf(list, sizeof list, "%s,%s", c1, c2);
    unlearn_opts o;
    quick_opts(&o, c1, out);
    assert_int_equal(unlearn_opts_set(&o, "precision", "fisher"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "checkpoints", list), LETHE_OK);
    expect_error(run_vdu(&o, &ds), "reads no checkpoints");
    quick_opts(&o, c1, out);
    assert_int_equal(unlearn_opts_set(&o, "precision", "fisher"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "fisher-samples", "0"), LETHE_OK);
    expect_error(run_vdu(&o, &ds), "--fisher-samples");
    dataset_free(&ds);
}

// ---- training snapshots ------------------------------------------------------------------------

static void test_snapshot_steps(void **state) {
    (void)state;
    const int want[5] = {1800, 2100, 2400, 2700, 3000};
    for (int k = 0; k < 5; k++) assert_int_equal(train_snapshot_step(3000, k, 5), want[k]);
    assert_int_equal(train_snapshot_step(4, 0, 2), 3);
    assert_int_equal(train_snapshot_step(4, 1, 2), 4);
    assert_int_equal(train_snapshot_step(7, 0, 2), 5);
    assert_int_equal(train_snapshot_step(7, 1, 2), 7);
    for (int k = 0; k < 3; k++) assert_int_equal(train_snapshot_step(5, k, 3), 3 + k);
}

static lethe_status train_small(const char *out, int steps, int snapshots, int stop_after, int resume) {
    unet_config c;
    small_config(&c, 1);
    lethe_model m;
    assert_int_equal(model_create(&m, &c, 3), LETHE_OK);
    lethe_dataset ds;
    toy_dataset(&ds, 0);
    train_opts o;
    train_opts_default(&o);
    o.steps = steps;
    o.batch = 4;
    o.warmup = 1;
    o.checkpoint_every = 0;
    o.out_dir = out;
    o.snapshots = snapshots;
    o.stop_after = stop_after;
    lethe_status st = train_run(&m, &ds, &o, resume);
    dataset_free(&ds);
    model_free(&m);
    return st;
}

static int same_file(const char *a, const char *b) {
    uint8_t *x, *y;
    size_t nx, ny;
    if (fs_read_all(a, &x, &nx) || fs_read_all(b, &y, &ny)) return 0;
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void test_train_snapshots(void **state) {
    (void)state;
    char ta[256], tb[256], p[512], q[512];
    path_in(ta, sizeof ta, "train_a");
    path_in(tb, sizeof tb, "train_b");
    lethe_status st = train_small(ta, 6, 3, 0, 0);   // H = 3: steps 4, 5, 6
    if (st) fail_msg("%s", lethe_last_error());
    for (int s = 4; s <= 6; s++) {
        snprintf(p, sizeof p, "%s/snapshots/snapshot_%08d.safetensors", ta, s);
        assert_true(fs_exists(p));
        st_file f;
        assert_int_equal(st_open(&f, p), LETHE_OK);
        assert_int_equal(atoi(st_metadata(&f, "step")), s);
        assert_string_equal(st_metadata(&f, "weights"), "ema");
        assert_string_equal(st_metadata(&f, "format"), "pt");
        st_close(&f);
    }
    snprintf(p, sizeof p, "%s/snapshots/snapshot_%08d.safetensors", ta, 3);
    assert_false(fs_exists(p));
    // the last snapshot holds exactly the exported (EMA) weights
    lethe_model m;
    assert_int_equal(model_load(&m, ta), LETHE_OK);
    size_t n = m.unet.table.total;
    float *exported = malloc(n * sizeof(float)), *snap = calloc(n, sizeof(float));   // padding stays 0
    ops()->to_host(exported, m.params, n * sizeof(float));
    st_file f;
    snprintf(p, sizeof p, "%s/snapshots/snapshot_%08d.safetensors", ta, 6);
    assert_int_equal(st_open(&f, p), LETHE_OK);
    assert_int_equal(model_read_weights(&m.unet.table, snap, &f, "", 1), LETHE_OK);
    st_close(&f);
    assert_memory_equal(exported, snap, n * sizeof(float));
    free(exported);
    free(snap);

    // interrupted after 4 steps (one snapshot taken), resumed: the same three files
    assert_int_equal(train_small(tb, 6, 3, 4, 0), LETHE_OK);
    snprintf(q, sizeof q, "%s/snapshots/snapshot_%08d.safetensors", tb, 5);
    assert_false(fs_exists(q));
    // resuming with another K is refused
    expect_error(train_small(tb, 6, 2, 0, 1), "--snapshots 3");
    assert_int_equal(train_small(tb, 6, 3, 0, 1), LETHE_OK);
    for (int s = 4; s <= 6; s++) {
        snprintf(p, sizeof p, "%s/snapshots/snapshot_%08d.safetensors", ta, s);
        snprintf(q, sizeof q, "%s/snapshots/snapshot_%08d.safetensors", tb, s);
        if (!same_file(p, q)) fail_msg("snapshot of step %d differs after --resume", s);
    }
    // a missing snapshot that was due before the resume step is an error
    assert_int_equal(train_small(tb, 6, 3, 4, 0), LETHE_OK);   // fresh run, stops at step 4
    snprintf(q, sizeof q, "%s/snapshots/snapshot_%08d.safetensors", tb, 4);
    assert_int_equal(remove(q), 0);
    expect_error(train_small(tb, 6, 3, 0, 1), "cannot be recreated");
    // too many snapshots for the second half
    expect_error(train_small(tb, 6, 4, 0, 0), "--snapshots 4");

    // VDU reads them, from the training folder or its snapshots/ folder
    vdu_stats s;
    st = vdu_stats_load(&s, &m, NULL, ta, 0.01f);
    if (st) fail_msg("%s", lethe_last_error());
    assert_int_equal(s.k, 3);
    assert_int_equal(s.step[0], 4);
    assert_int_equal(s.step[2], 6);
    vdu_stats_free(&s);
    snprintf(p, sizeof p, "%s/snapshots", ta);
    assert_int_equal(vdu_stats_load(&s, &m, NULL, p, 0.01f), LETHE_OK);
    assert_int_equal(s.k, 3);
    vdu_stats_free(&s);
    // an unfinished run with only one snapshot so far
    assert_int_equal(train_small(tb, 6, 3, 4, 0), LETHE_OK);
    expect_error(vdu_stats_load(&s, &m, NULL, tb, 0.01f), "is the run finished?");
    // snapshots of another architecture
    lethe_model u;
    assert_int_equal(model_load(&u, u1), LETHE_OK);
    expect_error(vdu_stats_load(&s, &u, NULL, ta, 0.01f), "another UNet config");
    model_free(&u);
    model_free(&m);
}

// ---- fixture ---------------------------------------------------------------------------------

static int group_setup(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/lethe_vdu_XXXXXX");
    if (!mkdtemp(g_root)) return -1;
    unet_config c, u, o;
    small_config(&c, 1);
    small_config(&u, 0);
    small_config(&o, 1);
    o.block_out_channels[0] = 12;
    save_model(&c, 1, "c1", c1, sizeof c1);
    save_model(&c, 2, "c2", c2, sizeof c2);
    save_model(&c, 3, "c3", c3, sizeof c3);
    save_model(&u, 1, "u1", u1, sizeof u1);
    save_model(&u, 2, "u2", u2, sizeof u2);
    save_model(&o, 1, "other", other, sizeof other);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    setenv("LETHE_NO_PROGRESS", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_match_direct),
        cmocka_unit_test(test_anchor_gradient),
        cmocka_unit_test(test_anchor_step_toward_mu),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_run_conditional),
        cmocka_unit_test(test_run_unconditional),
        cmocka_unit_test(test_data_constrained),
        cmocka_unit_test(test_elbo_weights),
        cmocka_unit_test(test_faithful_objective),
        cmocka_unit_test(test_gated_objective),
        cmocka_unit_test(test_objective_errors),
        cmocka_unit_test(test_natural_update),
        cmocka_unit_test(test_params_conditioning),
        cmocka_unit_test(test_fisher_stats),
        cmocka_unit_test(test_fisher_precision_run),
        cmocka_unit_test(test_snapshot_steps),
        cmocka_unit_test(test_train_snapshots),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
