/*
 * param_select.c: which weights a method trains (--params), as a mask over the network's
 * parameters (u->mask: 1 = may change).
 *
 *   all               every weight (no mask)
 *   conditioning      the weights that read the condition: a class embedding, or the
 *                     cross-attention (attn2) of a text-to-image UNet (ESD-x's set)
 *   non-conditioning  every other weight (ESD-u's set)
 *
 * For a class embedding (a lookup table) only the rows of the classes a batch holds get a
 * gradient, so `conditioning` on a class-conditional model changes the forgotten classes'
 * rows and nothing any kept class reads.
 */
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"
#include "unlearn/unlearn_internal.h"

const char *const unlearn_params_name[] = {"all", "conditioning", "non-conditioning"};

// The weights that read the condition: a class embedding, or cross-attention (attn2).
static int reads_condition(const char *name) {
    return !strncmp(name, "class_embedding.", 16) || strstr(name, ".attn2.") != NULL;
}

lethe_status unlearn_params_mask(unlearn_ctx *u, int params, const char *method) {
    if (params == UNLEARN_PARAMS_ALL) return LETHE_OK;
    const param_table *tab = u->model->net.table;
    const int want = params == UNLEARN_PARAMS_CONDITIONING;
    if (u->n_train != u->n_params)
        return lethe_fail(LETHE_ERR_ARG, "%s --params %s: the method trains its own weights, not the network's", method,
                          unlearn_params_name[params]);
    if (!(u->mask = ops()->alloc(u->n_train * sizeof(float)))) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    ops()->fill(u->mask, 0.0f, u->n_train);
    size_t kept = 0, reading = 0;
    for (int i = 0; i < tab->n; i++) {
        const int r = reads_condition(tab->entries[i].name);
        reading += r ? tab->entries[i].numel : 0;
        if (r != want) continue;
        ops()->fill(u->mask + tab->entries[i].offset, 1.0f, tab->entries[i].numel);
        kept += tab->entries[i].numel;
    }
    if (reading == 0)
        return lethe_fail(LETHE_ERR_ARG, "%s --params %s: this network has no class embedding or cross-attention "
                          "weights (an unconditional model: use --params all)", method, unlearn_params_name[params]);
    if (!u->o->quiet)
        fprintf(stderr, "lethe unlearn: %s: training the %zu weights that %s the condition\n", method, kept,
                want ? "read" : "do not read");
    return LETHE_OK;
}
