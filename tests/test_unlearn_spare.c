/*
 * test_unlearn_spare.c: SPARE (src/unlearn/spare.c) and its masked LoRA (src/unlearn/lora.c).
 *
 * - the materialised weight equals W0 + s M ⊙ (B A) computed directly, and is W0 exactly
 *   outside the mask and the adapted layers; PEFT's initial factors leave W = W0;
 * - the chain rule dB, dA against central finite differences of sum(c ⊙ W);
 * - the concept timestep distribution: a valid distribution, uniform for constant D(t),
 *   proportional to D otherwise, and the sampler follows it;
 * - a 3-step run on a tiny model (an in-memory dataset of 40 random images) writes a
 *   loadable model whose lethe.json names the method, and changes no weight outside the
 *   adapted layers or the saliency mask; --timesteps uniform runs too;
 * - bad surrogates, timesteps and an unconditional model give clear errors;
 * - stopping after one step and resuming reproduces the uninterrupted run bit for bit.
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

#include "core/rng.h"
#include "core/fsutil.h"
#include "diffusion/model.h"
#include "ops/ops.h"
#include "unlearn/lora.h"
#include "unlearn/spare.h"
#include "unlearn/unlearn_internal.h"

// ---- masked LoRA on a hand-made parameter table -------------------------------------------------

// Two adapted kinds (a conv weight as (4, 27), attention projections), and entries that
// must not be adapted (biases, a plain Linear).
static void small_table(param_table *t) {
    param_table_init(t);
    const int64_t conv[4] = {4, 3, 3, 3}, bias4[1] = {4}, q[2] = {5, 6}, lin[2] = {3, 4}, o[2] = {6, 5}, bias6[1] = {6};
    param_table_add(t, "blk.conv1.weight", 4, conv, PARAM_INIT_UNIFORM_FAN_IN, 27);
    param_table_add(t, "blk.conv1.bias", 1, bias4, PARAM_INIT_UNIFORM_FAN_IN, 27);
    param_table_add(t, "blk.attn.to_q.weight", 2, q, PARAM_INIT_UNIFORM_FAN_IN, 6);
    param_table_add(t, "blk.time_emb_proj.weight", 2, lin, PARAM_INIT_UNIFORM_FAN_IN, 4);
    param_table_add(t, "blk.attn.to_out.0.weight", 2, o, PARAM_INIT_UNIFORM_FAN_IN, 5);
    param_table_add(t, "blk.attn.to_out.0.bias", 1, bias6, PARAM_INIT_UNIFORM_FAN_IN, 5);
}

static float *randn_buf(size_t n, uint64_t seed, float scale) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = scale * lethe_rand_normal(seed, 1, i);
    return x;
}

static int in_adapted(const lora_adapter *L, size_t j) {
    for (int l = 0; l < L->n_layers; l++)
        if (j >= L->layers[l].w_offset && j < L->layers[l].w_offset + (size_t)L->layers[l].out * L->layers[l].in) return 1;
    return 0;
}

static void test_lora_materialise_matches_direct(void **state) {
    param_table t;
    small_table(&t);
    lora_adapter L;
    const int r = 2;
    const float alpha = 3.0f, s = alpha / r;
    assert_int_equal(lora_init(&L, &t, r, alpha, NULL), LETHE_OK);
    assert_int_equal(L.n_layers, 3);
    assert_int_equal(L.layers[0].out, 4); assert_int_equal(L.layers[0].in, 27);
    assert_int_equal(L.layers[1].out, 5); assert_int_equal(L.layers[1].in, 6);
    assert_int_equal(L.layers[2].out, 6); assert_int_equal(L.layers[2].in, 5);
    assert_int_equal(L.n_factors, (size_t)r * (4 + 27 + 5 + 6 + 6 + 5));

    const size_t n = t.total;
    float *W0 = randn_buf(n, 1, 0.3f), *W = malloc(n * sizeof(float)), *mask = malloc(n * sizeof(float));
    float *F = malloc(L.n_factors * sizeof(float));
    for (size_t j = 0; j < n; j++) mask[j] = lethe_rand_uniform(2, 1, j) < 0.5f ? 1.0f : 0.0f;

    // PEFT's initial factors: B = 0, A in +-1/sqrt(in), so W = W0 exactly
    assert_int_equal(lora_init_factors(&L, F, 9), LETHE_OK);
    for (int l = 0; l < L.n_layers; l++) {
        const lora_layer *ly = &L.layers[l];
        double amax = 0;
        for (size_t k = 0; k < (size_t)ly->out * r; k++) assert_true(F[ly->b_offset + k] == 0.0f);
        for (size_t k = 0; k < (size_t)ly->in * r; k++) amax = fmax(amax, fabs(F[ly->a_offset + k]));
        assert_true(amax > 0 && amax <= 1.0 / sqrt(ly->in) + 1e-7);
    }
    lora_set_mask(&L, mask);
    memcpy(W, W0, n * sizeof(float));
    lora_materialise(&L, W, W0, F);
    assert_memory_equal(W, W0, n * sizeof(float));

    // random factors: W = W0 + s M ⊙ (B A) computed directly, in double
    free(F);
    F = randn_buf(L.n_factors, 3, 0.5f);
    memcpy(W, W0, n * sizeof(float));
    lora_materialise(&L, W, W0, F);
    double worst = 0;
    for (int l = 0; l < L.n_layers; l++) {
        const lora_layer *ly = &L.layers[l];
        const float *B = F + ly->b_offset, *At = F + ly->a_offset;
        for (int o = 0; o < ly->out; o++)
            for (int i = 0; i < ly->in; i++) {
                double ba = 0;
                for (int k = 0; k < r; k++) ba += (double)B[o * r + k] * At[i * r + k];   // A[k][i] = At[i][k]
                const size_t j = ly->w_offset + (size_t)o * ly->in + i;
                const double want = W0[j] + s * mask[j] * ba;
                worst = fmax(worst, fabs(W[j] - want) / (1 + fabs(want)));
            }
    }
    assert_true(worst < 1e-6);
    size_t changed = 0;
    for (size_t j = 0; j < n; j++) {
        if (!in_adapted(&L, j) || mask[j] == 0.0f) assert_true(W[j] == W0[j]);   // exactly W0
        else changed += W[j] != W0[j];
    }
    assert_true(changed > 0);

    // no mask: every adapted weight takes the update
    lora_set_mask(&L, NULL);
    lora_materialise(&L, W, W0, F);
    for (int l = 0; l < L.n_layers; l++) assert_true(W[L.layers[l].w_offset] != W0[L.layers[l].w_offset]);

    lora_free(&L);
    assert_int_equal(lora_init(&L, &t, 0, 1.0f, NULL), LETHE_ERR_ARG);
    free(W0); free(W); free(mask); free(F);
    param_table_free(&t);
}

static double weighted_sum(const float *c, const float *W, size_t n) {
    double acc = 0;
    for (size_t j = 0; j < n; j++) acc += (double)c[j] * W[j];
    return acc;
}

// L = sum(c ⊙ W(B, A)) so dL/dW = c: lora_chain(G = c) against central differences.
static void test_lora_chain_matches_finite_differences(void **state) {
    param_table t;
    small_table(&t);
    lora_adapter L;
    assert_int_equal(lora_init(&L, &t, 2, 3.0f, NULL), LETHE_OK);
    const size_t n = t.total, nf = L.n_factors;
    float *W0 = randn_buf(n, 4, 0.3f), *W = malloc(n * sizeof(float)), *mask = malloc(n * sizeof(float));
    float *c = randn_buf(n, 5, 1.0f), *F = randn_buf(nf, 6, 0.5f), *dF = calloc(nf, sizeof(float));
    float *fd = malloc(nf * sizeof(float));
    for (size_t j = 0; j < n; j++) mask[j] = lethe_rand_uniform(7, 1, j) < 0.6f ? 1.0f : 0.0f;
    lora_set_mask(&L, mask);
    lora_chain(&L, dF, c, F);
    memcpy(W, W0, n * sizeof(float));
    const float h = 1e-2f;
    for (size_t k = 0; k < nf; k++) {
        const float keep = F[k];
        F[k] = keep + h;
        lora_materialise(&L, W, W0, F);
        const double lp = weighted_sum(c, W, n);
        F[k] = keep - h;
        lora_materialise(&L, W, W0, F);
        const double lm = weighted_sum(c, W, n);
        F[k] = keep;
        fd[k] = (float)((lp - lm) / (2.0 * h));
    }
    const double e = tensor_rel_err(dF, fd, nf, 1e-3);
    if (!(e < 1e-3)) print_error("chain rule vs finite differences: relative error %.3g\n", e);
    assert_true(e < 1e-3);
    // backward ops accumulate: a second call doubles the gradient
    lora_chain(&L, dF, c, F);
    for (size_t k = 0; k < nf; k++) assert_true(fabsf(dF[k] - 2 * fd[k]) <= 2e-3f * (1 + fabsf(fd[k])));
    lora_free(&L);
    free(W0); free(W); free(mask); free(c); free(F); free(dF); free(fd);
    param_table_free(&t);
}

// ---- concept timesteps ------------------------------------------------------------------------

static void test_concept_distribution(void **state) {
    const int T = 1000, cells = T / SPARE_T_CELL;
    double D[64], *p = malloc(T * sizeof(double)), *cdf = malloc(T * sizeof(double));
    // constant D: uniform
    for (int k = 0; k < cells; k++) D[k] = 2.5;
    assert_int_equal(spare_concept_pmf(D, T, p), 0);
    for (int t = 0; t < T; t++) assert_true(fabs(p[t] - 1.0 / T) < 1e-15);
    // D varying (zero in the first cell): valid, proportional to D per cell, not uniform
    for (int k = 0; k < cells; k++) D[k] = k == 0 ? 0.0 : exp(-0.1 * k) + 0.01;
    assert_int_equal(spare_concept_pmf(D, T, p), 0);
    double sum = 0, dev = 0;
    for (int t = 0; t < T; t++) {
        assert_true(p[t] >= 0);
        sum += p[t];
        dev = fmax(dev, fabs(p[t] - 1.0 / T));
        assert_true(p[t] == p[t - t % SPARE_T_CELL]);   // constant inside a cell
    }
    assert_true(fabs(sum - 1) < 1e-12);
    assert_true(dev > 1e-3);
    assert_true(fabs(p[5 * SPARE_T_CELL] / p[30 * SPARE_T_CELL] - D[5] / D[30]) < 1e-12);
    // the sampler follows p (per cell, within 5 standard deviations) and never draws p = 0
    spare_pmf_to_cdf(p, T, cdf);
    assert_true(cdf[T - 1] == 1.0);
    const int N = 20000;
    int count[64] = {0};
    for (int i = 0; i < N; i++) {
        int t = spare_draw_timestep(cdf, T, lethe_rand_uniform(11, 3, (uint64_t)i));
        assert_true(t >= SPARE_T_CELL && t < T);
        count[t / SPARE_T_CELL]++;
    }
    for (int k = 0; k < cells; k++) {
        const double want = N * p[k * SPARE_T_CELL] * SPARE_T_CELL;
        assert_true(fabs(count[k] - want) <= 5 * sqrt(want) + 3);
    }
    assert_int_equal(spare_draw_timestep(cdf, T, 1.0), T - 1);
    // a last, shorter cell (T = 50: cells of 20, 20, 10)
    double D3[3] = {1, 2, 4}, p50[50];
    assert_int_equal(spare_concept_pmf(D3, 50, p50), 0);
    sum = 0;
    for (int t = 0; t < 50; t++) sum += p50[t];
    assert_true(fabs(sum - 1) < 1e-12);
    assert_true(fabs(p50[45] * 10 - 4.0 / 7) < 1e-12);
    // no mass, negative or not finite: refused
    for (int k = 0; k < cells; k++) D[k] = 0;
    assert_int_equal(spare_concept_pmf(D, T, p), -1);
    D[3] = -1;
    D[4] = 2;
    assert_int_equal(spare_concept_pmf(D, T, p), -1);
    D[3] = NAN;
    assert_int_equal(spare_concept_pmf(D, T, p), -1);
    free(p);
    free(cdf);
}

// ---- runs on a tiny model ---------------------------------------------------------------------

static char tmp[] = "/tmp/lethe_spare_XXXXXX";
static char parent_dir[512], uncond_dir[512];
static lethe_dataset ds;
static unlearn_method capture;   // SPARE, with a finish that keeps a copy of s*M
static float *smask_seen;
static size_t n_params;
static int reference_done;

static lethe_status capture_finish(unlearn_ctx *u) {
    lethe_status st = unlearn_spare.finish(u);
    const lora_adapter *L = spare_adapter(u);
    assert_non_null(L);
    free(smask_seen);
    smask_seen = malloc(u->n_params * sizeof(float));
    ops()->to_host(smask_seen, L->smask, u->n_params * sizeof(float));
    return st;
}

static const char *fashion_names[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                        "sandal", "shirt", "sneaker", "bag", "ankle-boot"};

static int group_setup(void **state) {
    if (!mkdtemp(tmp)) return -1;
    snprintf(parent_dir, sizeof parent_dir, "%s/parent", tmp);
    snprintf(uncond_dir, sizeof uncond_dir, "%s/uncond", tmp);
    unet_config c;
    lethe_model m;
    if (unet_config_named(&c, "tiny") || model_create(&m, &c, 3)) return -1;
    for (int i = 0; i < 10; i++) snprintf(m.class_names[i], 32, "%s", fashion_names[i]);
    if (model_save(&m, m.params, parent_dir, NULL)) return -1;
    n_params = m.unet.table.total;
    model_free(&m);
    c.num_class_embeds = 0;
    if (model_create(&m, &c, 3) || model_save(&m, m.params, uncond_dir, NULL)) return -1;
    model_free(&m);
    // 40 random images, 4 of each class
    memset(&ds, 0, sizeof ds);
    snprintf(ds.name, sizeof ds.name, "random-fashion");
    ds.n = 40; ds.c = 1; ds.h = ds.w = 28; ds.n_classes = 10;
    ds.pixels = malloc((size_t)ds.n * 784);
    ds.labels = malloc((size_t)ds.n * sizeof(int));
    for (int i = 0; i < ds.n; i++) ds.labels[i] = i % 10;
    for (size_t j = 0; j < (size_t)ds.n * 784; j++) ds.pixels[j] = (uint8_t)lethe_rand_below(5, 9, j, 256);
    for (int i = 0; i < 10; i++) snprintf(ds.class_names[i], 32, "%s", fashion_names[i]);
    capture = unlearn_spare;
    capture.finish = capture_finish;
    return 0;
}

static int group_teardown(void **state) {
    dataset_free(&ds);
    free(smask_seen);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void spare_opts(unlearn_opts *o, const char *out, int steps) {
    unlearn_opts_default(o);
    o->method = "spare";
    o->model_dir = parent_dir;
    o->out_dir = out;
    o->forget = "trouser";
    assert_int_equal(unlearn_opts_set(o, "surrogate", "pullover"), LETHE_OK);
    o->steps = steps;
    o->batch = 2;
    o->lr = 1e-3f;
    o->seed = 11;
    o->forget_images = 2;   // saliency and D(t) on 2 images: seconds, not minutes
    o->checkpoint_every = 0;
    o->log_every = 1;
    o->quiet = 1;
}

static lethe_status run(const unlearn_opts *o, const char *model_dir, int resume) {
    lethe_model m;
    assert_int_equal(model_load(&m, model_dir), LETHE_OK);
    assert_int_equal(fs_mkdir_p(o->out_dir), LETHE_OK);
    lethe_status st = unlearn_run_loop(o, &capture, &m, &ds, resume);
    model_free(&m);
    return st;
}

static float *load_weights(const char *dir, lethe_model *m) {
    lethe_status st = model_load(m, dir);
    if (st) fail_msg("%s", lethe_last_error());
    float *h = malloc(m->unet.table.total * sizeof(float));
    ops()->to_host(h, m->params, m->unet.table.total * sizeof(float));
    return h;
}

// The uninterrupted 3-step run, made once (tmp/a) for the tests that need it.
static void reference_run(void) {
    if (reference_done) return;
    char out[600];
    snprintf(out, sizeof out, "%s/a", tmp);
    unlearn_opts o;
    spare_opts(&o, out, 3);
    lethe_status st = run(&o, parent_dir, 0);
    if (st) fail_msg("%s", lethe_last_error());
    reference_done = 1;
}

static void test_short_run_writes_model(void **state) {
    assert_ptr_equal(unlearn_find("spare"), &unlearn_spare);
    reference_run();
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/a", tmp);
    lethe_model p, q;
    float *P = load_weights(parent_dir, &p), *Q = load_weights(out, &q);
    assert_string_equal(q.method, "spare");
    assert_string_equal(q.class_names[1], "trouser");

    // lethe.json: the method, what is reconstructed, the forgotten class and the surrogate
    snprintf(path, sizeof path, "%s/lethe.json", out);
    uint8_t *text;
    size_t len;
    assert_int_equal(fs_read_all(path, &text, &len), LETHE_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)text, len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "method")->valuestring, "spare");
    assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring, "unlearned");
    assert_non_null(strstr(cJSON_GetObjectItem(j, "reconstructed")->valuestring, "timestep"));
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "forget_classes"), 0)->valuestring, "trouser");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "arguments"), "surrogate")->valuestring, "pullover");
    assert_int_equal(cJSON_GetObjectItem(j, "steps_done")->valueint, 3);
    cJSON_Delete(j);
    free(text);

    // weights outside the adapted layers and outside the mask are the parent's, exactly
    assert_non_null(smask_seen);
    size_t changed = 0, open = 0, adapted = 0;
    for (int i = 0; i < p.unet.table.n; i++) {
        const param_entry *e = &p.unet.table.entries[i];
        if (!lora_is_target(e)) {
            if (memcmp(P + e->offset, Q + e->offset, e->numel * sizeof(float)))
                fail_msg("%s changed but is not adapted", e->name);
            continue;
        }
        adapted += e->numel;
        for (size_t k = 0; k < e->numel; k++) {
            const size_t jj = e->offset + k;
            if (smask_seen[jj] == 0.0f) {
                if (P[jj] != Q[jj]) fail_msg("%s[%zu] changed outside the mask", e->name, k);
            } else {
                open++;
                changed += P[jj] != Q[jj];
            }
        }
    }
    assert_true(open > 0 && open < adapted);   // q = 0.5 of all weights: some, not all
    assert_true(changed > open / 2);          // 3 steps moved most of the open weights

    // one log line per step, with both loss parts
    snprintf(path, sizeof path, "%s/unlearn_log.jsonl", out);
    assert_int_equal(fs_read_all(path, &text, &len), LETHE_OK);
    int lines = 0;
    for (size_t k = 0; k < len; k++) lines += text[k] == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr((const char *)text, "forget_distill"));
    free(text);
    free(P); free(Q);
    model_free(&p);
    model_free(&q);
}

static void test_uniform_timesteps_run(void **state) {
    char out[600];
    snprintf(out, sizeof out, "%s/u", tmp);
    unlearn_opts o;
    spare_opts(&o, out, 2);
    assert_int_equal(unlearn_opts_set(&o, "timesteps", "uniform"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "lora-rank", "2"), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "mask-fraction", "0.25"), LETHE_OK);
    lethe_status st = run(&o, parent_dir, 0);
    if (st) fail_msg("%s", lethe_last_error());
    lethe_model q;
    float *Q = load_weights(out, &q);
    assert_string_equal(q.method, "spare");
    free(Q);
    model_free(&q);
}

static void expect_error(unlearn_opts *o, const char *model_dir, const char *needle) {
    lethe_status st = run(o, model_dir, 0);
    assert_int_equal(st, LETHE_ERR_ARG);
    if (!strstr(lethe_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", lethe_last_error(), needle);
}

static void test_bad_arguments(void **state) {
    char out[600];
    snprintf(out, sizeof out, "%s/bad", tmp);
    unlearn_opts o;
    spare_opts(&o, out, 2);
    assert_int_equal(unlearn_opts_set(&o, "surrogate", "trouser"), LETHE_OK);   // the forget class itself
    expect_error(&o, parent_dir, "is a forget class");
    assert_int_equal(unlearn_opts_set(&o, "surrogate", "1"), LETHE_OK);         // the same, by index
    expect_error(&o, parent_dir, "is a forget class");
    assert_int_equal(unlearn_opts_set(&o, "surrogate", "hat"), LETHE_OK);
    expect_error(&o, parent_dir, "--surrogate");
    assert_non_null(strstr(lethe_last_error(), "hat"));
    assert_int_equal(unlearn_opts_set(&o, "surrogate", NULL), LETHE_OK);
    expect_error(&o, parent_dir, "--surrogate CLASS is required");
    assert_int_equal(unlearn_opts_set(&o, "surrogate", "pullover"), LETHE_OK);
    // a timestep scheme that is not one is refused when it is set
    assert_int_equal(unlearn_opts_set(&o, "timesteps", "sometimes"), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "--timesteps must be concept or uniform"));
    assert_int_equal(unlearn_opts_set(&o, "mask-fraction", "1.5"), LETHE_OK);
    expect_error(&o, parent_dir, "--mask-fraction");
    assert_int_equal(unlearn_opts_set(&o, "mask-fraction", NULL), LETHE_OK);
    assert_int_equal(unlearn_opts_set(&o, "lora-rank", "0"), LETHE_OK);
    expect_error(&o, parent_dir, "rank");
    assert_int_equal(unlearn_opts_set(&o, "lora-rank", NULL), LETHE_OK);
    expect_error(&o, uncond_dir, "class-conditional");
}

static void test_resume_reproduces_run(void **state) {
    reference_run();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    unlearn_opts o;
    spare_opts(&o, b, 3);
    o.stop_after = 1;
    assert_int_equal(run(&o, parent_dir, 0), LETHE_OK);
    char path[700];
    snprintf(path, sizeof path, "%s/unlearn_state.safetensors", b);
    assert_true(fs_exists(path));
    o.stop_after = 0;
    o.resume = 1;
    lethe_status st = run(&o, parent_dir, 1);
    if (st) fail_msg("%s", lethe_last_error());
    lethe_model ma, mb;
    float *A = load_weights(a, &ma), *B = load_weights(b, &mb);
    assert_memory_equal(A, B, n_params * sizeof(float));
    free(A); free(B);
    model_free(&ma);
    model_free(&mb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lora_materialise_matches_direct),
        cmocka_unit_test(test_lora_chain_matches_finite_differences),
        cmocka_unit_test(test_concept_distribution),
        cmocka_unit_test(test_short_run_writes_model),
        cmocka_unit_test(test_uniform_timesteps_run),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_resume_reproduces_run),
    };
    return cmocka_run_group_tests_name("unlearn_spare", tests, group_setup, group_teardown);
}
