/* test_text_model.c: the text-to-image lethe model: prompts -> hidden states (text_cond), the
 * canvas-tiny config, and the pipeline folder written by model_save and read by model_load. */
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
#include "diffusion/model.h"
#include "diffusion/text_cond.h"
#include "ops/ops.h"

#define CLIP_DIR "models/fashion-canvas-clip"

static float *host_copy(const float *dev, size_t n) {
    float *h = malloc(n * sizeof(float));
    ops()->to_host(h, dev, n * sizeof(float));
    return h;
}

static void test_text_cond(void **state) {
    (void)state;
    text_cond tc;
    assert_int_equal(text_cond_load(&tc, CLIP_DIR), LETHE_OK);
    assert_int_equal(tc.width, 64);
    assert_int_equal(tc.seq, tc.tok.max_length);
    assert_true(tc.seq <= tc.enc.cfg.max_position_embeddings);
    const size_t row = (size_t)tc.seq * tc.width;
    char prompts[3][64] = {"a trouser in zebra style", "", "A Trouser in zebra style."};
    float *dev = ops()->alloc(3 * row * sizeof(float));
    assert_int_equal(text_cond_encode(&tc, prompts[0], 64, 3, dev), LETHE_OK);
    float *h = host_copy(dev, 3 * row), *null = host_copy(tc.null_tokens, row);
    // the empty prompt is the null row (to float32 rounding: a batch of 3 may sum in another
    // order than a batch of 1); case and outer punctuation do not change a prompt
    assert_true(tensor_rel_err(h + row, null, row, 1e-3) < 1e-5);
    assert_true(tensor_rel_err(h, h + 2 * row, row, 1e-3) < 1e-5);
    assert_true(tensor_rel_err(h, null, row, 1e-3) > 1e-2);
    // an unknown word: the tokenizer's error, naming it
    assert_int_equal(text_cond_encode_one(&tc, "a trouser in spaceship style", dev), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "spaceship"));
    free(h);
    free(null);
    ops()->release(dev);
    text_cond_free(&tc);
    // a folder without a text encoder
    assert_int_not_equal(text_cond_load(&tc, "tests"), LETHE_OK);
}

static void test_named_config(void **state) {
    (void)state;
    unet_cond_config c;
    assert_int_equal(unet_cond_config_named(&c, "canvas-tiny", 64), LETHE_OK);
    assert_int_equal(unet_cond_config_validate(&c), LETHE_OK);
    assert_int_equal(c.sample_size, 32);
    assert_int_equal(c.in_channels, 3);
    assert_int_equal(c.cross_attention_dim, 64);
    assert_int_equal(c.down_cross[0], 0);   // no attention at 32x32
    assert_int_equal(c.down_cross[1] + c.down_cross[2], 2);
    assert_int_equal(unet_cond_config_named(&c, "tiny", 64), LETHE_ERR_ARG);
    assert_non_null(strstr(lethe_last_error(), "canvas-tiny"));
}

static lethe_status eps_of(lethe_model *m, float *eps_host) {
    const size_t numel = denoiser_numel(&m->net);
    float *x = ops()->alloc(numel * sizeof(float)), *eps = ops()->alloc(numel * sizeof(float));
    ops()->fill(x, 0.25f, numel);
    lethe_cond c;
    lethe_status st = denoiser_cond_alloc(&m->net, &c, 1);   // the null row: the empty prompt
    if (!st) st = text_cond_encode_one(m->text, "a dress in zebra style", c.tokens);
    denoiser_infer d;
    denoiser_infer_init(&d, &m->net, m->params);
    float t = 500;
    if (!st) st = denoiser_infer_eps(&d, eps, x, &t, &c, 1);
    ops()->to_host(eps_host, eps, numel * sizeof(float));
    denoiser_infer_free(&d);
    cond_free(&c);
    ops()->release(x);
    ops()->release(eps);
    return st;
}

static void test_pipeline_folder(void **state) {
    (void)state;
    unet_cond_config cfg;
    assert_int_equal(unet_cond_config_named(&cfg, "canvas-tiny", 64), LETHE_OK);
    lethe_model m;
    assert_int_equal(model_create_text(&m, &cfg, CLIP_DIR, 7), LETHE_OK);
    assert_true(model_is_text(&m));
    assert_int_equal(m.net.cond.kind, LETHE_COND_TOKENS);
    assert_int_equal(m.net.cond.width, 64);
    assert_int_equal(m.n_classes, 0);
    assert_int_equal(model_null_class(&m), -1);
    assert_true(denoiser_has_null(&m.net));
    assert_string_equal(m.net.vt->name, "UNet2DConditionModel");
    const size_t numel = denoiser_numel(&m.net), total = denoiser_num_params(&m.net);
    float *eps1 = malloc(numel * sizeof(float)), *eps2 = malloc(numel * sizeof(float));
    assert_int_equal(eps_of(&m, eps1), LETHE_OK);

    char dir[] = "/tmp/lethe_test_text_model_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(model_save(&m, m.params, dir, NULL), LETHE_OK);
    const char *files[] = {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                           "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
                           "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json", "lethe.json"};
    char path[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_true(fs_exists(path));
    }
    char *text = NULL;
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    assert_int_equal(fs_read_text(path, &text), LETHE_OK);
    assert_non_null(strstr(text, "\"_class_name\": \"LetheTextToImagePipeline\""));
    assert_non_null(strstr(text, "\"text_encoder\": [\"transformers\", \"CLIPTextModelWithProjection\"]"));
    assert_non_null(strstr(text, "\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]"));
    assert_non_null(strstr(text, "no VAE"));
    free(text);

    // loads back as the same model: same weights, same null row, same eps
    lethe_model m2;
    assert_int_equal(model_load(&m2, dir), LETHE_OK);
    assert_true(model_is_text(&m2));
    assert_int_equal(denoiser_num_params(&m2.net), total);
    float *p1 = host_copy(m.params, total), *p2 = host_copy(m2.params, total);
    assert_memory_equal(p1, p2, total * sizeof(float));
    const size_t row = (size_t)m.net.cond.seq * m.net.cond.width;
    float *n1 = host_copy(m.net.cond.null_tokens, row), *n2 = host_copy(m2.net.cond.null_tokens, row);
    assert_memory_equal(n1, n2, row * sizeof(float));
    assert_int_equal(eps_of(&m2, eps2), LETHE_OK);
    assert_memory_equal(eps1, eps2, numel * sizeof(float));
    char *c1 = model_net_config(&m), *c2 = model_net_config(&m2);
    assert_string_equal(c1, c2);
    free(c1); free(c2);
    free(p1); free(p2); free(n1); free(n2);
    // retrain from scratch is refused (not silently half-made)
    lethe_model m3;
    assert_int_equal(model_create_like(&m3, &m2, 1), LETHE_ERR_ARG);
    model_free(&m2);

    // without its text encoder the folder does not load
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_not_equal(model_load(&m2, dir), LETHE_OK);
    assert_non_null(strstr(lethe_last_error(), "text_encoder"));
    model_free(&m);
    free(eps1); free(eps2);

    // the UNet's cross_attention_dim must be the encoder's width
    cfg.cross_attention_dim = 32;
    assert_int_equal(model_create_text(&m, &cfg, CLIP_DIR, 7), LETHE_ERR_SHAPE);
    assert_non_null(strstr(lethe_last_error(), "cross_attention_dim"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_cond),
        cmocka_unit_test(test_named_config),
        cmocka_unit_test(test_pipeline_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
