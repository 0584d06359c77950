/* A trained convolution in the form every chip's rules allow (plan/forms.h): the Neural Engine
 * is reported to take runtime weights only in 1x1 convs (conv1x1-runtime-weights, and that only
 * where the rule is on), so a k x k conv whose weights change every step is written as
 *   patches = conv(h, one-hot kernel)      baked const weights: legal everywhere
 *   z       = W [O, np] x patches [np, c*OH*OW] + bias [O, 32] x ones [32, c*OH*OW]
 * with np = Cin*kh*kw rounded up to 32 (W's padding columns are zero). Autodiff then gives a
 * weight gradient dZ x patches^T summed over the B/c groups of c samples (contraction
 * c*OH*OW: a multiple of 32, at most 16384), the input gradient W^T x dZ (contraction O: the padded channels) followed by the
 * transposed patch extraction, a conv with the flipped one-hot kernel (baked as well). */
#ifndef ANET_TRAIN_LOWER_CONV_H
#define ANET_TRAIN_LOWER_CONV_H

#include "graph/ir.h"
#include "train/model.h"

/* np: the patch channels of conv layer l (its input channels as the program holds them). */
int anet_lower_conv_patches_channels(const anet_layer *l);

/* The compiler's longest axis (vane's chip profiles: axis-range-dhw). */
#define ANET_LOWER_CONV_MAX_AXIS 16384
/* Samples per matmul: the largest c dividing B with c*S a multiple of 32 and at most the
 * longest axis (S = OH*OW); 0 when there is none. */
int anet_lower_conv_group(int B, int S);

/* h [B, Cin, H, W] -> [B, O, OH, OW] for conv layer l (grouped: w holds Cin/groups*kh*kw columns,
 * spread block-diagonally inside) with the weight w
 * [1,1,O,np] and bias [1,1,O,bias_cols] (bias_cols 1: a channel broadcast). *stop receives a
 * value autodiff must treat as a constant (-1: none). -1 on failure (anet_last_error set). */
int anet_lower_conv_matmul(anet_graph *g, const anet_layer *l, int h, int B, int w, int bias, int bias_cols,
                           int *stop);

#endif
