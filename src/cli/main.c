/*
 * main.c: `lethe <command> [options]`: dispatch to one file per subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "unlearn/unlearn.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
    const char *(*detail)(void);   // appended in parentheses, from where it is declared (NULL: none)
} commands[] = {
    {"train", cmd_train, "train a diffusion model (DDPM, class-conditional UNet2DModel)"},
    {"sample", cmd_sample, "generate images with DDPM or DDIM, with classifier-free guidance"},
    {"unlearn", cmd_unlearn, "make a model forget classes", unlearn_method_names},   // the registered methods
    {"classifier", cmd_classifier, "train the evaluation classifier (accuracy, UA and FID features)"},
    {"eval", cmd_eval, "evaluate models: per-class accuracy, UA, FID, bits/dim, membership inference"},
    {"info", cmd_info, "describe a model folder: config, parameters, classes, provenance"},
    {"demo", cmd_demo, "the main job: forget a class from the reference model, compare original and unlearned"},
    {"clip", cmd_clip, "train a small CLIP on Fashion-Canvas (contrastive; its text encoder conditions text-to-image models)"},
    {"canvas", cmd_canvas, "Fashion-Canvas, the text-to-image benchmark: its styles as a reference sheet"},
};

int cli_fail(const char *cmd, lethe_status st) {
    fprintf(stderr, "lethe %s: error: %s\n", cmd, lethe_last_error());
    (void)st;
    return 1;
}

static void usage(void) {
    fprintf(stderr, "usage: lethe <command> [options]   (lethe <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (commands[i].detail) fprintf(stderr, "  %-8s %s (%s)\n", commands[i].name, commands[i].what, commands[i].detail());
        else fprintf(stderr, "  %-8s %s\n", commands[i].name, commands[i].what);
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "lethe: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
