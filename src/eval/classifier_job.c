/*
 * classifier_job.c: train, check and save the evaluation classifier (see classifier_job.h).
 */
#include "eval/classifier_job.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "core/rng.h"
#include "eval/fid.h"
#include "ops/ops.h"

void classifier_job_default(classifier_job *j) {
    *j = (classifier_job){.data = "fashion-mnist", .channels = "16,32,64", .layers_per_block = 1, .features = 128,
                          .fid_images = 10000};
    classifier_train_defaults(&j->train, NULL);
    j->train.checkpoint_every = 500;
}

#define ROW(name, type, field, help) {name, NULL, type, offsetof(classifier_job, field), {0}, help, NULL, NULL, 0}
static const opt_spec classifier_rows[] = {
    ROW("data", OPT_STRING, data, "dataset: fashion-mnist, mnist, a folder of IDX / CIFAR-10 files, or fashion-canvas-style / fashion-canvas-object (the text-to-image benchmark, labelled by style or object)"),
    {"out", NULL, OPT_STRING, offsetof(classifier_job, out_dir), {0}, "output folder (required)", NULL, NULL,
     OPT_REQUIRED | OPT_NO_RECORD},
    ROW("epochs", OPT_INT, train.epochs, "passes over the training set"),
    ROW("batch", OPT_INT, train.batch, "images per step"),
    ROW("lr", OPT_FLOAT, train.lr, "peak learning rate (AdamW, cosine decay)"),
    ROW("warmup", OPT_INT, train.warmup, "learning-rate warm-up steps"),
    ROW("weight-decay", OPT_FLOAT, train.weight_decay, "AdamW decoupled weight decay"),
    ROW("channels", OPT_STRING, channels, "channels per stage (a stride-2 convolution between stages)"),
    ROW("features", OPT_INT, features, "width of the penultimate layer: the FID feature space (<= 128)"),
    ROW("layers-per-block", OPT_INT, layers_per_block, "residual blocks per stage"),
    ROW("shift", OPT_INT, train.augment.max_shift, "augmentation: random shifts up to this many pixels"),
    ROW("no-flip", OPT_FLAG, no_flip, "augmentation: no left-right flips (default: flips except for MNIST digits)"),
    ROW("fixed-renders", OPT_FLAG, train.fixed_renders, "generated data (fashion-canvas-*): train on each image's first rendering every epoch (default: a new style and new random elements each epoch)"),
    {"resume", NULL, OPT_FLAG, offsetof(classifier_job, train.resume), {0}, "continue the run in --out from its last checkpoint (the same flags)", NULL, NULL, OPT_NO_RECORD},
    {"checkpoint-every", NULL, OPT_INT, offsetof(classifier_job, train.checkpoint_every), {0}, "steps between checkpoints of the training state (0: only at the end and at --stop-after)", NULL, NULL, OPT_NO_RECORD},
    {"stop-after", NULL, OPT_INT, offsetof(classifier_job, train.stop_after), {0}, "stop (checkpointed) after this many steps of this invocation; continue with --resume", NULL, NULL, OPT_NO_RECORD},
    ROW("train-images", OPT_INT, train_images, "train on the first N training images only (0: all; for quick runs)"),
    ROW("fid-images", OPT_INT, fid_images, "images for the FID floor (test vs train) and noise checks"),
    ROW("seed", OPT_U64, train.seed, "seed of batches and augmentation"),
    ROW("init-seed", OPT_U64, init_seed, "seed of the initial weights"),
};
const opt_table classifier_job_options = {classifier_rows, (int)(sizeof classifier_rows / sizeof classifier_rows[0])};

lethe_status classifier_job_check(const classifier_job *j) {
    if (j->fid_images < 2) return lethe_fail(LETHE_ERR_ARG, "--fid-images must be at least 2");
    if (j->train_images < 0) return lethe_fail(LETHE_ERR_ARG, "--train-images must be >= 0");
    classifier_config scratch;
    return classifier_parse_channels(j->channels, &scratch);
}

// Accuracy a classifier must reach to be an instrument (specs/evaluation.md).
double classifier_required_accuracy(const char *dataset) {
    if (strstr(dataset, "fashion-canvas-style")) return 0.95;   // issue 16's targets for the judges
    if (strstr(dataset, "fashion-canvas-object")) return 0.90;
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

lethe_status classifier_measure(eval_classifier *c, const lethe_dataset *train, const lethe_dataset *test, int fid_images,
                                uint64_t seed, classifier_measurement *m) {
    memset(m, 0, sizeof *m);
    const double t0 = lethe_now();
    lethe_status st = eval_classifier_accuracy(c, test, &m->test_accuracy, m->per_class);
    if (st) return st;
    // FID floor: test images against as many training images (a seeded choice, all classes)
    int n_fid = fid_images < test->n ? fid_images : test->n;
    if (n_fid > train->n) n_fid = train->n;
    int *perm_test = malloc((size_t)test->n * sizeof(int)), *perm_train = malloc((size_t)train->n * sizeof(int));
    if (!perm_test || !perm_train) {
        free(perm_test);
        free(perm_train);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    random_permutation(perm_test, test->n, seed, lethe_stream(LETHE_STREAM_AUGMENT, 1000, 2));
    random_permutation(perm_train, train->n, seed, lethe_stream(LETHE_STREAM_AUGMENT, 1000, 3));
    st = fid_of(c, test, perm_test, n_fid, train, perm_train, n_fid, 0, seed, &m->fid_floor);
    if (!st) st = fid_of(c, test, perm_test, n_fid, NULL, NULL, n_fid, 1, seed, &m->fid_noise);
    free(perm_test);
    free(perm_train);
    m->fid_images = n_fid;
    m->seconds = lethe_now() - t0;
    return st;
}

lethe_status classifier_parse_channels(const char *s, classifier_config *cfg) {
    const char *all = s;
    int n = 0;
    while (*s && n < CLASSIFIER_MAX_STAGES) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024 || (*end && *end != ',')) { n = 0; break; }
        cfg->block_out_channels[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (!n || *s)
        return lethe_fail(LETHE_ERR_ARG, "--channels must be 1 to %d comma-separated positive integers (got '%s')",
                          CLASSIFIER_MAX_STAGES, all);
    cfg->n_stages = n;
    return LETHE_OK;
}

// The report saved beside the weights as classifier.json.
static char *report_json(const classifier_job *j, const classifier_train_opts *o, const eval_classifier *c,
                         const lethe_dataset *train, const lethe_dataset *test, const classifier_measurement *m,
                         const classifier_train_result *tr_res) {
    const int train_redrawn = train->redraw && !o->fixed_renders && o->epochs > 1;
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "format", "lethe-classifier-report-1");
    cJSON_AddStringToObject(rep, "dataset", train->name);
    cJSON_AddNumberToObject(rep, "test_accuracy", m->test_accuracy);
    cJSON *pc = cJSON_AddObjectToObject(rep, "test_accuracy_per_class");
    for (int i = 0; i < test->n_classes; i++) cJSON_AddNumberToObject(pc, test->class_names[i], m->per_class[i]);
    cJSON_AddNumberToObject(rep, "required_accuracy", classifier_required_accuracy(train->name));
    cJSON_AddNumberToObject(rep, "feature_dim", classifier_feature_dim(&c->net));
    cJSON_AddNumberToObject(rep, "fid_test_vs_train", m->fid_floor);
    cJSON_AddNumberToObject(rep, "fid_test_vs_noise", m->fid_noise);
    cJSON_AddNumberToObject(rep, "fid_images", m->fid_images);
    cJSON *tr = cJSON_AddObjectToObject(rep, "training");
    cJSON_AddNumberToObject(tr, "epochs", o->epochs);
    cJSON_AddNumberToObject(tr, "batch", o->batch);
    cJSON_AddNumberToObject(tr, "steps", tr_res->steps);
    cJSON_AddNumberToObject(tr, "lr", o->lr);
    cJSON_AddNumberToObject(tr, "warmup", o->warmup);
    cJSON_AddNumberToObject(tr, "weight_decay", o->weight_decay);
    cJSON_AddBoolToObject(tr, "flip", o->augment.flip);
    cJSON_AddNumberToObject(tr, "max_shift", o->augment.max_shift);
    cJSON_AddBoolToObject(tr, "redrawn_each_epoch", train_redrawn);
    cJSON_AddNumberToObject(tr, "seed", (double)o->seed);
    cJSON_AddNumberToObject(tr, "init_seed", (double)j->init_seed);
    cJSON_AddNumberToObject(tr, "final_loss", tr_res->final_loss);
    cJSON_AddNumberToObject(tr, "seconds", tr_res->train_seconds);
    cJSON_AddNumberToObject(rep, "check_seconds", m->seconds);
    if (j->command_line) cJSON_AddStringToObject(rep, "command", j->command_line);
    char *text = cJSON_Print(rep);
    cJSON_Delete(rep);
    return text;
}

lethe_status classifier_job_run(const classifier_job *j, classifier_job_result *res) {
    if (!j->out_dir) return lethe_fail(LETHE_ERR_ARG, "the classifier needs an output folder");
    lethe_status st = classifier_job_check(j);
    if (st) return st;
    memset(res, 0, sizeof *res);
    classifier_train_opts o = j->train;
    lethe_dataset train, test;
    if ((st = dataset_load(&train, j->data, LETHE_SPLIT_TRAIN))) return st;
    if ((st = dataset_load(&test, j->data, LETHE_SPLIT_TEST))) { dataset_free(&train); return st; }
    if (j->train_images > 0 && j->train_images < train.n) train.n = j->train_images;   // buffers stay; dataset_free frees them
    if (train.h != train.w) {
        st = lethe_fail(LETHE_ERR_ARG, "images must be square (got %dx%d)", train.h, train.w);
        goto fail_data;
    }
    { // flips follow the dataset unless turned off
        classifier_train_opts d;
        classifier_train_defaults(&d, &train);
        o.augment.flip = j->no_flip ? 0 : d.augment.flip;
    }
    classifier_config cfg;
    classifier_config_default(&cfg, train.c, train.h, train.n_classes);
    cfg.layers_per_block = j->layers_per_block;
    cfg.feature_dim = j->features;
    if ((st = classifier_parse_channels(j->channels, &cfg))) goto fail_data;
    for (int i = 0; i < train.n_classes; i++) snprintf(cfg.class_names[i], sizeof cfg.class_names[i], "%s", train.class_names[i]);
    snprintf(cfg.dataset, sizeof cfg.dataset, "%s", train.name);

    eval_classifier c;
    char *text = NULL;
    if ((st = fs_ensure_writable_dir(j->out_dir)) || (st = eval_classifier_create(&c, &cfg, j->init_seed))) goto fail_data;
    if (j->on_ready) j->on_ready(j->user, &c, &train, &o);
    classifier_train_result tr_res = {0};
    o.state_dir = j->out_dir;
    if ((st = classifier_train(&c, &train, &o, &tr_res))) goto fail;
    res->steps_done = tr_res.steps;
    res->train_seconds = tr_res.train_seconds;
    if ((res->stopped = tr_res.stopped)) goto fail;   // --stop-after: the state is saved, nothing else yet

    classifier_measurement meas;
    if ((st = classifier_measure(&c, &train, &test, j->fid_images, o.seed, &meas))) goto fail;
    snprintf(res->dataset, sizeof res->dataset, "%s", train.name);
    res->test_accuracy = meas.test_accuracy;
    res->required_accuracy = classifier_required_accuracy(train.name);
    res->fid_floor = meas.fid_floor;
    res->fid_noise = meas.fid_noise;
    res->train_seconds = tr_res.train_seconds;
    text = report_json(j, &o, &c, &train, &test, &meas, &tr_res);
    if (!text) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); goto fail; }
    if ((st = eval_classifier_save(&c, j->out_dir, text))) goto fail;
    snprintf(res->hash, sizeof res->hash, "%s", c.hash);
fail:
    free(text);
    eval_classifier_free(&c);
fail_data:
    dataset_free(&train);
    dataset_free(&test);
    return st;
}

lethe_status classifier_check(const char *dir, const char *data, int fid_images, uint64_t seed, classifier_check_result *r) {
    memset(r, 0, sizeof *r);
    if (fid_images < 2) return lethe_fail(LETHE_ERR_ARG, "--fid-images must be at least 2 (got %d)", fid_images);
    eval_classifier c;
    lethe_status st = eval_classifier_load(&c, dir);
    if (st) return st;
    if (!data || !*data) data = c.net.cfg.dataset;
    if (!*data) {
        eval_classifier_free(&c);
        return lethe_fail(LETHE_ERR_ARG, "the classifier in %s names no dataset: pass --data", dir);
    }
    lethe_dataset train, test;
    if ((st = dataset_load(&train, data, LETHE_SPLIT_TRAIN))) { eval_classifier_free(&c); return st; }
    if ((st = dataset_load(&test, data, LETHE_SPLIT_TEST))) goto done_train;
    char what[300];
    snprintf(what, sizeof what, "dataset %s", test.name);
    if ((st = eval_classifier_check_compatible(&c, test.c, test.h, test.name, what))) goto done;
    if (test.n_classes != c.net.cfg.num_classes) {
        st = lethe_fail(LETHE_ERR_ARG, "the classifier in %s has %d classes, dataset %s %d", dir, c.net.cfg.num_classes,
                        test.name, test.n_classes);
        goto done;
    }
    snprintf(r->dataset, sizeof r->dataset, "%s", test.name);
    r->n_classes = test.n_classes;
    for (int i = 0; i < test.n_classes; i++) snprintf(r->class_names[i], sizeof r->class_names[i], "%s", test.class_names[i]);
    r->required_accuracy = classifier_required_accuracy(test.name);
    r->recorded_accuracy = c.test_accuracy;
    r->recorded_fid_floor = eval_classifier_recorded(dir, "fid_test_vs_train");
    r->recorded_fid_noise = eval_classifier_recorded(dir, "fid_test_vs_noise");
    snprintf(r->hash, sizeof r->hash, "%s", c.hash);
    st = classifier_measure(&c, &train, &test, fid_images, seed, &r->now);
done:
    dataset_free(&test);
done_train:
    dataset_free(&train);
    eval_classifier_free(&c);
    return st;
}

char *classifier_check_json(const classifier_check_result *r, const char *dir) {
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "format", "lethe-classifier-check-1");
    cJSON_AddStringToObject(rep, "classifier", dir);
    cJSON_AddStringToObject(rep, "sha256", r->hash);
    cJSON_AddStringToObject(rep, "dataset", r->dataset);
    cJSON_AddNumberToObject(rep, "test_accuracy", r->now.test_accuracy);
    cJSON *pc = cJSON_AddObjectToObject(rep, "test_accuracy_per_class");
    for (int i = 0; i < r->n_classes; i++) cJSON_AddNumberToObject(pc, r->class_names[i], r->now.per_class[i]);
    cJSON_AddNumberToObject(rep, "required_accuracy", r->required_accuracy);
    cJSON_AddNumberToObject(rep, "fid_test_vs_train", r->now.fid_floor);
    cJSON_AddNumberToObject(rep, "fid_test_vs_noise", r->now.fid_noise);
    cJSON_AddNumberToObject(rep, "fid_images", r->now.fid_images);
    cJSON *rec = cJSON_AddObjectToObject(rep, "recorded");   // classifier.json's, -1 when absent
    cJSON_AddNumberToObject(rec, "test_accuracy", r->recorded_accuracy);
    cJSON_AddNumberToObject(rec, "fid_test_vs_train", r->recorded_fid_floor);
    cJSON_AddNumberToObject(rec, "fid_test_vs_noise", r->recorded_fid_noise);
    cJSON_AddNumberToObject(rep, "check_seconds", r->now.seconds);
    char *text = cJSON_Print(rep);
    cJSON_Delete(rep);
    return text;
}
