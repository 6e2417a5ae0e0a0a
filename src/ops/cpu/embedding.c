/*
 * embedding.c: lookup table (PyTorch nn.Embedding), y[i] = table[idx[i]].
 *
 *   idx (n) in [0, rows), table (rows, dim), y (n, dim); dtable[idx[i]] += dy[i]
 * Backward runs in index order on one thread: repeated indices add up deterministically.
 */
#include "ops/cpu/cpu.h"

#include <string.h>

void lethe_cpu_embedding_forward(float *y, const int *idx, const float *table, int n, int dim) {
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * dim, table + (size_t)idx[i] * dim, (size_t)dim * sizeof(float));
}

void lethe_cpu_embedding_backward(float *dtable, const float *dy, const int *idx, int n, int dim) {
    if (!dtable) return;
    for (int i = 0; i < n; i++) {
        float *row = dtable + (size_t)idx[i] * dim;
        const float *g = dy + (size_t)i * dim;
        for (int j = 0; j < dim; j++) row[j] += g[j];
    }
}
