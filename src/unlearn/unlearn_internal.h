/*
 * unlearn_internal.h: what the loop, the registry and the method files share beyond the
 * public unlearn.h (not for callers of the library).
 */
#ifndef LETHE_UNLEARN_INTERNAL_H
#define LETHE_UNLEARN_INTERNAL_H

#include "unlearn/unlearn.h"

// The step loop over an already loaded parent and training split.
lethe_status unlearn_run_loop(const unlearn_opts *o, const unlearn_method *meth, lethe_model *m,
                              const lethe_dataset *train, int resume);
// lethe.json of an unlearned model (caller frees). seconds, cpu_seconds: the run's cost over
// every sitting (run_seconds, run_cpu_seconds), CPU time of all threads.
char *unlearn_provenance_json(const unlearn_opts *o, const lethe_model *m, const char *parent_sha, const int *forget,
                              int n_forget, const char *dataset, int steps_done, double seconds, double cpu_seconds,
                              const char *reconstructed, const char *weights);   // weights: "ema", or NULL: "live"
void unlearn_batches_free(unlearn_ctx *u);
// retrain of a text-to-image parent whose prompt classes are set (retrain.c)
lethe_status unlearn_retrain_text(const unlearn_opts *o, lethe_model *parent);
// Unset knobs (steps, batch, lr, weight decay) take the method's defaults.
// mopt: the method's parsed options (unlearn_method_options), for a default that depends on them
void unlearn_resolve_defaults(unlearn_opts *o, const unlearn_method *m, const void *mopt);
// The method's options struct (m->options_size bytes, at most cap) into out: its table's
// defaults, then the options given in o (options.c). LETHE_ERR_ARG when one was given that
// the method does not use.
lethe_status unlearn_method_options(const unlearn_opts *o, const unlearn_method *m, void *out, size_t cap);
// lethe.json's "arguments": every recorded loop option that is set and every option of the
// method, under its name with '_' for '-' (options.c).
struct cJSON *unlearn_arguments_json(const unlearn_opts *o);

// the methods (one file each)
extern const unlearn_method unlearn_retrain, unlearn_finetune, unlearn_ga, unlearn_esd, unlearn_salun, unlearn_sa,
    unlearn_vdu, unlearn_spare, unlearn_sfd;

// --params: which of the network's weights a method trains (param_select.c)
enum { UNLEARN_PARAMS_ALL, UNLEARN_PARAMS_CONDITIONING, UNLEARN_PARAMS_NON_CONDITIONING };
#define UNLEARN_PARAMS_CHOICES "all|conditioning|non-conditioning"
#define UNLEARN_PARAMS_HELP                                                                                   \
    "which weights train: all, conditioning (the weights that read the condition: the class embedding, or " \
    "cross-attention; ESD-x) or non-conditioning (every other weight; ESD-u)"
extern const char *const unlearn_params_name[];
// u->mask for --params (nothing for UNLEARN_PARAMS_ALL); method names the method in messages.
// An error when the network has no conditioning weights (unconditional) or the method
// trains weights of its own (u->n_train != u->n_params).
lethe_status unlearn_params_mask(unlearn_ctx *u, int params, const char *method);

// default for an unset float knob (NaN) / int knob (< 0)
static inline float knob_f(float v, float dflt) { return v == v ? v : dflt; }
static inline int knob_i(int v, int dflt) { return v >= 0 ? v : dflt; }

#endif
