/*
 * backend.c: which op table is active (CPU by default) and the device selection behind
 * --device. The CUDA table exists only in `make CUDA=1` builds (LETHE_CUDA defined).
 */
#include "ops/ops.h"
#include "ops/cpu/cpu.h"

#include <stdio.h>
#include <string.h>

#ifdef LETHE_CUDA
#include "ops/cuda/cuda.h"
#endif

static const lethe_backend *active = &lethe_backend_cpu;

const lethe_backend *ops(void) { return active; }
void lethe_set_backend(const lethe_backend *be) { active = be ? be : &lethe_backend_cpu; }

int ops_cuda_built(void) {
#ifdef LETHE_CUDA
    return 1;
#else
    return 0;
#endif
}

const lethe_backend *ops_cuda_backend(void) {
#ifdef LETHE_CUDA
    if (lethe_cuda_init()) return NULL;
    return &lethe_backend_cuda;
#else
    lethe_fail(LETHE_ERR_ARG, "this lethe was built without the CUDA backend; rebuild with `make CUDA=1` "
                              "(needs nvcc and cuBLAS) to use --device cuda");
    return NULL;
#endif
}

lethe_status ops_use_cuda(void) {
    const lethe_backend *be = ops_cuda_backend();
    if (!be) return LETHE_ERR_ARG;
    active = be;
    return LETHE_OK;
}

lethe_status ops_select_device(const char *name) {
    if (!name || !strcmp(name, "cpu")) {
        active = &lethe_backend_cpu;
        return LETHE_OK;
    }
    if (!strcmp(name, "cuda")) return ops_use_cuda();
    return lethe_fail(LETHE_ERR_ARG, "--device must be cpu or cuda (got '%s')", name);
}

void ops_synchronize(void) {
    if (active->synchronize) active->synchronize();
}

const char *ops_device_description(void) {
#ifdef LETHE_CUDA
    static char buf[320];
    if (active == &lethe_backend_cuda) {
        snprintf(buf, sizeof buf, "cuda (%s, TF32 %s)", lethe_cuda_device_name(), lethe_cuda_tf32() ? "on" : "off");
        return buf;
    }
#endif
    return active->name;
}

lethe_status ops_set_precision(const char *name, const char **fallback) {
    if (fallback) *fallback = NULL;
    const bool bf16 = name && !strcmp(name, "bf16");
    if (!bf16 && name && strcmp(name, "fp32") != 0)
        return lethe_fail(LETHE_ERR_ARG, "--precision must be fp32 or bf16 (got '%s')", name);
    const char *why = NULL;
    if (bf16) why = active != &lethe_backend_cpu ? "bf16 is implemented for the CPU backend only" : lethe_cpu_bf16_unavailable();
    lethe_cpu_set_bf16(bf16 && !why);
    if (fallback) *fallback = why;
    return LETHE_OK;
}

const char *ops_precision(void) { return lethe_cpu_bf16() && active == &lethe_backend_cpu ? "bf16" : "fp32"; }
