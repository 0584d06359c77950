/* Per-step values in the row form, for programs built where a [1,1,1,1] runtime scalar may not
 * be broadcast (rule broadcast-scalar) nor a [..,1] value along the last axis
 * (broadcast-channel): a whole-tensor reduction is kept as a [1,1,1,32] row holding the result
 * in every element, widened to a [1,1,1,W] row where it meets a tensor of width W (a row
 * broadcast over rows, the form reported to work). Every op here is elementwise, a reduction
 * over axes other than the last, a reshape or a transpose; no scalar is made.
 *
 * Inputs are rank-4 values whose last axis is a multiple of 32 (the padded program forms);
 * other values give -1 with an error set. */
#ifndef ANET_TRAIN_ROW_FORM_H
#define ANET_TRAIN_ROW_FORM_H

#include "graph/ir.h"

#define ANET_ROW_WIDTH 32

/* reduce_sum or reduce_max (k) of every element of v as a [1,1,1,32] row, each element the
 * result: the rows folded into one row, its width folded in blocks of 32, and the 32 partial
 * results all-reduced by a transpose of the row stacked 32 times. */
int anet_row_all(anet_graph *g, anet_opkind k, int v);
/* A [1,1,1,32] row whose elements are equal, as a [1,1,1,w] row (w a multiple of 32). */
int anet_row_widen(anet_graph *g, int row, int64_t w);
/* The FINITE flag (named `name`) over the values vals[0..n): 1 where every value is finite.
 * rows 0: a [1,1,1,1] scalar (x * 0 summed over everything); rows 1: each value's x * 0
 * summed over its rows and folded into a [1,1,1,32] row, the flag a row of 32 flags that must
 * all be 1 (the host reads their minimum). x * 0 is 0 for finite x and NaN otherwise (a
 * compiler that folded it to 0 would break this; vane does not). */
int anet_row_finite_flag(anet_graph *g, const char *name, int n, const int *vals, int rows);

#endif
