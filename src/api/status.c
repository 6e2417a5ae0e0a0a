/*
 * status.c: the version and the device choice (lethe_last_error and lethe_status_name are
 * core/error.c's, exported as they are).
 */
#include "lethe.h"
#include "ops/ops.h"

const char *lethe_version(void) { return "0.1.0"; }

lethe_status lethe_set_device(const char *name) {
    if (!name) return lethe_fail(LETHE_ERR_ARG, "lethe_set_device: NULL device name");
    return ops_select_device(name);
}
