/* Dropout masks: drawn per (seed, step, layer) alone, so a resumed run draws exactly the masks
 * an uninterrupted one would have, with no generator state to save. */
#ifndef ANET_TRAIN_DROPOUT_H
#define ANET_TRAIN_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/fp16.h"

/* n fp16 values: 0 with probability p, else fp16(1/(1-p)) (inverted dropout, as PyTorch). */
void anet_dropout_mask(uint64_t seed, int64_t step, int layer, float p, anet_f16 *out, size_t n);

#endif
