/* Placeholder until the data module lands: keeps the dispatch table honest. */
#include <stdio.h>
#include "cli/cli.h"
int cli_data(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ane_trainer: data: not built yet\n");
    return CLI_FAIL;
}
