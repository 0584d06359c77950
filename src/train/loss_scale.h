/* Dynamic loss scaling: the loss (so every gradient) is multiplied by `scale` inside the step
 * program so small fp16 gradients do not flush to zero. On a non-finite gradient the step is
 * skipped and the scale halved; after `growth_interval` clean steps in a row it doubles, up
 * to max_scale (2^15 by default: the largest power of two that fp16, the program's hyper
 * input, holds). */
#ifndef ANET_TRAIN_LOSS_SCALE_H
#define ANET_TRAIN_LOSS_SCALE_H

#include <stdint.h>

typedef struct anet_loss_scaler {
    float scale;
    float min_scale, max_scale;
    int64_t growth_interval; /* clean steps before doubling (1..ANET_LOSS_SCALE_MAX_GROWTH) */
    int64_t clean_steps;     /* clean steps since the last change (0..growth_interval - 1) */
    int64_t skipped_steps;
} anet_loss_scaler;

/* The largest growth interval (the --loss-scale-growth and checkpoint limit). */
#define ANET_LOSS_SCALE_MAX_GROWTH 1000000000

void anet_loss_scaler_init(anet_loss_scaler *s, float init_scale, int64_t growth_interval);
/* Records the outcome of one step; returns 1 if its update must be applied, 0 if skipped. */
int anet_loss_scaler_update(anet_loss_scaler *s, int finite);

#endif
