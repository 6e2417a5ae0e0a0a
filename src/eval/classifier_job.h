/*
 * classifier_job.h: `lethe classifier` as a library call: train the evaluation classifier
 * on a dataset, measure its test accuracy and the FID scale of its feature space (real
 * test images against real training images: the floor no model can beat; against noise:
 * a ceiling), and save it with that report (classifier.json, "lethe-classifier-report-1").
 */
#ifndef LETHE_EVAL_CLASSIFIER_JOB_H
#define LETHE_EVAL_CLASSIFIER_JOB_H

#include "core/options.h"
#include "eval/classifier_train.h"

typedef struct {
    const char *data;              // dataset: fashion-mnist, mnist, or a folder of IDX / CIFAR-10 files
    const char *out_dir;
    classifier_train_opts train;   // train.augment.flip is set from the dataset unless no_flip
    int no_flip;
    const char *channels;          // channels per stage, comma-separated ("16,32,64")
    int layers_per_block, features;
    int train_images;              // > 0: the first N training images only
    int fid_images;                // images for the FID floor and noise checks (>= 2)
    uint64_t init_seed;
    const char *command_line;      // recorded in the report (may be NULL)
    // called once the classifier is created, before training (may be NULL): a banner
    void (*on_ready)(void *user, const eval_classifier *c, const lethe_dataset *train, const classifier_train_opts *o);
    void *user;
} classifier_job;

typedef struct {
    char dataset[256];
    double test_accuracy, required_accuracy;   // required: 0 when the dataset sets none
    double fid_floor, fid_noise;
    double train_seconds;          // over every invocation of a resumed run
    int steps_done, stopped;       // stopped: --stop-after ended this invocation (no report, no model yet)
    char hash[65];                 // SHA-256 of the saved weights
} classifier_job_result;

// What a trained classifier measures on its dataset: test accuracy (overall and per class),
// and the FID scale of its feature space (test images against as many training images: the
// floor; against uniform noise: a ceiling), with the images each FID used and the seconds.
typedef struct {
    double test_accuracy, per_class[LETHE_MAX_CLASSES];
    double fid_floor, fid_noise;
    int fid_images;
    double seconds;
} classifier_measurement;

// A committed classifier re-measured (`lethe classifier --check DIR`): what it measures now
// beside what its classifier.json recorded (negative when not recorded).
typedef struct {
    char dataset[256];
    int n_classes;
    char class_names[LETHE_MAX_CLASSES][32];
    double required_accuracy, recorded_accuracy, recorded_fid_floor, recorded_fid_noise;
    classifier_measurement now;
    char hash[65];
} classifier_check_result;

void classifier_job_default(classifier_job *j);
// The options of `lethe classifier` and lethe_classifier_train, declared once: the CLI's
// flags and --help and the public API's option names are these rows over classifier_job;
// their defaults are classifier_job_default's.
extern const opt_table classifier_job_options;
// Checks the values: --fid-images at least 2, --train-images >= 0, --channels well formed.
lethe_status classifier_job_check(const classifier_job *j);
// "16,32,64" -> cfg->block_out_channels / n_stages (LETHE_ERR_ARG if it is not 1 to
// CLASSIFIER_MAX_STAGES positive integers up to 1024).
lethe_status classifier_parse_channels(const char *s, classifier_config *cfg);
// The test accuracy a classifier must reach on a dataset to be an instrument (0: none set).
double classifier_required_accuracy(const char *dataset);
lethe_status classifier_job_run(const classifier_job *j, classifier_job_result *res);
// Measures c on a dataset's test split (and, for the FID floor, its training split): what
// training reports. The FID images are chosen by `seed` (training uses its --seed).
lethe_status classifier_measure(eval_classifier *c, const lethe_dataset *train, const lethe_dataset *test, int fid_images,
                                uint64_t seed, classifier_measurement *m);
// Loads the classifier in dir and measures it on `data` (NULL: the dataset it names).
// With the training run's fid_images and seed it reproduces the recorded numbers.
lethe_status classifier_check(const char *dir, const char *data, int fid_images, uint64_t seed, classifier_check_result *r);
// The check as JSON ("lethe-classifier-check-1"); NULL when out of memory. Free with free().
char *classifier_check_json(const classifier_check_result *r, const char *dir);

#endif
