/* ane_trainer: the command-line front end. Dispatches to one file per subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"info", cli_info, "platform, Neural Engine presence, CPU features, backends"},
    {"data", cli_data, "list known datasets and where they are; download and verify one"},
    {"train", cli_train, "train a model with every step as MIL programs on a backend"},
    {"generate", cli_generate, "sample text from a character-transformer checkpoint"},
    {"eval", cli_eval, "test accuracy of a training checkpoint"},
    {"report", cli_report, "one self-contained HTML page of a run: curves, programs, confusion matrix"},
    {"compile", cli_compile, "write a model's step programs (MIL, weight.bin, plan.json)"},
    {"check", cli_check, "will a Core ML model run on the Neural Engine? per layer, with reasons"},
    {"export", cli_export, "write a checkpoint as a Core ML .mlpackage (Xcode, MLModel, Vision)"},
    {"predict", cli_predict, "classify images (PNG, PGM, IDX) with a checkpoint or exported .mlpackage"},
    {"selftest", cli_selftest, "probe ladder: one tiny program per risky program form on the ANE backend; JSON report"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer <command> [options]\n"
            "\n"
            "Train small neural networks on the Apple Neural Engine, or on vane, its emulator.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "options:\n"
            "  -h, --help     show this help (or `ane_trainer <command> --help`)\n"
            "  --version      print the version\n");
}

int cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int cli_error(const char *what) {
    const char *msg = anet_last_error();
    if (msg[0])
        fprintf(stderr, "ane_trainer: %s: %s\n", what, msg);
    else
        fprintf(stderr, "ane_trainer: %s\n", what);
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ane_trainer: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `ane_trainer %s--help`)\n", cmd ? cmd : "");
    return CLI_USAGE;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ane_trainer %s\n", anet_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
