/* Option parsing shared by train/eval/compile: "--name VALUE" or "--name=VALUE", strict
 * numbers (the whole string must parse, within the given range). */
#ifndef ANET_CLI_OPTS_H
#define ANET_CLI_OPTS_H

#include <stdint.h>

/* If argv[*i] is --name or --name=V: sets *val (consuming the next argument for the first
 * form) and returns 1; returns -1 when the value is missing; 0 when argv[*i] is another option. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Parse helpers: 0 on success. */
int cli_parse_int(const char *s, long long lo, long long hi, long long *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_float(const char *s, double lo, double hi, double *out);

/* The name in NULL-terminated names closest to an unknown option arg (at most 2 edits, '_'
 * read as '-': "--batch_size", "--bacth-size" -> "--batch-size"), or NULL. */
const char *cli_suggest(const char *arg, const char *const *names);

#endif
