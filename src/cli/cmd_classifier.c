/*
 * cmd_classifier.c: `lethe classifier`: train the evaluation classifier on a dataset and
 * record its test accuracy and the FID scale of its feature space (real test images
 * against real training images: the floor no model can beat; against noise: a ceiling).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/augment.h"
#include "eval/classifier_train.h"
#include "eval/fid.h"
#include "core/fsutil.h"
#include "ops/ops.h"

// Accuracy a classifier must reach to be an instrument (specs/evaluation.md).
static double required_accuracy(const char *dataset) {
    if (strstr(dataset, "fashion")) return 0.92;
    if (strstr(dataset, "mnist")) return 0.98;
    return 0;
}

// FID between the features of two image sets given as dataset indices (or noise when
// `noise` is set for the second). Sizes: n_a, n_b images.
static lethe_status fid_of(eval_classifier *c, const lethe_dataset *a, const int *ia, int na, const lethe_dataset *b,
                           const int *ib, int nb, int noise, uint64_t seed, double *fid) {
    const int fd = classifier_feature_dim(&c->net);
    const size_t numel = (size_t)a->c * a->h * a->w;
    float *fa = malloc((size_t)na * fd * sizeof(float)), *fb = malloc((size_t)nb * fd * sizeof(float));
    float *xn = NULL;
    feature_stats sa = {0}, sb = {0};
    lethe_status st = LETHE_OK;
    if (!fa || !fb) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto done; }
    if ((st = eval_classifier_predict_dataset(c, a, ia, na, NULL, fa))) goto done;
    if (noise) {
        // uniform noise quantised to 8 bits, as a generated image would be
        xn = ops()->alloc((size_t)nb * numel * sizeof(float));
        float *h = malloc((size_t)nb * numel * sizeof(float));
        if (!xn || !h) { free(h); st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto done; }
        for (size_t i = 0; i < (size_t)nb * numel; i++)
            h[i] = (float)lethe_rand_below(seed, lethe_stream(LETHE_STREAM_AUGMENT, 0, 7), i, 256) / 127.5f - 1.0f;
        ops()->to_device(xn, h, (size_t)nb * numel * sizeof(float));
        free(h);
        st = eval_classifier_predict(c, xn, nb, NULL, fb, 256);
    } else {
        st = eval_classifier_predict_dataset(c, b, ib, nb, NULL, fb);
    }
    if (st) goto done;
    if ((st = feature_stats_init(&sa, fd)) || (st = feature_stats_init(&sb, fd))) goto done;
    feature_stats_add(&sa, fa, na);
    feature_stats_add(&sb, fb, nb);
    st = frechet_distance(&sa, &sb, fid);
done:
    feature_stats_free(&sa);
    feature_stats_free(&sb);
    free(fa);
    free(fb);
    ops()->release(xn);
    return st;
}

static int parse_channels(const char *s, classifier_config *cfg) {
    int n = 0;
    while (*s && n < CLASSIFIER_MAX_STAGES) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024) return 0;
        cfg->block_out_channels[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    if (*s) return 0;
    cfg->n_stages = n;
    return n;
}

int cmd_classifier(int argc, char **argv) {
    const char *data = "fashion-mnist", *out = NULL, *channels = "16,32,64";
    classifier_train_opts o;
    classifier_train_defaults(&o, NULL);
    int threads = 0, no_flip = 0, layers = 1, fid_n = 10000, train_images = 0, features = 128;
    const char *device = "cpu";
    uint64_t init_seed = 0;
    const arg_spec specs[] = {
        {"data", ARG_STRING, &data, "dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files"},
        {"out", ARG_STRING, &out, "output folder (required)"},
        {"epochs", ARG_INT, &o.epochs, "passes over the training set"},
        {"batch", ARG_INT, &o.batch, "images per step"},
        {"lr", ARG_FLOAT, &o.lr, "peak learning rate (AdamW, cosine decay)"},
        {"warmup", ARG_INT, &o.warmup, "learning-rate warm-up steps"},
        {"weight-decay", ARG_FLOAT, &o.weight_decay, "AdamW decoupled weight decay"},
        {"channels", ARG_STRING, &channels, "channels per stage (a stride-2 convolution between stages)"},
        {"features", ARG_INT, &features, "width of the penultimate layer: the FID feature space (<= 128)"},
        {"layers-per-block", ARG_INT, &layers, "residual blocks per stage"},
        {"shift", ARG_INT, &o.augment.max_shift, "augmentation: random shifts up to this many pixels"},
        {"no-flip", ARG_FLAG, &no_flip, "augmentation: no left-right flips (default: flips except for MNIST digits)"},
        {"train-images", ARG_INT, &train_images, "train on the first N training images only (0: all; for quick runs)"},
        {"fid-images", ARG_INT, &fid_n, "images for the FID floor (test vs train) and noise checks"},
        {"seed", ARG_U64, &o.seed, "seed of batches and augmentation"},
        {"init-seed", ARG_U64, &init_seed, "seed of the initial weights"},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)"},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU)"},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("classifier", "classifier --data fashion-mnist --out DIR [options]\n\n"
                       "Trains the evaluation classifier (a small ResNet) whose predictions give per-class\n"
                       "accuracy and UA and whose penultimate features give FID (lethe-CNN features).",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (!out) { fprintf(stderr, "lethe classifier: --out DIR is required\n"); return 2; }
    if (fid_n < 2) { fprintf(stderr, "lethe classifier: --fid-images must be at least 2\n"); return 2; }
    cli_set_threads(threads);
    if (cli_set_device("classifier", device)) return 1;

    lethe_dataset train, test;
    lethe_status st;
    if ((st = dataset_load(&train, data, LETHE_SPLIT_TRAIN))) return cli_fail("classifier", st);
    if ((st = dataset_load(&test, data, LETHE_SPLIT_TEST))) { dataset_free(&train); return cli_fail("classifier", st); }
    if (train_images < 0) {
        dataset_free(&train); dataset_free(&test);
        fprintf(stderr, "lethe classifier: --train-images must be >= 0\n");
        return 2;
    }
    if (train_images > 0 && train_images < train.n) train.n = train_images;   // buffers stay; dataset_free frees them
    if (train.h != train.w) {
        dataset_free(&train); dataset_free(&test);
        fprintf(stderr, "lethe classifier: images must be square (got %dx%d)\n", train.h, train.w);
        return 2;
    }
    { // flips follow the dataset unless turned off
        classifier_train_opts d;
        classifier_train_defaults(&d, &train);
        o.augment.flip = no_flip ? 0 : d.augment.flip;
    }
    classifier_config cfg;
    classifier_config_default(&cfg, train.c, train.h, train.n_classes);
    cfg.layers_per_block = layers;
    cfg.feature_dim = features;
    if (!parse_channels(channels, &cfg)) {
        dataset_free(&train); dataset_free(&test);
        fprintf(stderr, "lethe classifier: --channels must be 1 to %d comma-separated positive integers (got '%s')\n",
                CLASSIFIER_MAX_STAGES, channels);
        return 2;
    }
    for (int i = 0; i < train.n_classes; i++) snprintf(cfg.class_names[i], sizeof cfg.class_names[i], "%s", train.class_names[i]);
    snprintf(cfg.dataset, sizeof cfg.dataset, "%s", train.name);

    eval_classifier c;
    cJSON *rep = NULL;
    char *text = NULL;
    if ((st = fs_ensure_writable_dir(out)) || (st = eval_classifier_create(&c, &cfg, init_seed))) goto fail_data;
    fprintf(stderr, "lethe classifier: %zu parameters, %d training images of %d classes from %s, %d epochs%s\n",
            c.net.table.total, train.n, train.n_classes, train.name, o.epochs, o.augment.flip ? ", flips" : "");
    classifier_train_result res = {0};
    if ((st = classifier_train(&c, &train, &o, &res))) goto fail;

    double t0 = lethe_now(), acc, per_class[LETHE_MAX_CLASSES];
    if ((st = eval_classifier_accuracy(&c, &test, &acc, per_class))) goto fail;
    // FID floor: test images against as many training images (every k-th, all classes)
    int n_fid = fid_n < test.n ? fid_n : test.n;
    if (n_fid > train.n) n_fid = train.n;
    int *ia = malloc((size_t)n_fid * sizeof(int)), *ib = malloc((size_t)n_fid * sizeof(int));
    if (!ia || !ib) { free(ia); free(ib); st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail; }
    int *perm_test = malloc((size_t)test.n * sizeof(int)), *perm_train = malloc((size_t)train.n * sizeof(int));
    if (!perm_test || !perm_train) {
        free(ia); free(ib); free(perm_test); free(perm_train);
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    random_permutation(perm_test, test.n, o.seed, lethe_stream(LETHE_STREAM_AUGMENT, 1000, 2));
    random_permutation(perm_train, train.n, o.seed, lethe_stream(LETHE_STREAM_AUGMENT, 1000, 3));
    memcpy(ia, perm_test, (size_t)n_fid * sizeof(int));
    memcpy(ib, perm_train, (size_t)n_fid * sizeof(int));
    free(perm_test);
    free(perm_train);
    double fid_floor = 0, fid_noise = 0;
    st = fid_of(&c, &test, ia, n_fid, &train, ib, n_fid, 0, o.seed, &fid_floor);
    if (!st) st = fid_of(&c, &test, ia, n_fid, NULL, NULL, n_fid, 1, o.seed, &fid_noise);
    free(ia);
    free(ib);
    if (st) goto fail;
    double check_s = lethe_now() - t0;

    rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "format", "lethe-classifier-report-1");
    cJSON_AddStringToObject(rep, "dataset", train.name);
    cJSON_AddNumberToObject(rep, "test_accuracy", acc);
    cJSON *pc = cJSON_AddObjectToObject(rep, "test_accuracy_per_class");
    for (int i = 0; i < test.n_classes; i++) cJSON_AddNumberToObject(pc, test.class_names[i], per_class[i]);
    cJSON_AddNumberToObject(rep, "required_accuracy", required_accuracy(train.name));
    cJSON_AddNumberToObject(rep, "feature_dim", classifier_feature_dim(&c.net));
    cJSON_AddNumberToObject(rep, "fid_test_vs_train", fid_floor);
    cJSON_AddNumberToObject(rep, "fid_test_vs_noise", fid_noise);
    cJSON_AddNumberToObject(rep, "fid_images", n_fid);
    cJSON *tr = cJSON_AddObjectToObject(rep, "training");
    cJSON_AddNumberToObject(tr, "epochs", o.epochs);
    cJSON_AddNumberToObject(tr, "batch", o.batch);
    cJSON_AddNumberToObject(tr, "steps", res.steps);
    cJSON_AddNumberToObject(tr, "lr", o.lr);
    cJSON_AddNumberToObject(tr, "warmup", o.warmup);
    cJSON_AddNumberToObject(tr, "weight_decay", o.weight_decay);
    cJSON_AddBoolToObject(tr, "flip", o.augment.flip);
    cJSON_AddNumberToObject(tr, "max_shift", o.augment.max_shift);
    cJSON_AddNumberToObject(tr, "seed", (double)o.seed);
    cJSON_AddNumberToObject(tr, "init_seed", (double)init_seed);
    cJSON_AddNumberToObject(tr, "final_loss", res.final_loss);
    cJSON_AddNumberToObject(tr, "seconds", res.train_seconds);
    cJSON_AddNumberToObject(rep, "check_seconds", check_s);
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 24;
    char *full = malloc(len);
    if (full) {
        snprintf(full, len, "lethe classifier %s", cmd ? cmd : "");
        cJSON_AddStringToObject(rep, "command", full);
    }
    free(full);
    free(cmd);
    text = cJSON_Print(rep);
    if ((st = eval_classifier_save(&c, out, text))) goto fail;

    double need = required_accuracy(train.name);
    printf("| dataset | test accuracy | FID test vs train | FID test vs noise | train time |\n|---|---|---|---|---|\n");
    printf("| %s | %.2f%% | %.3f | %.1f | %.0f s |\n", train.name, 100 * acc, fid_floor, fid_noise, res.train_seconds);
    fprintf(stderr, "lethe classifier: wrote %s (sha256 %.16s...)\n", out, c.hash);
    if (acc < need)
        fprintf(stderr, "lethe classifier: warning: test accuracy %.2f%% is below the %.0f%% an evaluation classifier "
                        "for %s needs (train longer: --epochs)\n", 100 * acc, 100 * need, train.name);
    cJSON_Delete(rep);
    free(text);
    eval_classifier_free(&c);
    dataset_free(&train);
    dataset_free(&test);
    return 0;
fail:
    cJSON_Delete(rep);
    free(text);
    eval_classifier_free(&c);
fail_data:
    dataset_free(&train);
    dataset_free(&test);
    return cli_fail("classifier", st);
}
