/*
 * model.h: a lethe model = UNet + weights + noise schedule + class names, stored as a
 * diffusers folder:
 *
 *   DIR/model_index.json                       DDPMPipeline: scheduler + unet
 *   DIR/unet/config.json                       UNet2DModel config
 *   DIR/unet/diffusion_pytorch_model.safetensors
 *   DIR/scheduler/scheduler_config.json        DDPMScheduler
 *   DIR/lethe.json                             provenance: class names, dataset, how it was made
 *
 * Loading also accepts a bare model folder (config.json + weights side by side), F16/BF16
 * weights, and the legacy attention names (query/key/value/proj_attn). It checks every
 * tensor's shape and the full key set (missing or unexpected keys are errors).
 */
#ifndef LETHE_DIFFUSION_MODEL_H
#define LETHE_DIFFUSION_MODEL_H

#include "data/dataset.h"
#include "diffusion/schedule.h"
#include "io/safetensors.h"
#include "nn/unet.h"

// Tagged so that include/lethe.h's opaque `typedef struct lethe_model lethe_model` names this struct.
typedef struct lethe_model {
    lethe_unet unet;
    float *params;                                   // backend memory, unet.table.total floats
    schedule_config sched;
    int n_classes;                                   // real classes (num_class_embeds - 1), 0 if unconditional
    char class_names[LETHE_MAX_CLASSES][32];
    char dataset[64];
    char method[64];                                 // lethe.json "method" (how it was made), "" if unknown
    char weights_path[1024];                         // the safetensors file model_load read
    int one_step_t;                                  // > 0: a one-step generator (SFD) evaluated at this
                                                     // timestep (lethe.json "generator"); 0: a diffusion model
    // the classes of the images it was trained on (lethe.json "trained_classes"), ascending;
    // n_trained_classes == 0: not recorded, every class counts as trained
    int trained_classes[LETHE_MAX_CLASSES], n_trained_classes;
} lethe_model;

// New model with PyTorch-default initial weights from `seed`.
lethe_status model_create(lethe_model *m, const unet_config *cfg, uint64_t seed);
lethe_status model_load(lethe_model *m, const char *dir);
// Writes the folder (each file atomically). `weights` is the buffer to export (live or EMA);
// lethe_json: the provenance object text (NULL: a minimal one is written).
lethe_status model_save(const lethe_model *m, const float *weights, const char *dir, const char *lethe_json);
void model_free(lethe_model *m);
// SHA-256 (hex) of the weights file model_load read: the model's identity in reports.
lethe_status model_weights_sha256(const lethe_model *m, char hex[65]);

// 1 if the model was trained on images of class k (always 1 when its lethe.json does not say).
int model_trained_on(const lethe_model *m, int k);
// Records the classes present in `labels` as the model's trained classes.
void model_set_trained_classes(lethe_model *m, const int *labels, int n);

// Class name -> index for this model (name or decimal index; the null class is not accepted).
lethe_status model_class_index(const lethe_model *m, const char *name_or_index, int *out);

// Loads weights named by the table from an open safetensors file into params (host).
// prefix is prepended to every name ("" for model files, "param." for fixtures).
// strict_keys: tensors under prefix that the table does not have are an error.
lethe_status model_read_weights(const param_table *t, float *params, const st_file *f, const char *prefix, int strict_keys);

#endif
