/* Internal helpers shared by the graph and MIL modules (not part of the ir.h contract). */
#ifndef ANET_GRAPH_IR_UTIL_H
#define ANET_GRAPH_IR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"

/* Limits that keep hostile programs bounded. */
#define ANET__MAX_NAME 255          /* characters in a value or op name */
#define ANET__MAX_GRAPH_ITEMS 65536 /* values, and ops, per graph */
#define ANET__MAX_ARGS 64           /* named arguments of one op */
#define ANET__MAX_TUPLE 1024        /* values in one tuple argument */
#define ANET__MAX_OUTPUTS 16        /* outputs of one op */
#define ANET__MAX_GRAPH_IO 4096     /* function inputs / outputs */

/* "[1,128,784]" into buf, for error messages. */
char *anet__dims_str(const anet_type *t, char *buf, size_t len);
/* [A-Za-z_][A-Za-z0-9_]*, at most ANET__MAX_NAME characters. */
int anet__valid_name(const char *s);
/* anet_graph_const with an op name that differs from the value name (Apple's compiled files
 * write `var_5 = const()[name = "op_5"]`); op_name NULL = the value name. */
int anet__graph_const2(anet_graph *g, const char *name, const char *op_name, anet_type t,
                       const void *data, size_t nbytes, int names_checked);
/* anet_graph_op_raw; names_checked = 1 when the caller (the parser, with its own hash index)
 * has already made sure the op and output names are free, which skips the linear scans. */
int anet__graph_op_raw2(anet_graph *g, const char *type, const char *name, int nargs,
                        const anet_arg *args, int noutputs, const char *const *out_names,
                        const anet_type *out_types, int names_checked);

#endif
