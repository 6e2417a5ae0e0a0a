/*
 * classifier.h: the evaluation classifier, a small pre-activation ResNet built from ops.
 *
 *   h = conv_in(x)                                   in_channels -> C0, 3x3
 *   for stage s: [h = stages.s.downsample(h)]        3x3 stride 2, C(s-1) -> Cs (s > 0)
 *                per block: h += conv2(silu(norm2(conv1(silu(norm1(h))))))
 *   features = silu(fc(flatten(silu(norm_out(h)))))  (n, feature_dim): the FID feature space
 *   logits   = head(features)                         (n, num_classes)
 *
 * The head flattens the last feature map instead of averaging it over space: Fashion-MNIST
 * classes differ by where things are (sleeves, collars), and with the spatial layout kept
 * the network reaches 92% in a third of the epochs (measured against the same network
 * with global average pooling, in PyTorch and in lethe).
 * Its penultimate features stand in for Inception's on 28x28 data (specs/evaluation.md),
 * so their width (feature_dim) is kept at most 128.
 * Parameters: one flat buffer named by `table` (PyTorch-style keys), as for the UNet.
 */
#ifndef LETHE_NN_CLASSIFIER_H
#define LETHE_NN_CLASSIFIER_H

#include "core/classes.h"
#include "core/params.h"
#include "ops/arena.h"
#include "nn/layers.h"
#include "nn/module.h"

#define CLASSIFIER_MAX_STAGES 4
#define CLASSIFIER_MAX_BLOCKS 4
#define CLASSIFIER_MAX_FEATURES 128

typedef struct {
    int in_channels, sample_size;
    int n_stages;
    int block_out_channels[CLASSIFIER_MAX_STAGES];
    int layers_per_block;
    int norm_num_groups;
    int num_classes;
    int feature_dim;              // width of the penultimate layer (FID features), <= 128
    char class_names[LETHE_MAX_CLASSES][32];
    char dataset[64];
} classifier_config;

typedef struct {
    group_norm_layer norm1, norm2;
    conv2d_layer conv1, conv2;
    // saved by a training forward
    const float *x;
    float *n1, *mean1, *rstd1, *a1, *h1, *n2, *mean2, *rstd2, *a2;
} classifier_block;

typedef struct {
    classifier_config cfg;
    param_table table;
    conv2d_layer conv_in, downsample[CLASSIFIER_MAX_STAGES];
    classifier_block blocks[CLASSIFIER_MAX_STAGES][CLASSIFIER_MAX_BLOCKS];
    group_norm_layer norm_out;
    linear_layer fc, head;
    // saved by the last training forward
    struct {
        int n, train;
        const float *x;
        float *stage_in[CLASSIFIER_MAX_STAGES];   // input of each stage (before its downsample)
        int stage_hw[CLASSIFIER_MAX_STAGES];      // spatial size inside each stage
        float *h_last, *no, *mean_o, *rstd_o, *ao, *fc_out, *features;
    } s;
} lethe_classifier;

// Default config for a dataset of (channels, size, classes): channels (16, 32, 64), 128 features.
void classifier_config_default(classifier_config *c, int in_channels, int sample_size, int num_classes);
lethe_status classifier_config_validate(const classifier_config *c);
// config.json text (caller frees) and parsing one.
char *classifier_config_to_json(const classifier_config *c);
lethe_status classifier_config_from_json(classifier_config *c, const char *text, const char *what);

lethe_status classifier_build(lethe_classifier *m, const classifier_config *cfg);
void classifier_free(lethe_classifier *m);
int classifier_feature_dim(const lethe_classifier *m);

// x (n, in_channels, S, S) in [-1, 1] -> logits (n, classes); features (n, feature_dim) when
// non-NULL. Training mode saves what backward needs in ctx->arena.
lethe_status classifier_forward(lethe_classifier *m, const float *P, const nn_ctx *ctx, float *logits,
                                float *features, const float *x, int n);
// After a training forward: accumulates parameter gradients into G; dx (may be NULL) gets
// the input gradient.
lethe_status classifier_backward(lethe_classifier *m, const float *P, float *G, lethe_arena *arena,
                                 const float *dlogits, float *dx);

#endif
