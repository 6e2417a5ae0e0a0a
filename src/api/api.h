/*
 * api.h: what the files of src/api/ share: the option set behind lethe_options, applied by
 * name to the library's own option structs through the tables the library declares next to
 * them (the CLI's flags come from the same rows), so the public API never exposes (or
 * freezes) those structs.
 */
#ifndef LETHE_API_API_H
#define LETHE_API_API_H

#include <stddef.h>

#include "core/error.h"
#include "core/options.h"

struct lethe_options {
    char **names, **values;   // n pairs, names with '-' (underscores turned to dashes)
    int n, cap;
};

// Applies every option of `opts` (NULL: none) to `target` through a library option table
// (core/options.h), and "progress" (1 or 0) to *progress when that is not NULL. An unknown
// name or a value that does not parse fails with LETHE_ERR_ARG, the message prefixed by
// `what` ("lethe_train"). String options point into `opts`: they live as long as it does.
lethe_status api_apply(const opt_table *table, void *target, int *progress, const struct lethe_options *opts,
                       const char *what);

#endif
