/*
 * cli.h: the `lethe` subcommands. Each returns the process exit code: 0 success,
 * 1 failure (after printing one "lethe CMD: error: ..." line), 2 usage error.
 */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include "core/error.h"

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_classifier(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_unlearn(int argc, char **argv);
int cmd_canvas(int argc, char **argv);
int cmd_clip(int argc, char **argv);

// Prints "lethe CMD: error: <last library error>" and returns 1.
int cli_fail(const char *cmd, lethe_status st);

#endif
