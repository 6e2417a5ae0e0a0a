/*
 * unlearn.c: lethe_unlearn, `lethe unlearn` by option names (unlearn/unlearn.h).
 */
#include <string.h>

#include "api/api.h"
#include "lethe.h"
#include "unlearn/unlearn.h"

lethe_status lethe_unlearn(const char *model_dir, const char *method, const char *forget, const char *out_dir,
                           const lethe_options *opts) {
    if (!model_dir || !method || !forget || !out_dir)
        return lethe_fail(LETHE_ERR_ARG, "lethe_unlearn: model folder, method, forget classes and output folder are required");
    unlearn_opts o;
    unlearn_opts_default(&o);
    o.model_dir = model_dir;
    o.forget = forget;
    o.out_dir = out_dir;
    o.command_line = "lethe_unlearn (C API)";
    o.quiet = 1;   // a library prints nothing unless asked: "progress" = 1 shows the bar and the summary lines
    // the method through the option table, so an option of another method is refused by name
    lethe_status mst = unlearn_opts_set(&o, "method", method);
    if (mst) return lethe_fail_context(mst, "lethe_unlearn");
    for (int i = 0; opts && i < opts->n; i++) {
        lethe_status st;
        if (!strcmp(opts->names[i], "progress")) {
            st = strcmp(opts->values[i], "0") && strcmp(opts->values[i], "1")
                     ? lethe_fail(LETHE_ERR_ARG, "option 'progress' must be 0 or 1 (got '%s')", opts->values[i]) : LETHE_OK;
            o.quiet = opts->values[i][0] != '1';
        } else {
            st = unlearn_opts_set(&o, opts->names[i], opts->values[i]);
        }
        if (st) return lethe_fail_context(st, "lethe_unlearn");
    }
    return unlearn_run(&o);
}

const char *lethe_unlearn_methods(void) { return unlearn_method_names(); }
