/* Reverse-mode automatic differentiation on the graph IR: appends to a forward graph the ops
 * that compute the gradient of a loss with respect to chosen values (the parameters).
 *
 * The gradient graph uses only ops the ANE takes (add, sub, mul, real_div, matmul with its
 * transpose flags, reduce_sum, select, greater, log, pow, sqrt, reshape, transpose,
 * slice_by_size, conv without bias; cast only for a cast in the forward graph); never rsqrt,
 * gelu or concat (slice_by_size's gradient zero-pads with a 0/1 placement matmul). Broadcasting is undone with
 * reduce_sum over the broadcast axes (+ reshape when ranks differ).
 *
 * Ops with a gradient rule: add sub mul real_div maximum minimum relu sigmoid tanh exp log pow
 * sqrt rsqrt abs square select softmax reduce_sum reduce_mean reduce_max matmul linear
 * reshape transpose slice_by_size concat cast identity, and 1-D/2-D windows: conv (strides,
 * dilations, valid/same/custom padding; input and weight gradients for any groups;
 * grouped weight gradients for 2-D only), avg_pool (not with exclude_padding_from_average and padding), max_pool
 * (non-overlapping unpadded windows, kernel = stride). ceil_mode windows, conv_transpose and
 * gelu have no rule (lowering writes GELU as tanh/mul/add): a path through them to a requested value fails with
 * ANET_E_UNSUPPORTED naming the op. Window gradients use conv (spread by the stride with a
 * placement matmul, or with multiplies under spread_mul, then a conv with the flipped,
 * channel-swapped kernel; vane has no conv_transpose), except pools whose windows tile the input exactly (kernel = stride, no
 * padding, nothing left over): a nearest-neighbour upsampling by broadcasting multiplies.
 *
 * Ties (maximum/minimum/reduce_max/relu at the kink) send the whole gradient one way
 * (relu'(0) = 0, maximum: to y on ties), not split as PyTorch does.
 */
#ifndef ANET_GRAPH_AUTODIFF_H
#define ANET_GRAPH_AUTODIFF_H

#include "graph/ir.h"

typedef struct anet_autodiff_spec {
    int loss;                 /* value id of the loss (usually one element) */
    int seed;                 /* value id broadcastable to the loss: the incoming gradient
                                 d(objective)/d(loss), e.g. the loss scale; -1 means 1 */
    const int *wrt;           /* value ids to differentiate with respect to (inputs, consts) */
    int nwrt;
    const int *stop;          /* values treated as constants: no gradient flows through them
                                 (e.g. the max subtracted before a softmax); may be NULL */
    int nstop;
    const char *const *names; /* optional (NULL, or NULL entries): name of each gradient value;
                                 a named gradient ends in an identity op with that name */
    int spread_mul;           /* 1 (the device forms): a strided 2-D window's gradient spreads
                                 by multiplies, not a placement matmul whose contraction is the
                                 output's height or width (matmul-contraction-32); 0: the
                                 matmul (the plain form: fewer ops for vane) */
} anet_autodiff_spec;

/* Appends the gradient ops to g. grads[i] receives the value id of d(loss)/d(wrt[i]) * seed,
 * with exactly wrt[i]'s type (a zero const when the loss does not depend on wrt[i]).
 * Only the ops present when called are differentiated. On failure the graph may hold
 * unused extra ops; the caller should discard it. */
anet_status anet_autodiff(anet_graph *g, const anet_autodiff_spec *spec, int *grads);

#endif
