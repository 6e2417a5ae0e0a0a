/*
 * cmd_unlearn.c: `lethe unlearn`: make a model forget classes with one of the methods of
 * src/unlearn/, writing a diffusers folder whose lethe.json records the parent's SHA-256,
 * the method, every argument and the forgotten classes.
 *
 * The options are the library's (the loop's table and each method's, src/unlearn/): every
 * --name VALUE goes through unlearn_opts_set, the function embedding programs call, so the
 * command line and the API parse, check and record options alike. Only --threads and
 * --device are the CLI's. --help lists the loop's options and each method's own with their
 * defaults; `--method NAME --help` only that method's. --options-markdown (not listed)
 * prints docs/unlearning.md's generated option tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "unlearn/concept_edit.h"
#include "unlearn/unlearn.h"

static void print_help(const char *method) {
    fprintf(stderr, "usage: lethe unlearn --model DIR --method NAME --forget CLASS[,CLASS...] --out DIR [options]\n"
                    "       lethe unlearn --model T2I --method NAME --forget-style S[,S...] | --forget-object O --out DIR\n\n"
                    "Makes a model forget classes, or a text-to-image model concepts (its prompts in a style, or of\n"
                    "an object, are its classes here). Unset options take the method's defaults; an option of one\n"
                    "method given to another is an error (docs/unlearning.md lists them, and what is\n"
                    "reconstructed). Methods:\n");
    for (int i = 0; i < unlearn_method_count(); i++) {
        const unlearn_method *m = unlearn_method_at(i);
        fprintf(stderr, "  %-9s %s%s\n", m->name, m->summary, m->reconstructed ? " [reconstructed]" : "");
    }
    fprintf(stderr, "  %-9s %s\n", "uce", "text-to-image models: closed-form erasure of concepts (styles, objects) in the "
                    "cross-attention (its own flags: lethe unlearn --method uce --help)");
    fprintf(stderr, "  %-9s %s\n", "scapre", "text-to-image models: ScaPre's closed-form erasure of many concepts at once "
                    "(lethe unlearn --method scapre --help)");
    char *loop = unlearn_options_help(NULL, 0), *own = unlearn_options_help(method, 1);
    fprintf(stderr, "\noptions:\n%s", loop ? loop : "");
    fprintf(stderr, "  %-26s %s\n", "--threads N", "CPU threads (default 0: all)");
    fprintf(stderr, "  %-26s %s\n", "--device S", "where the ops run: cpu, or cuda (a build with make CUDA=1 and an NVIDIA GPU) (default cpu)");
    fprintf(stderr, "  %-26s %s\n", "--precision S", CLI_PRECISION_HELP " (default fp32)");
    fprintf(stderr, "  %-26s %s\n", "-h, --help", "show this help (with --method NAME: that method's options only)");
    fprintf(stderr, "%s", own ? own : "");
    free(loop);
    free(own);
}

// `lethe unlearn --method uce`: a closed-form edit of a text-to-image model's cross-attention
// (unlearn/concept_edit.h), with its own flags: concepts, not classes, and no training loop.
static int unlearn_concept(int argc, char **argv) {
    concept_edit_opts o;
    concept_edit_opts_default(&o);
    const char *device = "cpu", *precision = "fp32";
    int threads = 0, no_mask = 0, no_ased = 0;
    arg_spec specs[] = {
        {"method", ARG_STRING, &o.method, "uce or scapre (closed-form cross-attention edits)", NULL, NULL},
        {"model", ARG_STRING, &o.model_dir, "the text-to-image model (a pipeline folder)", NULL, NULL},
        {"out", ARG_STRING, &o.out_dir, "output model folder", NULL, NULL},
        {"forget-style", ARG_STRING, &o.forget_styles, "Fashion-Canvas style(s) to erase, comma-separated", "forget-styles", NULL},
        {"forget-object", ARG_STRING, &o.forget_objects, "object(s) to erase, comma-separated", "forget-objects", NULL},
        {"forget-file", ARG_STRING, &o.forget_file, "a file of concept prompts to erase, one per line", NULL, NULL},
        {"preserve", ARG_STRING, &o.preserve, "concept prompts whose outputs are kept, comma-separated", NULL, NULL},
        {"guide", ARG_STRING, &o.guide, "the prompt erased concepts are mapped to (\"\": the unconditional prompt)", NULL, NULL},
        {"lambda", ARG_FLOAT, &o.lambda, "pull towards the original matrices (nan: the method's, 0.5)", NULL, NULL},
        {"erase-scale", ARG_FLOAT, &o.erase_scale, "weight of the erased concepts (nan: the method's, uce 1, scapre 2)", NULL, NULL},
        {"preserve-scale", ARG_FLOAT, &o.uce.preserve_scale, "uce: weight of the preserved concepts (< 0: max(0.1, 1/n))", NULL, NULL},
        {"p", ARG_FLOAT, &o.scapre.p, "scapre: the soft mask's exponent (Diversi50 setting: 5)", NULL, NULL},
        {"no-mi-mask", ARG_FLAG, &no_mask, "scapre: no Informax soft mask (every output row weighs fully)", NULL, NULL},
        {"no-ased", ARG_FLAG, &no_ased, "scapre: no spectral term R", NULL, NULL},
        {"entropy-samples", ARG_INT, &o.scapre.entropy_samples, "scapre: probes per concept for the entropy weight", NULL, NULL},
        {"bures-iters", ARG_INT, &o.scapre.bures_iters, "scapre: Bures proximal steps per row (0: none)", NULL, NULL},
        {"seed", ARG_U64, &o.scapre.seed, "scapre: seed of the probes' noise", NULL, NULL},
        {"threads", ARG_INT, &threads, "CPU threads (0: all)", NULL, NULL},
        {"device", ARG_STRING, &device, "where the ops run: cpu, or cuda", NULL, NULL},
        {"precision", ARG_STRING, &precision, CLI_PRECISION_HELP, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    int r = args_parse("unlearn", "unlearn --model DIR --method uce|scapre --forget-style NAME[,NAME...] --out DIR [options]\n\n"
                       "Erases concepts from a text-to-image model in closed form: every cross-attention key and value\n"
                       "matrix maps the concepts' token features to the guide prompt's outputs. uce (specs/methods.md\n"
                       "7.7): preserved concepts keep theirs; scapre (4.2, the released erase_scale.py): per output row,\n"
                       "with the Informax soft mask, the spectral term and a Bures step. Writes a pipeline folder; its\n"
                       "lethe.json records the concepts and the solve time.",
                       specs, (int)(sizeof specs / sizeof specs[0]), argc, argv, pos, 0, &npos);
    if (r) return r == ARGS_HELP ? 0 : 2;
    if (no_mask) o.scapre.use_mi_mask = 0;
    if (no_ased) o.scapre.ased = 0;
    cli_set_threads(threads);
    if (cli_set_device("unlearn", device)) return 1;
    if (cli_set_precision("unlearn", precision)) return 2;
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 20;
    char *line = malloc(len);
    if (line) snprintf(line, len, "lethe unlearn %s", cmd ? cmd : "");
    free(cmd);
    o.command_line = line;
    concept_edit_report rep;
    lethe_status st = concept_edit_run(&o, &rep);
    free(line);
    if (st) return cli_fail("unlearn", st);
    fprintf(stderr, "lethe unlearn: %s erased %d concept%s (%d preserved) in %d cross-attention matrices: solve %.3f s, "
                    "%.1f s in all, peak %.0f MB -> %s\n", o.method, rep.n_concepts, rep.n_concepts == 1 ? "" : "s", rep.n_preserved,
            rep.n_matrices, rep.solve_seconds, rep.total_seconds, rep.peak_rss_mb, o.out_dir);
    return 0;
}

int cmd_unlearn(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {   // the closed-form methods take concepts, not the loop's options
        char name[64];
        const char *value;
        if (!args_split(argv[i], name, sizeof name, &value) && !strcmp(name, "method") &&
            (!strcmp(value ? value : i + 1 < argc ? argv[i + 1] : "", "uce") ||
             !strcmp(value ? value : i + 1 < argc ? argv[i + 1] : "", "scapre")))
            return unlearn_concept(argc, argv);
    }
    unlearn_opts o;
    unlearn_opts_default(&o);
    int threads = 0;
    const char *device = "cpu", *precision = "fp32";
    // --help wins over any error, and shows the options of --method when one is named
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            const char *method = NULL, *value;
            char name[64];
            for (int k = 0; k < argc; k++)
                if (!args_split(argv[k], name, sizeof name, &value) && !strcmp(name, "method"))
                    method = value ? value : k + 1 < argc ? argv[k + 1] : NULL;
            print_help(method);
            return 0;
        }
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *value;
        if (args_split(argv[i], name, sizeof name, &value)) {
            fprintf(stderr, "lethe unlearn: unexpected argument '%s' (see lethe unlearn --help)\n", argv[i]);
            return 2;
        }
        if (!strcmp(name, "options-markdown")) {
            char *md = unlearn_options_markdown();
            fputs(md ? md : "", stdout);
            free(md);
            return md ? 0 : 1;
        }
        int is_flag = unlearn_option_is_flag(name);
        int cli_own = opt_same_name(name, "threads") || opt_same_name(name, "device") || opt_same_name(name, "precision");
        if (is_flag < 0 && !cli_own) {
            fprintf(stderr, "lethe unlearn: unknown option '--%s' (see lethe unlearn --help)\n", name);
            return 2;
        }
        if (is_flag == 1) {
            if (value) { fprintf(stderr, "lethe unlearn: --%s takes no value\n", name); return 2; }
            value = "1";
        } else if (!value && !(value = i + 1 < argc ? argv[++i] : NULL)) {
            fprintf(stderr, "lethe unlearn: --%s needs a value\n", name);
            return 2;
        }
        lethe_status st = LETHE_OK;
        if (opt_same_name(name, "device")) device = value;
        // --precision fp32|bf16 is the GEMMs'; vdu's anchor (--anchor-precision checkpoints|fisher)
        // was --precision before, and those values still reach it
        else if (opt_same_name(name, "precision") && strcmp(value, "checkpoints") != 0 && strcmp(value, "fisher") != 0)
            precision = value;
        else if (opt_same_name(name, "threads")) {
            const opt_spec spec = {.name = "threads", .type = OPT_INT};
            opt_value v;
            if (!(st = opt_parse(&spec, value, &v))) threads = v.i;
        } else st = unlearn_opts_set(&o, name, value);
        if (st) {
            fprintf(stderr, "lethe unlearn: %s\n", lethe_last_error());
            return 2;
        }
    }
    if (!o.method) { fprintf(stderr, "lethe unlearn: --method is required (%s)\n", unlearn_method_names()); return 2; }
    if (!o.model_dir || !o.out_dir || !(o.forget || o.forget_styles || o.forget_objects || o.forget_file)) {
        fprintf(stderr, "lethe unlearn: --model, --forget (text-to-image models: or --forget-style, --forget-object, "
                        "--forget-file) and --out are required\n");
        return 2;
    }
    cli_set_threads(threads);
    if (cli_set_device("unlearn", device)) return 1;
    if (cli_set_precision("unlearn", precision)) return 2;
    char *cmd = args_join(argc, argv);
    size_t len = strlen(cmd ? cmd : "") + 24;
    char *full = malloc(len);
    if (full) snprintf(full, len, "lethe unlearn %s", cmd ? cmd : "");
    o.command_line = full;
    lethe_status st = unlearn_run(&o);
    free(cmd);
    free(full);
    if (st) return cli_fail("unlearn", st);
    fprintf(stderr, "lethe unlearn: wrote %s\n", o.out_dir);
    return 0;
}
