/*
 * loss.c: training losses with mean reduction, forward returning the loss on the host.
 *
 *   MSE (F.mse_loss):  L = mean((pred - target)^2);  dpred += dloss * 2 (pred - target) / n
 *   softmax cross entropy (F.cross_entropy on logits (n, classes), integer labels):
 *     P = softmax(logits) per row (row max subtracted), L = mean_r -log P[r, label_r];
 *     dlogits += dloss (P - onehot(label)) / n
 * Sums are in double, in fixed blocks added in order (independent of thread count).
 */
#include "ops/cpu/cpu.h"

#include <math.h>

#define RBLOCK 65536

// mean over n of (pred - target)^2
float lethe_cpu_mse_forward(const float *pred, const float *target, size_t n) {
    const size_t nb = (n + RBLOCK - 1) / RBLOCK;
    double total = 0.0;
    #pragma omp parallel for ordered schedule(static, 1) if (nb > 1)
    for (size_t bi = 0; bi < nb; bi++) {
        const size_t lo = bi * RBLOCK, len = n - lo < RBLOCK ? n - lo : RBLOCK;
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t i = 0; i < len; i++) {
            const double d = (double)pred[lo + i] - (double)target[lo + i];
            acc[i & 7] += d * d;
        }
        const double part = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        #pragma omp ordered
        total += part;
    }
    return n ? (float)(total / (double)n) : 0.0f;
}

// dpred (n) += dloss * 2 (pred - target) / n
void lethe_cpu_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    if (!dpred || n == 0) return;
    const float k = (float)(2.0 * (double)dloss / (double)n);
    #pragma omp parallel for schedule(static) if (n > LETHE_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) dpred[i] += k * (pred[i] - target[i]);
}

// probs (n, classes) = softmax(logits); returns mean -log probs[r, labels[r]]
float lethe_cpu_cross_entropy_forward(float *probs, const float *logits, const int *labels, int n, int classes) {
    double total = 0.0;
    for (int r = 0; r < n; r++) {
        const float *z = logits + (size_t)r * classes;
        float *p = probs + (size_t)r * classes;
        float mx = -INFINITY;
        for (int c = 0; c < classes; c++) mx = z[c] > mx ? z[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)z[c] - (double)mx);
        const double lse = log(sum);   // log sum exp(z - max)
        for (int c = 0; c < classes; c++) p[c] = (float)exp((double)z[c] - (double)mx - lse);
        total += lse - ((double)z[labels[r]] - (double)mx);
    }
    return n ? (float)(total / n) : 0.0f;
}

// dlogits (n, classes) += dloss (probs - onehot(labels)) / n
void lethe_cpu_cross_entropy_backward(float *dlogits, const float *probs, const int *labels,
                                      int n, int classes, float dloss) {
    if (!dlogits || n == 0) return;
    const float k = dloss / (float)n;
    for (int r = 0; r < n; r++) {
        float *d = dlogits + (size_t)r * classes;
        const float *p = probs + (size_t)r * classes;
        for (int c = 0; c < classes; c++) d[c] += k * (p[c] - (c == labels[r] ? 1.0f : 0.0f));
    }
}
