/* A layer graph in the program forms' sizes (plan/forms_lower.h). The chips' rules want every
 * matmul contraction a multiple of 32, and a conv lowered to patches + matmul
 * (train/lower_conv.h) contracts over its output channels in the input gradient, so the
 * program holds a padded copy of the model: conv output channels and Linear features rounded
 * up to multiples of 32 (a flat input too), the padding all zeros. Image activations then
 * carry the padded channels, so a flatten after a conv gives a multiple of 32 as well.
 * Padding the channel axis keeps PyTorch's element order of the real part (channel-major), so
 * the user's [O, Cin*kh*kw] weights and flattened features sit at the top left of the padded
 * ones: the trainer packs them there (train/step_forms.h). */
#ifndef ANET_TRAIN_LAYERS_FORM_H
#define ANET_TRAIN_LAYERS_FORM_H

#include <stddef.h>

#include "train/model.h"

/* 1 and *out = the padded copy of m; 0 when the padded form does not apply to m, with the
 * reason in why: the model has layernorm over an image (per-element parameters too long for
 * the chips' elementwise ops) or does not end in a Linear layer (whose padded classes add
 * nothing to the loss: train/loss.h). Layernorm over features, sigmoid and grouped convs keep
 * the user's counts in user_ch / user_out (lower.c masks the padding; lower_conv.c spreads a
 * grouped weight); batchnorm's per-channel statistics
 * ignore padded channels (they stay zero). The batch is padded apart (train/step_forms.c: not
 * for mse, bce or batchnorm, which would count padded samples). */
int anet_layers_form_pad(const anet_model_spec *m, anet_model_spec *out, char *why, size_t len);

#endif
