#include "train/loss_scale.h"

void anet_loss_scaler_init(anet_loss_scaler *s, float init_scale, int64_t growth_interval) {
    s->max_scale = 32768.0f;
    s->min_scale = 1.0f / 16384.0f;
    if (!(init_scale > 0)) init_scale = 32768.0f;
    if (init_scale > s->max_scale) init_scale = s->max_scale;
    if (init_scale < s->min_scale) init_scale = s->min_scale;
    s->scale = init_scale;
    s->growth_interval = growth_interval > 0 && growth_interval <= ANET_LOSS_SCALE_MAX_GROWTH ? growth_interval : 1000;
    s->clean_steps = 0;
    s->skipped_steps = 0;
}

int anet_loss_scaler_update(anet_loss_scaler *s, int finite) {
    if (!finite) {
        s->skipped_steps++;
        s->clean_steps = 0;
        if (s->scale * 0.5f >= s->min_scale) s->scale *= 0.5f;
        return 0;
    }
    /* 64-bit, and a restored count at or past the interval just grows once: no overflow. */
    if (++s->clean_steps >= s->growth_interval) {
        s->clean_steps = 0;
        if (s->scale * 2.0f <= s->max_scale) s->scale *= 2.0f;
    }
    return 1;
}
