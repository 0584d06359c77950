/* The compiled model's own I/O layout (ane_seam.h io_layout) applied to a program: surface
 * order, per-tensor row strides and the bytes each tensor needs, checked against what the
 * planner declared. Without a stated layout the backend keeps its rules (alphabetical order,
 * packed rows) but sizes surfaces for either row reading (surface-size-strided). */
#ifndef ANET_RUNTIME_ANE_LAYOUT_H
#define ANET_RUNTIME_ANE_LAYOUT_H

#include <stddef.h>

#include "runtime/ane_seam.h"
#include "runtime/ane_sig.h"

/* Rows of a tensor as the ANE lays it out: the last axis is a row, every other index a row. */
void anet_ane_tensor_rows(const anet_ane_tensor_sig *t, size_t *rows, size_t *row_bytes);
/* Bytes a surface needs for t with rows at `stride` (0 = packed), at least the 64-byte-strided
 * size C * roundup(W * es, 64) whatever the stride (the size every report implies). */
size_t anet_ane_tensor_need(const anet_ane_tensor_sig *t, size_t stride);

/* Checks layout l against the program signature s and fills, for the k-th surface of each
 * side, the signature index (in_order/out_order) and, per signature index, the row stride in
 * bytes (in_stride/out_stride; the packed row size when l states none). A tensor missing from
 * l, an extra one, or one whose channels x height x width differ from the declared shape is
 * one ANET_E_MISMATCH error naming the tensor. */
anet_status anet_ane_layout_apply(const anet_ane_io_layout *l, const anet_ane_sig *s, int *in_order,
                                  int *out_order, size_t *in_stride, size_t *out_stride);

/* Copies `rows` rows of row_bytes between buffers whose rows start every dst_stride /
 * src_stride bytes. */
void anet_ane_rows_copy(void *dst, size_t dst_stride, const void *src, size_t src_stride, size_t rows,
                        size_t row_bytes);

#endif
