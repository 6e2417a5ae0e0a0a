/* cond.c: conditioning rows and the operations generic code needs on them (see cond.h). */
#include "diffusion/cond.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"

static size_t row_floats(const lethe_cond_spec *s) { return (size_t)s->seq * (size_t)s->width; }

lethe_status cond_alloc(lethe_cond *c, const lethe_cond_spec *spec, int cap) {
    memset(c, 0, sizeof *c);
    c->spec = *spec;
    if (cap < 1) cap = 1;
    if (spec->kind == LETHE_COND_CLASS) c->labels = malloc((size_t)cap * sizeof(int));
    if (spec->kind == LETHE_COND_TOKENS) c->tokens = ops()->alloc((size_t)cap * row_floats(spec) * sizeof(float));
    if ((spec->kind == LETHE_COND_CLASS && !c->labels) || (spec->kind == LETHE_COND_TOKENS && !c->tokens)) {
        cond_free(c);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d conditioning rows", cap);
    }
    c->cap = cap;
    cond_fill_null(c, cap);
    return LETHE_OK;
}

void cond_free(lethe_cond *c) {
    if (c->cap > 0) {
        free(c->labels);
        ops()->release(c->tokens);
    }
    c->labels = NULL;
    c->tokens = NULL;
    c->cap = c->n = 0;
}

lethe_cond cond_class_view(const lethe_cond_spec *spec, const int *labels, int n) {
    lethe_cond c = {.spec = *spec, .n = n};
    if (spec->kind == LETHE_COND_CLASS) c.labels = (int *)labels;   // a view: the helpers that write need cap > 0
    return c;
}

int cond_has_null(const lethe_cond_spec *spec) {
    return (spec->kind == LETHE_COND_CLASS && spec->null_class >= 0) ||
           (spec->kind == LETHE_COND_TOKENS && spec->null_tokens != NULL);
}

static void set_null_row(lethe_cond *c, int i) {
    if (c->spec.kind == LETHE_COND_CLASS) c->labels[i] = c->spec.null_class;
    else if (c->spec.kind == LETHE_COND_TOKENS && c->spec.null_tokens)
        ops()->copy(c->tokens + (size_t)i * row_floats(&c->spec), c->spec.null_tokens, row_floats(&c->spec));
}

void cond_set_classes(lethe_cond *c, const int *labels, int n) {
    c->n = n;
    if (c->spec.kind == LETHE_COND_CLASS && c->labels != labels) memcpy(c->labels, labels, (size_t)n * sizeof(int));
    else if (c->spec.kind == LETHE_COND_TOKENS)
        for (int i = 0; i < n; i++) cond_set_class(c, i, labels[i]);
}

void cond_fill_class(lethe_cond *c, int k, int n) {
    c->n = n;
    for (int i = 0; i < n; i++) cond_set_class(c, i, k);
}

void cond_set_class(lethe_cond *c, int i, int k) {
    if (c->spec.kind == LETHE_COND_CLASS) c->labels[i] = k;
    else if (c->spec.kind == LETHE_COND_TOKENS && c->spec.class_tokens && k >= 0 && k < c->spec.n_classes)
        ops()->copy(c->tokens + (size_t)i * row_floats(&c->spec), c->spec.class_tokens + (size_t)k * row_floats(&c->spec),
                    row_floats(&c->spec));
}

void cond_fill_null(lethe_cond *c, int n) {
    c->n = n;
    if (c->spec.kind == LETHE_COND_CLASS && c->spec.null_class < 0) return;
    for (int i = 0; i < n; i++) set_null_row(c, i);
}

void cond_drop(lethe_cond *c, float p, uint64_t seed, uint64_t stream) {
    if (!cond_has_null(&c->spec) || p <= 0) return;
    for (int i = 0; i < c->n; i++)
        if (lethe_rand_uniform(seed, stream, (uint64_t)i) < p) set_null_row(c, i);
}

static void copy_row(lethe_cond *dst, int i, const lethe_cond *src, int j) {
    if (src->spec.kind == LETHE_COND_CLASS) dst->labels[i] = src->labels[j];
    else if (src->spec.kind == LETHE_COND_TOKENS)
        ops()->copy(dst->tokens + (size_t)i * row_floats(&src->spec), src->tokens + (size_t)j * row_floats(&src->spec),
                    row_floats(&src->spec));
}

void cond_concat_null(lethe_cond *dst, const lethe_cond *src) {
    const int n = src->n;
    dst->n = 2 * n;
    for (int i = 0; i < n; i++) {
        copy_row(dst, i, src, i);
        set_null_row(dst, n + i);
    }
}

void cond_select(lethe_cond *dst, const lethe_cond *src, const int *idx, int n) {
    dst->n = n;
    for (int i = 0; i < n; i++) copy_row(dst, i, src, idx[i]);
}

void cond_copy(lethe_cond *dst, const lethe_cond *src) {
    dst->n = src->n;
    if (src->spec.kind == LETHE_COND_CLASS && dst->labels != src->labels)
        memcpy(dst->labels, src->labels, (size_t)src->n * sizeof(int));
    else if (src->spec.kind == LETHE_COND_TOKENS)
        ops()->copy(dst->tokens, src->tokens, (size_t)src->n * row_floats(&src->spec));
}
