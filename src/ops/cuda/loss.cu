/*
 * loss.cu: training losses with mean reduction, as loss.c; forward returns the loss on
 * the host (so it waits for the device).
 *   MSE: L = mean((pred - target)^2), a deterministic double reduction (common.cuh);
 *     dpred += dloss * 2 (pred - target) / n
 *   softmax cross entropy on logits (n, classes), device labels: one thread per row in
 *     double (classes is small), row losses summed in a fixed order;
 *     dlogits += dloss (P - onehot) / n
 */
#include "ops/cuda/common.cuh"

struct squared_diff {
    const float *a, *b;
    __device__ double operator()(size_t i) const {
        const double d = (double)a[i] - (double)b[i];
        return d * d;
    }
};

float lethe_cuda_mse_forward(const float *pred, const float *target, size_t n) {
    if (!n) return 0.0f;
    return (float)(sum_reduce("mse_forward", n, squared_diff{pred, target}) / (double)n);
}

static __global__ void mse_bwd(float *dpred, const float *pred, const float *target, size_t n, float k) {
    CUDA_LOOP(i, n) dpred[i] += k * (pred[i] - target[i]);
}

void lethe_cuda_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    if (!dpred || !n) return;
    const float k = (float)(2.0 * (double)dloss / (double)n);
    mse_bwd<<<grid_for(n), LETHE_CUDA_THREADS>>>(dpred, pred, target, n, k);
    cuda_check_launch("mse_backward");
}

// probs (n, classes) = softmax(logits); rowloss[r] = lse - (z[label] - max)
static __global__ void ce_fwd(double *rowloss, float *probs, const float *logits, const int *labels, int n,
                              int classes) {
    CUDA_LOOP(rs, (size_t)n) {
        const float *z = logits + rs * classes;
        float *p = probs + rs * classes;
        float mx = -INFINITY;
        for (int c = 0; c < classes; c++) mx = z[c] > mx ? z[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)z[c] - (double)mx);
        const double lse = log(sum);
        for (int c = 0; c < classes; c++) p[c] = (float)exp((double)z[c] - (double)mx - lse);
        rowloss[rs] = lse - ((double)z[labels[rs]] - (double)mx);
    }
}

struct row_value {
    const double *v;
    __device__ double operator()(size_t i) const { return v[i]; }
};

float lethe_cuda_cross_entropy_forward(float *probs, const float *logits, const int *labels, int n, int classes) {
    if (n <= 0) return 0.0f;
    // row losses live in scratch; sum_reduce uses the partials pool, so they do not collide
    double *rowloss = (double *)cuda_scratch((size_t)n * sizeof(double));
    if (!rowloss) {
        cuda_poison(probs, (size_t)n * classes, "cross_entropy_forward", (size_t)n * sizeof(double));
        return NAN;
    }
    ce_fwd<<<grid_for((size_t)n), LETHE_CUDA_THREADS>>>(rowloss, probs, logits, labels, n, classes);
    cuda_check_launch("cross_entropy_forward");
    return (float)(sum_reduce("cross_entropy_forward", (size_t)n, row_value{rowloss}) / n);
}

static __global__ void ce_bwd(float *dlogits, const float *probs, const int *labels, int classes, size_t total,
                              float k) {
    CUDA_LOOP(i, total) {
        const size_t r = i / classes;
        const int c = (int)(i - r * classes);
        dlogits[i] += k * (probs[i] - (c == labels[r] ? 1.0f : 0.0f));
    }
}

void lethe_cuda_cross_entropy_backward(float *dlogits, const float *probs, const int *labels, int n, int classes,
                                       float dloss) {
    if (!dlogits || n <= 0) return;
    const size_t total = (size_t)n * classes;
    ce_bwd<<<grid_for(total), LETHE_CUDA_THREADS>>>(dlogits, probs, labels, classes, total, dloss / (float)n);
    cuda_check_launch("cross_entropy_backward");
}
