/*
 * cond.h: what a denoiser is conditioned on, one row per sample (the seam's conditioning).
 *
 *   LETHE_COND_NONE    an unconditional network: no row is read
 *   LETHE_COND_CLASS   class labels (host ints); the null class marks an unconditional row
 *                      (classifier-free guidance, class dropout)
 *   LETHE_COND_TOKENS  token embeddings / an encoder's hidden states, (n, seq, width) floats in
 *                      backend memory; the null row is null_tokens (the empty prompt's encoding)
 *
 * A network states the conditioning it takes (lethe_cond_spec, denoiser.h); generic code
 * makes conds of that spec and changes them only through these helpers, so it never looks
 * at labels or tokens. Method code may still name classes where the method means classes
 * (cond_set_class), e.g. the class to forget or a surrogate: a token spec maps a class to
 * its prompt's encoding (class_tokens), so the same method code runs on a text-conditioned
 * network.
 */
#ifndef LETHE_DIFFUSION_COND_H
#define LETHE_DIFFUSION_COND_H

#include <stdint.h>

#include "core/error.h"

typedef enum { LETHE_COND_NONE, LETHE_COND_CLASS, LETHE_COND_TOKENS } lethe_cond_kind;

// The conditioning a network takes.
typedef struct {
    lethe_cond_kind kind;
    int null_class;             // CLASS: index of the null class (-1: the network has none)
    int seq, width;             // TOKENS: rows are (seq, width)
    const float *null_tokens;   // TOKENS: (seq, width), backend memory (NULL: none)
    // TOKENS: the encodings of the prompts that name classes 0 .. n_classes-1, (n_classes, seq,
    // width) in backend memory (NULL: none), so code that names a class (cond_set_class) gets
    // its prompt's hidden states
    const float *class_tokens;
    int n_classes;
} lethe_cond_spec;

typedef struct {
    lethe_cond_spec spec;
    int n;                      // rows in use
    int cap;                    // rows allocated; 0: a view over the caller's labels (cond_free is a no-op)
    int *labels;                // CLASS: n labels (host)
    float *tokens;              // TOKENS: (n, seq, width) (backend)
} lethe_cond;

// A cond of `spec` with room for cap rows (n = cap, every row null).
lethe_status cond_alloc(lethe_cond *c, const lethe_cond_spec *spec, int cap);
void cond_free(lethe_cond *c);
// A CLASS cond over the caller's n labels (not copied; valid while they are).
lethe_cond cond_class_view(const lethe_cond_spec *spec, const int *labels, int n);

// 1 if rows can be made unconditional (guidance, dropout): CLASS with a null class, TOKENS with null_tokens.
int cond_has_null(const lethe_cond_spec *spec);
// Row counts below must not exceed c->cap; each sets c->n.
// Rows [0, n) = the classes labels[0..n) (CLASS: the labels; TOKENS: the classes' prompt
// encodings when the spec has them; NONE: only n is set).
void cond_set_classes(lethe_cond *c, const int *labels, int n);
// Rows [0, n) all = class k.
void cond_fill_class(lethe_cond *c, int k, int n);
// Row i = class k (n unchanged).
void cond_set_class(lethe_cond *c, int i, int k);
// Rows [0, n) all null.
void cond_fill_null(lethe_cond *c, int n);
// Each row of c becomes null with probability p: row i when lethe_rand_uniform(seed, stream, i) < p
// (nothing when p <= 0 or the spec has no null).
void cond_drop(lethe_cond *c, float p, uint64_t seed, uint64_t stream);
// dst (2n rows) = [src; null] (classifier-free guidance runs both halves in one batch).
void cond_concat_null(lethe_cond *dst, const lethe_cond *src);
// dst row i = src row idx[i], i < n.
void cond_select(lethe_cond *dst, const lethe_cond *src, const int *idx, int n);
// dst = src (src->n rows).
void cond_copy(lethe_cond *dst, const lethe_cond *src);

#endif
