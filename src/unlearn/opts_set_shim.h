/*
 * opts_set_shim.h: TEMPORARY. unlearn_opts_set, setting an unlearning option by its CLI
 * name, for the C API (src/api/unlearn.c) until the option tables of issue 14 item 4 land
 * in unlearn/unlearn.h with the real one; the lead replaces this pair of files with it at
 * merge. Covers the options the API's example and tests use, and a few more.
 */
#ifndef LETHE_UNLEARN_OPTS_SET_SHIM_H
#define LETHE_UNLEARN_OPTS_SET_SHIM_H

#include "unlearn/unlearn.h"

// name: a flag of `lethe unlearn` without dashes ("forget-images"); value parsed by its type.
// String values are not copied: they must outlive o. LETHE_ERR_ARG for an unknown name or bad value.
lethe_status unlearn_opts_set(unlearn_opts *o, const char *name, const char *value);

#endif
