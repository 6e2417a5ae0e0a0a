/*
 * test_classifier.c: the evaluation classifier's network and its files.
 *
 * - gradients of the cross-entropy loss with respect to every parameter tensor and the
 *   input match central finite differences (float64 loss from float32 logits);
 * - config.json round-trips, and bad configs are refused with the key named;
 * - save/load keeps the weights bit-identical, predictions and features unchanged, and
 *   records the weights' SHA-256;
 * - the classifier refuses images of another size or dataset.
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

#include "core/rng.h"
#include "eval/classifier_model.h"
#include "io/hash.h"
#include "nn/classifier.h"
#include "ops/ops.h"

static void small_config(classifier_config *c) {
    classifier_config_default(c, 1, 8, 3);
    c->n_stages = 2;
    c->block_out_channels[0] = 4;
    c->block_out_channels[1] = 8;
    c->block_out_channels[2] = 0;
    c->norm_num_groups = 2;
    snprintf(c->class_names[0], 32, "a");
    snprintf(c->class_names[1], 32, "b");
    snprintf(c->class_names[2], 32, "c");
    c->feature_dim = 6;
    snprintf(c->dataset, sizeof c->dataset, "toy");
}

// loss (float64 accumulate) of the classifier on (x, labels)
static double loss_of(lethe_classifier *m, const float *P, lethe_arena *A, const float *x, const int *labels, int n,
                      float *logits, float *probs) {
    arena_reset(A);
    nn_ctx ctx = {.arena = A, .train = 0};
    assert_int_equal(classifier_forward(m, P, &ctx, logits, NULL, x, n), LETHE_OK);
    return ops()->cross_entropy_forward(probs, logits, labels, n, m->cfg.num_classes);
}

static void test_gradients_match_finite_differences(void **state) {
    (void)state;
    classifier_config cfg;
    small_config(&cfg);
    lethe_classifier m;
    assert_int_equal(classifier_build(&m, &cfg), LETHE_OK);
    const int n = 3, K = 3, numel = 64;
    float *P = calloc(m.table.total, sizeof(float)), *G = calloc(m.table.total, sizeof(float));
    param_table_init_values(&m.table, P, 7);
    // GroupNorm affine parameters away from (1, 0), so their gradients are generic
    for (int i = 0; i < m.table.n; i++)
        if (strstr(m.table.entries[i].name, "norm"))
            for (size_t j = 0; j < m.table.entries[i].numel; j++)
                P[m.table.entries[i].offset + j] += 0.3f * lethe_rand_normal(3, 4, (uint64_t)(i * 1000 + (int)j));
    float x[3 * 64], dx[3 * 64] = {0}, logits[9], probs[9], dlogits[9] = {0};
    int labels[3] = {0, 2, 1};
    for (int i = 0; i < n * numel; i++) x[i] = lethe_rand_uniform(5, 6, (uint64_t)i) * 2 - 1;

    lethe_arena A;
    arena_init(&A);
    nn_ctx ctx = {.arena = &A, .train = 1};
    assert_int_equal(classifier_forward(&m, P, &ctx, logits, NULL, x, n), LETHE_OK);
    ops()->cross_entropy_forward(probs, logits, labels, n, K);
    ops()->cross_entropy_backward(dlogits, probs, labels, n, K, 1.0f);
    assert_int_equal(classifier_backward(&m, P, G, &A, dlogits, dx), LETHE_OK);

    // every tensor: up to 6 entries each, central differences with h = 1e-2
    lethe_arena B;
    arena_init(&B);
    const float h = 1e-2f;
    double worst = 0;
    for (int i = 0; i < m.table.n; i++) {
        const param_entry *e = &m.table.entries[i];
        double scale = 1e-3;
        for (size_t j = 0; j < e->numel; j++) scale = fmax(scale, fabs(G[e->offset + j]));
        for (int s = 0; s < 6 && (size_t)s < e->numel; s++) {
            size_t j = e->offset + (size_t)s * (e->numel / 6 > 0 ? e->numel / 6 : 1) % e->numel;
            float keep = P[j];
            P[j] = keep + h;
            double lp = loss_of(&m, P, &B, x, labels, n, logits, probs);
            P[j] = keep - h;
            double lm = loss_of(&m, P, &B, x, labels, n, logits, probs);
            P[j] = keep;
            double fd = (lp - lm) / (2 * h), err = fabs(fd - G[j]) / scale;
            if (err > worst) worst = err;
            if (err > 2e-2) fail_msg("%s[%zu]: analytic %g, finite difference %g", e->name, j - e->offset, G[j], fd);
        }
    }
    double xscale = 1e-3;
    for (int i = 0; i < n * numel; i++) xscale = fmax(xscale, fabs(dx[i]));
    for (int i = 0; i < n * numel; i += 17) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss_of(&m, P, &B, x, labels, n, logits, probs);
        x[i] = keep - h;
        double lm = loss_of(&m, P, &B, x, labels, n, logits, probs);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - dx[i]) / xscale > 2e-2) fail_msg("x[%d]: analytic %g, finite difference %g", i, dx[i], fd);
    }
    print_message("classifier gradients: worst error %.2e of the tensor's gradient scale\n", worst);
    arena_free(&A);
    arena_free(&B);
    free(P);
    free(G);
    classifier_free(&m);
}

static void test_config_roundtrip_and_errors(void **state) {
    (void)state;
    classifier_config cfg, back;
    small_config(&cfg);
    char *text = classifier_config_to_json(&cfg);
    assert_int_equal(classifier_config_from_json(&back, text, "t"), LETHE_OK);
    assert_memory_equal(&cfg, &back, sizeof cfg);
    free(text);

    cfg.block_out_channels[1] = 7;   // not a multiple of the 2 groups
    assert_int_equal(classifier_config_validate(&cfg), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "norm_num_groups"));
    small_config(&cfg);
    cfg.feature_dim = 256;   // FID features too wide
    assert_int_equal(classifier_config_validate(&cfg), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "feature width"));
    assert_int_equal(classifier_config_from_json(&back, "{\"_class_name\": \"UNet2DModel\"}", "cfg.json"), LETHE_ERR_FORMAT);
    assert_int_equal(classifier_config_from_json(&back, "not json", "cfg.json"), LETHE_ERR_FORMAT);
}

static void test_save_load_predict(void **state) {
    (void)state;
    classifier_config cfg;
    small_config(&cfg);
    eval_classifier c, d;
    assert_int_equal(eval_classifier_create(&c, &cfg, 11), LETHE_OK);
    char dir[] = "/tmp/lethe_cls_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(eval_classifier_save(&c, dir, "{\"test_accuracy\": 0.5}"), LETHE_OK);
    assert_int_equal(eval_classifier_load(&d, dir), LETHE_OK);
    assert_memory_equal(c.params, d.params, c.net.table.total * sizeof(float));
    assert_string_equal(c.hash, d.hash);
    char path[512], hex[65];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(sha256_file(path, hex), LETHE_OK);
    assert_string_equal(hex, d.hash);
    assert_true(fabs(d.test_accuracy - 0.5) < 1e-12);

    float x[5 * 64], p1[15], p2[15], f1[30], f2[30], p3[15], f3[30];
    for (int i = 0; i < 5 * 64; i++) x[i] = lethe_rand_uniform(1, 2, (uint64_t)i) * 2 - 1;
    assert_int_equal(eval_classifier_predict(&c, x, 5, p1, f1, 5), LETHE_OK);
    assert_int_equal(eval_classifier_predict(&d, x, 5, p2, f2, 5), LETHE_OK);
    assert_memory_equal(p1, p2, sizeof p1);   // same weights, same batching: bit-identical
    assert_memory_equal(f1, f2, sizeof f1);
    // other batching: GEMM blocking may change the last bits only
    assert_int_equal(eval_classifier_predict(&d, x, 5, p3, f3, 2), LETHE_OK);
    assert_true(tensor_rel_err(p3, p1, 15, 1e-6) < 1e-5);
    assert_true(tensor_rel_err(f3, f1, 30, 1e-6) < 1e-5);
    for (int i = 0; i < 5; i++) {
        double s = p1[3 * i] + p1[3 * i + 1] + p1[3 * i + 2];
        assert_true(fabs(s - 1) < 1e-5);
    }
    assert_int_equal(eval_classifier_check_compatible(&d, 1, 8, "toy", "model m"), LETHE_OK);
    assert_int_equal(eval_classifier_check_compatible(&d, 1, 28, "toy", "model m"), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "8x8"));
    assert_int_equal(eval_classifier_check_compatible(&d, 1, 8, "mnist", "model m"), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "trained on toy"));

    // a corrupt weights file is refused with its name
    FILE *f = fopen(path, "wb");
    fputs("garbage", f);
    fclose(f);
    eval_classifier e;
    assert_int_not_equal(eval_classifier_load(&e, dir), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "model.safetensors"));
    eval_classifier_free(&c);
    eval_classifier_free(&d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_config_roundtrip_and_errors),
        cmocka_unit_test(test_save_load_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
