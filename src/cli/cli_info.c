/* Placeholder: replaced by the real `info` below in this same session. */
#include "cli/cli.h"
int cli_info(int argc, char **argv) { (void)argc; (void)argv; return CLI_FAIL; }
