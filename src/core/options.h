/*
 * options.h: options declared once, as tables of rows. A row names an option, its type,
 * where its value lives in the struct the table describes, its default and its help; value
 * parsing, defaults, help texts and provenance are generated from the rows, so a flag, its
 * default and its record cannot drift apart. The unlearning loop and each method declare
 * theirs next to their code (src/unlearn/); cli/args.c parses every CLI value with
 * opt_parse, so a number means the same everywhere.
 *
 * Names are written without leading dashes, words joined by '-' ("retain-weight"); a given
 * name may use '_' for '-' (diffusers spellings). An unset default (float NaN, int -1,
 * string NULL) means someone else decides (the method, another option): dflt_text says who.
 */
#ifndef LETHE_CORE_OPTIONS_H
#define LETHE_CORE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
    OPT_INT,      // int
    OPT_U64,      // uint64_t
    OPT_FLOAT,    // float, finite
    OPT_STRING,   // const char * (kept by pointer, not copied)
    OPT_FLAG,     // int, 0 or 1; on the command line it takes no value
    OPT_CHOICE,   // int: the index of the value among `choices`
} opt_type;

typedef union {
    int i;          // OPT_INT, OPT_FLAG, OPT_CHOICE
    uint64_t u;     // OPT_U64
    float f;        // OPT_FLOAT
    const char *s;  // OPT_STRING
} opt_value;

enum {
    OPT_NO_RECORD = 1,   // left out of provenance: it does not change the result (paths out, logging, resuming)
    OPT_REQUIRED = 2,    // has no default: the caller must give it
    OPT_RESUMABLE = 4,   // a resumed run may change it (budget, cadence); any other recorded option must stay
};

typedef struct {
    const char *name;        // "retain-weight"
    const char *alias;       // an older spelling still accepted ("alpha"), or NULL
    opt_type type;
    size_t offset;           // of the value in the struct the table describes
    opt_value dflt;
    const char *help;        // one line, without the default
    const char *dflt_text;   // the default in words when it is not a constant ("--lr", "the rank"), or NULL
    const char *choices;     // OPT_CHOICE: "constant|cosine"
    int flags;               // OPT_NO_RECORD, OPT_REQUIRED, OPT_RESUMABLE
} opt_spec;

// A table as a header exports it: its rows and their count.
typedef struct {
    const opt_spec *rows;
    int n;
} opt_table;

// Whether `given` names `name`, '_' standing for '-'.
int opt_same_name(const char *given, const char *name);
// The row of `name` (its name or alias), or NULL.
const opt_spec *opt_find(const opt_spec *t, int n, const char *name);
// Parses `text` as a value of the row's type. LETHE_ERR_ARG with "--NAME: 'x' is not a valid
// integer" (or number, or "--NAME must be a or b (got 'x')") otherwise.
lethe_status opt_parse(const opt_spec *s, const char *text, opt_value *out);
opt_value opt_get(const opt_spec *s, const void *base);
void opt_put(const opt_spec *s, void *base, opt_value v);
// Every row's default into base.
void opt_defaults(const opt_spec *t, int n, void *base);
// Whether v is a value rather than the unset sentinel (NaN, negative int, NULL string).
int opt_is_set(const opt_spec *s, opt_value v);
// v as text ("1e-05", "cosine", "yes"); "" for an unset value.
void opt_format(const opt_spec *s, opt_value v, char *buf, size_t cap);
// Sets the row named `name` (its name or alias; NULL table rows none) in base to `text` parsed
// as its type (a flag takes 1/0, true/false, yes/no). LETHE_ERR_ARG "unknown option 'x'
// (known: a, b, ...)" when no row has that name, or opt_parse's message.
lethe_status opt_set(const opt_spec *t, int n, void *base, const char *name, const char *text);
// The flag as help shows it: "--steps N", "--lr X", "--data S", "--lr-schedule constant|cosine", "--resume".
void opt_usage(const opt_spec *s, char *buf, size_t cap);

#endif
