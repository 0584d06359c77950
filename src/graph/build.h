/* Convenience builders over anet_graph_op: each makes the parameter consts an op needs
 * (named "<name>_<param>" when the op is named, generated "c_N" otherwise) and returns the
 * op's output value id, or -1 with anet_last_error() set. Optional tensor arguments (bias)
 * take -1 for "absent"; optional arrays take NULL for "MIL default". */
#ifndef ANET_GRAPH_BUILD_H
#define ANET_GRAPH_BUILD_H

#include "graph/ir.h"

/* relu sigmoid tanh exp log sqrt rsqrt abs square gelu identity */
int anet_b_unary(anet_graph *g, anet_opkind k, const char *name, int x);
/* add sub mul real_div maximum minimum pow greater greater_equal less equal */
int anet_b_binary(anet_graph *g, anet_opkind k, const char *name, int x, int y);
int anet_b_select(anet_graph *g, const char *name, int cond, int a, int b);
int anet_b_cast(anet_graph *g, const char *name, int x, anet_dtype to);
int anet_b_softmax(anet_graph *g, const char *name, int x, int axis);
/* reduce_sum / reduce_mean / reduce_max over axes[0..naxes) (naxes 0: all axes). */
int anet_b_reduce(anet_graph *g, anet_opkind k, const char *name, int x, int naxes,
                  const int32_t *axes, int keep_dims);
int anet_b_matmul(anet_graph *g, const char *name, int x, int y, int transpose_x, int transpose_y);
int anet_b_linear(anet_graph *g, const char *name, int x, int weight, int bias);
/* conv / conv_transpose over the x.rank-2 spatial axes. strides, dilations: nsp entries
 * (NULL = 1s); pad: 2*nsp entries (NULL = 0s); pad_type NULL = "valid" ("custom" if pad
 * is given). output_shape (conv_transpose only) may be NULL. */
int anet_b_conv(anet_graph *g, const char *name, int x, int weight, int bias,
                const int32_t *strides, const char *pad_type, const int32_t *pad,
                const int32_t *dilations, int groups);
int anet_b_conv_transpose(anet_graph *g, const char *name, int x, int weight, int bias,
                          const int32_t *strides, const char *pad_type, const int32_t *pad,
                          const int32_t *dilations, int groups, const int32_t *output_shape);
/* max_pool / avg_pool: kernel_sizes required; strides NULL = 1s; pad as for conv. */
int anet_b_pool(anet_graph *g, anet_opkind k, const char *name, int x, const int32_t *kernel_sizes,
                const int32_t *strides, const char *pad_type, const int32_t *pad);
int anet_b_reshape(anet_graph *g, const char *name, int x, int n, const int32_t *shape);
int anet_b_transpose(anet_graph *g, const char *name, int x, int n, const int32_t *perm);
int anet_b_slice_by_size(anet_graph *g, const char *name, int x, int n, const int32_t *begin,
                         const int32_t *size);
int anet_b_concat(anet_graph *g, const char *name, int n, const int *values, int axis, int interleave);

#endif
