/* backend.c: which op table is active (CPU by default). */
#include "ops/ops.h"

static const lethe_backend *active = &lethe_backend_cpu;

const lethe_backend *ops(void) { return active; }
void lethe_set_backend(const lethe_backend *be) { active = be ? be : &lethe_backend_cpu; }
