/*
 * args.h: table-driven long-flag parsing for the CLI (sd.cpp style): each option is a row
 * {name, type, &target, help}; --help prints every flag with its current value as the
 * default. Underscore spellings (--learning_rate) are accepted as aliases so pasted
 * diffusers commands work.
 */
#ifndef LETHE_CLI_ARGS_H
#define LETHE_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/options.h"

typedef enum { ARG_INT, ARG_FLOAT, ARG_STRING, ARG_FLAG, ARG_U64, ARG_CHOICE } arg_type;

typedef struct {
    const char *name;      // without leading dashes: "steps"
    arg_type type;
    void *target;          // int*, float*, const char**, int* (flag: set to 1), uint64_t*, int* (choice: its index)
    const char *help;
    const char *alias;     // optional second name, e.g. the diffusers spelling "learning-rate"
    const char *choices;   // ARG_CHOICE: "cosine|constant"
} arg_spec;

// The rows of a library option table (core/options.h) as flags over `base`, the struct the
// table describes, into out[0..n); returns n, or -1 (with a message) when n > cap. The library
// declares the option (name, alias, type, help); --help shows the value in base, its default.
int args_from_options(arg_spec *out, int cap, const opt_table *t, void *base);
// Rows of `specs` left after `used`, keeping `trailing` for the command's own flags.
#define ARGS_ROOM(specs, used, trailing) ((int)(sizeof(specs) / sizeof((specs)[0])) - (used) - (trailing))

enum { ARGS_OK = 0, ARGS_HELP = 1, ARGS_ERROR = 2 };

// Parses argv[0..argc) (argv[0] is the first argument after the subcommand). Positional
// arguments go to pos[0..max_pos). Prints help or a one-line error to stderr.
int args_parse(const char *cmd, const char *usage, const arg_spec *specs, int n_specs, int argc, char **argv,
               const char **pos, int max_pos, int *n_pos);

// "--name=value" or "--name" into name (without dashes, cut to cap) and *value (the text
// after '=', or NULL). Returns 0, or 1 for an argument that is not an option.
int args_split(const char *arg, char *name, size_t cap, const char **value);

// given[i] = 1 for each row i of t that argv[0..argc) names (as args_parse reads it), else 0;
// given has t->n entries. For commands that treat a flag given differently from its default
// (train --resume checks a given flag against the run's record).
void args_given(const opt_table *t, int argc, char **argv, unsigned char *given);

// The whole command line as one string (for provenance), caller frees.
char *args_join(int argc, char **argv);

// --threads: OpenMP and OpenBLAS threads (0 = leave the default).
void cli_set_threads(int n);

// --device: the op backend, "cpu" or "cuda", chosen before anything is allocated. 0 on
// success (a CUDA device is announced on stderr); else prints "lethe CMD: error: ..." and
// returns 1 (e.g. a build without the CUDA backend, or no GPU).
int cli_set_device(const char *cmd, const char *device);

// --precision fp32|bf16, after --device. bf16 where it cannot run (no AVX512-BF16/AMX, no
// oneDNN, CUDA) says why on stderr and the run goes on in fp32; an unknown name prints
// "lethe CMD: error: ..." and returns 2 (a usage error).
int cli_set_precision(const char *cmd, const char *precision);
#define CLI_PRECISION_HELP "GEMM precision: fp32, or bf16 (bf16 inputs, fp32 sums; CPUs with AVX512-BF16 or AMX)"

#endif
