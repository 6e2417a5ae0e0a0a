/*
 * embedding.cu: lookup table (PyTorch nn.Embedding), as embedding.c:
 *   idx (n) in [0, rows) (device ints), table (rows, dim), y (n, dim); dtable[idx[i]] += dy[i]
 * Backward without atomics and in the CPU's order: the first occurrence of each index
 * value owns that table row and adds the dy rows of all its occurrences in index order
 * (next[] links the occurrences; finding them is O(n^2) in index compares, which is
 * nothing for the batch sizes here).
 */
#include "ops/cuda/common.cuh"

static __global__ void embed_fwd(float *y, const int *idx, const float *table, int n, int dim) {
    const size_t total = (size_t)n * dim;
    CUDA_LOOP(i, total) {
        const size_t r = i / dim, j = i - r * dim;
        y[i] = table[(size_t)idx[r] * dim + j];
    }
}

void lethe_cuda_embedding_forward(float *y, const int *idx, const float *table, int n, int dim) {
    const size_t total = (size_t)n * dim;
    if (!total) return;
    embed_fwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(y, idx, table, n, dim);
    cuda_check_launch("embedding_forward");
}

// link[i] = next i' > i with the same index (or -1); leader[i] = 1 if no earlier i' has it
static __global__ void embed_links(int *link, int *leader, const int *idx, int n) {
    CUDA_LOOP(is, (size_t)n) {
        const int i = (int)is, v = idx[i];
        int nx = -1, first = 1;
        for (int k = i + 1; k < n && nx < 0; k++)
            if (idx[k] == v) nx = k;
        for (int k = 0; k < i && first; k++)
            if (idx[k] == v) first = 0;
        link[i] = nx;
        leader[i] = first;
    }
}

static __global__ void embed_bwd(float *dtable, const float *dy, const int *idx, const int *link, const int *leader,
                                 int n, int dim) {
    const size_t total = (size_t)n * dim;
    CUDA_LOOP(t, total) {
        const int i = (int)(t / dim), j = (int)(t - (size_t)i * dim);
        if (!leader[i]) continue;
        float *row = dtable + (size_t)idx[i] * dim + j;
        float acc = *row;
        for (int k = i; k >= 0; k = link[k]) acc += dy[(size_t)k * dim + j];
        *row = acc;
    }
}

void lethe_cuda_embedding_backward(float *dtable, const float *dy, const int *idx, int n, int dim) {
    if (!dtable || n <= 0 || dim <= 0) return;
    int *links = (int *)cuda_scratch(2 * (size_t)n * sizeof(int));
    if (!links) {
        cuda_poison(NULL, 0, "embedding_backward", 2 * (size_t)n * sizeof(int));
        return;
    }
    embed_links<<<grid_for((size_t)n), LETHE_CUDA_THREADS>>>(links, links + n, idx, n);
    embed_bwd<<<grid_for((size_t)n * dim), LETHE_CUDA_THREADS>>>(dtable, dy, idx, links, links + n, n, dim);
    cuda_check_launch("embedding_backward");
}
