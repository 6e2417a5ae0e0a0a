/*
 * concept_edit.h: closed-form concept erasure on a text-to-image model (`lethe unlearn
 * --method uce`): every projection the denoiser seam names as reading the conditioning
 * tokens (cross_kv: the attn2 to_k / to_v matrices of a UNet2DConditionModel) is edited in
 * closed form, and the model is written as a new pipeline folder. No training loop, no data.
 * Two editors: UCE (unlearn/uce.h) and ScaPre (unlearn/scapre.h: the concepts' last-word
 * features C, the token pairs with their owning concept, the neutral input e0 = the empty
 * prompt's EOS feature; no preserve set: its mask and spectral term keep the rest).
 *
 * Token features (specs/methods.md 7.7, UCE's code): a concept is a prompt (a Fashion-Canvas
 * style or object name by default, "zebra"; any prompt of the model's vocabulary with
 * --forget-file); its features are the text encoder's hidden states from its last word token
 * to the end of the sequence (EOS and padding included), and the guide prompt's (default "",
 * the unconditional prompt) at the same positions are the targets. Preserved concepts'
 * features at the same positions keep their outputs.
 */
#ifndef LETHE_UNLEARN_CONCEPT_EDIT_H
#define LETHE_UNLEARN_CONCEPT_EDIT_H

#include "core/error.h"
#include "unlearn/scapre.h"
#include "unlearn/uce.h"

#define CONCEPT_EDIT_MAX 256   // concepts erased or preserved at once

typedef struct {
    const char *method;           // "uce" or "scapre"
    const char *model_dir, *out_dir;
    const char *forget_styles;    // comma-separated Fashion-Canvas style names
    const char *forget_objects;   // comma-separated object names (the model's prompts' words)
    const char *forget_file;      // one concept prompt per line
    const char *preserve;         // comma-separated concept prompts kept
    const char *guide;            // the guide prompt ("" by default)
    float lambda, erase_scale;    // NaN: the method's default (UCE 0.5, 1; ScaPre 0.5, 2)
    uce_opts uce;                 // its lambda and erase_scale come from the two above
    scapre_opts scapre;           // likewise
    const char *command_line;
    int quiet;
} concept_edit_opts;

void concept_edit_opts_default(concept_edit_opts *o);

typedef struct {
    int n_concepts, n_preserved, n_matrices;
    double solve_seconds, total_seconds, peak_rss_mb;
} concept_edit_report;

lethe_status concept_edit_run(const concept_edit_opts *o, concept_edit_report *rep);

#endif
