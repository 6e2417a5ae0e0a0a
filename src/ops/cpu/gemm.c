/*
 * gemm.c: the one single-precision GEMM every CPU op calls (row-major, as cblas_sgemm).
 *
 * Two implementations, chosen once per process:
 *   - oneDNN's dnnl_sgemm (built in when libdnnl-dev is found; the default then): its
 *     kernels are chosen at run time from the CPU's features (AVX-512 where present);
 *   - OpenBLAS's cblas_sgemm. Debian's OpenBLAS 0.3.21 does not know AMD Zen 5 and runs
 *     its Haswell (AVX2) kernels there: dnnl_sgemm was 1.5-2x faster on lethe's GEMM
 *     shapes on one core (docs/benchmarks.md, "GEMM backend").
 * LETHE_GEMM=openblas or LETHE_GEMM=onednn overrides the default (`bench_unet --gemm` and
 * bench/compare.sh print which one runs). Both are called single-threaded from inside lethe's
 * OpenMP regions (threads.c); oneDNN runs sequentially when called from a parallel region.
 */
#include "ops/cpu/cpu.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef LETHE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

enum { GEMM_UNSET, GEMM_OPENBLAS, GEMM_ONEDNN };
static _Atomic int gemm_kind = GEMM_UNSET;

#ifdef LETHE_HAVE_DNNL
#define GEMM_DEFAULT GEMM_ONEDNN
#define GEMM_AVAILABLE "openblas, onednn"
#else
#define GEMM_DEFAULT GEMM_OPENBLAS
#define GEMM_AVAILABLE "openblas"
#endif

static int choose(void) {
    const char *e = getenv("LETHE_GEMM");
    if (!e || !*e) return GEMM_DEFAULT;
    if (!strcmp(e, "openblas")) return GEMM_OPENBLAS;
#ifdef LETHE_HAVE_DNNL
    if (!strcmp(e, "onednn")) return GEMM_ONEDNN;
#endif
    fprintf(stderr, "lethe: LETHE_GEMM=%s is not available here (" GEMM_AVAILABLE "); using %s\n", e,
            GEMM_DEFAULT == GEMM_ONEDNN ? "onednn" : "openblas");
    return GEMM_DEFAULT;
}

static int kind(void) {
    int k = atomic_load_explicit(&gemm_kind, memory_order_relaxed);
    if (k == GEMM_UNSET) {   // racing first calls compute the same answer
        k = choose();
        atomic_store(&gemm_kind, k);
    }
    return k;
}

const char *lethe_cpu_gemm_name(void) {
    return kind() == GEMM_ONEDNN ? "onednn" : "openblas";
}

// Below this many multiply-adds a product called from serial code runs on one thread: oneDNN
// would otherwise open an OpenMP region of every thread for it. Timed alone that costs little
// (2 threads are 0.5-1.1x one below ~4M MACs, 1.5-1.75x above 16M), but in a run where the
// other threads sleep between lethe's regions it made text-to-image ESD-x at batch 1 (a stream
// of attention and text-encoder products of 0.1-1M MACs) 2.3x slower than OpenBLAS.
#define SERIAL_MAX_MACS ((double)(1 << 22))

// --precision bf16 rounds the inputs of products of at least this many multiply-adds; below
// it the rounding pass and the primitive's call cost about what bf16 saves.
#define BF16_MIN_MACS ((double)(1 << 18))

static _Atomic bool bf16_on;
void lethe_cpu_set_bf16(bool on) { atomic_store(&bf16_on, on); }
bool lethe_cpu_bf16(void) { return atomic_load_explicit(&bf16_on, memory_order_relaxed); }

static void product(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    // on any failure of a oneDNN path (there should be none) the next one does the same product
    if (lethe_cpu_bf16() && k > 0 && (double)m * n * k >= BF16_MIN_MACS &&
        lethe_cpu_sgemm_bf16(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
#ifdef LETHE_HAVE_DNNL
    if (kind() == GEMM_ONEDNN &&
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == dnnl_success)
        return;
#endif
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
}

void lethe_cpu_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
#ifdef _OPENMP
    const int nt = omp_get_max_threads();
    const bool one_thread = nt > 1 && !omp_in_parallel() && (double)m * n * k < SERIAL_MAX_MACS;
    if (one_thread) omp_set_num_threads(1);   // oneDNN sizes its region by omp_get_max_threads()
    product(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (one_thread) omp_set_num_threads(nt);
#else
    product(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}
