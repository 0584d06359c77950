/* Shared pieces of the command-line program: one file per subcommand, each exporting
 * int cli_NAME(int argc, char **argv) where argv[0] is the subcommand's name. */
#ifndef ANET_CLI_H
#define ANET_CLI_H

#include <stdio.h>

#include "ane_trainer.h"

/* Exit codes shared by every subcommand (check has its own 0/1/2 verdicts and uses 3+ for errors). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 64 };

/* Prints "ane_trainer: <what>: <anet_last_error()>" on stderr; returns CLI_FAIL. */
int cli_error(const char *what);
/* Prints "ane_trainer: <message>" on stderr plus a hint to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);
/* True when argv[i] is -h or --help. */
int cli_is_help(const char *arg);

int cli_info(int argc, char **argv);
int cli_data(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_compile(int argc, char **argv);
int cli_selftest(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_predict(int argc, char **argv);

#endif
