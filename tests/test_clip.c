/*
 * test_clip.c: the two-tower CLIP (src/eval/clip_model.h) and its trainer (eval/clip_train.h):
 *
 * - finite differences of the contrastive loss on a tiny config: elements of every tensor of
 *   both towers and the logit scale t, and the directional derivative along a random
 *   direction of all parameters; with t above log 100 the loss clamps and t gets no gradient;
 * - the loss value against a double-precision host computation from the towers' embeddings;
 * - CLIP score bounds (0..100) and zero-shot accuracies in [0, 1];
 * - the folder round trip and load errors;
 * - training (real Fashion-MNIST under the canvas; skipped without it): a short run lowers the
 *   loss on a fixed batch, and --stop-after + --resume gives the same weights as one run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "core/fsutil.h"
#include "data/canvas.h"
#include "eval/clip_model.h"
#include "eval/clip_train.h"
#include "ops/ops.h"

static const char *const OBJECTS[] = {"t-shirt", "trouser", "bag"};
#define N_OBJ 3

static void tiny_model(clip_model *m, uint64_t seed) {
    clip_text_config tc;
    clip_text_config_default_small(&tc, 10, 8, 9, 9);   // vocabulary and ids replaced by the tokenizer's
    tc.hidden_size = 8;
    tc.intermediate_size = 16;
    tc.num_hidden_layers = 2;
    tc.num_attention_heads = 2;
    tc.projection_dim = 5;
    classifier_config ic;
    clip_image_config_default(&ic, 5);
    ic.n_stages = 2;
    ic.block_out_channels[0] = 4;
    ic.block_out_channels[1] = 8;
    ic.norm_num_groups = 2;
    ic.feature_dim = 6;
    if (clip_model_create(m, OBJECTS, N_OBJ, &tc, &ic, seed)) fail_msg("%s", lethe_last_error());
}

typedef struct {
    clip_model m;
    float *images;
    int *ids, n;
    lethe_arena arena;
} fd_case;

static double fd_loss(fd_case *fc, const float *P) {
    nn_ctx ctx = {.arena = &fc->arena, .train = 0};
    arena_reset(&fc->arena);
    float loss;
    assert_int_equal(clip_loss_forward(&fc->m, P, &ctx, fc->images, fc->ids, fc->n, &loss), LETHE_OK);
    return loss;
}

static double central(fd_case *fc, float *P, size_t j, float h) {
    float keep = P[j];
    P[j] = keep + h;
    double lp = fd_loss(fc, P);
    P[j] = keep - h;
    double lm = fd_loss(fc, P);
    P[j] = keep;
    return (lp - lm) / (2.0 * (double)h);
}

static void setup_case(fd_case *fc, int n) {
    tiny_model(&fc->m, 3);
    fc->n = n;
    size_t total = fc->m.n_params;
    float *noise = malloc(total * sizeof(float));
    ops()->randn(noise, total, 77, 1, 0);
    ops()->axpbz(fc->m.params, 1.0f, fc->m.params, 0.1f, noise, total);   // off the init (biases 0, norms 1)
    free(noise);
    fc->images = malloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    ops()->randn(fc->images, (size_t)n * CANVAS_NUMEL, 78, 1, 0);
    char prompts[8][CANVAS_PROMPT_MAX];
    for (int i = 0; i < n; i++)
        assert_true(canvas_prompt(i % CANVAS_N_TEMPLATES, OBJECTS[i % N_OBJ], canvas_style_name(i * 7 % CANVAS_N_STYLES),
                                  prompts[i], CANVAS_PROMPT_MAX) > 0);
    fc->ids = malloc((size_t)n * fc->m.seq * sizeof(int));
    assert_int_equal(clip_tokenize(&fc->m, prompts[0], CANVAS_PROMPT_MAX, n, fc->ids), LETHE_OK);
    arena_init(&fc->arena);
}

static void free_case(fd_case *fc) {
    free(fc->images);
    free(fc->ids);
    arena_free(&fc->arena);
    clip_model_free(&fc->m);
}

static float *gradient(fd_case *fc, float *P) {
    float *G = calloc(fc->m.n_params, sizeof(float));
    nn_ctx ctx = {.arena = &fc->arena, .train = 1};
    arena_reset(&fc->arena);
    float loss;
    assert_int_equal(clip_loss_forward(&fc->m, P, &ctx, fc->images, fc->ids, fc->n, &loss), LETHE_OK);
    assert_true(isfinite(loss));
    assert_int_equal(clip_loss_backward(&fc->m, P, G, &fc->arena), LETHE_OK);
    return G;
}

static void check_table(fd_case *fc, float *P, const float *G, const param_table *t, size_t base, double *worst,
                        char *worst_name, int *checked) {
    const float h = 2e-2f;
    for (int i = 0; i < t->n; i++) {
        const param_entry *pe = &t->entries[i];
        for (int k = 0; k < 2; k++) {
            size_t j = base + pe->offset + ((size_t)k * 7919 + (size_t)i * 31) % pe->numel;
            double fd = (4.0 * central(fc, P, j, h / 2) - central(fc, P, j, h)) / 3.0;
            double err = fabs(fd - G[j]) / (2e-3 + fabs(G[j]));
            if (err > *worst) {
                *worst = err;
                snprintf(worst_name, 160, "%s", pe->name);
            }
            if (!(err < 2e-2)) print_error("%s[%zu]: finite difference %.6g, backward %.6g\n", pe->name, j - base - pe->offset, fd, (double)G[j]);
            (*checked)++;
        }
    }
}

static void test_finite_differences(void **state) {
    fd_case fc;
    setup_case(&fc, 6);
    float *P = fc.m.params;
    P[fc.m.scale_off] = 1.5f;   // e^t = 4.5: logits spread enough for every term to matter
    float *G = gradient(&fc, P);
    double worst = 0;
    char worst_name[160] = "";
    int checked = 0;
    check_table(&fc, P, G, &fc.m.text.table, fc.m.text_off, &worst, worst_name, &checked);
    check_table(&fc, P, G, &fc.m.image.net.table, fc.m.image_off, &worst, worst_name, &checked);
    size_t jt = fc.m.scale_off;
    double fdt = (4.0 * central(&fc, P, jt, 5e-3f) - central(&fc, P, jt, 1e-2f)) / 3.0;
    double et = fabs(fdt - G[jt]) / fabs(fdt);
    print_message("logit scale: finite difference %.6g, backward %.6g (rel %.2e)\n", fdt, (double)G[jt], et);
    assert_true(fabs(fdt) > 1e-3);
    assert_true(et < 1e-3);

    // the whole chain along a random direction of every parameter
    size_t total = fc.m.n_params;
    float *d = malloc(total * sizeof(float)), *Pt = malloc(total * sizeof(float));
    ops()->randn(d, total, 79, 1, 0);
    double gd = 0;
    for (size_t j = 0; j < total; j++) gd += (double)G[j] * d[j];
    double dd[2];
    for (int r = 0; r < 2; r++) {
        float s = r ? 1e-3f : 2e-3f;
        ops()->axpbz(Pt, 1.0f, P, s, d, total);
        double lp = fd_loss(&fc, Pt);
        ops()->axpbz(Pt, 1.0f, P, -s, d, total);
        dd[r] = (lp - fd_loss(&fc, Pt)) / (2.0 * (double)s);
    }
    double dir = (4.0 * dd[1] - dd[0]) / 3.0, chain = fabs(dir - gd) / fabs(gd);
    print_message("finite differences: %d elements, worst error %.2e (%s); directional %.8g vs G.d %.8g (rel %.2e)\n",
                  checked, worst, worst_name, dir, gd, chain);
    assert_true(checked > 50);
    assert_true(worst < 2e-2);
    assert_true(chain < 1e-3);

    // above log 100 the scale is clamped: the loss is flat in t and t gets no gradient
    P[jt] = 5.0f;
    free(G);
    G = gradient(&fc, P);
    assert_true(G[jt] == 0.0f);
    assert_true(fabs(central(&fc, P, jt, 1e-2f)) < 1e-6);
    free(G); free(d); free(Pt);
    free_case(&fc);
}

// the loss value: (row CE + column CE) / 2 of e^t cos(u_i, v_j), recomputed in double on the host
// from the towers' own embeddings
static void test_loss_value(void **state) {
    fd_case fc;
    setup_case(&fc, 5);
    const int n = fc.n, D = fc.m.dim;
    float *P = fc.m.params;
    nn_ctx ctx = {.arena = &fc.arena, .train = 0};
    float *ui = malloc((size_t)n * D * sizeof(float)), *vt = malloc((size_t)n * D * sizeof(float));
    assert_int_equal(clip_encode_images(&fc.m, P, &ctx, fc.images, n, ui), LETHE_OK);
    assert_int_equal(clip_encode_text(&fc.m, P, &ctx, fc.ids, n, vt), LETHE_OK);
    double s = exp((double)clip_logit_scale(&fc.m, P)), L[8][8], want = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dot = 0, nu = 0, nv = 0;
            for (int k = 0; k < D; k++) {
                dot += (double)ui[i * D + k] * vt[j * D + k];
                nu += (double)ui[i * D + k] * ui[i * D + k];
                nv += (double)vt[j * D + k] * vt[j * D + k];
            }
            L[i][j] = s * dot / sqrt(nu * nv);
        }
    for (int i = 0; i < n; i++) {
        double zr = 0, zc = 0;
        for (int j = 0; j < n; j++) { zr += exp(L[i][j]); zc += exp(L[j][i]); }
        want += (log(zr) - L[i][i]) + (log(zc) - L[i][i]);
    }
    want /= 2.0 * n;
    double got = fd_loss(&fc, P);
    print_message("loss %.7f, host %.7f\n", got, want);
    assert_true(fabs(got - want) < 1e-5 * fabs(want) + 1e-6);
    free(ui); free(vt);
    free_case(&fc);
}

static void test_score_zero_shot_and_folder(void **state) {
    fd_case fc;
    setup_case(&fc, 6);
    char prompts[6][CANVAS_PROMPT_MAX];
    for (int i = 0; i < 6; i++) canvas_prompt(0, OBJECTS[i % N_OBJ], canvas_style_name(i), prompts[i], CANVAS_PROMPT_MAX);
    float sc[6], sc2[6];
    assert_int_equal(clip_score(&fc.m, fc.images, prompts[0], CANVAS_PROMPT_MAX, 6, sc), LETHE_OK);
    for (int i = 0; i < 6; i++) assert_true(sc[i] >= 0.0f && sc[i] <= 100.0f);
    // an unknown word is an error naming it
    char bad[1][CANVAS_PROMPT_MAX] = {"a zebra in spaceship style"};
    assert_int_equal(clip_score(&fc.m, fc.images, bad[0], CANVAS_PROMPT_MAX, 1, sc2), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "spaceship"));
    int styles[6] = {0, 1, 2, 3, 4, 5}, objs[6] = {0, 1, 2, 0, 1, 2};
    double as = -1, ao = -1;
    assert_int_equal(clip_zero_shot(&fc.m, OBJECTS, N_OBJ, fc.images, styles, objs, 6, &as, &ao), LETHE_OK);
    assert_true(as >= 0 && as <= 1 && ao >= 0 && ao <= 1);

    // folder round trip: same scores after load; the logit scale comes from clip.json
    char dir[] = "/tmp/lethe_test_clip_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(clip_model_save(&fc.m, dir), LETHE_OK);
    char path[4096];
    clip_model m2;
    assert_int_equal(clip_model_load(&m2, dir), LETHE_ERR_IO);   // no clip.json yet
    assert_non_null(strstr(lethe_last_error(), "clip.json"));
    snprintf(path, sizeof path, "%s/clip.json", dir);
    assert_int_equal(fs_write_text_atomic(path, "{\"logit_scale\": 9}"), LETHE_OK);
    assert_int_equal(clip_model_load(&m2, dir), LETHE_ERR_FORMAT);
    assert_non_null(strstr(lethe_last_error(), "logit_scale"));
    assert_int_equal(fs_write_text_atomic(path, "{\"logit_scale\": 2.5}"), LETHE_OK);
    assert_int_equal(clip_model_load(&m2, dir), LETHE_OK);
    assert_true(clip_logit_scale(&m2, m2.params) == 2.5f);
    assert_int_equal(clip_score(&m2, fc.images, prompts[0], CANVAS_PROMPT_MAX, 6, sc2), LETHE_OK);
    for (int i = 0; i < 6; i++) assert_true(sc[i] == sc2[i]);
    clip_model_free(&m2);
    // a corrupt image encoder: not a CLIP one
    snprintf(path, sizeof path, "%s/image_encoder/config.json", dir);
    char *text = NULL;
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    char *p = strstr(text, CLIP_IMAGE_DATASET);
    assert_non_null(p);
    memcpy(p, "fashion-canvas-abcd", strlen(CLIP_IMAGE_DATASET));
    assert_int_equal(fs_write_text_atomic(path, text), LETHE_OK);
    free(text);
    assert_int_equal(clip_model_load(&m2, dir), LETHE_ERR_FORMAT);
    assert_non_null(strstr(lethe_last_error(), "not a CLIP image encoder"));
    // a missing text encoder
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_not_equal(clip_model_load(&m2, dir), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "text_encoder"));
    assert_int_equal(clip_model_load(&m2, "/nonexistent/clip"), LETHE_ERR_IO);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free_case(&fc);
}

// ---- training ----------------------------------------------------------------------------------

#define FMNIST "/usr/share/datasets/fashion-mnist"

static clip_text_config g_tc;
static classifier_config g_ic;

static void train_opts(clip_train_opts *o, const char *out, int steps) {
    clip_train_defaults(o);
    clip_text_config_default_small(&g_tc, 10, 8, 9, 9);
    g_tc.hidden_size = 16;
    g_tc.intermediate_size = 32;
    g_tc.num_hidden_layers = 1;
    g_tc.num_attention_heads = 2;
    g_tc.projection_dim = 16;
    clip_image_config_default(&g_ic, 16);
    g_ic.n_stages = 2;
    g_ic.block_out_channels[0] = 8;
    g_ic.block_out_channels[1] = 16;
    g_ic.norm_num_groups = 4;
    g_ic.feature_dim = 32;
    o->text_cfg = &g_tc;
    o->image_cfg = &g_ic;
    o->out_dir = out;
    o->steps = steps;
    o->batch = 16;
    o->warmup = 3;
    o->lr = 3e-3f;
    o->seed = 11;
    o->log_every = 1;
    o->checkpoint_every = 0;
    o->zeroshot_images = 0;
    o->quiet = 1;
}

static double batch_loss(clip_model *m, canvas_set *c) {
    size_t items[32];
    for (int i = 0; i < 32; i++) items[i] = (size_t)i * 977 % c->n;   // distinct (style, object, template) here
    float *x = malloc(32 * CANVAS_NUMEL * sizeof(float));
    char prompts[32][CANVAS_PROMPT_MAX];
    int ids[32 * 16];
    canvas_set_batch(c, items, 32, x, NULL, NULL, prompts[0], CANVAS_PROMPT_MAX);
    assert_int_equal(clip_tokenize(m, prompts[0], CANVAS_PROMPT_MAX, 32, ids), LETHE_OK);
    lethe_arena a;
    arena_init(&a);
    nn_ctx ctx = {.arena = &a, .train = 0};
    float loss;
    assert_int_equal(clip_loss_forward(m, m->params, &ctx, x, ids, 32, &loss), LETHE_OK);
    arena_free(&a);
    free(x);
    return loss;
}

static int same_file(const char *a, const char *b) {
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = !fs_read_all(a, &x, &nx) && !fs_read_all(b, &y, &ny) && nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void test_training(void **state) {
    if (access(FMNIST, R_OK) != 0) skip();
    char dir[] = "/tmp/lethe_test_cliptrain_XXXXXX", a[4200], b[4200], p1[4300], p2[4300];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/one", dir);
    snprintf(b, sizeof b, "%s/two", dir);
    clip_train_opts o;
    clip_train_result r;
    train_opts(&o, a, 30);
    o.zeroshot_images = 100;
    if (clip_train_run(&o, 0, &r)) fail_msg("%s", lethe_last_error());
    assert_int_equal(r.steps_done, 30);
    assert_true(r.style_acc >= 0 && r.style_acc <= 1 && r.object_acc >= 0 && r.object_acc <= 1);

    // the loss of a fixed batch: the trained model against its initial weights (same seed)
    canvas_set c;
    assert_int_equal(canvas_set_load(&c, "fashion-mnist", LETHE_SPLIT_TEST, 3), LETHE_OK);
    const char *names[16];
    for (int i = 0; i < c.objects.n_classes; i++) names[i] = c.objects.class_names[i];
    clip_model init, trained;
    assert_int_equal(clip_model_create(&init, names, c.objects.n_classes, &g_tc, &g_ic, o.seed), LETHE_OK);
    if (clip_model_load(&trained, a)) fail_msg("%s", lethe_last_error());
    double l0 = batch_loss(&init, &c), l1 = batch_loss(&trained, &c);
    print_message("fixed test batch of 32: loss %.4f at init, %.4f after 30 steps (log 32 = %.4f); "
                  "training window %.4f -> %.4f; zero-shot style %.3f object %.3f\n", l0, l1, log(32.0), r.first_loss,
                  r.final_loss, r.style_acc, r.object_acc);
    assert_true(l1 < l0 - 0.1);
    assert_true(r.final_loss < r.first_loss);
    clip_model_free(&init);
    clip_model_free(&trained);
    canvas_set_free(&c);
    snprintf(p1, sizeof p1, "%s/clip.json", a);
    char *text = NULL;
    assert_int_equal(fs_read_text(p1, &text), LETHE_OK);
    assert_non_null(strstr(text, "\"style_accuracy\""));
    assert_non_null(strstr(text, "\"final_loss\""));
    free(text);

    // --stop-after 12 then --resume: the same weights as the one run
    train_opts(&o, b, 30);
    o.stop_after = 12;
    assert_int_equal(clip_train_run(&o, 0, &r), LETHE_OK);
    assert_int_equal(r.steps_done, 12);
    assert_true(r.stopped);
    o.stop_after = 0;
    assert_int_equal(clip_train_run(&o, 1, &r), LETHE_OK);
    assert_int_equal(r.steps_done, 30);
    // (the state files differ in their wall and CPU seconds; the weights must not)
    const char *files[] = {"text_encoder/model.safetensors", "image_encoder/model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(p1, sizeof p1, "%s/%s", a, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", b, files[i]);
        if (!same_file(p1, p2)) fail_msg("%s differs between one run and a stopped + resumed one", files[i]);
    }
    // a resume with another model config is refused
    g_tc.hidden_size = 8;
    o.steps = 40;
    o.text_cfg = &g_tc;
    assert_int_not_equal(clip_train_run(&o, 1, &r), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "CLIP configs differ"));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_loss_value),
        cmocka_unit_test(test_score_zero_shot_and_folder),
        cmocka_unit_test(test_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
