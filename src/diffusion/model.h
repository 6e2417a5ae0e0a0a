/*
 * model.h: a lethe model = network + weights + noise schedule + class names, stored as a
 * diffusers folder:
 *
 *   DIR/model_index.json                       DDPMPipeline: scheduler + unet
 *   DIR/unet/config.json                       UNet2DModel config
 *   DIR/unet/diffusion_pytorch_model.safetensors
 *   DIR/scheduler/scheduler_config.json        DDPMScheduler
 *   DIR/lethe.json                             provenance: class names, dataset (and where its files
 *                                              were, with their fingerprint), how it was made
 *
 * A text-to-image model (a UNet2DConditionModel, unet/config.json's _class_name) is a pipeline
 * folder with its frozen text encoder and tokenizer beside the UNet (diffusion/text_cond.h):
 *
 *   DIR/model_index.json                       LetheTextToImagePipeline: scheduler, text_encoder,
 *                                              tokenizer, unet (pixel space: no VAE)
 *   DIR/unet/                                  UNet2DConditionModel config + weights
 *   DIR/text_encoder/                          transformers CLIPTextModel[WithProjection]
 *   DIR/tokenizer/                             lethe's word-level tokenizer (data/tokenizer.h)
 *   DIR/scheduler/, DIR/lethe.json             as above
 *
 * Its network takes LETHE_COND_TOKENS rows (the prompts' hidden states) with the empty
 * prompt's encoding as the null row; it has no classes (n_classes 0).
 *
 * Loading also accepts a bare model folder (config.json + weights side by side), F16/BF16
 * weights, and the legacy attention names (query/key/value/proj_attn). It checks every
 * tensor's shape and the full key set (missing or unexpected keys are errors).
 *
 * Code that runs the network reaches it only through m->net (the seam, denoiser.h):
 * loading and creating build the UNet (held in m->unet) behind it; model_init_net plugs in
 * any other network. Saving writes the tensors of m->net's table and its config.json.
 */
#ifndef LETHE_DIFFUSION_MODEL_H
#define LETHE_DIFFUSION_MODEL_H

#include "data/dataset.h"
#include "diffusion/schedule.h"
#include "diffusion/text_cond.h"
#include "diffusion/unet_denoiser.h"
#include "io/safetensors.h"
#include "nn/unet.h"
#include "nn/unet_cond.h"

// Tagged so that include/lethe.h's opaque `typedef struct lethe_model lethe_model` names this struct.
typedef struct lethe_model {
    lethe_denoiser net;                              // the network (the seam): every forward and backward
    lethe_unet unet;                                 // the UNet behind net when the model is a UNet (model_create / model_load)
    lethe_unet_cond *ucond;                          // the UNet2DConditionModel behind net (text-to-image), else NULL
    text_cond *text;                                 // its frozen text encoder and tokenizer, else NULL
    float *prompt_tokens;                            // text-to-image: the prompt classes' encodings (model_set_prompt_classes), else NULL
    float *params;                                   // backend memory, net.table->total floats
    schedule_config sched;
    int n_classes;                                   // real classes (the null class's index), 0 if not class-conditional;
                                                     // text-to-image: prompt classes when set (model_set_prompt_classes), else 0
    char class_names[LETHE_MAX_CLASSES][32];
    char dataset[64];
    char method[64];                                 // lethe.json "method" (how it was made), "" if unknown
    char weights_path[1024];                         // the safetensors file model_load read
    int one_step_t;                                  // > 0: a one-step generator (SFD) evaluated at this
                                                     // timestep (lethe.json "generator"); 0: a diffusion model
    // the classes of the images it was trained on (lethe.json "trained_classes"), ascending;
    // n_trained_classes == 0: not recorded, every class counts as trained
    int trained_classes[LETHE_MAX_CLASSES], n_trained_classes;
    // where its training images were read from and their fingerprint (lethe.json "data"), kept
    // through unlearning; data.dir[0] == 0: not recorded (older models), the dataset name is used
    lethe_data_record data;
} lethe_model;

// New model with PyTorch-default initial weights from `seed`.
lethe_status model_create(lethe_model *m, const unet_config *cfg, uint64_t seed);
// A text-to-image model: a UNet2DConditionModel of `cfg` with PyTorch-default initial weights
// from `seed`, conditioned by the text encoder and tokenizer in text_dir (text_encoder/,
// tokenizer/: text_cond.h). cfg->cross_attention_dim must equal the encoder's hidden_size.
lethe_status model_create_text(lethe_model *m, const unet_cond_config *cfg, const char *text_dir, uint64_t seed);
// Gives a text-to-image model n named classes, class k conditioned on prompts[k] (rows of
// prompt_cap chars; each encoded once), so code that names classes (cond_set_class, the
// unlearning loop's forget and retain classes) runs on prompts: n_classes, class_names and
// net.cond.class_tokens. They are not saved (model_save writes class names of class-
// conditional networks only). LETHE_ERR_ARG for a model that is not text-to-image.
lethe_status model_set_prompt_classes(lethe_model *m, const char names[][32], const char *prompts, size_t prompt_cap,
                                      int n);
// 1 if m is conditioned on prompts (a text-to-image model).
static inline int model_is_text(const lethe_model *m) { return m->text != NULL; }
// 1 if the folder holds a text-to-image model (unet/config.json names UNet2DConditionModel),
// without loading it; 0 otherwise (also for a missing or unreadable folder).
int model_dir_is_text(const char *dir);
// A new model with parent's network (a fresh instance of it), PyTorch-default initial
// weights from `seed` and the default schedule and class names (retraining from scratch).
lethe_status model_create_like(lethe_model *m, const lethe_model *parent, uint64_t seed);
// A model around another network (copied; m owns it when net->owns_net, and has released it
// when this fails): default schedule and
// class names, zeroed weights (the caller fills m->params). Not a copy of a lethe_model:
// a model is used where it was made (m->net may point into it).
lethe_status model_init_net(lethe_model *m, const lethe_denoiser *net);
lethe_status model_load(lethe_model *m, const char *dir);
// Writes the folder (each file atomically). `weights` is the buffer to export (live or EMA);
// lethe_json: the provenance object text (NULL: a minimal one is written).
lethe_status model_save(const lethe_model *m, const float *weights, const char *dir, const char *lethe_json);
void model_free(lethe_model *m);
// The network's config.json text (caller frees; "{}" for a network without one): what
// checkpoints record to check that a resume runs the same network.
char *model_net_config(const lethe_model *m);
// The null class's index of a class-conditional model, else -1.
int model_null_class(const lethe_model *m);
// SHA-256 (hex) of the weights file model_load read: the model's identity in reports.
lethe_status model_weights_sha256(const lethe_model *m, char hex[65]);

// The dataset name and data record of the model in DIR, from its lethe.json alone (no weights
// are read): for commands that need the model's data before they load it. No lethe.json, or
// one without "data": *name and rec->dir are "".
lethe_status model_data_source(const char *dir, char name[64], lethe_data_record *rec);

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
