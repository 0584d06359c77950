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
                       const void *data, size_t nbytes);
/* Portable binary16 conversion (round to nearest even) used for scalar consts and literals. */
uint16_t anet__f32_to_f16_bits(float f);
float anet__f16_bits_to_f32(uint16_t h);

#endif
