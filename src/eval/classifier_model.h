/*
 * classifier_model.h: a trained evaluation classifier as an instrument: load, save,
 * predict class probabilities and FID features, accuracy on a dataset.
 *
 * Folder layout:
 *   DIR/config.json        classifier config (LetheClassifier, class names, dataset)
 *   DIR/model.safetensors  weights (F32, names from the classifier's parameter table)
 *   DIR/classifier.json    how it was trained and what it measured (test accuracy, FID floor)
 */
#ifndef LETHE_EVAL_CLASSIFIER_MODEL_H
#define LETHE_EVAL_CLASSIFIER_MODEL_H

#include "ops/arena.h"
#include "data/dataset.h"
#include "nn/classifier.h"

typedef struct {
    lethe_classifier net;
    float *params;            // backend memory, net.table.total floats
    lethe_arena arena;        // inference scratch
    char hash[65];            // SHA-256 of model.safetensors (after load or save)
    double test_accuracy;     // from classifier.json; negative if unknown
} eval_classifier;

// New classifier with PyTorch-default initial weights.
lethe_status eval_classifier_create(eval_classifier *c, const classifier_config *cfg, uint64_t seed);
lethe_status eval_classifier_load(eval_classifier *c, const char *dir);
// Writes config.json, model.safetensors and (when report_json is non-NULL) classifier.json.
lethe_status eval_classifier_save(eval_classifier *c, const char *dir, const char *report_json);
void eval_classifier_free(eval_classifier *c);
// A number classifier.json in dir recorded (test_accuracy, fid_test_vs_train, ...); -1 when
// the file or the key is absent.
double eval_classifier_recorded(const char *dir, const char *key);

// x: n images (c, S, S) in [-1, 1], backend memory. probs (n, classes) and features
// (n, feature_dim) are host arrays; either may be NULL. Runs in batches of `batch`.
lethe_status eval_classifier_predict(eval_classifier *c, const float *x, int n, float *probs, float *features,
                                     int batch);
// The same for uint8 images of a dataset (indices idx[0..n), or all when idx is NULL).
lethe_status eval_classifier_predict_dataset(eval_classifier *c, const lethe_dataset *ds, const int *idx, int n,
                                             float *probs, float *features);

// Accuracy on a dataset; per_class (ds->n_classes) may be NULL.
lethe_status eval_classifier_accuracy(eval_classifier *c, const lethe_dataset *ds, double *accuracy,
                                      double *per_class);

// Checks that the classifier can judge images of this kind: channels, resolution and,
// when `dataset` is non-empty and the classifier names one, the dataset; `what` names
// the other side ("model ./out") in the message.
lethe_status eval_classifier_check_compatible(const eval_classifier *c, int channels, int size, const char *dataset,
                                              const char *what);

// argmax of a probability row
int argmax_row(const float *p, int k);

#endif
