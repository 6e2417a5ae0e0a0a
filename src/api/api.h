/*
 * api.h: what the files of src/api/ share: the option set behind lethe_options, and
 * option tables that apply it to the library's own option structs by name, so the
 * public API never exposes (or freezes) those structs.
 */
#ifndef LETHE_API_API_H
#define LETHE_API_API_H

#include <stddef.h>

#include "core/error.h"

struct lethe_options {
    char **names, **values;   // n pairs, names with '-' (underscores turned to dashes)
    int n, cap;
};

typedef enum { API_INT, API_FLOAT, API_U64, API_STRING, API_FLAG } api_opt_type;

// One settable option: its name and where it goes in the caller's argument struct.
typedef struct {
    const char *name;
    api_opt_type type;
    size_t offset;            // offsetof(the struct, field): int, float, uint64_t, const char * or int (flag)
} api_opt;

// Applies every option of `opts` (NULL: none) to `target` through `table`. An unknown name
// or a value that does not parse fails with LETHE_ERR_ARG naming `what` ("lethe_train").
// String options point into `opts`: they live as long as it does.
lethe_status api_apply(const api_opt *table, int n, void *target, const struct lethe_options *opts, const char *what);
// The same for one name and value.
lethe_status api_set(const api_opt *table, int n, void *target, const char *name, const char *value, const char *what);

#endif
